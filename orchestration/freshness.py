"""Freshness asset checks on the raw tables of both pipelines.

Severity ERROR, so a stale table feeds the failed-check alert (``orchestration.alerts``);
non-blocking, so a quiet source never stops the rest of its job. Each check is on an
asset of its job (``load_raw_data``; ``raw_ebird/<table>``), so it runs with
``daily_pipeline_job`` / ``daily_ebird_pipeline`` right after the load. Thresholds
(``TELEGRAM_FRESHNESS_HOURS``, ``EBIRD_FRESHNESS_HOURS``) are read when the check runs,
like every setting that does not shape the definitions (see ``databox.freshness`` for
what is measured and why).
"""

from __future__ import annotations

import os

import dagster as dg

from databox.freshness import (
    EBIRD_DEFAULT_HOURS,
    TELEGRAM_DEFAULT_HOURS,
    Freshness,
    ebird_freshness,
    freshness_hours,
    telegram_freshness,
)
from orchestration.resources import WarehouseResource

#: The eBird raw assets the daily job loads (orchestration.ebird_assets.DAILY_RESOURCES;
#: not imported: that module builds the dlt assets and is slow to import).
EBIRD_RAW_TABLES = ("recent_observations", "notable_observations", "taxonomy", "hotspots")
EBIRD_DATASET = "raw_ebird"


def freshness_result(freshness: Freshness) -> dg.AssetCheckResult:
    age = freshness.age_hours
    return dg.AssetCheckResult(
        passed=freshness.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=freshness.describe(),
        metadata={
            "table": freshness.table,
            "measured": freshness.measured,
            "newest": freshness.newest.isoformat() if freshness.newest else "none",
            "age_hours": round(age, 2) if age is not None else -1.0,
            "threshold_hours": freshness.threshold_hours,
            "checked_at": freshness.now.isoformat(),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("load_raw_data"),
    name="telegram_freshness",
    blocking=False,
    description=(
        "The newest message in raw.telegram_messages (any channel) was posted within "
        f"TELEGRAM_FRESHNESS_HOURS (default {TELEGRAM_DEFAULT_HOURS:g})."
    ),
)
def telegram_freshness_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    hours = freshness_hours(os.environ, "TELEGRAM_FRESHNESS_HOURS", TELEGRAM_DEFAULT_HOURS)
    return freshness_result(telegram_freshness(warehouse.connect(), hours))


def _ebird_check(table: str) -> dg.AssetChecksDefinition:
    full = f"{EBIRD_DATASET}.{table}"

    @dg.asset_check(
        asset=dg.AssetKey([EBIRD_DATASET, table]),
        name="freshness",
        blocking=False,
        description=(
            f"The newest successful dlt load that left rows in {full} is at most "
            f"EBIRD_FRESHNESS_HOURS old (default {EBIRD_DEFAULT_HOURS:g})."
        ),
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        hours = freshness_hours(os.environ, "EBIRD_FRESHNESS_HOURS", EBIRD_DEFAULT_HOURS)
        return freshness_result(ebird_freshness(warehouse.connect(), full, hours))

    return _check


freshness_checks: list[dg.AssetChecksDefinition] = [
    telegram_freshness_check,
    *(_ebird_check(table) for table in EBIRD_RAW_TABLES),
]
