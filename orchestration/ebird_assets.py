"""eBird pipeline assets: dlt ingestion → SQLMesh models → data quality.

* ``ebird_assets``: one asset per dlt resource (recent and notable observations,
  taxonomy, hotspots), keyed ``raw_ebird/<table>`` by a translator so the SQLMesh
  models' dependencies on the raw tables connect in the lineage graph. It also loads
  the historic observations of the last ``EBIRD_DAILY_HISTORIC_DAYS`` complete days
  (default 3, ending yesterday) into ``raw_ebird.historic_observations``, the only
  true per-day data the daily counts are built from, and records those dates'
  partitions of ``raw_ebird/historic_observations`` as materialized.
* ``ebird_historic_assets``: ``raw_ebird/historic_observations``, daily-partitioned:
  the unit of backfills (UI or ``dagster asset materialize --partition``).
* ``sqlmesh_staging`` / ``sqlmesh_marts``: one asset per SQLMesh model, run with
  ``sqlmesh.Context`` from Python (plan + apply + run; never a CLI prompt).
* ``data_quality_checks``: every quality check, written to
  ``quality.data_quality_results``; plus Dagster asset checks: on the raw tables
  (quality, blocking; freshness) in one step, ``raw_ebird_checks``, and on the models
  in the step that builds them.
"""

from contextlib import nullcontext
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.pipeline.pipeline import Pipeline

from databox.config import DEFAULT_DATABASE_URL
from databox.ebird.docs import RAW_DESCRIPTIONS, model_summary
from databox.ebird.pipeline import (
    DEFAULT_DATASET,
    DEFAULT_PIPELINE,
    dlt_destination,
    duckdb_lock_path,
    make_pipeline,
)
from databox.ebird.settings import DEFAULT_REGIONS
from databox.filelock import file_lock
from databox.transform.dag import load_dag
from orchestration.definition_settings import ebird_history_start, ebird_timezone
from orchestration.ebird_metadata import table_metadata, with_table_metadata
from orchestration.freshness import ebird_freshness_checks
from orchestration.inline_checks import InlineCheck, check_specs, evaluate_checks
from orchestration.resources import EbirdResource, WarehouseResource
from orchestration.sqlmesh_assets import model_key, model_materializations
from orchestration.telegram_shared import TRANSIENT_RETRY, WAREHOUSE_POOL, markdown_table

EBIRD_GROUP = "ebird"
#: dlt resources of the unpartitioned ingestion, in the order the source yields them.
DAILY_RESOURCES = ("recent_observations", "notable_observations", "taxonomy", "hotspots")
HISTORIC_RESOURCE = "historic_observations"
HISTORY_START = ebird_history_start()
#: The daily job's own dlt pipeline for the last days' historic observations.
DAILY_HISTORIC_PIPELINE = "ebird_daily_historic"
#: The tag the schedule and the sensor put on a daily run (orchestration.ebird_jobs).
DATE_TAG = "ebird/date"


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([DEFAULT_DATASET, table])


