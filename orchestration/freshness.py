"""Freshness asset checks on the raw tables of both pipelines.

Severity ERROR, so a stale table feeds the failed-check alert (``orchestration.alerts``);
non-blocking, so a quiet source never stops the rest of its job. Each check is on an
asset of its job (``load_raw_data``; ``raw_ebird/<table>``) and is evaluated in a step
the job already has (orchestration.inline_checks): load_raw_data's own, and the raw
eBird checks' one step, right after the load. Thresholds
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
from orchestration.inline_checks import InlineCheck
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


def telegram_hours() -> float:
    """TELEGRAM_FRESHNESS_HOURS, read when a check runs (raw messages and the facts)."""
    return freshness_hours(os.environ, "TELEGRAM_FRESHNESS_HOURS", TELEGRAM_DEFAULT_HOURS)


def _telegram_freshness(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return freshness_result(telegram_freshness(warehouse.connect(), telegram_hours()))


#: Evaluated in load_raw_data's step (orchestration.telegram_assets).
telegram_freshness_check = InlineCheck(
    dg.AssetCheckSpec(
        "telegram_freshness",
        asset="load_raw_data",
        blocking=False,
        description=(
            "The newest message in raw.telegram_messages (any channel) was posted within "
            f"TELEGRAM_FRESHNESS_HOURS (default {TELEGRAM_DEFAULT_HOURS:g})."
        ),
    ),
    _telegram_freshness,
)


def _ebird_check(table: str) -> InlineCheck:
    full = f"{EBIRD_DATASET}.{table}"

    def _evaluate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        hours = freshness_hours(os.environ, "EBIRD_FRESHNESS_HOURS", EBIRD_DEFAULT_HOURS)
        return freshness_result(ebird_freshness(warehouse.connect(), full, hours))

    spec = dg.AssetCheckSpec(
        "freshness",
        asset=dg.AssetKey([EBIRD_DATASET, table]),
        blocking=False,
        description=(
            f"The newest successful dlt load that left rows in {full} is at most "
            f"EBIRD_FRESHNESS_HOURS old (default {EBIRD_DEFAULT_HOURS:g})."
        ),
    )
    return InlineCheck(spec, _evaluate)


#: Evaluated with the raw quality checks in one step (orchestration.ebird_assets).
ebird_freshness_checks: list[InlineCheck] = [_ebird_check(table) for table in EBIRD_RAW_TABLES]
freshness_checks: list[InlineCheck] = [telegram_freshness_check, *ebird_freshness_checks]
