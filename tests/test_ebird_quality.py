"""Data quality checks (``databox.ebird.quality``) on real warehouses: raw tables loaded
by the dlt pipeline from the eBird replica, models built by SQLMesh, then bad rows
injected into the raw tables, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from databox.ebird.pipeline import run_ebird
from databox.ebird.quality import (
    CHECKS,
    RESULTS_TABLE,
    QualityCheck,
    checks_for_table,
    run_quality_checks,
    summarise,
    write_results,
)
from databox.ebird.settings import EbirdSettings
from databox.replica.ebird_api import EbirdApiReplica, build_dataset
from databox.transform.runner import SqlMeshRunner
from databox.warehouse import connect
from tests.ebird_helpers import fast_settings

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*json_encoders.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:pandas only supports SQLAlchemy:UserWarning"),
]

TODAY = date(2024, 3, 15)
TOKEN = "quality-test-token"
REGIONS = ("US-NY", "KE")
RECENT = "raw_ebird.recent_observations"
NOTABLE = "raw_ebird.notable_observations"
HISTORIC = "raw_ebird.historic_observations"


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica(
        build_dataset(seed=7, regions=REGIONS, today=TODAY), token=TOKEN
    ) as server:
        yield server


@pytest.fixture(scope="session")
def sqlmesh_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sqlmesh-cache-quality")


def make_settings(replica, tmp_path: Path) -> EbirdSettings:
    return fast_settings(replica, tmp_path, TOKEN, REGIONS)


def by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_checks_on_real_data_bad_rows_and_results(replica, warehouse_url, tmp_path, sqlmesh_cache):
    run_ebird(warehouse_url, make_settings(replica, tmp_path))  # no historic load
    SqlMeshRunner(warehouse_url, cache_dir=sqlmesh_cache).plan_and_apply()
    wh = connect(warehouse_url)

    # 1. Clean data: every error check passes; historic_observations does not exist.
    outcomes = run_quality_checks(wh)
    assert [o.name for o in outcomes] == [c.name for c in CHECKS]
    errors, warnings = summarise(outcomes)
    assert errors == [] and warnings == [], [(o.name, o.detail) for o in errors + warnings]
    skipped = {o.table for o in outcomes if o.skipped}
    assert skipped == {HISTORIC}
    assert all(not o.passed and o.failing_rows is None for o in outcomes if o.skipped)
    ran = [o for o in outcomes if not o.skipped]
    assert all(o.passed and o.failing_rows == 0 for o in ran)
    tables = {o.table for o in ran}
    assert {RECENT, NOTABLE, "raw_ebird.taxonomy", "raw_ebird.hotspots"} <= tables
    assert {"staging.stg_ebird_observations", "marts.fct_daily_species_counts"} <= tables

    # 2. Results: one row per check; the same run id written again adds nothing.
    assert write_results(wh, outcomes, "run-1") == len(CHECKS)
    assert write_results(wh, outcomes, "run-1") == 0
    count = f"SELECT count(*) AS n FROM {RESULTS_TABLE.name} WHERE run_id = %s"
    assert wh.query(count, ("run-1",))[0]["n"] == len(CHECKS)
    skipped_rows = wh.query(
        f"SELECT check_name, passed, failing_rows FROM {RESULTS_TABLE.name} "
        "WHERE run_id = %s AND skipped ORDER BY check_name",
        ("run-1",),
    )
    assert skipped_rows and all(r["check_name"].startswith("historic_") for r in skipped_rows)
    assert all(r["passed"] is False and r["failing_rows"] is None for r in skipped_rows)

    # 3. Bad rows in the raw tables.
    future = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    day = TODAY.isoformat()
    cols = "species_code, sub_id, region_code, loc_id, obs_date, how_many, lat, lng, _dlt_load_id, _dlt_id"
    with wh.transaction() as tx:
        # dlt declares the key columns NOT NULL; lift that to simulate a table it no
        # longer guards (another writer, a schema change) and let a NULL through.
        tx.execute(f"ALTER TABLE {RECENT} ALTER COLUMN species_code DROP NOT NULL")
    with wh.transaction() as tx:
        # A second copy of an existing (sub_id, species_code).
        tx.execute(
            f"INSERT INTO {RECENT} ({cols}) SELECT species_code, sub_id, region_code, loc_id, "
            f"obs_date, how_many, lat, lng, _dlt_load_id, 'dup-row' FROM {RECENT} "
            f"WHERE _dlt_id = (SELECT min(_dlt_id) FROM {RECENT})"
        )
        tx.execute(
            f"INSERT INTO {RECENT} ({cols}) VALUES "
            f"('amerob', 'SBADLAT', 'US-NY', 'L1', DATE '{day}', 1, 123.0, -74.0, '1999999999.0', 'lat-row'), "
            f"('amerob', 'SFUTURE', 'US-NY', 'L1', DATE '{future}', 1, 40.7, -74.0, '1999999999.0', 'future-row'), "
            f"(NULL, 'SNULL', 'US-NY', 'L1', DATE '{day}', 1, 40.7, -74.0, '1999999999.0', 'null-row')"
        )
        tx.execute(
            f"INSERT INTO {NOTABLE} ({cols}) VALUES "
            f"('snoowl1', 'SNEG', 'US-NY', 'L1', DATE '{day}', -3, 40.7, 200.0, '1999999999.0', 'neg-row')"
        )
    # Freshness judged two days on: the load is too old by then (a warning only).
    later = datetime.now(UTC) + timedelta(hours=48)
    outcomes = by_name(run_quality_checks(wh, now=later))
    expected_failures = {
        "recent_observations__unique__sub_id_species_code": 1,
        "recent_observations__range__lat": 1,
        "recent_observations__not_in_future__obs_date": 1,
        "recent_observations__not_null__sub_id_species_code": 1,
        "notable_observations__range__how_many": 1,
        "notable_observations__range__lng": 1,
        "recent_observations__freshness": 1,
    }
    failed = {name: o.failing_rows for name, o in outcomes.items() if o.failed}
    assert failed == expected_failures
    # The future row is 10 days ahead: 48 h later it is still in the future.
    errors, warnings = summarise(outcomes.values())
    assert [o.name for o in warnings] == ["recent_observations__freshness"]
    assert {o.name for o in errors} == set(expected_failures) - {"recent_observations__freshness"}

    # 4. A Dagster asset check runs only one table's checks.
    recent_only = run_quality_checks(wh, tables={RECENT})
    assert {o.table for o in recent_only} == {RECENT}
    assert [o.name for o in recent_only] == [c.name for c in checks_for_table(RECENT)]
    assert checks_for_table("recent_observations") == checks_for_table(RECENT)
    assert all(o.skipped for o in run_quality_checks(wh, tables={HISTORIC}))

    # 5. A second run: its own rows; rerunning it updates in place.
    assert write_results(wh, list(outcomes.values()), "run-2") == len(CHECKS)
    assert write_results(wh, list(outcomes.values()), "run-2") == 0
    assert wh.query(count, ("run-2",))[0]["n"] == len(CHECKS)
    rows = wh.query(
        f"SELECT check_name, failing_rows, severity FROM {RESULTS_TABLE.name} "
        "WHERE run_id = %s AND NOT passed AND NOT skipped ORDER BY check_name",
        ("run-2",),
    )
    assert {r["check_name"]: r["failing_rows"] for r in rows} == expected_failures
    assert wh.query(f"SELECT count(*) AS n FROM {RESULTS_TABLE.name}")[0]["n"] == 2 * len(CHECKS)
    # No run id: a fresh one each time.
    assert write_results(wh, list(outcomes.values())[:2], None) == 2
    assert write_results(wh, list(outcomes.values())[:2], None) == 2
    assert wh.query(f"SELECT count(DISTINCT run_id) AS n FROM {RESULTS_TABLE.name}")[0]["n"] == 4


def test_missing_table_and_broken_check_on_an_empty_warehouse(duckdb_url):
    wh = connect(duckdb_url)
    outcomes = run_quality_checks(wh)
    assert len(outcomes) == len(CHECKS) and all(o.skipped and not o.passed for o in outcomes)
    assert summarise(outcomes) == ([], [])
    assert "does not exist" in outcomes[0].detail

    # A check whose SQL fails is reported as failed (with the error), not raised.
    wh.ensure_tables(RESULTS_TABLE)
    broken = QualityCheck(
        name="broken",
        table=RESULTS_TABLE.name,
        description="bad SQL",
        severity="error",
        sql_failing_rows=f"SELECT count(no_such_column) FROM {RESULTS_TABLE.name}",
    )
    (outcome,) = run_quality_checks(wh, checks=[broken])
    assert outcome.failed and outcome.failing_rows is None and "no_such_column" in outcome.detail
    assert write_results(wh, [outcome], "r") == 1
    assert (
        "no_such_column"
        in wh.query(f"SELECT description FROM {RESULTS_TABLE.name}")[0]["description"]
    )
