"""The eBird pipeline through Dagster, continued: on PostgreSQL, and the historic
backfill. (A file of its own, so pytest-xdist runs it beside tests/test_ebird_job.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from databox.warehouse import connect
from tests.dagster_helpers import dagster
from tests.test_ebird_job import counts, ebird_env, execute_seed_command
from tests.test_ebird_job import replica as replica  # the module's fixture, shared


@pytest.mark.slow
def test_daily_ebird_pipeline_on_postgres(tmp_path, replica, pg_url):
    proc = execute_seed_command(ebird_env(tmp_path, replica, pg_url))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert all(n > 0 for n in counts(pg_url).values())


@pytest.mark.slow
def test_historic_backfill_of_three_days(tmp_path, replica, duckdb_url):
    env = ebird_env(tmp_path, replica, duckdb_url)
    today = datetime.now(timezone.utc).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    for day in days:
        proc = dagster(
            ["asset", "materialize", "-f", "orchestration/dagster_project.py",
             "--select", "raw_ebird/historic_observations", "--partition", day],
            env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = connect(duckdb_url).query(
        "select cast(obs_date as varchar) as d, count(*) as n from raw_ebird.historic_observations group by 1 order by 1"
    )
    assert [r["d"] for r in rows] == days
    before = {r["d"]: r["n"] for r in rows}
    # Re-running a date leaves it as it was.
    proc = dagster(
        ["asset", "materialize", "-f", "orchestration/dagster_project.py",
         "--select", "raw_ebird/historic_observations", "--partition", days[1]],
        env,
    )  # fmt: skip
    assert proc.returncode == 0
    after = connect(duckdb_url).query(
        "select cast(obs_date as varchar) as d, count(*) as n from raw_ebird.historic_observations group by 1 order by 1"
    )
    assert {r["d"]: r["n"] for r in after} == before
