"""Load the lake's raw Telegram message files into ``raw.telegram_messages``.

Incremental by file: ``raw.load_manifest`` remembers each file's size, mtime and
sha256. A file whose size and mtime match is skipped without being opened, so a
run with nothing new costs one ``stat`` per file. A file whose bytes hash to the
recorded sha256 (touched, not changed) only has its mtime refreshed. Anything else
is parsed and upserted.

Bad data never raises: a file that is not a JSON array is recorded in
``raw.load_errors`` and copied to the lake's quarantine; a record that fails
``TelegramMessage.from_record`` is recorded there while the rest of its file loads.
The caller (Dagster asset, CLI) decides to fail by looking at ``LoadReport.errors``.
Only infrastructure failures (database, disk) raise.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from databox.errors import InvalidRecord
from databox.lake import DataLake
from databox.telegram.message import MESSAGE_FIELDS, TelegramMessage
from databox.warehouse import Column, Session, Table, Warehouse

MESSAGES_TABLE = "raw.telegram_messages"
MANIFEST_TABLE = "raw.load_manifest"
ERRORS_TABLE = "raw.load_errors"

RAW_MESSAGES = Table(
    MESSAGES_TABLE,
    (
        Column("channel", "text", not_null=True),
        Column("message_id", "bigint", not_null=True),
        Column("date", "timestamptz", not_null=True),
        Column("text", "text"),
        Column("views", "bigint"),
        Column("forwards", "bigint"),
        Column("replies", "bigint"),
        Column("has_media", "boolean"),
        Column("image_paths", "json"),  # JSON array of lake-relative paths
        Column("grouped_id", "bigint"),
        Column("edit_date", "timestamptz"),
        Column("post_author", "text"),
        Column("source", "text"),
        Column("scraped_at", "timestamptz", not_null=True),
        Column("raw", "json"),  # the source's own payload (the record's "raw" field)
        # The content model (telegram/message.py). Added after the first release: an
        # older table gets them with ALTER TABLE on the next load (ensure_tables).
        Column("message_type", "text"),  # post | service
        Column("action", "text"),  # service messages: channel_created, pinned, ...
        Column("pinned_message_id", "bigint"),
        Column("new_title", "text"),
        Column("media_kind", "text"),  # none, photo, album, video, poll, sticker, ...
        Column("media", "json"),  # the kind's own fields (poll options, geo, file name, ...)
        Column("reply_to_message_id", "bigint"),
        Column("links", "json"),  # [{type, label, url}] in text order
        Column("link_preview", "json"),
        Column("album_ids", "json"),
        Column("photo_status", "text"),  # ok | partial | failed | NULL (no photo)
        Column("photo_errors", "json"),  # [{index, url, error}] of photos not in the lake
        Column("payload", "json", not_null=True),  # the whole lake record, as loaded
        Column("source_file", "text", not_null=True),  # lake-relative
        Column("loaded_at", "timestamptz", not_null=True),  # the run that last changed the row
    ),
    primary_key=("channel", "message_id"),
)
LOAD_MANIFEST = Table(
    MANIFEST_TABLE,
    (
        Column("source_file", "text", not_null=True),
        Column("sha256", "text", not_null=True),
        Column("size", "bigint", not_null=True),
        Column("mtime_ns", "bigint", not_null=True),
        Column("row_count", "bigint", not_null=True),  # records loaded from the file
        Column("status", "text", not_null=True),  # loaded | partial (bad records) | failed
        Column("loaded_at", "timestamptz", not_null=True),
    ),
    primary_key=("source_file",),
)
LOAD_ERRORS = Table(
    ERRORS_TABLE,
    (
        # A digest of (file, sha256, record index): the same problem in the same bytes
        # is one row however many times it is seen, without a dialect-specific serial.
        Column("error_id", "text", not_null=True),
        Column("source_file", "text", not_null=True),
        Column("sha256", "text", not_null=True),
        Column("record_index", "bigint"),  # NULL: the whole file failed
        Column("message_id", "bigint"),
        Column("error", "text", not_null=True),
        Column("record", "text"),  # the bad record (or the file's first bytes), truncated
        Column("quarantine_path", "text"),  # lake-relative copy of the failed file
        Column("first_seen_at", "timestamptz", not_null=True),
        Column("resolved_at", "timestamptz"),  # set once the file changed and loaded again
    ),
    primary_key=("error_id",),
)
RAW_TABLES = (RAW_MESSAGES, LOAD_MANIFEST, LOAD_ERRORS)

ROW_COLUMNS = RAW_MESSAGES.column_names
# Every column but loaded_at decides whether a row changed: rewriting an identical row
# would only move loaded_at, and re-runs must leave unchanged rows byte-identical.
COMPARE_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("channel", "message_id", "loaded_at"))
# A key found in two files (a message re-filed under another day) resolves the same
# way whatever order the files load in: the copy scraped last wins, ties go to the
# later file name. A file's own new content always replaces what it loaded before.
NEWEST_WINS = (
    "t.source_file = excluded.source_file"
    " OR excluded.scraped_at > t.scraped_at"
    " OR (excluded.scraped_at = t.scraped_at AND excluded.source_file > t.source_file)"
)
MANIFEST_COLUMNS = LOAD_MANIFEST.column_names
#: SQL for "this row is a post" (service messages are kept but never counted as posts).
IS_POST = "coalesce(message_type, 'post') = 'post'"
ERROR_COLUMNS = LOAD_ERRORS.column_names

#: Files are committed in groups of about this many bytes: see ``load_raw_messages``.
DEFAULT_CHUNK_BYTES = 64 << 20
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SNIPPET = 2000
_LOCK_NAME = "databox.load_raw_messages"

_dumps = orjson.dumps
assert ROW_COLUMNS[: len(MESSAGE_FIELDS)] == MESSAGE_FIELDS, "row layout out of step with schema"


@dataclass
class LoadError:
    source_file: str  # lake-relative
    record_index: int | None  # None: the whole file
    message_id: int | None
    message: str
    quarantine_path: str | None = None  # lake-relative copy of a file that failed as a whole

    @property
    def file(self) -> str:
        return self.source_file

    def __str__(self) -> str:
        where = (
            self.source_file
            if self.record_index is None
            else f"{self.source_file} record #{self.record_index}"
        )
        if self.message_id is not None:
            where += f" (message {self.message_id})"
        kept = f"; copy kept at {self.quarantine_path}" if self.quarantine_path else ""
        return f"{where}: {self.message}{kept}"


@dataclass
class LoadReport:
    files_seen: int = 0
    files_loaded: int = 0  # parsed and upserted (possibly with bad records)
    files_skipped: int = 0  # unchanged: same size+mtime, or same sha256
    files_failed: int = 0  # not a JSON array: quarantined
    rows_in_files: int = 0  # records in the files parsed this run
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0  # records that failed validation (see errors)
    rows_superseded: int = 0  # same message twice in one file: the older copy
    per_channel: dict[str, int] = field(default_factory=dict)  # rows inserted + updated
    errors: list[LoadError] = field(default_factory=list)
    #: Unresolved rows in raw.load_errors after the run, including earlier runs' errors
    #: in files that have not changed since (they are not re-read, so not in ``errors``).
    unresolved_errors: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{self.files_loaded} files loaded, {self.files_skipped} unchanged, "
            f"{self.files_failed} failed of {self.files_seen}; rows: {self.rows_inserted} new, "
            f"{self.rows_updated} updated, {self.rows_unchanged} unchanged, "
            f"{self.rows_rejected} rejected; {len(self.errors)} errors "
            f"({self.unresolved_errors} unresolved in total) in {self.seconds:.2f} s"
        )


@dataclass
class _Entry:
    """One manifest row."""

    sha256: str
    size: int
    mtime_ns: int
    row_count: int
    status: str
    loaded_at: datetime

    def row(self, source_file: str) -> tuple:
        return (
            source_file,
            self.sha256,
            self.size,
            self.mtime_ns,
            self.row_count,
            self.status,
            self.loaded_at,
        )


def ensure_raw_schema(session: Session) -> None:
    session.ensure_tables(*RAW_TABLES)


# -- parsing ------------------------------------------------------------------------------


def _validate(record: Any, file_time: datetime) -> TelegramMessage:
    """``from_record`` plus what the warehouse needs on top: 64-bit integers and a
    text author. Raises ``InvalidRecord``."""
    msg = TelegramMessage.from_record(record)
    for value in (
        msg.message_id,
        msg.views,
        msg.forwards,
        msg.replies,
        msg.grouped_id,
        msg.pinned_message_id,
        msg.reply_to_message_id,
    ):
        if value is not None and not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidRecord(f"integer {value} does not fit in 64 bits")
    if msg.post_author is not None and not isinstance(msg.post_author, str):
        raise InvalidRecord(f"field 'post_author' must be a string, got {msg.post_author!r}")
    if record.get("scraped_at") is None:
        # from_record would stamp "now", so every reload would look like an edit; the
        # file's mtime is when the record was written, and stable across reloads.
        msg.scraped_at = file_time
    return msg


def _row(msg: TelegramMessage, record: dict, rel: str, loaded_at: datetime) -> tuple:
    # JSON columns get orjson's UTF-8 bytes as they are: both adapters take bytes,
    # and decoding 3 strings per row was measurable.
    return (
        msg.channel,
        msg.message_id,
        msg.date,
        msg.text,
        msg.views,
        msg.forwards,
        msg.replies,
        msg.has_media,
        _dumps(msg.image_paths),
        msg.grouped_id,
        msg.edit_date,
        msg.post_author,
        msg.source,
        msg.scraped_at,
        _dumps(msg.raw),
        msg.message_type,
        msg.action,
        msg.pinned_message_id,
        msg.new_title,
        msg.media_kind,
        None if msg.media is None else _dumps(msg.media),
        msg.reply_to_message_id,
        _dumps(msg.links),
        None if msg.link_preview is None else _dumps(msg.link_preview),
        _dumps(msg.album_ids),
        msg.photo_status,
        _dumps(msg.photo_errors),
        _dumps(record),
        rel,
        loaded_at,
    )


def _strip_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000; replace it (U+FFFD) everywhere."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    return value


def _message_id(record: Any) -> int | None:
    mid = record.get("message_id") if isinstance(record, dict) else None
    if isinstance(mid, int) and not isinstance(mid, bool) and _INT64_MIN <= mid <= _INT64_MAX:
        return mid
    return None


def _snippet(record: Any) -> str:
    try:
        return _dumps(record).decode()[:_SNIPPET]
    except TypeError:
        return repr(record)[:_SNIPPET]


@dataclass
class _ParsedFile:
    """A file's records, turned into rows lazily (``rows`` is consumed once)."""

    rows: Iterator[tuple]
    channels: set
    bad: list[tuple[int, Any, str]]  # (record index, record, error) filled as rows are consumed
    superseded: int