class EbirdDltTranslator(DagsterDltTranslator):
    """``raw_ebird/<resource>``: the same names the SQLMesh project's external models
    use, so lineage runs raw → staging → marts. No upstream source assets: the API is
    outside the platform."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=raw_key(data.resource.name),
            deps=[],
            group_name=EBIRD_GROUP,
            description=RAW_DESCRIPTIONS.get(data.resource.name, spec.description),
        )


def _definition_source(resources: tuple[str, ...], historic: bool):
    """A source object for dagster-dlt to read resource names from at load time; each
    run builds a fresh one with the real settings (a dlt source is one-shot)."""
    from databox.ebird.source import ebird_source

    source = ebird_source(
        None, DEFAULT_REGIONS, historic_date=date(2000, 1, 1) if historic else None
    )
    return source.with_resources(*resources)


class _DefinitionPipeline(Pipeline):
    """What dagster-dlt reads from a pipeline when it builds the asset specs at load
    time: the name and the destination (whose type becomes the assets' storage kind).

    ``dlt.pipeline()`` would create its working directory (``state.json``,
    ``schemas/``) under the pipelines dir right then, so merely loading the definitions
    (``dagster dev``, ``definitions validate``, every code server and run worker) wrote
    to disk. This stand-in skips dlt's initialisation and is never run: each run builds
    its own pipeline with the run's settings (``_run_dlt``) and hands it to dagster-dlt.
    """

    def __init__(self, pipeline_name: str, destination):
        self.pipeline_name = pipeline_name
        self._destination = destination
        self._staging = None

    def __getattr__(self, name: str):
        # Only attributes dlt's __init__ would have set land here (methods are found on
        # the class): say what this object is rather than fail deep inside dlt.
        raise AttributeError(
            f"{name!r}: {type(self).__name__} only describes the assets to Dagster; "
            "run eBird loads with the pipeline make_pipeline() builds per run"
        )


def _definition_pipeline() -> _DefinitionPipeline:
    return _DefinitionPipeline(DEFAULT_PIPELINE, dlt_destination(DEFAULT_DATABASE_URL))


def _run_dlt(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    ebird: EbirdResource,
    warehouse: WarehouseResource,
    resources: tuple[str, ...],
    historic_date: date | None,
    pipeline_name: str,
):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from databox.ebird.pipeline import make_ebird_source, translate_dlt_error
    from databox.ebird.source import ExtractFailures

    settings = ebird.settings()
    settings.require_token()
    database_url = warehouse.settings().database_url
    failures = ExtractFailures()
    source = make_ebird_source(settings, historic_date=historic_date, failures=failures)
    pipeline = make_pipeline(
        database_url, pipelines_dir=settings.pipelines_dir, pipeline_name=pipeline_name
    )
    lock = duckdb_lock_path(database_url)
    # DuckDB admits one writer process: wait for any other writer instead of failing.
    # dagster-dlt drops the pipeline's local state (pending packages included) before
    # each run, so a failed load never wedges the next one.
    try:
        with file_lock(lock) if lock else nullcontext():
            # dagster-dlt yields its events once the whole load is done: collected here
            # and given their table's row count after the lock (reading the warehouse
            # takes the same lock).
            events = list(
                dlt.run(
                    context=context,
                    dlt_source=source.with_resources(*resources),
                    dlt_pipeline=pipeline,
                )
            )
    except PipelineStepFailed as exc:
        ours = translate_dlt_error(exc)  # e.g. EbirdSchemaChanged naming table and column
        if ours is None:
            raise
        raise ours from exc
    wh = warehouse.connect()
    day = historic_date.isoformat() if historic_date else None  # a partition: its rows
    for event in events:
        yield with_table_metadata(event, wh, obs_date=day)
    # Regions that failed are reported after the others' rows were loaded.
    failures.raise_if_any()


def _daily_run_day(context: dg.AssetExecutionContext) -> date:
    """The day the run is for: its ``ebird/date`` tag (schedule, sensor), else today
    in EBIRD_SCHEDULE_TIMEZONE."""
    tagged = context.run.tags.get(DATE_TAG)
    if tagged:
        return date.fromisoformat(tagged)
    return datetime.now(ZoneInfo(ebird_timezone())).date()


def _load_daily_historic(
    context: dg.AssetExecutionContext, ebird: EbirdResource, warehouse: WarehouseResource
):
    """Historic observations of the last EBIRD_DAILY_HISTORIC_DAYS complete days: the
    per-date data ``fct_daily_species_counts`` is built from (recent observations are
    only the latest sighting per species). Loaded with ``run_ebird`` under a pipeline
    of its own; the dates' partitions of raw_ebird/historic_observations are recorded
    as materialized, so a backfill can skip them."""
    from databox.ebird.pipeline import run_ebird
    from databox.ebird.settings import daily_historic_dates

    settings = ebird.settings()
    days = daily_historic_dates(_daily_run_day(context), settings.daily_historic_days)
    if not days:
        context.log.info("EBIRD_DAILY_HISTORIC_DAYS=0: no historic observations loaded")
        return
    summary = run_ebird(
        warehouse.settings().database_url,
        settings,
        historic_dates=days,
        resources=[HISTORIC_RESOURCE],
        pipeline_name=DAILY_HISTORIC_PIPELINE,
    )
    context.log.info(f"historic observations of {days[0]} … {days[-1]}: {summary}")
    first_partition = date.fromisoformat(HISTORY_START)
    wh = warehouse.connect()
    table = f"{DEFAULT_DATASET}.{HISTORIC_RESOURCE}"
    for day in days:
        if day < first_partition:
            continue
        yield dg.AssetMaterialization(
            asset_key=raw_key(HISTORIC_RESOURCE),
            partition=day.isoformat(),
            description="Loaded by the daily eBird job (EBIRD_DAILY_HISTORIC_DAYS).",
            metadata={
                "dates_in_load": f"{days[0]} → {days[-1]}",
                "rows_in_load": summary.row_counts.get(HISTORIC_RESOURCE, 0),
                "load_ids": ", ".join(summary.load_ids),
                **table_metadata(wh, table, obs_date=day.isoformat()),
            },
        )


@dlt_assets(
    dlt_source=_definition_source(DAILY_RESOURCES, historic=False),
    dlt_pipeline=_definition_pipeline(),
    name="ebird_assets",
    dagster_dlt_translator=EbirdDltTranslator(),
    pool=WAREHOUSE_POOL,
)
def ebird_assets(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    ebird: EbirdResource,
    warehouse: WarehouseResource,
):
    yield from _run_dlt(context, dlt, ebird, warehouse, DAILY_RESOURCES, None, "ebird")
    yield from _load_daily_historic(context, ebird, warehouse)


ebird_daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=0)


@dlt_assets(
    dlt_source=_definition_source((HISTORIC_RESOURCE,), historic=True),
    dlt_pipeline=_definition_pipeline(),
    name="ebird_historic_assets",
    dagster_dlt_translator=EbirdDltTranslator(),
    partitions_def=ebird_daily_partitions,
    pool=WAREHOUSE_POOL,
)
def ebird_historic_assets(
    context: dg.AssetExecutionContext,
    dlt: DagsterDltResource,
    ebird: EbirdResource,
    warehouse: WarehouseResource,
):
    day = date.fromisoformat(context.partition_key)
    # One dlt pipeline (state directory) per date, so a backfill's runs never share one.
    yield from _run_dlt(
        context, dlt, ebird, warehouse, (HISTORIC_RESOURCE,), day, f"ebird_historic_{day:%Y%m%d}"
    )


# -- Quality ------------------------------------------------------------------------


def _outcome_rows(outcomes) -> list[dict]:
    return [
        {
            "check": o.name,
            "table": o.table,
            "severity": o.severity,
            "result": "skipped" if o.skipped else ("pass" if o.passed else "FAIL"),
            "failing_rows": o.failing_rows,
        }
        for o in outcomes
    ]


def _table_check(table: str, blocking: bool) -> InlineCheck:
    schema, name = table.split(".")

    def _evaluate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from databox.ebird.quality import run_quality_checks

        outcomes = run_quality_checks(warehouse.connect(), tables={table})
        failed = [o for o in outcomes if not o.skipped and not o.passed and o.severity == "error"]
        warned = [o for o in outcomes if not o.skipped and not o.passed and o.severity != "error"]
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "failed": len(failed),
                "warnings": len(warned),
                "checks": dg.MetadataValue.md(
                    markdown_table(
                        _outcome_rows(outcomes), ["check", "severity", "result", "failing_rows"]
                    )
                ),
            },
        )

    spec = dg.AssetCheckSpec(
        "quality",
        asset=dg.AssetKey([schema, name]),
        blocking=blocking,
        description=(
            f"Keys not null and unique, coordinates in range, dates not in the future on {table}"
            + (" (blocking: downstream models do not build on bad rows)." if blocking else ".")
        ),
    )
    return InlineCheck(spec, _evaluate)


RAW_CHECKED = ("recent_observations", "notable_observations", "taxonomy", "hotspots")
#: The raw tables' checks, blocking quality and non-blocking freshness, in one step:
#: dagster-dlt's assets take no check specs, and one step beats eight.
RAW_CHECKS = [
    *(_table_check(f"{DEFAULT_DATASET}.{t}", blocking=True) for t in RAW_CHECKED),
    *ebird_freshness_checks,
]
#: The models' checks, evaluated in the step that builds them.
MODEL_CHECKS = {
    "staging": [
        _table_check("staging.stg_ebird_observations", blocking=False),
        _table_check("staging.stg_ebird_historic_observations", blocking=False),
    ],
    "marts": [_table_check("marts.fct_daily_species_counts", blocking=False)],
}


@dg.multi_asset_check(
    name="raw_ebird_checks",
    specs=check_specs(RAW_CHECKS),
    can_subset=True,
    description="Quality (blocking) and freshness of the raw eBird tables, after the load.",
)
def raw_ebird_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    yield from evaluate_checks(context, RAW_CHECKS, warehouse)


# -- SQLMesh ------------------------------------------------------------------------

DAG = load_dag()


class TransformConfig(dg.Config):
    """Recompute these days too (YYYY-MM-DD, inclusive), e.g. after backfilling historic
    dates older than the incremental models' 30-day lookback."""

    restate_start: str | None = None
    restate_end: str | None = None


def _model_description(model: str) -> str:
    """The model file's own summary, then what builds it."""
    summary = model_summary(model)
    built = f"SQLMesh model {model} ({DAG.kinds[model]})."
    return f"{summary}\n\n{built}" if summary else built


def _model_specs(schema: str) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=model_key(model),
            deps=[model_key(u) for u in DAG.deps[model]],
            group_name=EBIRD_GROUP,
            kinds={"sqlmesh"},
            description=_model_description(model),
            metadata={"sqlmesh_kind": DAG.kinds[model]},
        )
        for model in DAG.models(schema)
    ]


