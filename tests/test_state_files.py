"""Truncated or garbled lake files are reported with their path and recovered from:
the day files are the truth, so state derived from them is rebuilt, a corrupt
file's bytes are kept in the quarantine, and nothing a scrape wrote is lost."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from types import SimpleNamespace

import orjson
import pytest

from databox.lake import CorruptLakeFile, DataLake, atomic_write_bytes
from databox.telegram.message import TelegramMessage
from databox.telegram.photo_retry import read_pending, retry_pending_photos
from databox.telegram.scrape import ChannelResult, scrape_channels_async
from databox.telegram.source import FetchContext

CHANNEL = "CheMed123"
DAY = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
NEXT_DAY = datetime(2025, 3, 2, 12, tzinfo=timezone.utc)

# What damaged state files look like: cut mid-write, binary noise, valid JSON of the wrong shape.
DAMAGE = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbled": lambda good: b"\x00\xff\xfe" + good[3:],
    "empty": lambda good: b"",
    "wrong shape": lambda good: b'{"last_message_id": "ten", "photos": {"x": 1}}',
    "day escapes": lambda good: (
        b'{"photos": [{"message_id": 1, "day": "../..", "index": 0, "url": "u"}]}'
    ),
}


def make_lake(tmp_path, warnings: list[str]) -> DataLake:
    lake = DataLake(tmp_path / "lake", warn=warnings.append)
    lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, i, DAY, text=f"m{i}") for i in (1, 2)])
    lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, 7, NEXT_DAY, text="m7")])
    return lake


def quarantined(lake: DataLake) -> list[bytes]:
    return [p.read_bytes() for p in sorted(lake.quarantine_dir.rglob("*")) if p.is_file()]


# -- watermarks ---------------------------------------------------------------------------


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_corrupt_watermark_is_rebuilt_from_the_day_files(damage, tmp_path):
    warnings: list[str] = []
    lake = make_lake(tmp_path, warnings)
    lake.write_watermark(CHANNEL, 7)
    path = lake.state_dir / f"{CHANNEL}.json"
    bad = DAMAGE[damage](path.read_bytes())
    atomic_write_bytes(path, bad)
    assert lake.read_watermark(CHANNEL, repair=False) == 7  # read-only: nothing written
    assert path.read_bytes() == bad and quarantined(lake) == [] and "not repaired" in warnings[0]
    warnings.clear()

    assert lake.read_watermark(CHANNEL) == 7  # the highest id in the day files
    [warning] = warnings
    assert str(path) in warning and "rebuilt from the day files as last_message_id=7" in warning
    assert "a copy is kept at" in warning and quarantined(lake) == [bad]
    assert orjson.loads(path.read_bytes())["last_message_id"] == 7  # repaired on disk
    assert lake.read_watermark(CHANNEL) == 7 and len(warnings) == 1  # and stays so
    lake.write_watermark(CHANNEL, 9)
    assert lake.read_watermark(CHANNEL) == 9


def test_a_corrupt_watermark_without_day_files_is_removed_after_keeping_a_copy(tmp_path):
    warnings: list[str] = []
    lake = DataLake(tmp_path / "lake", warn=warnings.append)
    path = lake.state_dir / f"{CHANNEL}.json"
    atomic_write_bytes(path, b'{"channel": "CheMed123", "last_mess')
    assert lake.read_watermark(CHANNEL) is None
    assert not path.exists() and quarantined(lake) == [b'{"channel": "CheMed123", "last_mess']
    assert "not valid JSON" in warnings[0] and str(path) in warnings[0]


def test_a_corrupt_day_file_is_skipped_with_a_warning_while_rebuilding(tmp_path):
    warnings: list[str] = []
    lake = make_lake(tmp_path, warnings)
    day_file = lake.messages_file(CHANNEL, "2025-03-02")
    atomic_write_bytes(day_file, b'[{"channel": "CheMed123", "message_id": 7')
    atomic_write_bytes(lake.state_dir / f"{CHANNEL}.json", b"{")
    assert lake.read_watermark(CHANNEL) == 2  # message 7 re-fetched next scrape: no gap
    assert any(str(day_file) in w and "skipped while rebuilding" in w for w in warnings)
    assert day_file.read_bytes() == b'[{"channel": "CheMed123", "message_id": 7'  # untouched


class ListSource:
    """Yields the messages above the watermark it is given, and remembers it."""

    name = "list"

    def __init__(self, messages: list[TelegramMessage]):
        self.messages = messages
        self.after: list[int | None] = []

    async def fetch_since(self, channel, after_id, ctx):
        self.after.append(after_id)
        yield [m for m in self.messages if after_id is None or m.message_id > after_id]

    async def aclose(self) -> None:
        pass


def test_a_scrape_after_a_corrupt_watermark_resumes_without_gap_or_duplicate(tmp_path):
    warnings: list[str] = []
    lake = make_lake(tmp_path, warnings)
    lake.write_watermark(CHANNEL, 7)
    atomic_write_bytes(lake.state_dir / f"{CHANNEL}.json", b'{"last_message_id": 7')
    new = [TelegramMessage(CHANNEL, i, NEXT_DAY, text=f"m{i}") for i in (1, 2, 7, 8, 9)]
    source = ListSource(new)
    report = asyncio.run(scrape_channels_async(source, lake, [CHANNEL], log=lambda m: None))
    assert report.ok, report.failed
    assert source.after == [7] and report.channels[0].messages == 2
    assert [r["message_id"] for r in lake.read_messages(CHANNEL)] == [1, 2, 7, 8, 9]
    assert lake.read_watermark(CHANNEL) == 9 and len(warnings) == 1


# -- day files --------------------------------------------------------------------------


def test_a_corrupt_day_file_raises_with_its_path_and_is_never_rewritten(tmp_path):
    lake = make_lake(tmp_path, [])
    path = lake.messages_file(CHANNEL, "2025-03-01")
    atomic_write_bytes(path, b'[{"channel": "CheMed123", "message_id": 1}, {"chan')
    with pytest.raises(CorruptLakeFile) as info:
        lake.read_day_records(CHANNEL, "2025-03-01")
    assert str(path) in str(info.value) and "not valid JSON" in str(info.value)
    assert info.value.kept is not None and info.value.kept.read_bytes() == path.read_bytes()
    # A scrape writing into that day fails loudly (naming it) instead of overwriting it.
    with pytest.raises(CorruptLakeFile, match=re.escape(str(path))):
        lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, 3, DAY)])
    assert path.read_bytes() == b'[{"channel": "CheMed123", "message_id": 1}, {"chan'
    with pytest.raises(CorruptLakeFile, match="not valid JSON"):
        lake.read_messages(CHANNEL)
    lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, 8, NEXT_DAY)])  # other days fine


def test_records_without_a_usable_id_survive_a_merge(tmp_path):
    lake = make_lake(tmp_path, [])
    path = lake.messages_file(CHANNEL, "2025-03-01")
    hand_edited = [*orjson.loads(path.read_bytes()), {"channel": CHANNEL, "text": "no id"}, "x"]
    atomic_write_bytes(path, orjson.dumps(hand_edited))
    lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, 3, DAY, text="m3")])
    merged = orjson.loads(path.read_bytes())
    assert [r.get("message_id") if isinstance(r, dict) else r for r in merged] == [
        1,
        2,
        3,
        None,
        "x",
    ]


# -- photos pending ----------------------------------------------------------------------


def photo_lake(tmp_path, warnings: list[str]) -> DataLake:
    lake = DataLake(tmp_path / "lake", warn=warnings.append)
    failed = [{"index": 0, "url": "http://x/a.jpg", "error": "timeout"}]
    gave_up = [{"index": 0, "url": "http://x/b.jpg", "error": "404; gave up after 5 attempts"}]
    lake.write_messages(
        CHANNEL,
        [
            TelegramMessage(CHANNEL, 1, DAY, photo_status="failed", photo_errors=failed),
            TelegramMessage(CHANNEL, 2, DAY, photo_status="failed", photo_errors=gave_up),
            TelegramMessage(CHANNEL, 3, DAY, text="no photo"),
        ],
    )
    return lake


def ctx_for(lake: DataLake, logs: list[str]) -> FetchContext:
    return FetchContext(image_path_for=lake.image_path, lake_root=lake.root, log=logs.append)


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_a_corrupt_pending_list_is_kept_and_rebuilt_from_the_records(damage, tmp_path):
    lake = photo_lake(tmp_path, [])
    path = lake.photos_pending_file(CHANNEL)
    good = orjson.dumps(
        {"photos": [{"message_id": 1, "day": "2025-03-01", "index": 0, "url": "u"}]}
    )
    bad = DAMAGE[damage](good)
    atomic_write_bytes(path, bad)
    with pytest.raises(CorruptLakeFile, match=re.escape(str(path))):
        lake.read_photos_pending(CHANNEL)  # never a bare JSONDecodeError

    logs: list[str] = []
    [entry] = read_pending(lake, CHANNEL, logs.append)
    assert (entry["message_id"], entry["url"], entry["attempts"]) == (1, "http://x/a.jpg", 1)
    assert entry["day"] == "2025-03-01"  # message 2 was given up on: not revived
    [line] = logs
    assert str(path) in line and "rebuilt from the day files: 1 pending" in line
    assert quarantined(lake) == [bad]
    assert lake.read_photos_pending(CHANNEL) == [entry]  # repaired on disk


def test_a_retry_skips_a_corrupt_day_file_and_keeps_its_photos_pending(tmp_path):
    lake = photo_lake(tmp_path, [])
    lake.write_messages(
        CHANNEL,
        [
            TelegramMessage(
                CHANNEL,
                9,
                NEXT_DAY,
                photo_status="failed",
                photo_errors=[{"index": 0, "url": "http://x/c.jpg", "error": "timeout"}],
            )
        ],
    )
    entries = [
        {"message_id": 1, "day": "2025-03-01", "index": 0, "url": "http://x/a.jpg", "attempts": 1},
        {"message_id": 9, "day": "2025-03-02", "index": 0, "url": "http://x/c.jpg", "attempts": 1},
    ]
    lake.write_photos_pending(CHANNEL, entries)
    corrupt = lake.messages_file(CHANNEL, "2025-03-01")
    atomic_write_bytes(corrupt, corrupt.read_bytes()[:40])

    class Fetcher:
        def __init__(self):
            self.jobs: list = []

        async def fetch_photos(self, channel, jobs, ctx):
            self.jobs = jobs
            return [SimpleNamespace(path="raw/images/CheMed123/9.jpg", error=None) for _ in jobs]

        async def aclose(self) -> None:
            pass

    logs: list[str] = []
    result = ChannelResult(channel=CHANNEL)
    fetcher = Fetcher()
    asyncio.run(retry_pending_photos(fetcher, lake, CHANNEL, ctx_for(lake, logs), result))
    assert fetcher.jobs == [(9, 0, "http://x/c.jpg")] and result.photos_recovered == 1
    assert [e["message_id"] for e in lake.read_photos_pending(CHANNEL)] == [1]  # kept
    assert any(str(corrupt) in line and "wait until it is repaired" in line for line in logs)
    assert lake.read_day_records(CHANNEL, "2025-03-02")[0]["photo_status"] == "ok"
