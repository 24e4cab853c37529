"""Freshness of the raw tables (databox.freshness) and its asset checks, on DuckDB and
PostgreSQL: fresh rows pass, stale rows and missing tables fail, thresholds from env."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from databox.errors import ConfigError
from databox.freshness import (
    ebird_freshness,
    freshness_hours,
    telegram_freshness,
)
from databox.warehouse import connect
from orchestration.freshness import freshness_checks, telegram_freshness_check
from orchestration.resources import WarehouseResource

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _telegram(wh, *ages_hours: float, now: datetime = NOW) -> None:
    with wh.transaction() as tx:
        tx.execute("CREATE SCHEMA IF NOT EXISTS raw")
        tx.execute("CREATE TABLE raw.telegram_messages (channel text, date timestamptz)")
        for i, age in enumerate(ages_hours):
            tx.execute(
                "INSERT INTO raw.telegram_messages VALUES (%s, %s)",
                (f"c{i}", now - timedelta(hours=age)),
            )


def _ebird(wh, table: str, loads: list[tuple[str, int, float]], rows_of: list[str]) -> None:
    """``loads``: (load_id, status, age in hours); ``rows_of``: load ids the table's rows
    carry."""
    with wh.transaction() as tx:
        tx.execute("CREATE SCHEMA IF NOT EXISTS raw_ebird")
        tx.execute(
            "CREATE TABLE IF NOT EXISTS raw_ebird._dlt_loads "
            "(load_id text, schema_name text, status bigint, inserted_at timestamptz)"
        )
        tx.execute(f"CREATE TABLE raw_ebird.{table} (sub_id text, _dlt_load_id text)")
        for load_id, status, age in loads:
            tx.execute(
                "INSERT INTO raw_ebird._dlt_loads VALUES (%s, 'ebird', %s, %s)",
                (load_id, status, NOW - timedelta(hours=age)),
            )
        for i, load_id in enumerate(rows_of):
            tx.execute(f"INSERT INTO raw_ebird.{table} VALUES (%s, %s)", (f"S{i}", load_id))


def test_telegram_newest_message_over_all_channels(warehouse_url):
    wh = connect(warehouse_url)
    _telegram(wh, 200.0, 3.0)  # a quiet channel and an active one: fresh
    fresh = telegram_freshness(wh, 48, now=NOW)
    assert fresh.passed and round(fresh.age_hours, 3) == 3.0
    assert fresh.newest == NOW - timedelta(hours=3)
    stale = telegram_freshness(wh, 2, now=NOW)
    assert not stale.passed
    assert "STALE" in stale.describe() and "threshold 2 h" in stale.describe()


def test_telegram_missing_or_empty_table_is_stale(warehouse_url):
    wh = connect(warehouse_url)
    missing = telegram_freshness(wh, 48, now=NOW)
    assert not missing.passed and missing.newest is None
    assert "no data yet" in missing.describe()
    _telegram(wh)
    assert telegram_freshness(wh, 48, now=NOW).newest is None


def test_ebird_newest_successful_load_with_rows(warehouse_url):
    wh = connect(warehouse_url)
    loads = [("1.0", 0, 50.0), ("2.0", 0, 10.0), ("3.0", 1, 1.0), ("4.0", 0, 0.5)]
    # 3.0 did not complete, 4.0 left no rows in this table: neither makes it fresh.
    _ebird(wh, "recent_observations", loads, rows_of=["1.0", "2.0", "3.0"])
    result = ebird_freshness(wh, "raw_ebird.recent_observations", 36, now=NOW)
    assert result.passed and round(result.age_hours, 3) == 10.0
    assert not ebird_freshness(wh, "raw_ebird.recent_observations", 8, now=NOW).passed
    assert ebird_freshness(wh, "raw_ebird.taxonomy", 36, now=NOW).newest is None


def test_freshness_hours_validated():
    assert freshness_hours({}, "EBIRD_FRESHNESS_HOURS", 36) == 36
    assert freshness_hours({"EBIRD_FRESHNESS_HOURS": " 1.5 "}, "EBIRD_FRESHNESS_HOURS", 36) == 1.5
    for bad in ("0", "-3", "abc", "inf"):
        with pytest.raises(ConfigError, match=r"EBIRD_FRESHNESS_HOURS='.*' must be a positive"):
            freshness_hours({"EBIRD_FRESHNESS_HOURS": bad}, "EBIRD_FRESHNESS_HOURS", 36)


def test_check_definitions_are_non_blocking_on_the_raw_assets():
    keys = {check.key for check in freshness_checks}
    assert {k.asset_key.to_user_string() for k in keys} == {
        "load_raw_data",
        "raw_ebird/recent_observations",
        "raw_ebird/notable_observations",
        "raw_ebird/taxonomy",
        "raw_ebird/hotspots",
    }
    assert all(not c.spec.blocking for c in freshness_checks)


def test_telegram_check_reads_threshold_and_reports_metadata(duckdb_url, monkeypatch):
    wh = connect(duckdb_url)
    _telegram(wh, 30.0, now=datetime.now(UTC))
    resource = WarehouseResource(database_url=duckdb_url)
    monkeypatch.delenv("TELEGRAM_FRESHNESS_HOURS", raising=False)
    result = telegram_freshness_check.evaluate(resource)
    assert result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["threshold_hours"].value == 48
    assert 29.9 < result.metadata["age_hours"].value < 30.1
    monkeypatch.setenv("TELEGRAM_FRESHNESS_HOURS", "24")
    result = telegram_freshness_check.evaluate(resource)
    assert not result.passed and "STALE" in result.description
