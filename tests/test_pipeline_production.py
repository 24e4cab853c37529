"""The Telegram assets in production mode through the Dagster CLI, against the local t.me
replica: PostgreSQL warehouse, PostgreSQL Dagster instance, multiprocess executor.
(Its own file, so pytest-xdist runs it beside tests/test_pipeline_job.py.)"""

from __future__ import annotations

import pytest

from tests.dagster_helpers import dagster, pipeline_env
from tests.test_pipeline_job import _table_counts
from tests.test_pipeline_job import replica as replica  # the fixture, shared

pytestmark = pytest.mark.slow


def test_scrape_load_detect_in_production_mode(tmp_path, replica, pg_url):
    """PostgreSQL warehouse and Dagster instance, multiprocess executor: every step a
    process of its own. The Telegram assets up to the detections (the whole job, marts and
    report included, runs on PostgreSQL in tests/test_deploy.py)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n"
        "telemetry:\n  enabled: false\n"
    )
    env = pipeline_env(
        tmp_path,
        database_url=pg_url,
        telegram_base_url=replica.base_url,
        DAGSTER_PG_URL=pg_url,
        DATABOX_EXECUTOR="multiprocess",
        # Every step is a subprocess here (~3-5 s each to start): one channel and one
        # chunk keep the step count down; the DuckDB test covers several of each.
        TELEGRAM_CHANNELS="CheMed123",
        ENRICH_CHUNK_SIZE="1000",
    )
    selection = "scrape_telegram,load_raw_data,enrich_data_yolo,load_yolo_detections"
    proc = dagster(
        ["asset", "materialize", "-f", "orchestration/definitions.py", "--select", selection], env
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # The run's own events (in PostgreSQL), not the CLI's output, where the lines of
    # the step processes can be cut short when the machine is busy.
    from databox.warehouse import connect

    succeeded = connect(pg_url).query(
        "select step_key from event_logs where dagster_event_type = 'STEP_SUCCESS'"
    )
    steps = {r["step_key"] for r in succeeded}
    assert "enrich_data_yolo.detect_chunk[chunk_0000]" in steps, sorted(steps)
    assert {"enrich_data_yolo.collect_enrichment", "load_yolo_detections"} <= steps
    counts = _table_counts(pg_url)
    assert counts["CheMed123"] == len(replica.corpus.channels["CheMed123"].posts)

    # The run and its events are in PostgreSQL, not in a local SQLite file.
    runs = connect(pg_url).query("select status from runs")
    assert [r["status"] for r in runs] == ["SUCCESS"]
    assert not list(home.glob("**/*.db"))
