"""The eBird pipeline through Dagster: the seed's CLI commands against the local eBird
replica, backfills, failures, the quality gate, the schedule and the sensor."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest

from databox.replica.ebird_api import EbirdApiReplica
from databox.warehouse import connect
from tests.dagster_helpers import REPO_ROOT, dagster, pipeline_env

MARTS = ("fct_daily_species_counts", "fct_notable_sightings", "fct_hotspot_activity", "dim_species")


@pytest.fixture(scope="module")
def replica():
    with EbirdApiReplica() as server:
        yield server


def ebird_env(tmp_path, replica, database_url, **extra):
    settings = {
        "EBIRD_API_TOKEN": "test-token",
        "EBIRD_API_BASE_URL": replica.base_url,
        "EBIRD_REGIONS": "US-NY,KE",
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
        "DATABOX_EXECUTOR": "in_process",
        **extra,
    }
    return pipeline_env(
        tmp_path, database_url=database_url, telegram_base_url="http://127.0.0.1:9", **settings
    )


def counts(url: str) -> dict[str, int]:
    wh = connect(url)
    tables = [
        f"raw_ebird.{t}"
        for t in ("recent_observations", "notable_observations", "taxonomy", "hotspots")
    ]
    tables += [f"marts.{m}" for m in MARTS]
    return {t: wh.query(f"select count(*) as n from {t}")[0]["n"] for t in tables}


def keys(url: str) -> list:
    return connect(url).query(
        "select sub_id, species_code from raw_ebird.recent_observations order by 1, 2"
    )


def execute_seed_command(env):
    # The seed's documented form: from the orchestration directory.
    return dagster(
        ["job", "execute", "-f", "dagster_project.py", "-j", "daily_ebird_pipeline"],
        env,
        cwd=REPO_ROOT / "orchestration",
    )


@pytest.mark.slow
def test_daily_ebird_pipeline_on_duckdb_twice(tmp_path, replica, duckdb_url):
    env = ebird_env(tmp_path, replica, duckdb_url)
    proc = execute_seed_command(env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first = counts(duckdb_url)
    assert all(n > 0 for n in first.values()), first
    # Several species of one checklist stay separate rows.
    per_checklist = connect(duckdb_url).query(
        "select max(n) as most from (select sub_id, count(*) as n "
        "from raw_ebird.recent_observations group by sub_id) t"
    )
    assert per_checklist[0]["most"] > 1
    results = connect(duckdb_url).query(
        "select count(*) as n, sum(case when passed then 1 else 0 end) as ok "
        "from quality.data_quality_results"
    )
    assert results[0]["n"] > 0
    # True daily counts: from the historic observations of the last 3 complete days
    # (EBIRD_DAILY_HISTORIC_DAYS), which the daily job loaded itself.
    today = datetime.now(timezone.utc).date()
    daily = connect(duckdb_url).query(
        "select distinct cast(obs_date as varchar) as d, count_source "
        "from marts.fct_daily_species_counts order by 1"
    )
    assert [(r["d"], r["count_source"]) for r in daily] == [
        ((today - timedelta(days=n)).isoformat(), "historic") for n in (3, 2, 1)
    ]

    first_keys = keys(duckdb_url)
    proc = execute_seed_command(env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert counts(duckdb_url) == first
    assert keys(duckdb_url) == first_keys


@pytest.mark.slow
def test_bad_token_fails_the_run_with_a_clear_message(tmp_path, replica, duckdb_url):
    env = ebird_env(tmp_path, replica, duckdb_url, EBIRD_API_TOKEN="wrong-token")
    proc = execute_seed_command(env)
    assert proc.returncode != 0
    assert "EBIRD_API_TOKEN" in proc.stdout + proc.stderr
    assert "wrong-token" not in proc.stdout + proc.stderr


def test_definitions_wire_the_ebird_pipeline():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_ebird_pipeline")
    keys_ = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {
        "raw_ebird/recent_observations",
        "staging/stg_ebird_observations",
        "data_quality_checks",
    } <= keys_
    assert "raw_ebird/historic_observations" not in keys_  # partitioned: backfilled on its own
    graph = defs.resolve_asset_graph()
    stg = graph.get(dg.AssetKey(["staging", "stg_ebird_observations"]))
    assert {
        dg.AssetKey(["raw_ebird", "recent_observations"]),
        dg.AssetKey(["raw_ebird", "historic_observations"]),
    } <= set(stg.parent_keys)
    schedule = defs.resolve_schedule_def("daily_ebird_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    raw_check = graph.get_check_spec(
        dg.AssetCheckKey(dg.AssetKey(["raw_ebird", "recent_observations"]), "quality")
    )
    assert raw_check.blocking


# -- sensor and schedule decisions ------------------------------------------------------


def _instance_with_run(instance: dg.DagsterInstance, day: str, status: dg.DagsterRunStatus):
    from dagster._core.storage.dagster_run import DagsterRun

    instance.add_run(
        DagsterRun(
            job_name="daily_ebird_pipeline",
            run_id=f"run-{day}-{status.value}".lower(),
            tags={"ebird/date": day},
            status=status,
        )
    )


def _sensor_result(replica_url: str, token: str, instance: dg.DagsterInstance):
    from orchestration.ebird_jobs import ebird_api_availability_sensor
    from orchestration.resources import EbirdResource

    context = dg.build_sensor_context(
        instance=instance,
        resources={"ebird": EbirdResource(api_token=token, api_base_url=replica_url)},
    )
    return ebird_api_availability_sensor(context)


def test_sensor_requests_one_run_per_day_when_the_api_is_up(replica):
    today = datetime.now(timezone.utc).date().isoformat()
    with dg.instance_for_test() as instance:
        result = _sensor_result(replica.base_url, "test-token", instance)
        assert isinstance(result, dg.RunRequest)
        assert result.run_key == f"daily_ebird_pipeline:{today}"
        assert result.tags["ebird/date"] == today

        _instance_with_run(instance, today, dg.DagsterRunStatus.SUCCESS)
        skipped = _sensor_result(replica.base_url, "test-token", instance)
        assert isinstance(skipped, dg.SkipReason) and "already ran" in skipped.skip_message


def test_sensor_retries_after_a_failed_run(replica):
    today = datetime.now(timezone.utc).date().isoformat()
    with dg.instance_for_test() as instance:
        _instance_with_run(instance, today, dg.DagsterRunStatus.FAILURE)
        retry = _sensor_result(replica.base_url, "test-token", instance)
        assert isinstance(retry, dg.RunRequest)
        # A fresh run key: Dagster would drop a request that reuses the failed run's key.
        assert retry.run_key == f"daily_ebird_pipeline:{today}:retry1"


def test_sensor_skips_with_a_readable_reason(replica):
    with dg.instance_for_test() as instance:
        bad = _sensor_result(replica.base_url, "wrong-token", instance)
        assert isinstance(bad, dg.SkipReason) and "token missing or invalid" in bad.skip_message
        assert "wrong-token" not in bad.skip_message
        down = _sensor_result("http://127.0.0.1:9/v2", "test-token", instance)
        assert isinstance(down, dg.SkipReason) and "unreachable" in down.skip_message


def test_schedule_skips_a_day_that_already_ran():
    from orchestration.ebird_jobs import daily_ebird_schedule

    day = date(2026, 11, 20)
    when = datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        request = daily_ebird_schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
        )
        assert isinstance(request, dg.RunRequest) and request.tags["ebird/date"] == day.isoformat()
        _instance_with_run(instance, day.isoformat(), dg.DagsterRunStatus.STARTED)
        skipped = daily_ebird_schedule(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
        )
        assert isinstance(skipped, dg.SkipReason)


def test_data_quality_checks_asset_fails_on_bad_rows_and_records_them(
    tmp_path, replica, duckdb_url, monkeypatch
):
    """Real data loaded and modelled, one bad raw row injected: the seed's
    data_quality_checks asset writes the results table and then fails the step."""
    from databox.ebird.pipeline import run_ebird
    from databox.transform.runner import SqlMeshRunner
    from orchestration.ebird_assets import data_quality_checks
    from orchestration.resources import WarehouseResource
    from tests.ebird_helpers import fast_settings

    run_ebird(duckdb_url, fast_settings(replica, tmp_path, "test-token", ["US-NY"]))
    with SqlMeshRunner(duckdb_url) as runner:
        runner.plan_and_apply()
    resources = {"warehouse": WarehouseResource(database_url=duckdb_url)}
    assert dg.materialize([data_quality_checks], resources=resources).success

    with connect(duckdb_url).transaction() as tx:
        tx.execute(
            "update raw_ebird.recent_observations set lat = 123 where sub_id = (select min(sub_id) from raw_ebird.recent_observations)"
        )
    result = dg.materialize([data_quality_checks], resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "lat" in failure.step_failure_data.error.message
    failed = connect(duckdb_url).query(
        "select check_name, failing_rows from quality.data_quality_results where run_id = %s and not passed and not skipped",
        [result.run_id],
    )
    assert failed and all(r["failing_rows"] >= 1 for r in failed)
    assert any("lat" in r["check_name"] for r in failed)


# -- the daily ingestion in process: historic days, recovery ----------------------------


def _materialize_daily_ingestion(
    replica, tmp_path, database_url, instance, daily_historic_days=None, **tags
):
    from dagster_dlt import DagsterDltResource

    from orchestration.ebird_assets import ebird_assets
    from orchestration.resources import EbirdResource, WarehouseResource

    resources = {
        "dlt": DagsterDltResource(),
        "ebird": EbirdResource(
            api_token="test-token",
            api_base_url=replica.base_url,
            regions="US-NY",
            dlt_data_dir=str(tmp_path / "dlt"),
            daily_historic_days=daily_historic_days,
        ),
        "warehouse": WarehouseResource(database_url=database_url),
    }
    return dg.materialize(
        [ebird_assets], resources=resources, instance=instance, tags=tags, raise_on_error=False
    )


def test_daily_ingestion_loads_the_last_complete_days_of_historic_observations(
    tmp_path, replica, duckdb_url
):
    from orchestration.ebird_assets import raw_key

    today = datetime.now(timezone.utc).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (2, 1)]
    with dg.instance_for_test() as instance:
        # The resource's setting (EBIRD_DAILY_HISTORIC_DAYS through an EnvVar in the
        # definitions) decides how many days are loaded.
        result = _materialize_daily_ingestion(
            replica, tmp_path, duckdb_url, instance, "2", **{"ebird/date": today.isoformat()}
        )
        assert result.success
        # The dates' partitions of the backfill asset count as materialized.
        assert instance.get_materialized_partitions(raw_key("historic_observations")) == set(days)
    rows = connect(duckdb_url).query(
        "select cast(obs_date as varchar) as d, count(*) as n "
        "from raw_ebird.historic_observations group by 1 order by 1"
    )
    ds = replica.dataset
    assert [(r["d"], r["n"]) for r in rows] == [
        (d, len(ds.historic(["US-NY"], date.fromisoformat(d)))) for d in days
    ]


def test_dagster_path_bad_record_then_healthy_api_is_green(tmp_path, replica, duckdb_url):
    """The same recovery as run_ebird's: a type change fails the step loudly, naming
    table, column and value; once the API is healthy the next run succeeds."""
    replica.tamper("/data/obs/US-NY/recent", "howMany", "12", times=1)
    with dg.instance_for_test() as instance:
        failed = _materialize_daily_ingestion(replica, tmp_path, duckdb_url, instance)
        assert not failed.success
        error = next(e for e in failed.all_events if e.is_step_failure)
        message = error.step_failure_data.error.to_string()  # the cause chain included
        assert "EbirdSchemaChanged" in message
        assert "raw_ebird.recent_observations.how_many (API field howMany)" in message
        assert "got text '12'" in message

        healthy = _materialize_daily_ingestion(replica, tmp_path, duckdb_url, instance)
        assert healthy.success
    recent = connect(duckdb_url).query("select count(*) as n from raw_ebird.recent_observations")
    assert recent[0]["n"] == len(replica.dataset.recent(["US-NY"], 14))
