"""Lake → raw.telegram_messages, on DuckDB and PostgreSQL (``warehouse_url`` runs both)."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

import databox.telegram.load as load_mod
from databox.lake import DataLake, atomic_write_bytes
from databox.telegram.load import (
    ensure_raw_schema,
    load_raw_messages,
    unresolved_load_errors,
    warehouse_status,
)
from databox.telegram.message import TelegramMessage
from databox.warehouse import connect

DAY = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
SCRAPED = datetime(2025, 5, 3, 9, 0, tzinfo=timezone.utc)


def quiet(_msg: str) -> None:
    pass


def msg(channel: str, mid: int, *, day: int = 0, text: str | None = None, **kw) -> TelegramMessage:
    return TelegramMessage(
        channel=channel,
        message_id=mid,
        date=DAY + timedelta(days=day, minutes=mid),
        text=f"message {mid} — ዋጋ 💊" if text is None else text,
        views=10 * mid,
        image_paths=[f"raw/images/{channel}/{mid}.jpg"] if mid % 2 else [],
        has_media=bool(mid % 2),
        scraped_at=kw.pop("scraped_at", SCRAPED),
        source="web",
        raw={"id": mid},
        **kw,
    )


def build_lake(root: Path) -> DataLake:
    """Two channels over two days: four files, 12 messages."""
    lake = DataLake(root)
    lake.write_messages("CheMed123", [msg("CheMed123", i, day=i % 2) for i in range(1, 7)])
    lake.write_messages("tikvahpharma", [msg("tikvahpharma", i, day=i % 2) for i in range(1, 7)])
    return lake


def table_checksum(wh) -> str:
    """md5 over every column of every row, in key order (loaded_at included)."""
    with wh.session() as s:
        rows = s.fetchall("SELECT * FROM raw.telegram_messages ORDER BY channel, message_id")
    return hashlib.md5(repr(rows).encode()).hexdigest()


def rows_by_key(wh) -> dict[tuple[str, int], dict]:
    return {
        (r["channel"], r["message_id"]): r
        for r in wh.query("SELECT * FROM raw.telegram_messages ORDER BY channel, message_id")
    }


def write_raw(lake: DataLake, rel_day: str, channel: str, payload: bytes) -> Path:
    path = lake.messages_dir / rel_day / f"{channel}.json"
    atomic_write_bytes(path, payload)
    return path


# -- schema and idempotency ------------------------------------------------------------------


def test_schema_creation_is_idempotent(warehouse_url):
    wh = connect(warehouse_url)
    for _ in range(2):
        with wh.session() as s:
            ensure_raw_schema(s)
    with wh.session() as s:
        for table in ("raw.telegram_messages", "raw.load_manifest", "raw.load_errors"):
            assert s.table_exists(table)


def test_load_twice_leaves_the_table_byte_identical(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = build_lake(tmp_path / "lake")

    first = load_raw_messages(wh, lake, log=quiet)
    assert first.ok, first.errors
    assert (first.files_seen, first.files_loaded, first.files_skipped) == (4, 4, 0)
    assert (first.rows_in_files, first.rows_inserted, first.rows_updated) == (12, 12, 0)
    assert first.per_channel == {"CheMed123": 6, "tikvahpharma": 6}
    checksum = table_checksum(wh)

    second = load_raw_messages(wh, lake, log=quiet)
    assert second.ok
    assert (second.files_loaded, second.files_skipped, second.rows_inserted) == (0, 4, 0)
    assert table_checksum(wh) == checksum

    # Touched but unchanged: hashed, not reloaded; the manifest learns the new mtime.
    for path in lake.message_files():
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    third = load_raw_messages(wh, lake, log=quiet)
    assert (third.files_loaded, third.files_skipped) == (0, 4)
    assert table_checksum(wh) == checksum
    manifest = {
        r["source_file"]: r["mtime_ns"] for r in wh.query("SELECT * FROM raw.load_manifest")
    }
    assert manifest == {lake.relative(p): p.stat().st_mtime_ns for p in lake.message_files()}


def test_typed_columns_and_payload(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = build_lake(tmp_path / "lake")
    load_raw_messages(wh, lake, log=quiet)
    row = rows_by_key(wh)[("CheMed123", 3)]
    assert row["date"] == DAY + timedelta(days=1, minutes=3)
    assert row["date"].utcoffset() == timedelta(0)
    assert row["scraped_at"] == SCRAPED
    assert row["text"] == "message 3 — ዋጋ 💊"
    assert row["views"] == 30 and row["has_media"] is True
    assert row["source_file"] == "raw/telegram_messages/2025-05-02/CheMed123.json"
    image_paths, payload, raw = row["image_paths"], row["payload"], row["raw"]
    if wh.dialect == "duckdb":  # JSON comes back as text there, as objects from jsonb
        image_paths, payload, raw = map(orjson.loads, (image_paths, payload, raw))
    assert image_paths == ["raw/images/CheMed123/3.jpg"]
    assert raw == {"id": 3}
    assert payload == msg("CheMed123", 3, day=1).to_record()


def test_no_op_run_only_stats_the_files(warehouse_url, tmp_path, monkeypatch):
    wh = connect(warehouse_url)
    lake = build_lake(tmp_path / "lake")
    load_raw_messages(wh, lake, log=quiet)

    def forbidden(*_a, **_kw):
        raise AssertionError("a file was opened on a no-op run")

    # load_file is where a file is opened, hashed and parsed; stat alone must settle it.
    monkeypatch.setattr(load_mod._Loader, "load_file", forbidden)
    report = load_raw_messages(wh, lake, log=quiet)
    assert report.ok and report.files_skipped == 4
    assert report.seconds < 1.0


# -- changes ------------------------------------------------------------------------------------


def test_an_edited_message_updates_its_row_only(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = build_lake(tmp_path / "lake")
    load_raw_messages(wh, lake, log=quiet)
    before = rows_by_key(wh)

    edited = msg(
        "CheMed123", 3, day=1, text="edited: new price", scraped_at=SCRAPED + timedelta(hours=5)
    )
    edited.views = 999
    lake.write_messages("CheMed123", [edited])  # merges into the existing day file
    report = load_raw_messages(wh, lake, log=quiet)

    assert report.ok
    assert (report.files_loaded, report.files_skipped) == (1, 3)
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (0, 1, 2)
    assert report.per_channel == {"CheMed123": 1}
    after = rows_by_key(wh)
    assert after[("CheMed123", 3)]["text"] == "edited: new price"
    assert after[("CheMed123", 3)]["views"] == 999
    assert after[("CheMed123", 3)]["loaded_at"] > before[("CheMed123", 3)]["loaded_at"]
    for key in before:
        if key != ("CheMed123", 3):
            assert after[key] == before[key], key  # neighbours in the same file untouched


def test_same_message_in_two_files_newest_scrape_wins(warehouse_url, tmp_path):
    """A message re-filed under another day: whatever the load order, the copy
    scraped last is kept (and reloading the older file does not bring it back)."""
    wh = connect(warehouse_url)
    lake = DataLake(tmp_path / "lake")
    old = msg("CheMed123", 7, text="old copy", scraped_at=SCRAPED).to_record()
    new = msg("CheMed123", 7, text="new copy", scraped_at=SCRAPED + timedelta(days=1)).to_record()
    # The newer copy sorts first, so it is loaded first.
    write_raw(lake, "2025-04-30", "CheMed123", orjson.dumps([new]))
    write_raw(lake, "2025-05-01", "CheMed123", orjson.dumps([old, msg("CheMed123", 8).to_record()]))
    report = load_raw_messages(wh, lake, log=quiet)
    assert report.ok
    assert rows_by_key(wh)[("CheMed123", 7)]["text"] == "new copy"
    assert len(rows_by_key(wh)) == 2

    # The stale file changes again (another message added) and reloads: still the new copy.
    write_raw(lake, "2025-05-01", "CheMed123", orjson.dumps([old, msg("CheMed123", 9).to_record()]))
    load_raw_messages(wh, lake, log=quiet)
    assert rows_by_key(wh)[("CheMed123", 7)]["text"] == "new copy"


def test_duplicate_inside_one_file_keeps_the_newest_copy(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = DataLake(tmp_path / "lake")
    newer = msg("CheMed123", 5, text="newer", scraped_at=SCRAPED + timedelta(hours=1)).to_record()
    older = msg("CheMed123", 5, text="older").to_record()
    write_raw(lake, "2025-05-01", "CheMed123", orjson.dumps([newer, older]))
    report = load_raw_messages(wh, lake, log=quiet)
    assert report.ok and report.rows_inserted == 1 and report.rows_superseded == 1
    assert rows_by_key(wh)[("CheMed123", 5)]["text"] == "newer"


# -- bad data -----------------------------------------------------------------------------------


def test_malformed_file_is_quarantined_and_the_rest_loads(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = build_lake(tmp_path / "lake")
    broken = write_raw(
        lake, "2025-05-01", "lobelia4cosmetics", b'[{"channel": "lobelia4cosmetics", '
    )
    not_array = write_raw(lake, "2025-05-02", "lobelia4cosmetics", b'{"channel": "x"}')

    report = load_raw_messages(wh, lake, log=quiet)
    assert not report.ok
    assert (report.files_loaded, report.files_failed, report.rows_inserted) == (4, 2, 12)
    by_file = {e.source_file: e for e in report.errors}
    assert set(by_file) == {lake.relative(broken), lake.relative(not_array)}
    for path in (broken, not_array):
        error = by_file[lake.relative(path)]
        assert error.record_index is None
        assert error.file == lake.relative(path) and lake.relative(path) in str(error)
        copy = lake.root / error.quarantine_path
        assert copy.is_file() and copy.read_bytes() == path.read_bytes()
    assert "expected an array" in by_file[lake.relative(not_array)].message

    open_errors = unresolved_load_errors(wh)
    assert {e["source_file"] for e in open_errors} == set(by_file)
    assert all(e["record_index"] is None and e["quarantine_path"] for e in open_errors)
    # Not re-read while unchanged, but the problem stays visible and the run not ok
    # (as the Dagster check no_unresolved_load_errors stays red).
    again = load_raw_messages(wh, lake, log=quiet)
    assert not again.ok and again.files_failed == 0 and again.unresolved_errors == 2
    assert {e.source_file for e in again.errors} == set(by_file)
    assert all(e.earlier for e in again.errors) and again.new_errors == []
    assert all("unresolved since" in str(e) for e in again.errors)
    assert warehouse_status(wh)["unresolved_errors"] == 2

    # Fix one file: it loads and its error is resolved; the other still keeps ok False.
    atomic_write_bytes(broken, orjson.dumps([msg("lobelia4cosmetics", 1).to_record()]))
    fixed = load_raw_messages(wh, lake, log=quiet)
    assert not fixed.ok and fixed.rows_inserted == 1 and fixed.unresolved_errors == 1
    assert [e.source_file for e in fixed.errors] == [lake.relative(not_array)]
    assert [e["source_file"] for e in unresolved_load_errors(wh)] == [lake.relative(not_array)]
    resolved = wh.query(
        "SELECT resolved_at FROM raw.load_errors WHERE source_file = %s", (lake.relative(broken),)
    )
    assert len(resolved) == 1 and resolved[0]["resolved_at"] is not None
    atomic_write_bytes(not_array, b"[]")
    assert load_raw_messages(wh, lake, log=quiet).ok


def test_bad_record_is_recorded_and_its_neighbours_load(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = DataLake(tmp_path / "lake")
    good = [msg("tikvahpharma", i).to_record() for i in (1, 2, 3)]
    bad_date = {**msg("tikvahpharma", 4).to_record(), "date": "yesterday"}
    no_id = {k: v for k, v in msg("tikvahpharma", 5).to_record().items() if k != "message_id"}
    huge = {**msg("tikvahpharma", 6).to_record(), "views": 2**63}  # parses, but not an int64
    records = [good[0], bad_date, good[1], no_id, good[2], "not an object", huge]
    path = write_raw(lake, "2025-05-01", "tikvahpharma", orjson.dumps(records))

    report = load_raw_messages(wh, lake, log=quiet)
    assert not report.ok
    assert report.rows_inserted == 3 and report.rows_rejected == 4
    errors = {e.record_index: e for e in report.errors}
    assert set(errors) == {1, 3, 5, 6}
    assert "JSON object" in errors[5].message
    assert errors[1].message_id == 4 and "date" in errors[1].message
    assert errors[3].message_id is None and "message_id" in errors[3].message
    assert "64 bits" in errors[6].message
    assert sorted(k[1] for k in rows_by_key(wh)) == [1, 2, 3]
    stored = {e["record_index"]: e for e in unresolved_load_errors(wh)}
    assert set(stored) == {1, 3, 5, 6}
    assert stored[1]["message_id"] == 4 and '"yesterday"' in stored[1]["record"]
    status = wh.query("SELECT status, row_count FROM raw.load_manifest")
    assert status == [{"status": "partial", "row_count": 3}]

    # The file is fixed: everything loads and the old errors are marked resolved.
    atomic_write_bytes(path, orjson.dumps([*good, msg("tikvahpharma", 4).to_record()]))
    fixed = load_raw_messages(wh, lake, log=quiet)
    assert fixed.ok and fixed.rows_inserted == 1 and fixed.rows_unchanged == 3
    assert unresolved_load_errors(wh) == []
    resolved = wh.query("SELECT count(*) AS n FROM raw.load_errors WHERE resolved_at IS NOT NULL")
    assert resolved == [{"n": 4}]


def test_nul_characters_are_stored_as_replacement_characters(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    lake = DataLake(tmp_path / "lake")
    lake.write_messages("CheMed123", [msg("CheMed123", 1, text="a\x00b")])
    report = load_raw_messages(wh, lake, log=quiet)
    assert report.ok, report.errors
    assert rows_by_key(wh)[("CheMed123", 1)]["text"] == "a\ufffdb"

    # A binary file (NUL bytes, invalid UTF-8) is a file-level error, not a crash.
    write_raw(lake, "2025-05-02", "CheMed123", b"\x00\xff\xfegarbage")
    report = load_raw_messages(wh, lake, log=quiet)
    assert report.files_failed == 1 and len(unresolved_load_errors(wh)) == 1


# -- status and concurrency --------------------------------------------------------------------


def test_status_before_and_after_a_load(warehouse_url, tmp_path):
    wh = connect(warehouse_url)
    empty = warehouse_status(wh)
    assert empty["initialized"] is False and empty["rows"] == 0
    with wh.session() as s:
        assert not s.table_exists("raw.telegram_messages")  # reading status creates nothing
    assert unresolved_load_errors(wh) == []

    load_raw_messages(wh, build_lake(tmp_path / "lake"), log=quiet)
    status = warehouse_status(wh)
    assert status["initialized"] is True
    assert status["rows"] == 12 and status["files_loaded"] == 4 and status["unresolved_errors"] == 0
    assert status["channels"]["CheMed123"]["rows"] == 6
    assert status["last_loaded_at"] is not None


@contextlib.contextmanager
def _spawned_pool():
    """Two spawned worker processes, stopped by close() + join(): Pool's own exit calls
    terminate(), which holds the task queue's lock while it SIGTERMs the workers, and a
    worker that inherited an ignored SIGTERM (pytest-xdist's workers have one) then
    waits on that lock forever: the suite hung there once."""
    pool = multiprocessing.get_context("spawn").Pool(2)
    try:
        yield pool
    except BaseException:
        pool.terminate()  # a failed or hung task: stop the workers, then report it
        raise
    else:
        pool.close()
    finally:
        pool.join()


def _load_in_process(url: str, lake_root: str) -> int:
    report = load_raw_messages(connect(url), DataLake(lake_root), log=quiet)
    return report.rows_inserted


def test_two_processes_loading_one_duckdb_file_both_succeed(duckdb_url, tmp_path):
    lakes = []
    for n, channel in enumerate(("CheMed123", "tikvahpharma")):
        lake = DataLake(tmp_path / f"lake{n}")
        lake.write_messages(channel, [msg(channel, i, day=i % 5) for i in range(1, 301)])
        lakes.append(str(lake.root))
    with _spawned_pool() as pool:
        results = [pool.apply_async(_load_in_process, (duckdb_url, root)) for root in lakes]
        inserted = [r.get(timeout=120) for r in results]
    assert inserted == [300, 300]  # neither failed with DuckDB's "could not set lock"
    counts = {
        r["channel"]: r["n"]
        for r in connect(duckdb_url).query(
            "SELECT channel, count(*) AS n FROM raw.telegram_messages GROUP BY channel"
        )
    }
    assert counts == {"CheMed123": 300, "tikvahpharma": 300}


@pytest.mark.postgres
def test_two_processes_loading_one_postgres_database_both_succeed(pg_url, tmp_path):
    lake = build_lake(tmp_path / "lake")
    with _spawned_pool() as pool:
        results = [pool.apply_async(_load_in_process, (pg_url, str(lake.root))) for _ in range(2)]
        inserted = sorted(r.get(timeout=120) for r in results)
    assert inserted == [0, 12]  # serialised by the advisory lock: one loads, one skips


# -- DuckDB set-based path vs the Python path ---------------------------------------------------


def _rich(mid: int, **kw) -> dict:
    """A record using every part of the content model, text with JSON escapes."""
    return TelegramMessage(
        channel="CheMed123",
        message_id=mid,
        date=DAY + timedelta(minutes=mid, microseconds=123456),
        text='say "ዋጋ" \\ back\nslash\ttab 💊 /path',
        views=0,
        forwards=None,
        replies=2**63 - 1,
        has_media=True,
        image_paths=[f"raw/images/CheMed123/{mid}.jpg", f"raw/images/CheMed123/{mid}_1.jpg"],
        grouped_id=-(2**62),
        edit_date=DAY + timedelta(hours=3),
        post_author="ፋርማሲ",
        source="telethon",
        scraped_at=SCRAPED,
        raw={"reactions": [{"reaction": "👍", "count": 3}, "x"], "reactions_total": 3, "n": None},
        media_kind="album",
        media={"items": [{"kind": "photo", "thumb_url": None, "duration": 12}]},
        reply_to_message_id=1,
        links=[{"type": "url", "label": "x.com", "url": "https://x.com"}],
        link_preview={
            "url": "https://x.com",
            "site_name": None,
            "title": "T",
            "description": "",
            "image_url": None,
        },
        album_ids=[mid, mid + 1],
        photo_status="partial",
        photo_errors=[{"index": 1, "url": None, "error": "HTTP 404"}],
        **kw,
    ).to_record()


def _mixed_lake(root: Path) -> tuple[DataLake, int]:
    """Files the set-based path takes, and files it must leave to the Python path;
    returns the lake and how many files are of the second kind."""
    lake = DataLake(root)
    service = {**_rich(40), "message_type": "service", "action": "pinned",
               "pinned_message_id": 3, "media_kind": "none", "media": None}  # fmt: skip
    plain = msg("CheMed123", 41).to_record()
    sparse = {**msg("CheMed123", 42).to_record(), "scraped_at": None, "has_media": None,
              "source": "", "message_type": None, "date": "2025-05-01T11:00:00+03:00",
              "edit_date": "2025-05-01T09:00:00.123Z", "raw": None, "links": None}  # fmt: skip
    fast = {
        "2025-05-01": [_rich(10), _rich(12), plain],
        "2025-05-02": [service, sparse],
        "2025-05-03": [],
    }
    for day, records in fast.items():
        write_raw(lake, day, "CheMed123", orjson.dumps(records))
    extra = {**msg("CheMed123", 61).to_record(), "extra": 1}
    legacy = {k: v for k, v in msg("CheMed123", 62).to_record().items() if k != "media_kind"}
    slow = {
        "2025-06-01": orjson.dumps([{**_rich(50), "media": {"latitude": 9.03, "longitude": 38.7}}]),
        "2025-06-02": orjson.dumps([extra]),
        "2025-06-03": orjson.dumps([legacy]),
        "2025-06-04": orjson.dumps([{**msg("CheMed123", 63).to_record(), "text": "bell \x07"}]),
        "2025-06-05": orjson.dumps([msg("CheMed123", 64).to_record()])[:-2] + b', "views": 1}]',
        "2025-06-06": orjson.dumps([{**msg("CheMed123", 65).to_record(), "views": -1}]),
        "2025-06-07": orjson.dumps([msg("CheMed123", 66).to_record(), 7]),
        "2025-06-08": orjson.dumps([msg("CheMed123", 67).to_record()]).replace(b"67,", b"67.0,", 1),
        "2025-06-09": b'[{"channel": NaN}]',
        "2025-06-10": orjson.dumps([{**msg("CheMed123", 68).to_record(), "text": "a\x00b"}]),
        "2025-06-11": orjson.dumps([msg("CheMed123", 69).to_record()])[:40],  # truncated
        "2025-06-12": orjson.dumps([{**msg("CheMed123", 70).to_record(), "views": True}]),
        "2025-06-13": orjson.dumps([msg("CheMed123", 71, text="again").to_record()]),
        "2025-06-14": orjson.dumps([msg("CheMed123", 71, text="twice").to_record()]),
    }
    for day, payload in slow.items():
        write_raw(lake, day, "CheMed123", payload)
    return lake, len(slow)


def _state(wh) -> tuple:
    columns = ", ".join(f'"{c}"' for c in load_mod.ROW_COLUMNS if c != "loaded_at")
    with wh.session() as s:
        rows = s.fetchall(
            f"SELECT {columns} FROM raw.telegram_messages ORDER BY channel, message_id"
        )
        manifest = s.fetchall(
            "SELECT source_file, sha256, size, row_count, status FROM raw.load_manifest ORDER BY 1"
        )
        errors = s.fetchall(
            "SELECT source_file, record_index, message_id, error, record, quarantine_path "
            "FROM raw.load_errors ORDER BY 1, 2"
        )
    return rows, manifest, errors


def _report_counts(r) -> tuple:
    return (r.files_loaded, r.files_skipped, r.files_failed, r.rows_in_files, r.rows_inserted,
            r.rows_updated, r.rows_unchanged, r.rows_rejected, r.rows_superseded, r.per_channel,
            [str(e) for e in r.errors])  # fmt: skip


def test_duckdb_set_based_path_builds_what_the_python_path_builds(
    duckdb_url, tmp_path, monkeypatch
):
    """Every row, manifest entry, error and report count is the same whichever path
    loads the files (DuckDB validating in SQL, or Python); the files the SQL is not
    sure of go through the Python path."""
    import databox.telegram.load_files as load_files

    lake, n_slow = _mixed_lake(tmp_path / "lake")
    python_files: list[str] = []
    real = load_files.Loader.load_file

    def counted(self, cand, *a):
        python_files.append(cand.rel)
        return real(self, cand, *a)

    monkeypatch.setattr(load_files.Loader, "load_file", counted)
    wh = connect(duckdb_url)
    fast = load_raw_messages(wh, lake, log=quiet)
    assert len(python_files) == n_slow, python_files
    fast_state = _state(wh)
    with wh.transaction() as tx:
        for table in ("raw.telegram_messages", "raw.load_manifest", "raw.load_errors"):
            tx.execute(f"DROP TABLE {table}")

    monkeypatch.setattr(load_files, "SET_BASED", False)
    slow = load_raw_messages(wh, lake, log=quiet)
    assert len(python_files) == n_slow + 17
    assert _report_counts(fast) == _report_counts(slow)
    assert fast_state == _state(wh)
    # views -1, a bare 7, message_id 67.0, views true; NaN and the truncated file.
    assert (fast.rows_rejected, fast.files_failed) == (4, 2), fast.errors

    # Rewritten with other whitespace: new bytes, the same rows, nothing written (the
    # mtime is kept: it is the scraped_at of a record without one).
    monkeypatch.setattr(load_files, "SET_BASED", True)
    for path in lake.message_files():
        data, mtime = path.read_bytes(), path.stat().st_mtime_ns
        with contextlib.suppress(ValueError):
            atomic_write_bytes(path, orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2))
        os.utime(path, ns=(mtime, mtime))
    again = load_raw_messages(wh, lake, log=quiet)
    assert (again.rows_inserted, again.rows_updated) == (0, 0), again.summary()
    assert _state(wh)[0] == fast_state[0]


def test_groups_commit_in_bounded_transactions(warehouse_url, tmp_path):
    """A lake larger than ``chunk_bytes`` is loaded group by group, each committed on
    its own (memory and lost work bounded), with the same result as one group."""
    lake = DataLake(tmp_path / "lake")
    for day in range(6):
        recs = [msg("CheMed123", 100 * day + i, day=day).to_record() for i in range(1, 30)]
        write_raw(lake, f"2025-05-{day + 1:02d}", "CheMed123", orjson.dumps(recs))
    lines: list[str] = []
    wh = connect(warehouse_url)
    report = load_raw_messages(wh, lake, log=lines.append, chunk_bytes=1)
    assert report.ok and report.rows_inserted == 6 * 29
    assert sum("committed 1 files" in line for line in lines) == 6
    small = _state(wh)
    with wh.transaction() as tx:
        for table in ("raw.telegram_messages", "raw.load_manifest", "raw.load_errors"):
            tx.execute(f"DROP TABLE {table}")
    lines.clear()
    load_raw_messages(wh, lake, log=lines.append)
    assert sum("committed" in line for line in lines) == 1
    assert _state(wh)[:2] == small[:2]
