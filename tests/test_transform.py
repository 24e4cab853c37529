"""The eBird SQLMesh project through ``SqlMeshRunner``: raw tables loaded by the real dlt
pipeline from the eBird replica (DuckDB file and PostgreSQL database), then staging and
marts built by SQLMesh and compared with the same figures computed in Python."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from databox.ebird.pipeline import run_ebird
from databox.ebird.settings import EbirdSettings
from databox.filelock import LockTimeout
from databox.replica.ebird_api import EbirdApiReplica, build_dataset
from databox.transform.runner import SqlMeshRunner, TransformError
from tests.ebird_helpers import fast_settings, lock_held_elsewhere

# Warnings from inside SQLMesh 0.236, not ours to fix: its pydantic models use the
# deprecated json_encoders, and its Postgres adapter hands pandas a psycopg2 connection.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*json_encoders.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:pandas only supports SQLAlchemy:UserWarning"),
]

TODAY = date(2024, 3, 15)
TOKEN = "transform-test-token"
REGIONS = ("US-NY", "US-CA", "KE")
HISTORIC_DAYS = (TODAY - timedelta(days=1), TODAY - timedelta(days=2))


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica(
        build_dataset(seed=5, regions=REGIONS, today=TODAY), token=TOKEN
    ) as server:
        yield server


@pytest.fixture(scope="session")
def sqlmesh_cache(tmp_path_factory) -> Path:
    """One SQLMesh cache for the session: later Contexts reuse the parsed models."""
    return tmp_path_factory.mktemp("sqlmesh-cache")


def make_settings(replica, tmp_path: Path) -> EbirdSettings:
    return fast_settings(replica, tmp_path, TOKEN, REGIONS)


def query(url: str, sql: str) -> list[tuple]:
    if url.startswith("duckdb:"):
        import duckdb

        con = duckdb.connect(url[len("duckdb:///") :])
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


# -- the marts, computed in Python from the raw rows ------------------------------------

OBS_COLUMNS = "sub_id, species_code, region_code, loc_id, obs_date, how_many, _dlt_load_id"


def expected_observations(url: str, *, with_historic: bool) -> list[tuple]:
    """stg_ebird_observations by hand: one row per (sub_id, species_code), the copy
    loaded last winning (ties: historic before recent)."""
    rows = [
        (*r, "recent")
        for r in query(url, f"SELECT {OBS_COLUMNS} FROM raw_ebird.recent_observations")
    ]
    if with_historic:
        rows += [
            (*r, "historic")
            for r in query(url, f"SELECT {OBS_COLUMNS} FROM raw_ebird.historic_observations")
        ]
    best: dict[tuple, tuple] = {}
    for row in rows:
        key, rank = row[:2], (-float(row[6]), row[7])
        if key not in best or rank < best[key][0]:
            best[key] = (rank, row)
    return [row for _, row in best.values()]


def expected_historic(url: str) -> list[tuple]:
    """stg_ebird_historic_observations by hand: the raw historic rows (none before the
    first historic load), one per (sub_id, species_code), the copy loaded last winning."""
    if not query(
        url,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_ebird' "
        "AND table_name = 'historic_observations'",
    )[0][0]:
        return []
    best: dict[tuple, tuple] = {}
    for row in query(url, f"SELECT {OBS_COLUMNS} FROM raw_ebird.historic_observations"):
        if row[:2] not in best or float(row[6]) > float(best[row[:2]][6]):
            best[row[:2]] = row
    return list(best.values())


def expected_daily_counts(historic: list[tuple]) -> set[tuple]:
    """fct_daily_species_counts by hand: from the historic observations only."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for sub_id, species, region, _loc, day, how_many, *_ in historic:
        groups[(region, day, species)].append((sub_id, how_many))
    return {
        (
            *key,
            len({sub for sub, _ in rows}),  # checklists
            len(rows),  # observations
            sum(n or 0 for _, n in rows),  # individuals counted
            sum(n is None for _, n in rows),  # presence-only reports
            "historic",  # count_source
        )
        for key, rows in groups.items()
    }


