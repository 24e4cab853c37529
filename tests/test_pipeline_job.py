"""``daily_pipeline_job`` end to end through the Dagster CLI, against the local t.me replica.

Laptop mode: DuckDB warehouse, SQLite instance, in-process executor.
Production mode: tests/test_pipeline_production.py.
"""

from __future__ import annotations

import re

import pytest

from tests.dagster_helpers import dagster, pipeline_env

pytestmark = pytest.mark.slow


@pytest.fixture
def replica(coco_photos):
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus

    corpus = build_demo_corpus(coco_photos[:12], posts_per_channel=60, days=10)
    with TelegramWebReplica(corpus) as server:
        yield server


def _table_counts(database_url: str) -> dict[str, int]:
    from databox.warehouse import connect

    rows = connect(database_url).query(
        "select channel, count(*) as n from raw.telegram_messages group by channel order by channel"
    )
    return {r["channel"]: r["n"] for r in rows}


def _checksum(database_url: str) -> list:
    from databox.warehouse import connect

    return connect(database_url).query(
        "select channel, message_id, text, views, loaded_at from raw.telegram_messages "
        "order by channel, message_id"
    )


def _marts(database_url: str) -> dict[str, list]:
    """Every Telegram staging and mart table's rows, in a stable order."""
    from databox.transform.dag import load_dag
    from databox.warehouse import connect

    wh = connect(database_url)
    return {
        m: sorted(map(repr, wh.query(f"select * from {m}"))) for m in load_dag("telegram").models()
    }


def _detections(database_url: str) -> tuple[list, list]:
    from databox.warehouse import connect

    wh = connect(database_url)
    return (
        wh.query("select * from raw.image_enrichment order by image_path"),
        wh.query("select * from raw.image_detections order by image_path, box_index"),
    )


def _steps_succeeded(proc, op: str) -> list[str]:
    """Mapping keys of the dynamic steps ``op`` that succeeded, from the CLI's event log."""
    log = proc.stdout + proc.stderr
    return sorted(set(re.findall(rf"{re.escape(op)}\[(\w+)\] - STEP_SUCCESS", log)))


def _latest_metadata(home) -> dict[str, dict]:
    """The newest materialization's metadata per Telegram asset, as plain values."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        out = {}
        keys = ("load_raw_data", "enrich_data_yolo", "load_yolo_detections",
                "telegram_marts/fct_messages", "databox_report")  # fmt: skip
        for key in keys:
            event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
            assert event is not None, f"{key} was not materialized"
            metadata = event.asset_materialization.metadata
            out[key] = {k: getattr(v, "value", v) for k, v in metadata.items()}
    return out


def test_job_runs_on_duckdb_and_is_idempotent(tmp_path, replica, duckdb_url):
    env = pipeline_env(
        tmp_path,
        database_url=duckdb_url,
        telegram_base_url=replica.base_url,
        DATABOX_EXECUTOR="in_process",
        ENRICH_CHUNK_SIZE="8",
    )
    proc = dagster(
        ["job", "execute", "-f", "orchestration/definitions.py", "-j", "daily_pipeline_job"], env
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # One scrape step per channel, one detection step per chunk of ≤ 8 photos.
    assert _steps_succeeded(proc, "scrape_telegram.scrape_channel") == [
        "CheMed123",
        "lobelia4cosmetics",
    ]

    counts = _table_counts(duckdb_url)
    expected = {
        ch: len(replica.corpus.channels[ch].posts) for ch in ("CheMed123", "lobelia4cosmetics")
    }
    assert counts == expected
    before = _checksum(duckdb_url)
    # All four steps ran: every scraped photo has a detection status, with boxes.
    images, boxes = _detections(duckdb_url)
    photos = sum(
        len(p.photos) for ch in expected for p in replica.corpus.channels[ch].posts.values()
    )
    assert len(images) == photos > 0
    chunks = _steps_succeeded(proc, "enrich_data_yolo.detect_chunk")
    assert chunks == [f"chunk_{i:04d}" for i in range(-(-photos // 8))] and len(chunks) >= 2
    assert "enrich_data_yolo.collect_enrichment - STEP_SUCCESS" in proc.stdout + proc.stderr
    assert {r["status"] for r in images} <= {"ok", "no_objects"}
    assert boxes and {b["channel"] for b in boxes} <= set(expected)
    # What the UI shows: row counts of the loaded tables, the annotated photos as pictures.
    meta = _latest_metadata(tmp_path / "dagster_home")
    assert meta["load_raw_data"]["dagster/row_count"] == sum(counts.values())
    assert meta["load_yolo_detections"]["dagster/row_count"] == len(boxes)
    assert "| channel | message_id |" in meta["load_raw_data"]["preview"]
    assert meta["enrich_data_yolo"]["images_processed"] == photos
    assert meta["enrich_data_yolo"]["annotated"].count("](data:image/jpeg;base64,") >= 1
    assert not any(k.startswith("annotated_") for k in meta["enrich_data_yolo"])
    # Through the marts to the report: one fact row per post (no service message), the
    # report on disk and its charts in the UI's metadata.
    marts = _marts(duckdb_url)
    posts = sum(
        1 for ch in expected for p in replica.corpus.channels[ch].posts.values() if not p.service
    )
    assert len(marts["telegram_marts.fct_messages"]) == posts
    assert len(marts["telegram_marts.dim_channels"]) == len(expected)
    assert meta["telegram_marts/fct_messages"]["dagster/row_count"] == posts
    report = meta["databox_report"]
    assert (tmp_path / "reports" / "report.html").is_file()
    assert report["charts"].count("](data:image/png;base64,") >= 4

    # A second run with nothing new leaves the warehouse unchanged.
    proc = dagster(
        ["job", "execute", "-f", "orchestration/definitions.py", "-j", "daily_pipeline_job"], env
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert _steps_succeeded(proc, "enrich_data_yolo.detect_chunk") == []  # nothing pending
    assert _checksum(duckdb_url) == before
    assert _detections(duckdb_url) == (images, boxes)
    assert _marts(duckdb_url) == marts

    # New posts between runs arrive, nothing else changes.
    new_id = replica.add_post("CheMed123", text="Amoxicillin 500mg\nback in stock")
    # (The scrape and the load only: the marts' restatement of a changed day is
    # tests/test_telegram_marts.py's.)
    proc = dagster(
        ["asset", "materialize", "-f", "orchestration/definitions.py",
         "--select", "scrape_telegram,load_raw_data"],
        env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    after = _checksum(duckdb_url)
    assert len(after) == len(before) + 1
    assert (
        next(r for r in after if r["message_id"] == new_id)["text"]
        == "Amoxicillin 500mg\nback in stock"
    )


def test_job_fails_loudly_on_a_malformed_lake_file(tmp_path, replica, duckdb_url):
    env = pipeline_env(
        tmp_path,
        database_url=duckdb_url,
        telegram_base_url=replica.base_url,
        DATABOX_EXECUTOR="in_process",
    )
    bad = tmp_path / "lake" / "raw" / "telegram_messages" / "2024-01-01" / "CheMed123.json"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(
        b'[{"channel": "CheMed123", "message_id": 1, "date": "2024-01-01T00:00:00+00:00"},'
    )
    proc = dagster(
        ["job", "execute", "-f", "orchestration/definitions.py", "-j", "daily_pipeline_job"], env
    )
    assert proc.returncode != 0
    assert "CheMed123.json" in proc.stdout + proc.stderr
    # The good files still loaded.
    assert sum(_table_counts(duckdb_url).values()) > 0
