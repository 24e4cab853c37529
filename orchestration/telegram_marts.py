"""The Telegram SQLMesh project (src/databox/transform/telegram) as one asset per model.

load_raw_data, load_yolo_detections ──▶ telegram_sqlmesh_staging (the staging models)
──[blocking checks, in its step: keys unique, no service message]──▶ telegram_sqlmesh_marts (dims,
facts, marts; the refresh watermark advances here) ──▶ databox_report (orchestration.report)

Both steps run ``refresh_telegram_marts``, which restates the message dates whose raw
rows changed since the last refresh (late edits, new enrichments): the staging step
leaves the watermark where it is, so the marts step sees the same days. SQLMesh's own
audits (keys, ranges, references) run inside each plan and fail its step. The graph
comes from telegram/dag.json, so loading the code location never imports SQLMesh.
"""

import dagster as dg

from databox.ebird.docs import model_summary
from databox.transform.dag import load_dag
from databox.transform.runner import TELEGRAM_PROJECT_DIR
from orchestration.inline_checks import InlineCheck, check_specs, evaluate_checks
from orchestration.resources import WarehouseResource
from orchestration.sqlmesh_assets import model_key, model_materializations
from orchestration.telegram_shared import TELEGRAM_GROUP, TRANSIENT_RETRY, WAREHOUSE_POOL

DAG = load_dag("telegram")
STAGING, MARTS = "telegram_staging", "telegram_marts"
MODELS_DIR = TELEGRAM_PROJECT_DIR / "models"

#: Raw tables → the asset that loads them (lineage from the loaders to the models).
RAW_ASSETS = {
    "raw.telegram_messages": dg.AssetKey("load_raw_data"),
    "raw.image_enrichment": dg.AssetKey("load_yolo_detections"),
    "raw.image_detections": dg.AssetKey("load_yolo_detections"),
}
#: Each staging model's grain: the blocking check refuses duplicates and null keys.
STAGING_GRAIN = {
    "telegram_staging.stg_telegram_messages": ("channel", "message_id"),
    "telegram_staging.stg_image_enrichment": ("image_path",),
    "telegram_staging.stg_image_detections": ("image_path", "box_index"),
}


def models_in_order(schema: str) -> list[str]:
    """The schema's models, each after the models it reads (a multi-asset must yield its
    materializations in that order)."""
    from graphlib import TopologicalSorter

    models = set(DAG.models(schema))
    graph = {m: [u for u in DAG.deps[m] if u in models] for m in sorted(models)}
    return list(TopologicalSorter(graph).static_order())


def _dep_key(name: str) -> dg.AssetKey:
    return RAW_ASSETS.get(name) or model_key(name)


def _specs(schema: str) -> list[dg.AssetSpec]:
    specs = []
    for model in DAG.models(schema):
        summary = model_summary(model, MODELS_DIR)
        built = f"SQLMesh model {model} ({DAG.kinds[model]}), project transform/telegram."
        specs.append(
            dg.AssetSpec(
                key=model_key(model),
                deps=sorted({_dep_key(u) for u in DAG.deps[model]}, key=str),
                group_name=TELEGRAM_GROUP,
                kinds={"sqlmesh"},
                description=f"{summary}\n\n{built}" if summary else built,
                metadata={"sqlmesh_kind": DAG.kinds[model]},
            )
        )
    return specs


def _staging_check(model: str) -> InlineCheck:
    grain = STAGING_GRAIN[model]

    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        keys = ", ".join(grain)
        nulls = " OR ".join(f"{c} IS NULL" for c in grain)
        queries = {
            "duplicate_keys": f"SELECT count(*) FROM (SELECT {keys} FROM {model} "
            f"GROUP BY {keys} HAVING count(*) > 1) AS d",
            "null_keys": f"SELECT count(*) FROM {model} WHERE {nulls}",
        }
        if "messages" in model:
            queries["service_messages"] = (
                f"SELECT count(*) FROM {model} s JOIN raw.telegram_messages r "
                "ON r.channel = s.channel AND r.message_id = s.message_id "
                "WHERE r.message_type = 'service'"
            )
        with warehouse.connect().session() as session:
            found = {name: int(session.fetchone(sql)[0]) for name, sql in queries.items()}
            rows = int(session.fetchone(f"SELECT count(*) FROM {model}")[0])
        return dg.AssetCheckResult(
            passed=not any(found.values()),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**found, "rows": rows},
        )

    spec = dg.AssetCheckSpec(
        "keys",
        asset=model_key(model),
        blocking=True,
        description=(
            f"{model}: ({', '.join(grain)}) is never null and unique"
            + (", and no service message is counted as a post" if "messages" in model else "")
            + ". Blocking: the marts do not build on bad staging rows."
        ),
    )
    return InlineCheck(spec, _check)


def _facts_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    from databox.freshness import telegram_facts_freshness
    from orchestration.freshness import freshness_result, telegram_hours

    return freshness_result(telegram_facts_freshness(warehouse.connect(), telegram_hours()))


facts_freshness = InlineCheck(
    dg.AssetCheckSpec(
        "freshness",
        asset=model_key("telegram_marts.fct_messages"),
        blocking=False,
        description=(
            "The newest post in telegram_marts.fct_messages is within TELEGRAM_FRESHNESS_HOURS "
            "(default 48): stale facts beside fresh raw rows mean the marts did not build."
        ),
    ),
    _facts_freshness,
)
#: Each schema's checks, evaluated in its step right after SQLMesh (inline_checks).
CHECKS = {STAGING: [_staging_check(m) for m in STAGING_GRAIN], MARTS: [facts_freshness]}


def _refresh(context, warehouse: WarehouseResource, schema: str, last: bool):
    from databox.transform.telegram_refresh import refresh_telegram_marts

    models = models_in_order(schema)
    url = warehouse.settings().database_url
    # shared_runner: the staging step's SQLMesh context serves the marts step too.
    result = refresh_telegram_marts(
        url, select_models=models, advance_watermark=last, shared_runner=True
    )
    days = f"{result.start} → {result.end}" if result.restated else "none (nothing changed)"
    if result.skipped:
        context.log.info("no raw row and no model changed since the last refresh: up to date")
    else:
        context.log.info(f"{result.summary}; restated message dates: {days}")
    extra = {"restated_dates": days, "up_to_date": result.skipped}
    yield from model_materializations(warehouse.connect(), models, result.summary, extra)
    yield from evaluate_checks(context, CHECKS[schema], warehouse)


@dg.multi_asset(
    name="telegram_sqlmesh_staging", specs=_specs(STAGING), pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY, check_specs=check_specs(CHECKS[STAGING]),
)  # fmt: skip
def telegram_sqlmesh_staging(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _refresh(context, warehouse, STAGING, last=False)


@dg.multi_asset(
    name="telegram_sqlmesh_marts", specs=_specs(MARTS), pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY, check_specs=check_specs(CHECKS[MARTS]),
)  # fmt: skip
def telegram_sqlmesh_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    yield from _refresh(context, warehouse, MARTS, last=True)