def expected_hotspot_activity(url: str, observations: list[tuple]) -> set[tuple]:
    at: dict[str, list[tuple]] = defaultdict(list)
    for row in observations:
        at[row[3]].append(row)
    out = set()
    for (loc_id,) in query(url, "SELECT loc_id FROM raw_ebird.hotspots"):
        rows = at.get(loc_id, [])
        out.add(
            (
                loc_id,
                len(rows),
                len({r[0] for r in rows}),
                len({r[1] for r in rows}),
                max((r[4] for r in rows), default=None),
            )
        )
    return out


def assert_marts_match(url: str, *, with_historic: bool) -> dict[str, int]:
    """Compare the marts with the Python figures; return the row count of each model."""
    observations = expected_observations(url, with_historic=with_historic)
    assert query(url, "SELECT count(*) FROM staging.stg_ebird_observations")[0][0] == len(
        observations
    )
    historic = expected_historic(url)
    assert bool(historic) == with_historic
    assert query(url, "SELECT count(*) FROM staging.stg_ebird_historic_observations")[0][0] == len(
        historic
    )
    daily = set(
        query(
            url,
            "SELECT region_code, obs_date, species_code, checklists, observations, "
            "individuals_counted, presence_only_reports, count_source "
            "FROM marts.fct_daily_species_counts",
        )
    )
    # Daily counts come from the historic (per-date) observations only: without a
    # historic load there are none, however many recent observations there are.
    assert daily == expected_daily_counts(historic)
    activity = set(
        query(
            url,
            "SELECT loc_id, observations, checklists, distinct_species, last_observed_date "
            "FROM marts.fct_hotspot_activity",
        )
    )
    assert activity == expected_hotspot_activity(url, observations)
    assert {
        s for (s,) in query(url, "SELECT DISTINCT count_source FROM marts.fct_hotspot_activity")
    } == {"recent_latest_sightings+historic"}
    notable = set(
        query(
            url,
            "SELECT n.sub_id, n.species_code, t.family_com_name FROM raw_ebird.notable_observations n "
            "LEFT JOIN raw_ebird.taxonomy t ON t.species_code = n.species_code",
        )
    )
    assert notable and notable == set(
        query(url, "SELECT sub_id, species_code, family_com_name FROM marts.fct_notable_sightings")
    )
    counts = {
        model: query(url, f"SELECT count(*) FROM {model}")[0][0]
        for model in (
            "staging.stg_ebird_observations",
            "staging.stg_ebird_historic_observations",
            "staging.stg_ebird_notable_observations",
            "staging.stg_ebird_taxonomy",
            "staging.stg_ebird_hotspots",
            "marts.fct_daily_species_counts",
            "marts.fct_notable_sightings",
            "marts.fct_hotspot_activity",
            "marts.dim_hotspots",
            "marts.dim_species",
        )
    }
    assert (
        counts["marts.dim_species"] == query(url, "SELECT count(*) FROM raw_ebird.taxonomy")[0][0]
    )
    assert (
        counts["marts.dim_hotspots"] == query(url, "SELECT count(*) FROM raw_ebird.hotspots")[0][0]
    )
    return counts


def assert_connections_released(url: str) -> None:
    """SQLMesh keeps connections open unless told: the runner must have closed them."""
    if url.startswith("duckdb:"):
        # Another process can open the file read-write only if no one holds it.
        path = url[len("duckdb:///") :]
        subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({path!r}).close()"], check=True
        )
        return
    others = query(
        url,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )[0][0]
    assert others == 0


# -- end to end on both warehouses ------------------------------------------------------


