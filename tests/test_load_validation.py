"""The load boundary rejects implausible records like a warehouse constraint would:
each rejection names the file, the record index and the message id, lands in
raw.load_errors, keeps the run not ok until fixed, and never stops a valid sibling."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from databox.errors import InvalidRecord
from databox.lake import DataLake, atomic_write_bytes
from databox.telegram.load import (
    FUTURE_SKEW,
    TELEGRAM_LAUNCH,
    load_raw_messages,
    unresolved_load_errors,
)
from databox.telegram.load_validate import validate_record
from databox.telegram.message import TelegramMessage
from databox.warehouse import connect

CHANNEL = "CheMed123"
DAY_FILE = "raw/telegram_messages/2025-05-01/CheMed123.json"
DAY = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
SOON = datetime.now(timezone.utc) + FUTURE_SKEW + timedelta(hours=1)


def quiet(_msg: str) -> None:
    pass


def record(mid: int, **overrides) -> dict:
    base = TelegramMessage(
        channel=CHANNEL,
        message_id=mid,
        date=DAY + timedelta(minutes=mid),
        text=f"post {mid}",
        views=10,
        forwards=1,
        replies=0,
        scraped_at=DAY + timedelta(days=1),
        raw={"reactions": [{"reaction": "👍", "count": 3}], "reactions_total": 3},
    ).to_record()
    return {**base, **overrides}


# (case, message id the bad record carries, its fields, what the error must say)
CASES = [
    ("negative views", 102, {"views": -7}, "'views' must be a non-negative count, got -7"),
    ("forwards -1", 103, {"forwards": -1}, "'forwards' must be a non-negative count, got -1"),
    ("negative replies", 104, {"replies": -2}, "'replies' must be a non-negative count"),
    ("message_id 0", 0, {}, "'message_id' must be a positive integer, got 0"),
    ("negative message_id", -4, {}, "'message_id' must be a positive integer, got -4"),
    ("date 9999-12-31", 105, {"date": "9999-12-31T00:00:00+00:00"}, "in the future"),
    ("date 0001-01-01", 106, {"date": "0001-01-01T00:00:00+00:00"}, "before Telegram's launch"),
    ("date 0001 east of UTC", 107, {"date": "0001-01-01T00:00:00+03:00"}, "out of range"),
    ("date 2010-01-01", 108, {"date": "2010-01-01T00:00:00+00:00"}, "before Telegram's launch"),
    ("naive date", 109, {"date": "2026-11-30T10:00:00"}, "'date' has no time zone"),
    ("naive edit_date", 110, {"edit_date": "2025-05-02T10:00:00"}, "'edit_date' has no time zone"),
    ("date beyond the skew", 111, {"date": SOON.isoformat()}, "'date' is"),
    ("edit_date beyond the skew", 112, {"edit_date": SOON.isoformat()}, "'edit_date' is"),
    ("scraped_at beyond the skew", 113, {"scraped_at": SOON.isoformat()}, "'scraped_at' is"),
    ("edit_date 2012", 114, {"edit_date": "2012-01-01T00:00:00Z"}, "before Telegram's launch"),
    ("channel mismatch", 115, {"channel": "tikvahpharma"}, "filed in the day file of 'CheMed123'"),
    ("reply_to -5", 116, {"reply_to_message_id": -5}, "'reply_to_message_id' must be a positive"),
    ("pinned 0", 117, {"pinned_message_id": 0}, "'pinned_message_id' must be a positive"),
    ("album id 0", 118, {"album_ids": [118, 0]}, "'album_ids' must hold positive message ids"),
    ("reaction count -1", 119, {"raw": {"reactions": [{"count": -1}]}}, "reactions[0].count"),
    ("reactions_total -3", 120, {"raw": {"reactions_total": -3}}, "'raw.reactions_total'"),
]
IDS = [c[0] for c in CASES]


def bad_record(mid: int, fields: dict) -> dict:
    return {**record(abs(mid) or 1), "message_id": mid, **fields}


def write_day(lake: DataLake, records: list) -> None:
    atomic_write_bytes(lake.root / DAY_FILE, orjson.dumps(records))


def loaded_ids(wh) -> list[int]:
    return [r["message_id"] for r in wh.query("SELECT message_id FROM raw.telegram_messages")]


@pytest.fixture(scope="module")
def one_load(tmp_path_factory):
    """Each case in its own day file between two valid siblings, all loaded by one
    run (one load, not one per case: the suite stays fast)."""
    root = tmp_path_factory.mktemp("cases")
    wh = connect(f"duckdb:///{root / 'warehouse.duckdb'}")
    lake = DataLake(root / "lake")
    for n, (_, mid, fields, _) in enumerate(CASES):
        siblings = [record(1000 + 10 * n + 1), record(1000 + 10 * n + 3)]
        atomic_write_bytes(
            case_file(lake, n), orjson.dumps([siblings[0], bad_record(mid, fields), siblings[1]])
        )
    report = load_raw_messages(wh, lake, log=quiet)
    return wh, lake, report, unresolved_load_errors(wh), set(loaded_ids(wh))


def case_file(lake: DataLake, n: int):
    return lake.messages_dir / f"2025-06-{n + 1:02d}" / f"{CHANNEL}.json"


@pytest.mark.parametrize(("case", "mid", "fields", "says"), CASES, ids=IDS)
def test_an_implausible_record_is_rejected_and_its_siblings_load(case, mid, fields, says, one_load):
    _wh, lake, report, stored_errors, loaded = one_load
    n = IDS.index(case)
    rel = lake.relative(case_file(lake, n))
    assert not report.ok
    [error] = [e for e in report.errors if e.source_file == rel]
    text = str(error)
    assert f"{rel} record #1 (message {mid})" in text, text
    assert says in text and "record not loaded, kept in raw.load_errors" in text, text
    assert (error.record_index, error.message_id) == (1, mid)
    assert (lake.root / error.quarantine_path).read_bytes() == case_file(lake, n).read_bytes()
    [stored] = [e for e in stored_errors if e["source_file"] == rel]
    assert (stored["record_index"], stored["message_id"]) == (1, mid) and says in stored["error"]
    assert {1000 + 10 * n + 1, 1000 + 10 * n + 3} <= loaded  # the valid siblings
    assert mid not in loaded


def test_rejections_stay_open_until_fixed_then_resolve(warehouse_url, tmp_path):
    """Every case in one file, on both dialects: a second load is still not ok (the
    CLI exits 1 as the Dagster check stays red); fixing the records resolves them."""
    wh = connect(warehouse_url)
    lake = DataLake(tmp_path / "lake")
    bad = [bad_record(mid, fields) for _, mid, fields, _ in CASES]
    write_day(lake, [record(1), *bad, record(300)])

    first = load_raw_messages(wh, lake, log=quiet)
    assert not first.ok and first.rows_inserted == 2
    assert [(e.record_index, e.message_id) for e in first.errors] == [
        (i + 1, mid) for i, (_, mid, _, _) in enumerate(CASES)
    ]
    assert len(unresolved_load_errors(wh)) == len(CASES)

    second = load_raw_messages(wh, lake, log=quiet)
    assert not second.ok and second.files_skipped == 1 and second.files_loaded == 0
    assert [str(e).split(" (unresolved since")[0] for e in second.errors] == [
        str(e) for e in first.errors
    ]
    assert all(e.earlier for e in second.errors) and second.new_errors == []
    assert f"{len(CASES)} unresolved load errors (0 found this run" in second.summary()
    assert wh.query("SELECT count(*) AS n FROM raw.load_errors") == [{"n": len(CASES)}]

    # Fix the records (one stays bad): only that one is still open.
    fixed = [record(i + 2) for i in range(len(CASES) - 1)]
    write_day(lake, [record(1), *fixed, bad_record(116, {"reply_to_message_id": -5})])
    third = load_raw_messages(wh, lake, log=quiet)
    assert not third.ok and [e.message_id for e in third.errors] == [116]
    assert third.errors[0].earlier is False

    write_day(lake, [record(1), *fixed, record(116)])
    clean = load_raw_messages(wh, lake, log=quiet)
    assert clean.ok and clean.errors == [] and clean.unresolved_errors == 0
    assert "no unresolved load errors" in clean.summary()
    assert unresolved_load_errors(wh) == []
    assert len(loaded_ids(wh)) == len(CASES) + 2  # 1, 2..len(CASES), 116, 300
    assert load_raw_messages(wh, lake, log=quiet).ok  # and stays so


def test_a_record_filed_under_another_day_still_loads(duckdb_url, tmp_path):
    """The day file is where the scraper filed a message, not a constraint on it."""
    wh = connect(duckdb_url)
    lake = DataLake(tmp_path / "lake")
    write_day(lake, [record(1, date="2025-04-30T23:59:00+00:00"), record(2)])
    assert load_raw_messages(wh, lake, log=quiet).ok
    assert sorted(loaded_ids(wh)) == [1, 2]


def test_the_bounds_are_inclusive_and_skew_is_forgiven():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)

    def check(**fields) -> TelegramMessage:
        return validate_record(record(1, **fields), channel=CHANNEL, now=now, file_time=now)

    assert check(date=TELEGRAM_LAUNCH.isoformat()).date == TELEGRAM_LAUNCH
    assert check(date=(now + FUTURE_SKEW).isoformat()).date == now + FUTURE_SKEW
    assert check(date="2026-12-01T14:00:00+02:00").date == now  # an offset is fine
    with pytest.raises(InvalidRecord, match="before Telegram's launch"):
        check(date=(TELEGRAM_LAUNCH - timedelta(seconds=1)).isoformat())
    with pytest.raises(InvalidRecord, match="in the future"):
        check(date=(now + FUTURE_SKEW + timedelta(seconds=1)).isoformat())
    # Several problems of one record are reported together.
    with pytest.raises(InvalidRecord, match=r"'views'.*; .*'forwards'"):
        check(views=-1, forwards=-1)
    # Without scraped_at, the file's mtime stands in (stable across reloads).
    no_stamp = {k: v for k, v in record(1).items() if k != "scraped_at"}
    assert validate_record(no_stamp, channel=CHANNEL, now=now, file_time=DAY).scraped_at == DAY


def test_a_truncated_day_file_is_a_located_load_error_and_the_rest_loads(duckdb_url, tmp_path):
    wh = connect(duckdb_url)
    lake = DataLake(tmp_path / "lake")
    lake.write_messages(CHANNEL, [TelegramMessage(CHANNEL, 1, DAY, text="kept")])
    other = lake.messages_file(CHANNEL, "2025-05-02")
    data = orjson.dumps([record(5, date="2025-05-02T08:00:00+00:00")])
    atomic_write_bytes(other, data[: len(data) // 2])

    report = load_raw_messages(wh, lake, log=quiet)
    assert not report.ok and report.files_failed == 1 and report.rows_inserted == 1
    [error] = report.errors
    text = str(error)
    assert text.startswith("raw/telegram_messages/2025-05-02/CheMed123.json: not a JSON array")
    assert "file not loaded; copy of the file kept at quarantine/" in text
    assert (lake.root / error.quarantine_path).read_bytes() == data[: len(data) // 2]
    assert other.read_bytes() == data[: len(data) // 2]  # never rewritten by the loader
    assert not load_raw_messages(wh, lake, log=quiet).ok

    atomic_write_bytes(other, data)  # repaired
    fixed = load_raw_messages(wh, lake, log=quiet)
    assert fixed.ok and fixed.rows_inserted == 1