def _plan_and_apply(context, warehouse: WarehouseResource, config: TransformConfig, schema: str):
    from databox.transform.ebird_refresh import refresh_ebird_models

    models = DAG.models(schema)
    # Staging records the raw digest it built from; marts (the last step) advances the
    # watermark. Raw rows and project unchanged: SQLMesh is skipped; a restatement always
    # runs. The process's runner: the staging step's SQLMesh context serves the marts step
    # too (it closes its connections after each operation, so it holds no warehouse lock).
    result = refresh_ebird_models(
        warehouse.settings().database_url,
        start=config.restate_start,
        end=config.restate_end,
        select_models=models,
        advance_watermark=schema == "marts",
        shared_runner=True,
    )
    if result.skipped:
        context.log.info("no raw row and no model changed since the last build: up to date")
    else:
        context.log.info(f"{result.summary}; models run: {result.models_run}")
    yield from model_materializations(
        warehouse.connect(), models, result.summary, {"up_to_date": result.skipped}
    )
    yield from evaluate_checks(context, MODEL_CHECKS[schema], warehouse)


@dg.multi_asset(
    name="sqlmesh_staging", specs=_model_specs("staging"), pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY, check_specs=check_specs(MODEL_CHECKS["staging"]),
)  # fmt: skip
def sqlmesh_staging(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: TransformConfig
):
    yield from _plan_and_apply(context, warehouse, config, "staging")


