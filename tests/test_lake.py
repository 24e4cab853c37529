"""The data lake: layout, merge on same-day rescrape, atomic writes, watermarks."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from databox.config import Settings
from databox.errors import ConfigError
from databox.lake import DataLake, validate_channel
from databox.telegram.message import TelegramMessage


def msg(channel: str, mid: int, day: int, text: str = "x", hour: int = 10) -> TelegramMessage:
    return TelegramMessage(
        channel=channel,
        message_id=mid,
        date=datetime(2024, 3, day, hour, tzinfo=timezone.utc),
        text=text,
    )


def test_messages_land_in_day_files_by_utc_date(tmp_path):
    lake = DataLake(tmp_path)
    lake.write_messages("CheMed123", [msg("CheMed123", 1, 5), msg("CheMed123", 2, 6)])
    assert [p.relative_to(tmp_path).as_posix() for p in lake.message_files()] == [
        "raw/telegram_messages/2024-03-05/CheMed123.json",
        "raw/telegram_messages/2024-03-06/CheMed123.json",
    ]


def test_same_day_rescrape_merges_and_keeps_earlier_messages(tmp_path):
    lake = DataLake(tmp_path)
    lake.write_messages(
        "CheMed123", [msg("CheMed123", 1, 5, "morning"), msg("CheMed123", 2, 5, "noon")]
    )
    # A later scrape the same day brings one new message and an edit of message 2.
    lake.write_messages(
        "CheMed123", [msg("CheMed123", 2, 5, "noon (edited)"), msg("CheMed123", 3, 5, "evening")]
    )
    records = orjson.loads(lake.messages_file("CheMed123", "2024-03-05").read_bytes())
    assert [(r["message_id"], r["text"]) for r in records] == [
        (1, "morning"),
        (2, "noon (edited)"),
        (3, "evening"),
    ]


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    lake = DataLake(tmp_path)
    lake.write_messages("CheMed123", [msg("CheMed123", 1, 5, "kept")])
    path = lake.messages_file("CheMed123", "2024-03-05")

    import databox.lake_io as lake_module  # where atomic_write_bytes lives

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(lake_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        lake.write_messages("CheMed123", [msg("CheMed123", 2, 5, "lost")])
    # The old file is intact and no temp file is left behind.
    assert [r["text"] for r in orjson.loads(path.read_bytes())] == ["kept"]
    assert [p.name for p in path.parent.iterdir()] == ["CheMed123.json"]


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "chan.json", "", "x" * 80, "1abc"])
def test_channel_names_cannot_escape_the_lake(bad, tmp_path):
    with pytest.raises(ConfigError, match="invalid Telegram channel name"):
        validate_channel(bad)
    with pytest.raises(ConfigError):
        DataLake(tmp_path).image_path(bad, 1)


def test_watermark_never_moves_backwards(tmp_path):
    lake = DataLake(tmp_path)
    assert lake.read_watermark("CheMed123") is None
    lake.write_watermark("CheMed123", 10)
    lake.write_watermark("CheMed123", 7)
    assert lake.read_watermark("CheMed123") == 10


def test_image_paths_are_inside_the_lake(tmp_path):
    lake = DataLake(tmp_path)
    assert lake.relative(lake.image_path("CheMed123", 42)) == "raw/images/CheMed123/42.jpg"
    assert (
        lake.relative(lake.image_path("CheMed123", 42, 2, ".PNG"))
        == "raw/images/CheMed123/42_2.png"
    )
    assert lake.image_path("CheMed123", 42, 0, "/../x").name == "42.jpg"


def test_settings_validate_with_clear_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABOX_HOME", str(tmp_path))
    s = Settings.from_env({})
    assert s.database_url == f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    assert s.data_lake_dir == tmp_path / "data" / "lake"
    assert s.telegram_channels == ("CheMed123", "lobelia4cosmetics", "tikvahpharma")
    assert not s.telethon_configured
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({"DATABASE_URL": "mysql://x"})
    with pytest.raises(ConfigError, match="missing TELEGRAM_API_HASH, TELEGRAM_SESSION"):
        Settings.from_env({"TELEGRAM_API_ID": "123"})
    with pytest.raises(ConfigError, match="TELEGRAM_API_ID"):
        Settings.from_env(
            {"TELEGRAM_API_ID": "abc", "TELEGRAM_API_HASH": "h", "TELEGRAM_SESSION": "s"}
        )
    with pytest.raises(ConfigError, match="TELEGRAM_CONCURRENCY"):
        Settings.from_env({"TELEGRAM_CONCURRENCY": "0"})


def test_redacted_settings_hide_secrets():
    s = Settings.from_env(
        {
            "TELEGRAM_API_ID": "123",
            "TELEGRAM_API_HASH": "deadbeef",
            "TELEGRAM_SESSION": "1SESSION",
            "DATABASE_URL": "postgresql://user:hunter2@db:5432/x",
        }
    )
    shown = repr(s) + repr(s.redacted())
    for secret in ("deadbeef", "1SESSION", "hunter2"):
        assert secret not in shown
    assert s.redacted()["database_url"] == "postgresql://user:***@db:5432/x"


def test_a_killed_writer_leaves_a_temp_file_that_the_next_run_removes(tmp_path):
    import subprocess
    import sys
    import textwrap

    lake = DataLake(tmp_path)
    lake.write_messages("CheMed123", [msg("CheMed123", 1, 5, "kept")])
    path = lake.messages_file("CheMed123", "2024-03-05")
    # A real kill between the temp file's fsync and the rename (os._exit skips every
    # cleanup, as SIGKILL would).
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        import databox.lake_io as lake
        lake.os.replace = lambda src, dst: os._exit(9)
        lake.atomic_write_bytes(Path({str(path)!r}), b"[]")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == 9
    [temp] = [p for p in path.parent.iterdir() if p.name != "CheMed123.json"]
    assert temp.name.startswith(".CheMed123.json.") and temp.name.endswith(".tmp")
    assert lake.message_files() == [path]  # readers never see it
    assert lake.stale_temp_files("CheMed123") == [temp]
    assert lake.stale_temp_files("lobelia4cosmetics") == []
    with lake.channel_lock("CheMed123"):
        assert lake.remove_stale_temp_files("CheMed123") == [temp]
    assert [p.name for p in path.parent.iterdir()] == ["CheMed123.json"]
    assert [r["text"] for r in orjson.loads(path.read_bytes())] == ["kept"]


def test_replace_records_merges_into_one_day_file(tmp_path):
    lake = DataLake(tmp_path)
    lake.write_messages("CheMed123", [msg("CheMed123", 1, 5, "a"), msg("CheMed123", 2, 5, "b")])
    record = {**lake.read_day_records("CheMed123", "2024-03-05")[1], "text": "b (fixed)"}
    lake.replace_records("CheMed123", "2024-03-05", [record])
    assert [r["text"] for r in lake.read_messages("CheMed123")] == ["a", "b (fixed)"]
    assert lake.read_day_records("CheMed123", "2024-03-06") == []


def test_the_photos_pending_list_round_trips_and_empties(tmp_path):
    lake = DataLake(tmp_path)
    assert lake.read_photos_pending("CheMed123") == []
    entries = [
        {"message_id": 9, "day": "2024-03-05", "index": 1, "url": "http://x/b", "attempts": 1},
        {"message_id": 9, "day": "2024-03-05", "index": 0, "url": "http://x/a", "attempts": 2},
    ]
    lake.write_photos_pending("CheMed123", entries)
    assert lake.photos_pending_file("CheMed123").name == "CheMed123.photos_pending.json"
    assert [e["index"] for e in lake.read_photos_pending("CheMed123")] == [0, 1]
    lake.write_photos_pending("CheMed123", [])
    assert not lake.photos_pending_file("CheMed123").exists()
    assert lake.read_watermark("CheMed123") is None  # a separate file from the watermark