def _valid_records(
    records: list, file_time: datetime, bad: list
) -> Iterator[tuple[int, Any, TelegramMessage]]:
    """``(index, record, message)`` for each record that validates; each one that does
    not is appended to ``bad`` as ``(index, record, error)``."""
    for i, record in enumerate(records):
        try:
            msg = _validate(record, file_time)
        except (InvalidRecord, TypeError, ValueError, OverflowError) as exc:
            bad.append((i, record, str(exc)))
            continue
        yield i, record, msg


def _parse_records(
    records: list, rel: str, loaded_at: datetime, file_time: datetime
) -> _ParsedFile:
    bad: list[tuple[int, Any, str]] = []
    keys = [(r.get("channel"), r.get("message_id")) if type(r) is dict else None for r in records]
    try:
        unique = len(set(keys)) == len(keys)
    except TypeError:  # an unhashable id (a list...): that record fails validation anyway
        unique = False
    channels = {k[0] for k in keys if k is not None}

    if unique:
        # The common case: stream, so rows reach the database while later ones are built.
        def stream() -> Iterator[tuple]:
            for _, record, msg in _valid_records(records, file_time, bad):
                yield _row(msg, record, rel, loaded_at)

        return _ParsedFile(stream(), channels, bad, 0)

    # Duplicates in one file (hand-edited, or concatenated): validate everything first,
    # then keep, per key, the copy scraped last (ties: the later one in the file).
    best: dict[tuple, tuple[datetime, int, TelegramMessage]] = {}
    for i, _, msg in _valid_records(records, file_time, bad):
        key = (msg.channel, msg.message_id)
        if key not in best or (msg.scraped_at, i) >= best[key][:2]:
            best[key] = (msg.scraped_at, i, msg)
    winners = sorted(best.values(), key=lambda v: v[1])
    superseded = len(records) - len(bad) - len(winners)
    rows = iter([_row(msg, records[i], rel, loaded_at) for _, i, msg in winners])
    return _ParsedFile(rows, channels, bad, superseded)