def test_raw_to_marts_backfill_rerun_and_failing_audit(
    replica, warehouse_url, tmp_path, sqlmesh_cache
):
    settings = make_settings(replica, tmp_path)
    # 1. The default load: no historic_observations table yet.
    run_ebird(warehouse_url, settings)
    runner = SqlMeshRunner(warehouse_url, cache_dir=sqlmesh_cache)
    first = runner.plan_and_apply()
    assert set(first.changed_models) == set(runner.model_names())
    assert set(first.evaluated) == set(runner.model_names())
    assert_marts_match(warehouse_url, with_historic=False)
    assert query(warehouse_url, "SELECT count(*) FROM sqlmesh._environments")[0][0] == 1  # state

    # 2. A historic backfill of two days, older than the lookback: restate those days.
    for day in HISTORIC_DAYS:
        run_ebird(warehouse_url, settings, historic_date=day, resources=["historic_observations"])
    observations = expected_observations(warehouse_url, with_historic=True)
    assert any(how_many is None for *_, how_many, _, _ in observations)  # presence-only rows
    recent = query(warehouse_url, "SELECT sub_id, species_code FROM raw_ebird.recent_observations")
    historic = query(
        warehouse_url, "SELECT sub_id, species_code FROM raw_ebird.historic_observations"
    )
    assert set(recent) & set(historic), "the dedupe has overlapping copies to resolve"
    backfill = runner.plan_and_apply(start=min(HISTORIC_DAYS), end=max(HISTORIC_DAYS))
    assert backfill.changed_models == ()
    assert "staging.stg_ebird_observations" in backfill.restated
    assert "staging.stg_ebird_historic_observations" in backfill.restated
    counts = assert_marts_match(warehouse_url, with_historic=True)
    days = {
        d
        for (d,) in query(
            warehouse_url, "SELECT DISTINCT obs_date FROM marts.fct_daily_species_counts"
        )
    }
    assert days == set(HISTORIC_DAYS), "one day of counts per historic date loaded"

    # 3. Nothing changed: same rows again.
    again = runner.plan_and_apply()
    assert again.changed_models == () and again.restated == ()
    assert assert_marts_match(warehouse_url, with_historic=True) == counts
    assert_connections_released(warehouse_url)
    print(
        f"\n{warehouse_url.split(':')[0]}: context {runner.context_seconds:.2f} s, "
        f"first plan+apply {first.seconds:.2f} s, restate {backfill.seconds:.2f} s, "
        f"no-change plan+apply {again.seconds:.2f} s {again.timings}"
    )

    # 4. A raw row with an impossible latitude: the audit stops the plan, naming it.
    day = HISTORIC_DAYS[0].isoformat()
    query(
        warehouse_url,
        "INSERT INTO raw_ebird.recent_observations (species_code, sub_id, region_code, loc_id, "
        f"obs_date, how_many, lat, lng, _dlt_load_id, _dlt_id) VALUES ('amerob', 'SBAD', 'US-NY', "
        f"'L1', DATE '{day}', 1, 123.0, -74.0, '1999999999.0', 'bad-row')",
    )
    # And a notable sighting dated in ten days: the custom not_in_future audit.
    future = (date.today() + timedelta(days=10)).isoformat()
    query(
        warehouse_url,
        "INSERT INTO raw_ebird.notable_observations (species_code, sub_id, region_code, loc_id, "
        f"obs_date, lat, lng, _dlt_load_id, _dlt_id) VALUES ('snoowl1', 'SFUTURE', 'US-NY', 'L1', "
        f"DATE '{future}', 40.7, -74.0, '1999999999.0', 'future-row')",
    )
    with pytest.raises(TransformError) as err:
        runner.plan_and_apply(start=day, end=day)
    message = str(err.value)
    assert "model staging.stg_ebird_observations: audit accepted_range(column := lat" in message
    assert "model staging.stg_ebird_notable_observations: audit not_in_future" in message
    assert "failed: 1 row(s)" in message
    # Downstream models were not built from the bad interval.
    assert "marts.fct_daily_species_counts" not in message
    audit = runner.audit(models=["staging.stg_ebird_observations"])
    assert [(f.model, f.audit, f.count) for f in audit.failures] == [
        ("staging.stg_ebird_observations", "accepted_range", 1)
    ]
    assert "column := lat" in audit.failures[0].args
    assert_connections_released(warehouse_url)  # closed after a failure too