@dg.multi_asset(
    name="sqlmesh_marts", specs=_model_specs("marts"), pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY, check_specs=check_specs(MODEL_CHECKS["marts"]),
)  # fmt: skip
def sqlmesh_marts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: TransformConfig
):
    yield from _plan_and_apply(context, warehouse, config, "marts")


@dg.asset(
    group_name=EBIRD_GROUP,
    deps=[model_key(m) for m in DAG.models("marts")],
    kinds={"python", "sql"},
    pool=WAREHOUSE_POOL,
    description=(
        "Runs every data quality check on the raw and modelled eBird tables and writes "
        "the outcomes to quality.data_quality_results (one row per check and run). Fails "
        "when an error-severity check fails, after writing the results."
    ),
)
def data_quality_checks(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from databox.ebird.quality import run_quality_checks, summarise, write_results

    wh = warehouse.connect()
    outcomes = run_quality_checks(wh)
    write_results(wh, outcomes, context.run.run_id)
    errors, warnings = summarise(outcomes)
    metadata = {
        "checks": len(outcomes),
        "passed": sum(1 for o in outcomes if o.passed and not o.skipped),
        "failed": len(errors),
        "warnings": len(warnings),
        "skipped": sum(1 for o in outcomes if o.skipped),
        "results": dg.MetadataValue.md(
            markdown_table(
                _outcome_rows(outcomes), ["check", "table", "severity", "result", "failing_rows"]
            )
        ),
    }
    for w in warnings:
        context.log.warning(f"quality warning: {w.name} on {w.table}: {w.failing_rows} rows")
    if errors:
        listed = "; ".join(f"{o.name} on {o.table}: {o.failing_rows} rows" for o in errors)
        raise dg.Failure(
            description=f"{len(errors)} data quality checks failed: {listed}. "
            "Details in quality.data_quality_results.",
            metadata=metadata,
            allow_retries=False,
        )
    return dg.MaterializeResult(metadata=metadata)