def _error_id(source_file: str, sha256: str, record_index: int | None) -> str:
    key = f"{source_file}\x00{sha256}\x00{'file' if record_index is None else record_index}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# -- the load -----------------------------------------------------------------------------


@dataclass
class _Candidate:
    path: Path
    rel: str
    size: int
    mtime_ns: int


class _Loader:
    def __init__(self, session: Session, lake: DataLake, log: Callable[[str], None]):
        self.s = session
        self.lake = lake
        self.log = log
        self.report = LoadReport()
        self.loaded_at = datetime.now(timezone.utc)
        self.manifest: dict[str, _Entry] = {}
        self.unresolved: dict[str, set[str]] = defaultdict(set)  # file -> sha256s with open errors

    def read_state(self) -> None:
        for source_file, *values in self.s.fetchall(
            f"SELECT {', '.join(MANIFEST_COLUMNS)} FROM {MANIFEST_TABLE}"
        ):
            self.manifest[source_file] = _Entry(*values)
        for source_file, sha in self.s.fetchall(
            f"SELECT DISTINCT source_file, sha256 FROM {ERRORS_TABLE} WHERE resolved_at IS NULL"
        ):
            self.unresolved[source_file].add(sha)

    def plan(self) -> list[_Candidate]:
        """The files that may have changed, from ``stat`` alone."""
        todo = []
        for path in self.lake.message_files():
            self.report.files_seen += 1
            try:
                st = path.stat()
            except FileNotFoundError:  # replaced or removed since the listing
                continue
            rel = self.lake.relative(path)
            entry = self.manifest.get(rel)
            if entry is not None and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns):
                self.report.files_skipped += 1
                continue
            todo.append(_Candidate(path, rel, st.st_size, st.st_mtime_ns))
        return todo

    def load_chunk(self, chunk: list[_Candidate]) -> None:
        """Load a group of files in one transaction: their rows, errors and manifest
        entries commit together or not at all."""
        manifest_rows: list[tuple] = []
        error_rows: list[tuple] = []
        totals = [0, 0, 0]  # files, inserted, updated in this chunk
        with self.s.transaction():
            for cand in chunk:
                entry = self.load_file(cand, error_rows, totals)
                if entry is not None:
                    manifest_rows.append(entry.row(cand.rel))
                    self.manifest[cand.rel] = entry
            if error_rows:
                self.s.bulk_upsert(
                    ERRORS_TABLE,
                    ERROR_COLUMNS,
                    error_rows,
                    ["error_id"],
                    # Seen again after being resolved (a file reverted to bad bytes): reopen.
                    update_columns=["error", "record", "quarantine_path", "resolved_at"],
                )
            self.s.bulk_upsert(MANIFEST_TABLE, MANIFEST_COLUMNS, manifest_rows, ["source_file"])
        if totals[0]:
            self.log(
                f"load_raw_messages: committed {totals[0]} files "
                f"(+{totals[1]} new, {totals[2]} updated rows)"
            )

    def load_file(
        self, cand: _Candidate, error_rows: list[tuple], totals: list[int]
    ) -> _Entry | None:
        report, rel = self.report, cand.rel
        try:
            with open(cand.path, "rb") as fh:
                st = os.fstat(fh.fileno())  # the stat that matches the bytes we read
                data = fh.read()
        except FileNotFoundError:
            report.files_seen -= 1
            return None
        sha = hashlib.sha256(data).hexdigest()
        old = self.manifest.get(rel)
        if old is not None and old.sha256 == sha:
            # Touched, not changed: remember the new mtime so the next run skips on stat.
            report.files_skipped += 1
            return _Entry(sha, st.st_size, st.st_mtime_ns, old.row_count, old.status, old.loaded_at)

        try:
            records = orjson.loads(data)
            if not isinstance(records, list):
                raise ValueError(
                    f"top level is a JSON {type(records).__name__}, expected an array of records"
                )
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            kept = self.lake.relative(self.lake.quarantine_copy(cand.path, sha))
            message = f"not a JSON array of message records: {exc}"
            report.files_failed += 1
            report.errors.append(LoadError(rel, None, None, message, kept))
            # The file's first bytes, as text PostgreSQL accepts (no NUL, valid UTF-8).
            snippet = data[:_SNIPPET].decode("utf-8", "replace").replace("\x00", "\ufffd")
            error_rows.append(self._error_row(rel, sha, None, None, message, snippet, kept))
            self.log(f"load_raw_messages: {rel}: {message}; copy kept at {kept}")
            self._resolve_older(rel, sha)
            return _Entry(sha, st.st_size, st.st_mtime_ns, 0, "failed", self.loaded_at)

        if b"\\u0000" in data:
            self.log(
                f"load_raw_messages: {rel}: replacing NUL characters (PostgreSQL cannot store them)"
            )
            records = _strip_nul(records)
        file_time = datetime.fromtimestamp(st.st_mtime_ns / 1e9, timezone.utc)
        parsed = _parse_records(records, rel, self.loaded_at, file_time)
        inserted = updated = sent = 0
        # A file normally holds one channel; split otherwise so per-channel counts stay exact.
        groups = [parsed.rows] if len(parsed.channels) <= 1 else _by_channel(parsed.rows)
        for rows in groups:
            counted = _Counted(rows)
            ins, upd = self.s.bulk_upsert(
                MESSAGES_TABLE,
                ROW_COLUMNS,
                counted,
                ["channel", "message_id"],
                compare_columns=COMPARE_COLUMNS,
                update_where=NEWEST_WINS,
                # A file never loaded before is almost always all-new messages: let
                # PostgreSQL COPY straight into the table (it falls back if not).
                assume_new=old is None,
            )
            inserted, updated, sent = inserted + ins, updated + upd, sent + counted.n
            if counted.channel is not None and ins + upd:
                report.per_channel[counted.channel] = (
                    report.per_channel.get(counted.channel, 0) + ins + upd
                )

        for index, record, message in parsed.bad:
            mid = _message_id(record)
            report.errors.append(LoadError(rel, index, mid, message))
            error_rows.append(
                self._error_row(rel, sha, index, mid, message, _snippet(record), None)
            )
        if parsed.bad:
            self.log(
                f"load_raw_messages: {rel}: {len(parsed.bad)} bad records (see raw.load_errors)"
            )
        self._resolve_older(rel, sha)
        report.files_loaded += 1
        report.rows_in_files += len(records)
        report.rows_inserted += inserted
        report.rows_updated += updated
        report.rows_unchanged += sent - inserted - updated
        report.rows_rejected += len(parsed.bad)
        report.rows_superseded += parsed.superseded
        totals[0], totals[1], totals[2] = totals[0] + 1, totals[1] + inserted, totals[2] + updated
        status = "partial" if parsed.bad else "loaded"
        return _Entry(sha, st.st_size, st.st_mtime_ns, sent, status, self.loaded_at)

    def _error_row(self, rel, sha, index, mid, message, snippet, kept) -> tuple:
        return (
            _error_id(rel, sha, index),
            rel,
            sha,
            index,
            mid,
            message,
            snippet,
            kept,
            self.loaded_at,
            None,
        )

    def _resolve_older(self, rel: str, sha: str) -> None:
        """The file has new bytes: errors recorded against its older versions no
        longer describe it (new problems are recorded against the new sha256)."""
        if self.unresolved.get(rel, set()) - {sha}:
            self.s.execute(
                f"UPDATE {ERRORS_TABLE} SET resolved_at = %s "
                "WHERE source_file = %s AND sha256 <> %s AND resolved_at IS NULL",
                (self.loaded_at, rel, sha),
            )
            self.unresolved[rel] &= {sha}


