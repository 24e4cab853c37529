"""Checks evaluated in their asset's step (orchestration.inline_checks) keep what a
check step of their own gave: blocking stops downstream, a failed check is recorded,
retries are not spent on it, and each job has only the steps that do work."""

from __future__ import annotations

import dagster as dg

from orchestration.inline_checks import InlineCheck, check_specs, evaluate_checks
from orchestration.resources import WarehouseResource
from orchestration.telegram_shared import TRANSIENT_RETRY


def _check(name: str, asset: str, passed: bool, blocking: bool) -> InlineCheck:
    def _evaluate(_warehouse) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata={"rows": 3}
        )

    return InlineCheck(dg.AssetCheckSpec(name, asset=asset, blocking=blocking), _evaluate)


def _run(assets, checks=()):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*assets, *checks],
            instance=instance,
            resources={"warehouse": WarehouseResource(database_url="duckdb:///:memory:")},
            raise_on_error=False,
        )
        evaluations = {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in result.get_asset_check_evaluations()
        }
        done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        attempts = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        return result, evaluations, done, attempts


def test_failed_blocking_check_in_the_asset_step_stops_downstream_without_retries():
    checks = [
        _check("keys", "staging", passed=False, blocking=True),
        _check("freshness", "staging", passed=True, blocking=False),
    ]

    @dg.asset(check_specs=check_specs(checks), retry_policy=TRANSIENT_RETRY)
    def staging(context, warehouse: WarehouseResource):
        yield dg.MaterializeResult()
        yield from evaluate_checks(context, checks, warehouse)

    @dg.asset(deps=[staging])
    def marts():
        return None

    result, evaluations, done, attempts = _run([staging, marts])
    assert not result.success
    assert evaluations == {("staging", "keys"): False, ("staging", "freshness"): True}
    assert done == {"staging"}  # materialized and checked; the marts never built
    assert not attempts  # a bad row is not transient: no retry re-runs the step


def test_grouped_raw_checks_block_downstream_and_record_each_check():
    @dg.asset
    def raw():
        return None

    checks = [
        _check("quality", "raw", passed=False, blocking=True),
        _check("freshness", "raw", passed=False, blocking=False),
    ]

    @dg.multi_asset_check(specs=check_specs(checks), can_subset=True)
    def raw_checks(context, warehouse: WarehouseResource):
        yield from evaluate_checks(context, checks, warehouse)

    @dg.asset(deps=[raw])
    def staging():
        return None

    result, evaluations, done, _ = _run([raw, staging], [raw_checks])
    assert not result.success
    assert evaluations == {("raw", "quality"): False, ("raw", "freshness"): False}
    assert done == {"raw"}


def test_passing_checks_let_the_job_through():
    checks = [_check("quality", "raw", passed=True, blocking=True)]

    @dg.asset(check_specs=check_specs(checks))
    def raw(context, warehouse: WarehouseResource):
        yield dg.MaterializeResult()
        yield from evaluate_checks(context, checks, warehouse)

    @dg.asset(deps=[raw])
    def staging():
        return None

    result, evaluations, done, _ = _run([raw, staging])
    assert result.success and evaluations == {("raw", "quality"): True}
    assert done == {"raw", "staging"}


def test_the_jobs_have_a_step_per_unit_of_work_not_per_check():
    """eBird had 15 steps (11 of them checks), Telegram 14 nodes (7 checks)."""
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    ebird = {n.name for n in repo.get_job("daily_ebird_pipeline").graph.nodes}
    assert ebird == {
        "ebird_assets",
        "raw_ebird_checks",
        "sqlmesh_staging",
        "sqlmesh_marts",
        "data_quality_checks",
    }
    telegram = {n.name for n in repo.get_job("daily_pipeline_job").graph.nodes}
    assert telegram == {
        "scrape_telegram",
        "load_raw_data",
        "enrich_data_yolo",
        "enrich_data_yolo_no_image_errors",
        "load_yolo_detections",
        "telegram_sqlmesh_staging",
        "telegram_sqlmesh_marts",
        "databox_report",
    }
    graph = defs.resolve_asset_graph()
    blocking = {
        (k.asset_key.to_user_string(), k.name)
        for k in graph.asset_check_keys
        if graph.get_check_spec(k).blocking
    }
    assert blocking == {
        *((f"raw_ebird/{t}", "quality") for t in ("recent_observations", "notable_observations")),
        *((f"raw_ebird/{t}", "quality") for t in ("taxonomy", "hotspots")),
        *(
            (f"telegram_staging/{m}", "keys")
            for m in ("stg_telegram_messages", "stg_image_enrichment", "stg_image_detections")
        ),
    }
