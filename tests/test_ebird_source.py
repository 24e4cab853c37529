"""The eBird client, dlt source and pipeline against the replica on loopback, loading
real dlt pipelines into DuckDB (a tmp file) and PostgreSQL (``pg_url``)."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from databox.ebird.check import check_api
from databox.ebird.client import EbirdClient
from databox.ebird.errors import (
    EbirdApiError,
    EbirdAuthError,
    EbirdBadRequest,
    EbirdExtractFailed,
)
from databox.ebird.pipeline import (
    duckdb_lock_path,
    make_ebird_source,
    make_pipeline,
    run_ebird,
)
from databox.ebird.settings import EbirdSettings, ebird_settings_from_env
from databox.errors import ConfigError
from databox.filelock import LockTimeout
from databox.replica.ebird_api import EbirdApiReplica, build_dataset
from tests.ebird_helpers import fast_settings, lock_held_elsewhere, reset_replica

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

TODAY = date(2024, 3, 15)
TOKEN = "sekrit-ebird-token-42"
REGIONS = ("US-NY", "US-CA", "KE")
OBS_TABLES = ("recent_observations", "notable_observations")
ALL_TABLES = (*OBS_TABLES, "taxonomy", "hotspots")


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica(
        build_dataset(seed=11, regions=REGIONS, today=TODAY), token=TOKEN
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(replica):
    yield
    reset_replica(replica, TOKEN)


def make_settings(replica, tmp_path: Path, **overrides) -> EbirdSettings:
    values = {"api_token": TOKEN, "regions": REGIONS, "max_attempts": 3, **overrides}
    return fast_settings(
        replica, tmp_path, values.pop("api_token"), values.pop("regions"), **values
    )


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


def count(url: str, table: str, where: str = "") -> int:
    return query(url, f"SELECT count(*) FROM raw_ebird.{table} {where}")[0][0]


def has_table(url: str, table: str) -> bool:
    if url.startswith("duckdb:") and not Path(url[len("duckdb:///") :]).exists():
        return False
    sql = (
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = 'raw_ebird' AND table_name = '{table}'"
    )
    return query(url, sql)[0][0] > 0


def keys(url: str, table: str) -> set[tuple]:
    return set(query(url, f"SELECT sub_id, species_code FROM raw_ebird.{table}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- settings --------------------------------------------------------------------------


def test_settings_from_env_defaults_and_validation(tmp_path):
    s = ebird_settings_from_env({"DATABOX_UNUSED": "1"})
    assert s.regions == ("US-NY",) and s.back_days == 14 and s.api_token is None
    assert s.api_base_url == "https://api.ebird.org/v2"
    assert s.dlt_data_dir.is_absolute() and s.dlt_data_dir.parts[-2:] == ("data", "dlt")
    assert s.pipelines_dir == s.dlt_data_dir / "pipelines"
    with pytest.raises(ConfigError, match="EBIRD_API_TOKEN"):
        s.require_token()

    s = ebird_settings_from_env(
        {
            "EBIRD_API_TOKEN": TOKEN,
            "EBIRD_REGIONS": " us-ny, KE ,US-NY",
            "EBIRD_BACK_DAYS": "30",
            "DLT_DATA_DIR": str(tmp_path / "d"),
        }
    )
    assert s.regions == ("US-NY", "KE") and s.back_days == 30
    assert s.pipelines_dir == tmp_path / "d" / "pipelines"
    assert TOKEN not in repr(s) and TOKEN not in str(s.redacted())

    for value in ("0", "31", "two weeks"):
        with pytest.raises(ConfigError, match="EBIRD_BACK_DAYS"):
            ebird_settings_from_env({"EBIRD_BACK_DAYS": value})
    with pytest.raises(ConfigError, match=r"EBIRD_REGIONS.*'US_NY'"):
        ebird_settings_from_env({"EBIRD_REGIONS": "US_NY"})
    with pytest.raises(ConfigError, match="EBIRD_API_BASE_URL"):
        ebird_settings_from_env({"EBIRD_API_BASE_URL": "api.ebird.org"})


# -- client ----------------------------------------------------------------------------


def test_client_errors_name_the_request_never_the_token(replica):
    fast = {"max_attempts": 3, "backoff_factor": 0.01, "max_retry_delay": 0.05}
    client = EbirdClient("wrong-token", replica.base_url, **fast)
    assert "wrong-token" not in repr(client)
    with pytest.raises(EbirdAuthError) as err:
        client.recent_observations("US-NY", back=5)
    msg = str(err.value)
    assert "EBIRD_API_TOKEN" in msg and "HTTP 403" in msg and "wrong-token" not in msg
    assert f"GET {replica.base_url}/data/obs/US-NY/recent?back=5" in msg
    with pytest.raises(EbirdAuthError, match="no eBird API token"):
        EbirdClient(None, replica.base_url).hotspots("KE")
    assert len(replica.request_log) == 1, "no request is sent without a token"

    client = EbirdClient(TOKEN, replica.base_url, **fast)
    with pytest.raises(EbirdBadRequest) as err:
        client.recent_observations("us-ny")
    assert "Unable to find matching region type for us-ny" in str(err.value)
    assert err.value.status == 400 and "regionCode" in err.value.title

    replica.fail("/data/obs/KE", 503)
    with pytest.raises(EbirdApiError) as err:
        client.notable_observations("KE")
    assert err.value.status == 503
    assert "HTTP 503 Service Unavailable after 3 attempt(s)" in str(err.value)
    assert "/data/obs/KE/recent/notable?back=14&detail=full" in str(err.value)
    assert TOKEN not in str(err.value)
    assert sum(p.endswith("/KE/recent/notable") for p, _, _ in replica.request_log) == 3


def test_client_retries_timeouts_and_reports_unreachable(replica):
    replica.delay("/ref/region/info/KE", 1.0, times=1)
    client = EbirdClient(TOKEN, replica.base_url, timeout=0.3, max_attempts=3, backoff_factor=0.01)
    assert client.region_info("KE")["code"] == "KE"  # the 2nd attempt answers at once
    assert sum(p == "/v2/ref/region/info/KE" for p, _, _ in replica.request_log) == 2

    dead = EbirdClient(
        TOKEN, f"http://127.0.0.1:{free_port()}/v2", max_attempts=2, backoff_factor=0.01
    )
    with pytest.raises(EbirdApiError, match="no response after 2 attempt") as err:
        dead.taxonomy()
    assert err.value.status is None and TOKEN not in str(err.value)


def test_check_api_decisions(replica):
    ok, reason = check_api(replica.base_url, TOKEN, 2.0)
    assert ok and reason.startswith("ok")
    ok, reason = check_api(replica.base_url, "bad", 2.0)
    assert not ok and reason.startswith("token missing or invalid") and "bad" not in reason
    assert check_api(replica.base_url, None, 2.0) == (
        False,
        "token missing or invalid: EBIRD_API_TOKEN is not set",
    )
    replica.fail("/ref/region/info", 503, times=1)
    ok, reason = check_api(replica.base_url, TOKEN, 2.0)
    assert not ok and reason.startswith("API unavailable (HTTP 503)")
    ok, reason = check_api(f"http://127.0.0.1:{free_port()}/v2", TOKEN, 2.0)
    assert not ok and reason.startswith("API unreachable")
    # One request each, no retries: a sensor must stay cheap.
    assert len(replica.request_log) == 3


# -- pipeline: full runs ---------------------------------------------------------------


def test_run_twice_gives_the_same_rows(replica, warehouse_url, tmp_path):
    settings = make_settings(replica, tmp_path)
    first = run_ebird(warehouse_url, settings)
    assert set(first.row_counts) == set(ALL_TABLES) and not first.failures
    counts = {t: count(warehouse_url, t) for t in ALL_TABLES}
    obs_keys = {t: keys(warehouse_url, t) for t in OBS_TABLES}

    second = run_ebird(warehouse_url, settings)
    assert second.row_counts == first.row_counts
    assert {t: count(warehouse_url, t) for t in ALL_TABLES} == counts
    assert {t: keys(warehouse_url, t) for t in OBS_TABLES} == obs_keys

    # What the API served is what landed: one row per species and region (recent).
    ds = replica.dataset
    expected = sum(len(ds.recent([r], 14)) for r in REGIONS)
    assert counts["recent_observations"] == expected
    assert counts["taxonomy"] == len(ds.taxonomy) and counts["hotspots"] == len(ds.hotspots)
    for region in REGIONS:
        assert count(warehouse_url, "recent_observations", f"WHERE region_code = '{region}'")

    # Hotspots came as JSON (the endpoint's default is header-less CSV).
    hotspot_calls = [q for p, q, _ in replica.request_log if p.startswith("/v2/ref/hotspot/")]
    assert hotspot_calls and all(q["fmt"] == "json" for q in hotspot_calls)
    taxonomy_calls = [q for p, q, _ in replica.request_log if p == "/v2/ref/taxonomy/ebird"]
    assert taxonomy_calls and all(q["fmt"] == "json" for q in taxonomy_calls)


def test_optional_fields_load_as_null_and_types_are_stable(replica, warehouse_url, tmp_path):
    run_ebird(warehouse_url, make_settings(replica, tmp_path))
    notable = query(
        warehouse_url,
        "SELECT region_code, how_many, presence_noted, subnational2_code, obs_dt, obs_at, "
        "obs_date, lat FROM raw_ebird.notable_observations",
    )
    # No howMany ("X") ⇔ presenceNoted.
    assert all((n is None) == bool(p) for _, n, p, *_ in notable)
    # Kenya has no subnational2: NULL there, set elsewhere.
    assert {s for r, _, _, s, *_ in notable if r == "KE"} == {None}
    assert None not in {s for r, _, _, s, *_ in notable if r != "KE"}
    for *_, obs_dt, obs_at, obs_date, lat in notable:
        assert isinstance(obs_dt, str) and isinstance(lat, float)
        assert obs_date == date.fromisoformat(obs_dt[:10])
        if len(obs_dt) == 10:  # no time reported
            assert obs_at is None
        else:
            assert obs_at.strftime("%Y-%m-%d %H:%M") == obs_dt and obs_at.tzinfo is None

    # Every optional field the API left out is NULL, and only those.
    api = {
        (o.record["subId"], o.record["speciesCode"]): o.record for o in replica.dataset.observations
    }
    recent = query(
        warehouse_url,
        "SELECT sub_id, species_code, how_many, exotic_category FROM raw_ebird.recent_observations",
    )
    for sub_id, species, how_many, exotic in recent:
        record = api[(sub_id, species)]
        assert how_many == record.get("howMany") and exotic == record.get("exoticCategory")
    assert {h is None for *_, h, _ in recent} == {True, False}, "some howMany absent, some not"
    assert {e is None for *_, e in recent} == {True, False}, "exoticCategory only on exotics"
    taxa = dict(
        (code, (order, family, report_as))
        for code, order, family, report_as in query(
            warehouse_url,
            'SELECT species_code, "order", family_sci_name, report_as FROM raw_ebird.taxonomy',
        )
    )
    assert taxa["bird1"] == (None, None, None)
    codes = dict(query(warehouse_url, "SELECT species_code, banding_codes FROM raw_ebird.taxonomy"))
    as_list = {k: json.loads(v) if isinstance(v, str) else v for k, v in codes.items()}
    assert as_list["rewbla"] == ["RWBL"] and as_list["bird1"] == []
    assert taxa["slcjun"][2] == "daejun" and taxa["rewbla"][2] is None
    never_birded = query(
        warehouse_url,
        "SELECT count(*) FROM raw_ebird.hotspots "
        "WHERE latest_obs_dt IS NULL AND num_species_all_time IS NULL AND latest_obs_at IS NULL",
    )[0][0]
    assert never_birded == 2 * len(REGIONS)
    assert query(
        warehouse_url,
        "SELECT count(*) FROM raw_ebird.hotspots WHERE subnational2_code IS NULL "
        "AND country_code = 'KE'",
    )[0][0] == count(warehouse_url, "hotspots", "WHERE country_code = 'KE'")


def test_several_species_of_one_checklist_stay_separate_rows(replica, duckdb_url, tmp_path):
    day = TODAY - timedelta(days=1)
    run_ebird(
        duckdb_url,
        make_settings(replica, tmp_path),
        historic_date=day,
        resources=["historic_observations"],
    )
    per_checklist = query(
        duckdb_url,
        "SELECT sub_id, count(*), count(DISTINCT species_code) "
        "FROM raw_ebird.historic_observations GROUP BY sub_id ORDER BY 2 DESC",
    )
    assert per_checklist[0][1] > 1 and per_checklist[0][1] == per_checklist[0][2]
    assert sum(n for _, n, _ in per_checklist) == count(duckdb_url, "historic_observations")


def test_three_historic_dates_and_an_idempotent_rerun(replica, warehouse_url, tmp_path):
    settings = make_settings(replica, tmp_path)
    days = [TODAY - timedelta(days=n) for n in (1, 2, 3)]
    for day in days:
        summary = run_ebird(
            warehouse_url, settings, historic_date=day, resources=["historic_observations"]
        )
        assert set(summary.row_counts) == {"historic_observations"}
    ds = replica.dataset
    per_date = dict(
        query(
            warehouse_url,
            "SELECT obs_date, count(*) FROM raw_ebird.historic_observations GROUP BY obs_date",
        )
    )
    assert per_date == {d: sum(len(ds.historic([r], d)) for r in REGIONS) for d in days}

    before = set(
        query(
            warehouse_url,
            "SELECT sub_id, species_code, obs_date, region_code, _dlt_load_id FROM raw_ebird.historic_observations",
        )
    )
    run_ebird(warehouse_url, settings, historic_date=days[1], resources=["historic_observations"])
    after = set(
        query(
            warehouse_url,
            "SELECT sub_id, species_code, obs_date, region_code, _dlt_load_id FROM raw_ebird.historic_observations",
        )
    )
    # Same rows; only the rerun date's rows carry the new load id.
    assert {r[:4] for r in after} == {r[:4] for r in before}
    assert {r for r in after if r[2] != days[1]} == {r for r in before if r[2] != days[1]}
    assert len(after) == len(before)
    requests = [q for p, q, _ in replica.request_log if "/historic/" in p]
    assert requests and all(q == {"detail": "full", "rank": "mrec"} for q in requests)


# -- pipeline: failures ----------------------------------------------------------------


def test_bad_token_fails_the_run_with_a_clear_message(replica, duckdb_url, tmp_path):
    settings = make_settings(replica, tmp_path, api_token="not-the-token")
    with pytest.raises(EbirdAuthError) as err:
        run_ebird(duckdb_url, settings)
    assert "EBIRD_API_TOKEN" in str(err.value) and "is missing or invalid" in str(err.value)
    assert "not-the-token" not in str(err.value)
    # Nothing was loaded (the extract was abandoned before any load).
    assert not any(has_table(duckdb_url, t) for t in ALL_TABLES)

    replica.clear_log()
    # Without a token nothing is requested, reference data included (every endpoint
    # needs it; the replica answers 403 to a tokenless taxonomy request).
    for resources in (None, ["taxonomy"], ["hotspots"]):
        with pytest.raises(ConfigError, match="EBIRD_API_TOKEN is not set"):
            run_ebird(
                duckdb_url, make_settings(replica, tmp_path, api_token=None), resources=resources
            )
    assert replica.request_log == []


def test_429_twice_then_ok_is_retried_and_loaded(replica, duckdb_url, tmp_path):
    replica.fail("/data/obs/US-NY/recent", 429, times=2)
    summary = run_ebird(
        duckdb_url, make_settings(replica, tmp_path), resources=["recent_observations"]
    )
    assert not summary.failures
    calls = [p for p, _, _ in replica.request_log if p == "/v2/data/obs/US-NY/recent"]
    assert len(calls) == 3
    assert count(duckdb_url, "recent_observations", "WHERE region_code = 'US-NY'") > 0


def test_one_region_failing_keeps_the_others_and_fails_loudly(replica, warehouse_url, tmp_path):
    replica.fail("/data/obs/US-CA", 500)  # for ever
    with pytest.raises(EbirdExtractFailed) as err:
        run_ebird(warehouse_url, make_settings(replica, tmp_path))
    exc = err.value
    assert exc.regions == ["US-CA"]
    msg = str(exc)
    assert "region(s) US-CA" in msg and "HTTP 500" in msg and "after 3 attempt(s)" in msg
    assert f"GET {replica.base_url}/data/obs/US-CA/recent?back=14" in msg
    assert "notable_observations[US-CA]" in msg and TOKEN not in msg
    assert str(pickle.loads(pickle.dumps(exc))) == msg  # crosses process boundaries
    # The other regions' rows (and the region-less tables) are in the warehouse.
    assert exc.summary is not None and exc.summary.load_ids
    for table in OBS_TABLES:
        regions = {
            r
            for (r,) in query(warehouse_url, f"SELECT DISTINCT region_code FROM raw_ebird.{table}")
        }
        assert regions == {"US-NY", "KE"}
    assert count(warehouse_url, "taxonomy") and count(
        warehouse_url, "hotspots", "WHERE subnational1_code = 'US-CA'"
    )


def test_strict_source_without_collector_loads_nothing(replica, duckdb_url, tmp_path):
    """Documents why ``failures`` exists: a resource that raises makes dlt drop the
    whole extract, the regions that succeeded included."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    from databox.ebird.source import ebird_source

    replica.fail("/data/obs/KE", 500)
    pipeline = make_pipeline(duckdb_url, pipelines_dir=tmp_path / "p")
    client = make_settings(replica, tmp_path).client()
    source = ebird_source(TOKEN, REGIONS, client=client).with_resources("recent_observations")
    with pytest.raises(PipelineStepFailed) as err:
        pipeline.run(source)
    assert "recent_observations[KE]" in str(err.value)
    assert not has_table(duckdb_url, "recent_observations")