def test_refresh_skips_sqlmesh_only_when_raw_rows_and_project_are_unchanged(
    replica, warehouse_url, tmp_path, sqlmesh_cache
):
    from databox.transform.dag import load_dag
    from databox.transform.ebird_refresh import refresh_ebird_models

    settings = make_settings(replica, tmp_path)
    run_ebird(warehouse_url, settings, historic_dates=list(HISTORIC_DAYS))
    runner = SqlMeshRunner(warehouse_url, cache_dir=sqlmesh_cache)
    dag = load_dag("ebird")

    def steps(**restate) -> tuple[bool, bool]:
        """Staging then marts, as the Dagster assets call them: (skipped, skipped)."""
        staging = refresh_ebird_models(
            warehouse_url, select_models=dag.models("staging"), advance_watermark=False,
            runner=runner, **restate,
        )  # fmt: skip
        marts = refresh_ebird_models(
            warehouse_url, select_models=dag.models("marts"), runner=runner, **restate
        )
        return staging.skipped, marts.skipped

    # 1. The first build runs, of course; the same call again with nothing new skips.
    assert steps() == (False, False)
    counts = assert_marts_match(warehouse_url, with_historic=True)
    assert steps() == (True, True)
    assert_marts_match(warehouse_url, with_historic=True)

    # 2. One raw value changes (no new dlt load id): both steps run and the marts show it.
    # (A FULL model's input: the incremental ones recompute old days only when restated.)
    # Only the models downstream of the changed table run.
    loc = "(SELECT min(loc_id) FROM raw_ebird.hotspots)"
    query(warehouse_url, f"UPDATE raw_ebird.hotspots SET loc_name = 'Renamed' WHERE loc_id = {loc}")
    staged = refresh_ebird_models(
        warehouse_url, select_models=dag.models("staging"), advance_watermark=False, runner=runner
    )
    assert staged.models_run == ["staging.stg_ebird_hotspots"]
    assert set(staged.summary.evaluated) == {"staging.stg_ebird_hotspots"}
    marts = refresh_ebird_models(warehouse_url, select_models=dag.models("marts"), runner=runner)
    assert marts.models_run == ["marts.dim_hotspots", "marts.fct_hotspot_activity"]
    assert "marts.dim_species" not in marts.summary.evaluated
    assert query(
        warehouse_url, f"SELECT loc_name FROM marts.dim_hotspots WHERE loc_id = {loc}"
    ) == [("Renamed",)]
    assert assert_marts_match(warehouse_url, with_historic=True) == counts
    assert steps() == (True, True)

    # 3. A row deleted between the staging and the marts step: the watermark records what
    # staging was built from, so the next call runs again and picks the deletion up.
    staged = refresh_ebird_models(
        warehouse_url, select_models=dag.models("staging"), advance_watermark=False, runner=runner
    )
    assert staged.skipped
    query(warehouse_url, "UPDATE raw_ebird.taxonomy SET com_name = com_name || ' (renamed)' "
          "WHERE species_code = (SELECT min(species_code) FROM raw_ebird.taxonomy)")  # fmt: skip
    refresh_ebird_models(warehouse_url, select_models=dag.models("staging"),
                         advance_watermark=False, runner=runner)  # fmt: skip
    query(warehouse_url, "DELETE FROM raw_ebird.hotspots WHERE loc_id = "
          "(SELECT min(loc_id) FROM raw_ebird.hotspots)")  # fmt: skip
    assert not refresh_ebird_models(
        warehouse_url, select_models=dag.models("marts"), runner=runner
    ).skipped
    assert steps() == (False, False)  # the deleted hotspot is not yet in staging: run
    assert steps() == (True, True)
    assert_marts_match(warehouse_url, with_historic=True)

    # 4. A restatement always runs, whatever the digests say.
    day = {"start": HISTORIC_DAYS[-1].isoformat(), "end": HISTORIC_DAYS[0].isoformat()}
    assert steps(**day) == (False, False)
    assert steps() == (True, True)

    # 5. A dlt reload of the same API data writes new load ids, which staging reads
    # (the copy loaded last wins, dlt_load_id is a staging column): that runs too.
    run_ebird(warehouse_url, settings)
    assert steps() == (False, False)
    assert_marts_match(warehouse_url, with_historic=True)
    assert_connections_released(warehouse_url)


