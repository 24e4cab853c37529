"""eBird exact: the token on every request, the taxonomy replaced exactly in one
transaction, data type changes failing loudly through dlt's schema contract, and
``run_ebird`` recovering after a failed load. Real dlt loads from the replica on
loopback into DuckDB and PostgreSQL (``warehouse_url``)."""

from __future__ import annotations

import os
import pickle
from datetime import date, timedelta
from pathlib import Path

import pytest

from databox.ebird.client import EbirdClient
from databox.ebird.errors import EbirdAuthError, EbirdExtractFailed, EbirdSchemaChanged
from databox.ebird.pipeline import (
    REPLACE_STRATEGY,
    dlt_destination,
    make_ebird_source,
    make_pipeline,
    run_ebird,
)
from databox.ebird.settings import (
    EbirdSettings,
    daily_historic_dates,
    ebird_settings_from_env,
    validate_daily_historic_days,
)
from databox.errors import ConfigError
from databox.replica.ebird_api import EbirdApiReplica, build_dataset
from tests.ebird_helpers import fast_settings, reset_replica

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

TODAY = date(2024, 3, 15)
TOKEN = "exact-token-7"
REGIONS = ("US-NY", "KE")


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica(
        build_dataset(seed=13, regions=REGIONS, today=TODAY), token=TOKEN
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(replica):
    taxonomy = list(replica.dataset.taxonomy)
    yield
    replica.dataset.taxonomy[:] = taxonomy  # tests retire codes; put them back
    reset_replica(replica, TOKEN)


def make_settings(replica, tmp_path: Path, **overrides) -> EbirdSettings:
    return fast_settings(replica, tmp_path, TOKEN, REGIONS, **overrides)


def query(url: str, sql: str) -> list[tuple]:
    if url.startswith("duckdb:"):
        import duckdb

        con = duckdb.connect(url[len("duckdb:///") :], read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def columns(url: str, table: str) -> set[str]:
    if url.startswith("duckdb:") and not Path(url[len("duckdb:///") :]).exists():
        return set()
    sql = (
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = 'raw_ebird' AND table_name = '{table}'"
    )
    return {c for (c,) in query(url, sql)}


def taxon_codes(url: str) -> set[str]:
    return {c for (c,) in query(url, "SELECT species_code FROM raw_ebird.taxonomy")}


def pending(settings: EbirdSettings, url: str, name: str = "ebird") -> bool:
    return make_pipeline(
        url, pipelines_dir=settings.pipelines_dir, pipeline_name=name
    ).has_pending_data


# -- the token ---------------------------------------------------------------------------


def test_the_token_goes_with_every_request(replica, duckdb_url, tmp_path):
    summary = run_ebird(
        duckdb_url,
        make_settings(replica, tmp_path),
        historic_date=TODAY - timedelta(days=1),
        resources=[
            "recent_observations",
            "notable_observations",
            "historic_observations",
            "taxonomy",
            "hotspots",
        ],
    )
    assert not summary.failures and all(summary.row_counts.values())
    log = replica.request_log
    kinds = {p.split("/")[3] if p.startswith("/v2/ref/") else p.split("/")[-1] for p, _, _ in log}
    assert {"taxonomy", "hotspot", "recent", "notable"} <= kinds
    assert any("/historic/" in p for p, _, _ in log)
    assert {token for _, _, token in log} == {TOKEN}, "every request carries the token"

    # Without a token the client sends nothing at all, reference data included.
    replica.clear_log()
    client = EbirdClient(None, replica.base_url)
    for call in (client.taxonomy, client.taxonomy_versions, lambda: client.hotspots("KE")):
        with pytest.raises(EbirdAuthError, match="EBIRD_API_TOKEN"):
            call()
    assert replica.request_log == []


def test_a_server_enforcing_the_token_on_reference_data_loads(replica, duckdb_url, tmp_path):
    """The failure of the bug report: the replica (like a server that enforces the
    documented header) answers 403 to taxonomy and hotspots without the token."""
    run_ebird(duckdb_url, make_settings(replica, tmp_path), resources=["taxonomy", "hotspots"])
    replica.set_token("rotated")
    with pytest.raises(EbirdAuthError, match="HTTP 403") as err:
        run_ebird(duckdb_url, make_settings(replica, tmp_path), resources=["taxonomy"])
    assert "ref/taxonomy/ebird" in str(err.value) and TOKEN not in str(err.value)
    # The 403 stopped the run; the taxonomy already loaded is untouched.
    assert len(taxon_codes(duckdb_url)) == len(replica.dataset.taxonomy)


# -- the taxonomy: replaced exactly, in one transaction ------------------------------------


def test_taxonomy_replace_drops_retired_codes(replica, warehouse_url, tmp_path):
    settings = make_settings(replica, tmp_path)
    run_ebird(warehouse_url, settings, resources=["taxonomy"])
    served = {t["speciesCode"] for t in replica.dataset.taxonomy}
    assert taxon_codes(warehouse_url) == served

    # eBird's yearly update retires a code (and renames another's common name).
    replica.dataset.taxonomy[:] = [
        t for t in replica.dataset.taxonomy if t["speciesCode"] != "rewbla"
    ]
    renamed = next(t for t in replica.dataset.taxonomy if t["speciesCode"] == "amerob")
    replica.dataset.taxonomy[replica.dataset.taxonomy.index(renamed)] = {
        **renamed,
        "comName": "American Robin (2025)",
    }
    summary = run_ebird(warehouse_url, settings, resources=["taxonomy"])
    assert summary.row_counts == {"taxonomy": len(served) - 1}
    assert taxon_codes(warehouse_url) == served - {"rewbla"}, "the retired code disappeared"
    assert query(
        warehouse_url, "SELECT com_name FROM raw_ebird.taxonomy WHERE species_code = 'amerob'"
    ) == [("American Robin (2025)",)]
    # One row per code, one load id: nothing of the previous load is left.
    assert query(warehouse_url, "SELECT count(DISTINCT _dlt_load_id) FROM raw_ebird.taxonomy") == [
        (1,)
    ]

    # A taxonomy request that fails replaces nothing: the table stays whole.
    replica.fail("/ref/taxonomy", 500)
    with pytest.raises(EbirdExtractFailed, match="taxonomy"):
        run_ebird(warehouse_url, settings, resources=["taxonomy", "hotspots"])
    assert taxon_codes(warehouse_url) == served - {"rewbla"}


def test_a_failed_taxonomy_load_leaves_the_old_table_and_the_next_run_recovers(
    replica, warehouse_url, tmp_path, monkeypatch
):
    """The replace's delete + insert run in one transaction: a statement failing after
    both (here a NOT NULL violation appended to dlt's replace job) rolls both back.
    The failed package cannot be completed later either (its SQL is on disk), so the
    next run drops it and loads afresh: green."""
    from dlt.destinations import sql_jobs

    assert REPLACE_STRATEGY == "insert-from-staging"
    assert dlt_destination(warehouse_url).capabilities().supports_transactions is True
    settings = make_settings(replica, tmp_path)
    run_ebird(warehouse_url, settings, resources=["taxonomy"])
    before = set(
        query(warehouse_url, "SELECT species_code, com_name, _dlt_load_id FROM raw_ebird.taxonomy")
    )
    replica.dataset.taxonomy[:] = [
        t for t in replica.dataset.taxonomy if t["speciesCode"] != "norcar"
    ]

    replace_sql = sql_jobs.SqlStagingReplaceFollowupJob.generate_sql.__func__
    statements: list[str] = []

    def failing_after_the_swap(cls, table_chain, sql_client):
        sql = replace_sql(cls, table_chain, sql_client)
        statements.extend(sql)
        table = sql_client.make_qualified_table_name(table_chain[0]["name"])
        return [*sql, f"INSERT INTO {table} (species_code) VALUES (NULL)"]

    monkeypatch.setattr(
        sql_jobs.SqlStagingReplaceFollowupJob, "generate_sql", classmethod(failing_after_the_swap)
    )
    with pytest.raises(Exception, match="load"):
        run_ebird(warehouse_url, settings, resources=["taxonomy"])
    # dlt's replace job did delete and re-insert (then the extra statement failed) ...
    assert statements[0].startswith("DELETE FROM") or statements[0].startswith("TRUNCATE")
    assert statements[1].startswith("INSERT INTO") and "_staging" in statements[1]
    # ... and the rollback left the old taxonomy exactly as it was.
    after = set(
        query(warehouse_url, "SELECT species_code, com_name, _dlt_load_id FROM raw_ebird.taxonomy")
    )
    assert after == before and "norcar" in taxon_codes(warehouse_url)
    assert pending(settings, warehouse_url), "the failed package is still pending"

    monkeypatch.undo()
    summary = run_ebird(warehouse_url, settings, resources=["taxonomy"])
    assert summary.row_counts == {"taxonomy": len(replica.dataset.taxonomy)}
    assert "norcar" not in taxon_codes(warehouse_url)
    assert not pending(settings, warehouse_url)


# -- data types: dlt's schema contract -----------------------------------------------------


def test_a_number_arriving_as_text_fails_loudly_then_a_healthy_run_is_green(
    replica, warehouse_url, tmp_path
):
    settings = make_settings(replica, tmp_path)
    replica.tamper("/data/obs/KE/recent", "howMany", "12", times=1)
    with pytest.raises(EbirdSchemaChanged) as err:
        run_ebird(warehouse_url, settings, resources=["recent_observations"])
    exc = err.value
    assert (exc.table, exc.column, exc.field, exc.value, exc.expected) == (
        "raw_ebird.recent_observations",
        "how_many",
        "howMany",
        "12",
        "bigint",
    )
    msg = str(exc)
    assert "raw_ebird.recent_observations.how_many (API field howMany)" in msg
    assert "expected bigint, got text '12'" in msg and "speciesCode=" in msg
    assert TOKEN not in msg
    assert str(pickle.loads(pickle.dumps(exc))) == msg  # crosses process boundaries
    # Nothing was loaded (not even US-NY's rows: the run stopped), nothing is pending.
    assert columns(warehouse_url, "recent_observations") == set()
    assert not pending(settings, warehouse_url)

    # The API is healthy again: the next run is green and the column stays typed.
    summary = run_ebird(warehouse_url, settings, resources=["recent_observations"])
    expected = sum(len(replica.dataset.recent([r], 14)) for r in REGIONS)
    assert summary.row_counts == {"recent_observations": expected}
    cols = columns(warehouse_url, "recent_observations")
    assert "how_many" in cols and not any("__v_" in c for c in cols)

    # A coordinate as a string, on a table that already holds rows: loud, rows kept.
    run_ebird(warehouse_url, settings, resources=["hotspots"])
    hotspots = query(warehouse_url, "SELECT count(*) FROM raw_ebird.hotspots")
    replica.tamper("/ref/hotspot/KE", "lat", "-1.29", times=1)
    with pytest.raises(
        EbirdSchemaChanged, match=r"raw_ebird\.hotspots\.lat: expected double, got text '-1.29'"
    ):
        run_ebird(warehouse_url, settings, resources=["hotspots"])
    assert query(warehouse_url, "SELECT count(*) FROM raw_ebird.hotspots") == hotspots
    assert not any("__v_" in c for c in columns(warehouse_url, "hotspots"))


def test_a_null_key_in_the_taxonomy_fails_loudly_and_replaces_nothing(
    replica, duckdb_url, tmp_path
):
    settings = make_settings(replica, tmp_path)
    run_ebird(duckdb_url, settings, resources=["taxonomy"])
    before = taxon_codes(duckdb_url)
    replica.tamper("/ref/taxonomy/ebird", "speciesCode", None, index=3, times=1)
    with pytest.raises(EbirdSchemaChanged) as err:
        run_ebird(duckdb_url, settings, resources=["taxonomy"])
    assert (err.value.table, err.value.column, err.value.value) == (
        "raw_ebird.taxonomy",
        "species_code",
        None,
    )
    assert "expected text, got null None" in str(err.value)
    assert taxon_codes(duckdb_url) == before and not pending(settings, duckdb_url)


def test_a_type_change_caught_at_normalize_leaves_nothing_pending(replica, warehouse_url, tmp_path):
    """A new field is welcome (columns evolve), but one whose type changes between
    records would get a ``__v_text`` variant column: dlt's ``data_type: freeze`` stops
    it while normalizing. Before the fix the failed package stayed pending and every
    later run failed with its load id; now it is dropped and the next run is green."""
    settings = make_settings(replica, tmp_path)
    replica.tamper("/data/obs/US-NY/recent", "breedingCode", 3, index=0, times=1)
    replica.tamper("/data/obs/US-NY/recent", "breedingCode", "C4", index=1, times=1)
    with pytest.raises(EbirdSchemaChanged) as err:
        run_ebird(warehouse_url, settings, resources=["recent_observations"])
    exc = err.value
    assert (exc.table, exc.column, exc.value) == (
        "raw_ebird.recent_observations",
        "breeding_code",
        "C4",
    )
    assert "variant column breeding_code__v_text" in str(exc)
    assert not pending(settings, warehouse_url), "the bad package was dropped"

    summary = run_ebird(warehouse_url, settings, resources=["recent_observations"])
    assert summary.row_counts["recent_observations"] > 0 and len(summary.load_ids) == 1
    assert not any(
        c.startswith("breeding_code") for c in columns(warehouse_url, "recent_observations")
    )


def test_run_ebird_completes_or_drops_what_an_older_run_left_pending(replica, duckdb_url, tmp_path):
    """A package left behind by code that did not clean up (the old run_ebird: extract
    and normalize, normalize failing on a bad record): the next run drops it and is
    green; a healthy leftover package is loaded, not dropped."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    settings = make_settings(replica, tmp_path)
    pipeline = make_pipeline(duckdb_url, pipelines_dir=settings.pipelines_dir)
    replica.tamper("/data/obs/KE/recent", "breedingCode", 3, index=0, times=1)
    replica.tamper("/data/obs/KE/recent", "breedingCode", "C4", index=1, times=1)
    source = make_ebird_source(settings).with_resources("recent_observations")
    pipeline.extract(source)
    with pytest.raises(PipelineStepFailed):
        pipeline.normalize()
    (stuck,) = pipeline.list_extracted_load_packages()
    with pytest.raises(PipelineStepFailed, match=stuck):  # the wedge: same load id again
        pipeline.normalize()

    summary = run_ebird(duckdb_url, settings, resources=["recent_observations"])
    assert stuck not in summary.load_ids and not pending(settings, duckdb_url)
    assert summary.row_counts["recent_observations"] > 0

    # A healthy package left pending (normalized, never loaded) is completed.
    pipeline = make_pipeline(duckdb_url, pipelines_dir=settings.pipelines_dir)
    pipeline.extract(make_ebird_source(settings).with_resources("hotspots"))
    pipeline.normalize()
    (left,) = pipeline.list_normalized_load_packages()
    summary = run_ebird(duckdb_url, settings, resources=["taxonomy"])
    assert summary.load_ids[0] == left and len(summary.load_ids) == 2
    assert query(duckdb_url, "SELECT count(*) FROM raw_ebird.hotspots")[0][0] > 0


# -- historic days for the daily job ----------------------------------------------------


def test_several_historic_dates_in_one_run(replica, warehouse_url, tmp_path):
    days = daily_historic_dates(TODAY, 3)
    assert days == [TODAY - timedelta(days=n) for n in (3, 2, 1)]
    run_ebird(
        warehouse_url,
        make_settings(replica, tmp_path),
        historic_dates=days,
        resources=["historic_observations"],
    )
    per_date = dict(
        query(
            warehouse_url,
            "SELECT obs_date, count(*) FROM raw_ebird.historic_observations GROUP BY obs_date",
        )
    )
    ds = replica.dataset
    assert per_date == {d: sum(len(ds.historic([r], d)) for r in REGIONS) for d in days}


def test_daily_historic_days_setting():
    assert ebird_settings_from_env({}).daily_historic_days == 3
    assert ebird_settings_from_env({"EBIRD_DAILY_HISTORIC_DAYS": "0"}).daily_historic_days == 0
    assert validate_daily_historic_days(" 30 ") == 30 and validate_daily_historic_days(None) == 3
    for bad in ("-1", "31", "a week"):
        with pytest.raises(ConfigError, match="EBIRD_DAILY_HISTORIC_DAYS"):
            ebird_settings_from_env({"EBIRD_DAILY_HISTORIC_DAYS": bad})
    assert daily_historic_dates(TODAY, 0) == []
    assert daily_historic_dates(TODAY, 1) == [TODAY - timedelta(days=1)], "today is not over"