# -- pipeline: locking, secrets, orchestration use --------------------------------------


def test_duckdb_load_takes_the_adapters_lock(replica, duckdb_url, tmp_path):
    from databox.warehouse.duckdb import DuckDBWarehouse

    lock = duckdb_lock_path(duckdb_url)
    assert lock == DuckDBWarehouse(duckdb_url).lock_path
    assert duckdb_lock_path("postgresql://u@h/db") is None

    with lock_held_elsewhere(lock), pytest.raises(LockTimeout):
        run_ebird(
            duckdb_url,
            make_settings(replica, tmp_path),
            resources=["taxonomy"],
            lock_timeout=0.3,
        )
    # Released, the pending package from the timed-out run loads on the next run.
    summary = run_ebird(duckdb_url, make_settings(replica, tmp_path), resources=["taxonomy"])
    assert len(summary.load_ids) == 2
    # dlt closed the file: another process can open it.
    path = duckdb_url[len("duckdb:///") :]
    subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({path!r}).close()"], check=True
    )


def test_token_never_reaches_dlt_files(replica, duckdb_url, tmp_path):
    settings = make_settings(replica, tmp_path)
    replica.fail("/data/obs/KE", 500)
    with pytest.raises(EbirdExtractFailed) as err:
        run_ebird(duckdb_url, settings)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value.summary)
    leaked = [
        p
        for p in settings.dlt_data_dir.rglob("*")
        if p.is_file() and TOKEN.encode() in p.read_bytes()
    ]
    assert leaked == []


def test_fresh_sources_for_repeated_orchestrated_runs(replica, duckdb_url, tmp_path):
    """The dagster-dlt pattern: a new source object per run, the collector checked after."""
    from databox.ebird.source import ExtractFailures

    settings = make_settings(replica, tmp_path, regions=("KE",))
    pipeline = make_pipeline(duckdb_url, pipelines_dir=settings.pipelines_dir)
    for _ in range(2):
        failures = ExtractFailures()
        source = make_ebird_source(settings, failures=failures).with_resources("hotspots")
        pipeline.run(source)
        failures.raise_if_any()
    assert count(duckdb_url, "hotspots") == len(replica.dataset.hotspots_in(["KE"]))
