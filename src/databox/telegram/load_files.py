"""One load run over the lake's day files: which files changed (``stat``, then
sha256), and each changed file parsed, validated and upserted with its problems
and manifest entry, a group of files per transaction (see ``load_raw_messages``).
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from databox.lake import DataLake
from databox.telegram.load_errors import LoadError, error_id, error_row, fetch_unresolved
from databox.telegram.load_records import (
    SNIPPET,
    FileContext,
    message_id_of,
    parse_records,
    snippet,
    strip_nul,
)
from databox.telegram.load_report import LoadReport
from databox.telegram.load_schema import (
    COMPARE_COLUMNS,
    ERROR_COLUMNS,
    ERRORS_TABLE,
    MANIFEST_COLUMNS,
    MANIFEST_TABLE,
    MESSAGES_TABLE,
    NEWEST_WINS,
    ROW_COLUMNS,
)
from databox.warehouse import Session

#: DuckDB loads groups set-based (load_duckdb.py); False sends every file through the
#: Python path, which tests use to check that both build the same rows. (PostgreSQL
#: always takes the Python path: DuckDB's verdict or CSV did not beat it there.)
SET_BASED = True


@dataclass
class _Entry:
    """One manifest row."""

    sha256: str
    size: int
    mtime_ns: int
    row_count: int
    status: str  # loaded | partial (bad records) | failed
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


@dataclass
class Candidate:
    path: Path
    rel: str
    size: int
    mtime_ns: int


class Loader:
    def __init__(self, session: Session, lake: DataLake, log: Callable[[str], None]):
        self.s = session
        self.lake = lake
        self.log = log
        self.report = LoadReport()
        self.loaded_at = datetime.now(timezone.utc)
        self.manifest: dict[str, _Entry] = {}
        self.unresolved: dict[str, set[str]] = defaultdict(set)  # file -> sha256s with open errors
        self.new_error_ids: set[str] = set()

    def read_state(self) -> None:
        for source_file, *values in self.s.fetchall(
            f"SELECT {', '.join(MANIFEST_COLUMNS)} FROM {MANIFEST_TABLE}"
        ):
            self.manifest[source_file] = _Entry(*values)
        for source_file, sha in self.s.fetchall(
            f"SELECT DISTINCT source_file, sha256 FROM {ERRORS_TABLE} WHERE resolved_at IS NULL"
        ):
            self.unresolved[source_file].add(sha)

    def plan(self) -> list[Candidate]:
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
            todo.append(Candidate(path, rel, st.st_size, st.st_mtime_ns))
        return todo

    def load_chunk(self, chunk: list[Candidate]) -> None:
        """Load a group of files in one transaction: their rows, errors and manifest
        entries commit together or not at all."""
        manifest_rows: list[tuple] = []
        error_rows: list[tuple] = []
        totals = [0, 0, 0]  # files, inserted, updated in this chunk
        groups, slow = [], chunk
        if SET_BASED and self.s.dialect == "duckdb":
            # DuckDB reads and validates the files itself; the Python path only gets
            # the files it is not sure of (load_duckdb.py).
            from databox.telegram.load_duckdb import prepared_groups

            groups, slow = prepared_groups(self, chunk), []
        try:
            with self.s.transaction():
                for group in groups:
                    group.commit(manifest_rows, error_rows, totals)
                    for cand in group.slow:
                        self._load_python(cand, manifest_rows, error_rows, totals)
                if not groups:
                    for cand in slow:
                        self._load_python(cand, manifest_rows, error_rows, totals)
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
        finally:
            if isinstance(groups, list):
                for group in groups:
                    group.close()
        if totals[0]:
            self.log(
                f"load_raw_messages: committed {totals[0]} files "
                f"(+{totals[1]} new, {totals[2]} updated rows)"
            )

    def _load_python(self, cand, manifest_rows, error_rows, totals) -> None:
        entry = self.load_file(cand, error_rows, totals)
        if entry is not None:
            manifest_rows.append(entry.row(cand.rel))
            self.manifest[cand.rel] = entry

    def load_file(
        self, cand: Candidate, error_rows: list[tuple], totals: list[int]
    ) -> _Entry | None:
        """Load one file by the Python path (every file on PostgreSQL; on DuckDB the
        files load_duckdb.py is not sure of)."""
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
            error = self._error(rel, sha, data, None, None, f"not a JSON array of records: {exc}")
            # The file's first bytes, as text PostgreSQL accepts (no NUL, valid UTF-8).
            text = data[:SNIPPET].decode("utf-8", "replace").replace("\x00", "\ufffd")
            error_rows.append(error_row(error, sha, text, self.loaded_at))
            report.files_failed += 1
            self.log(f"load_raw_messages: {error}")
            self._resolve_older(rel, sha)
            return _Entry(sha, st.st_size, st.st_mtime_ns, 0, "failed", self.loaded_at)

        if b"\\u0000" in data:
            self.log(
                f"load_raw_messages: {rel}: replacing NUL characters (PostgreSQL cannot store them)"
            )
            records = strip_nul(records)
        file_time = datetime.fromtimestamp(st.st_mtime_ns / 1e9, timezone.utc)
        # Day files are .../<day>/<channel>.json: the name is the channel of its records.
        ctx = FileContext(rel, cand.path.stem, file_time, self.loaded_at)
        parsed = parse_records(records, ctx)
        counted = _Counted(parsed.rows)
        inserted, updated = self.s.bulk_upsert(
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
        if inserted + updated:
            report.per_channel[ctx.channel] = (
                report.per_channel.get(ctx.channel, 0) + inserted + updated
            )
        for index, record, message in parsed.bad:
            error = self._error(rel, sha, data, index, message_id_of(record), message)
            error_rows.append(error_row(error, sha, snippet(record), self.loaded_at))
        if parsed.bad:
            self.log(
                f"load_raw_messages: {rel}: {len(parsed.bad)} bad records, kept in "
                f"raw.load_errors; the first: {report.errors[-len(parsed.bad)]}"
            )
        self._resolve_older(rel, sha)
        report.files_loaded += 1
        report.rows_in_files += len(records)
        report.rows_inserted += inserted
        report.rows_updated += updated
        report.rows_unchanged += counted.n - inserted - updated
        report.rows_rejected += len(parsed.bad)
        report.rows_superseded += parsed.superseded
        totals[0], totals[1], totals[2] = totals[0] + 1, totals[1] + inserted, totals[2] + updated
        status = "partial" if parsed.bad else "loaded"
        return _Entry(sha, st.st_size, st.st_mtime_ns, counted.n, status, self.loaded_at)

    def _error(
        self, rel: str, sha: str, data: bytes, index: int | None, mid: int | None, message: str
    ) -> LoadError:
        """Record a problem of this run; the file's exact bytes go to the quarantine
        (once per version), so the bad record survives whatever later edits the file."""
        name = f"{rel}.{sha[:12]}"  # the naming of DataLake.quarantine_copy
        target = self.lake.quarantine_dir / name
        if not target.exists():
            self.lake.quarantine_bytes(name, data)
        kept = self.lake.relative(target)
        error = LoadError(rel, index, mid, message, kept, error_id=error_id(rel, sha, index))
        self.report.errors.append(error)
        self.new_error_ids.add(error.error_id)
        return error

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

    def collect_errors(self) -> None:
        """Every open problem, this run's first: unchanged files are not re-read, but
        the problems earlier runs found in them are still open and still reported."""
        found = fetch_unresolved(self.s, self.new_error_ids)
        self.report.errors = sorted(found, key=lambda e: e.earlier)  # stable: oldest first


class _Counted:
    """Counts the rows an iterator yields."""

    def __init__(self, rows: Iterator[tuple]):
        self._rows = rows
        self.n = 0

    def __iter__(self) -> Iterator[tuple]:
        for row in self._rows:
            self.n += 1
            yield row


def chunks(todo: list[Candidate], chunk_bytes: int) -> Iterator[list[Candidate]]:
    """``todo`` in groups of at least ``chunk_bytes`` (the last may be smaller)."""
    chunk: list[Candidate] = []
    size = 0
    for cand in todo:
        chunk.append(cand)
        size += cand.size
        if size >= chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