# -- no warehouse needed ------------------------------------------------------------------


def test_sqlmesh_unit_tests_pass(tmp_path, sqlmesh_cache):
    runner = SqlMeshRunner(f"duckdb:///{tmp_path / 'unused.duckdb'}", cache_dir=sqlmesh_cache)
    result = runner.run_tests()
    assert result.ok, result.failures
    assert result.tests_run == 3
    assert not (tmp_path / "unused.duckdb").exists()  # unit tests run on an in-memory DuckDB


def test_dependency_graph_from_raw_to_marts(tmp_path, sqlmesh_cache):
    runner = SqlMeshRunner(f"duckdb:///{tmp_path / 'w.duckdb'}", cache_dir=sqlmesh_cache)
    deps = runner.model_dependencies()
    assert set(deps) == set(runner.model_names())
    assert deps["staging.stg_ebird_observations"] == {
        "raw_ebird.recent_observations",
        "raw_ebird.historic_observations",
    }
    assert deps["staging.stg_ebird_notable_observations"] == {"raw_ebird.notable_observations"}
    assert deps["staging.stg_ebird_historic_observations"] == {"raw_ebird.historic_observations"}
    # Daily counts from the historic (per-date) observations only, never from /recent.
    assert deps["marts.fct_daily_species_counts"] == {"staging.stg_ebird_historic_observations"}
    assert deps["marts.fct_notable_sightings"] == {
        "staging.stg_ebird_notable_observations",
        "staging.stg_ebird_taxonomy",
    }
    assert deps["marts.fct_hotspot_activity"] == {
        "staging.stg_ebird_observations",
        "marts.dim_hotspots",
    }
    assert deps["marts.dim_species"] == {"staging.stg_ebird_taxonomy"}
    # Every upstream is a model or a declared raw table; raw tables only feed staging.
    known = set(deps) | set(runner.external_tables())
    assert all(upstreams <= known for upstreams in deps.values())
    assert {u for m, ups in deps.items() for u in ups if u.startswith("raw_ebird.")} == set(
        runner.external_tables()
    )
    assert all(
        m.startswith("staging.") for m, ups in deps.items() if ups & set(runner.external_tables())
    )
    kinds = runner.model_kinds()
    assert kinds["staging.stg_ebird_observations"] == "INCREMENTAL_BY_TIME_RANGE"
    assert kinds["staging.stg_ebird_taxonomy"] == "VIEW"
    assert kinds["marts.dim_species"] == "FULL"
    assert runner.table_for("marts.fct_daily_species_counts") == "marts.fct_daily_species_counts"
    with pytest.raises(KeyError):
        runner.table_for("raw_ebird.taxonomy")
    # The graph comes from the model files: no database was opened (or created).
    assert not (tmp_path / "w.duckdb").exists()


def test_duckdb_runs_wait_for_the_warehouse_lock(tmp_path, sqlmesh_cache):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    runner = SqlMeshRunner(url, cache_dir=sqlmesh_cache, lock_timeout=0.3)
    assert runner.lock_path == tmp_path / "w.duckdb.lock"
    runner.context()  # parse the models first, so the timeout measures the lock only
    with lock_held_elsewhere(runner.lock_path), pytest.raises(LockTimeout):
        runner.plan_and_apply()
    assert not (tmp_path / "w.duckdb").exists()