class _Counted:
    """Counts the rows an iterator yields and notes their channel (single-channel groups)."""

    def __init__(self, rows):
        self._rows = rows
        self.n = 0
        self.channel: str | None = None

    def __iter__(self) -> Iterator[tuple]:
        for row in self._rows:
            self.n += 1
            self.channel = row[0]
            yield row


def _by_channel(rows: Iterator[tuple]) -> list[list[tuple]]:
    groups: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[row[0]].append(row)
    return [groups[k] for k in sorted(groups)]


def _chunks(todo: list[_Candidate], chunk_bytes: int) -> Iterator[list[_Candidate]]:
    chunk: list[_Candidate] = []
    size = 0
    for cand in todo:
        chunk.append(cand)
        size += cand.size
        if size >= chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def load_raw_messages(
    warehouse: Warehouse,
    lake: DataLake,
    *,
    log: Callable[[str], None] = print,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> LoadReport:
    """Load new and changed lake files into ``raw.telegram_messages``; see the module doc.

    Transactions: files are committed in groups of about ``chunk_bytes`` of JSON, each
    group's rows, errors and manifest entries in one transaction, so a crash never
    leaves a manifest entry without its rows (the group is simply loaded again next
    run). Not one transaction per file: DuckDB checkpoints its WAL after about every
    16 MB committed, and committing 200 small files one by one ran at less than half
    the rows/s of grouped commits (bench/RESULTS.md). Not one transaction for
    everything: a long backfill keeps its progress, and the work lost to a crash
    is bounded. Memory is bounded by one file's records either way.
    """
    started = time.perf_counter()
    with warehouse.session() as s, s.advisory_lock(_LOCK_NAME):
        # The advisory lock (PostgreSQL; DuckDB's session already holds the file lock)
        # serialises concurrent loaders: they would otherwise race on the manifest
        # and on CREATE TABLE IF NOT EXISTS.
        ensure_raw_schema(s)
        loader = _Loader(s, lake, log)
        loader.read_state()
        todo = loader.plan()
        for chunk in _chunks(todo, chunk_bytes):
            loader.load_chunk(chunk)
        report = loader.report
        if todo or loader.unresolved:
            row = s.fetchone(f"SELECT count(*) FROM {ERRORS_TABLE} WHERE resolved_at IS NULL")
            report.unresolved_errors = int(row[0]) if row else 0
    report.seconds = time.perf_counter() - started
    log(f"load_raw_messages: {report.summary()}")
    return report


# -- status ---------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value


def unresolved_load_errors(warehouse: Warehouse) -> list[dict]:
    """Every open problem in ``raw.load_errors``, oldest first."""
    with warehouse.session() as s:
        if not s.table_exists(ERRORS_TABLE):
            return []
        rows = s.fetchall(
            "SELECT source_file, sha256, record_index, message_id, error, record, quarantine_path, "
            f"first_seen_at FROM {ERRORS_TABLE} WHERE resolved_at IS NULL "
            "ORDER BY first_seen_at, source_file, record_index NULLS FIRST"
        )
    keys = (
        "source_file",
        "sha256",
        "record_index",
        "message_id",
        "error",
        "record",
        "quarantine_path",
    )
    return [{**dict(zip(keys, r[:-1], strict=True)), "first_seen_at": _iso(r[-1])} for r in rows]


def warehouse_status(warehouse: Warehouse) -> dict:
    """Row counts per channel, the last load, and how many load errors are open."""
    status: dict[str, Any] = {
        "warehouse": warehouse.url,
        "dialect": warehouse.dialect,
        "initialized": False,
        "rows": 0,
        "posts": 0,
        "channels": {},
        "last_loaded_at": None,
        "files_loaded": 0,
        "files_failed": 0,
        "unresolved_errors": 0,
    }
    with warehouse.session() as s:
        if not all(s.table_exists(t.name) for t in RAW_TABLES):
            return status  # never loaded; reading status must not create tables
        status["initialized"] = True
        for channel, rows, posts, last_loaded, newest in s.fetchall(
            # Service messages are kept but are not posts; rows of older releases
            # (message_type NULL) were all posts.
            f"SELECT channel, count(*), count(*) FILTER (WHERE {IS_POST}), max(loaded_at), "
            f"max(date) FROM {MESSAGES_TABLE} GROUP BY channel ORDER BY channel"
        ):
            status["channels"][channel] = {
                "rows": int(rows),
                "posts": int(posts),
                "service_messages": int(rows) - int(posts),
                "last_loaded_at": _iso(last_loaded),
                "newest_message_date": _iso(newest),
            }
        status["rows"] = sum(c["rows"] for c in status["channels"].values())
        status["posts"] = sum(c["posts"] for c in status["channels"].values())
        files, failed, last = s.fetchone(
            f"SELECT count(*), count(*) FILTER (WHERE status = 'failed'), max(loaded_at) "
            f"FROM {MANIFEST_TABLE}"
        )
        status.update(
            files_loaded=int(files) - int(failed),
            files_failed=int(failed),
            last_loaded_at=_iso(last),
        )
        (open_errors,) = s.fetchone(
            f"SELECT count(*) FROM {ERRORS_TABLE} WHERE resolved_at IS NULL"
        )
        status["unresolved_errors"] = int(open_errors)
    return status
