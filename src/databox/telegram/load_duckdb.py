"""One group of changed lake files loaded on DuckDB set-based (load_duckdb_sql.py says
which records may take this path and why it builds the rows the Python path would).

``prepare`` runs *before* the group's transaction: it hashes each file (the manifest
needs its sha256; one file's bytes in memory at a time), lets DuckDB read and validate
the files into a temp table in one statement, and sends every file it is not sure of
to the Python path. It runs outside the transaction because a DuckDB error (a file
that is not JSON) aborts the transaction it happens in; a group that fails is retried
file by file, so only the failing file goes the slow way. ``commit`` runs inside the
transaction: one count by channel, one ``INSERT … SELECT`` (with ``ON CONFLICT``
only when a key already exists), the report and the manifest entries.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from databox.telegram.load_duckdb_sql import BATCH, FALLBACK_SQL, FILES, stage_sql
from databox.telegram.load_schema import COMPARE_COLUMNS, MESSAGES_TABLE, NEWEST_WINS, ROW_COLUMNS
from databox.warehouse.base import UpsertPlan, quote

if TYPE_CHECKING:
    from databox.telegram.load_files import Candidate, Loader, _Entry


@dataclass
class _Hashed:
    cand: Candidate
    sha: str
    stat: os.stat_result
    file_time: datetime


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_size, b.st_mtime_ns)


_PLAN = UpsertPlan.build(
    MESSAGES_TABLE,
    ROW_COLUMNS,
    ["channel", "message_id"],
    compare_columns=COMPARE_COLUMNS,
    update_where=NEWEST_WINS,
)
_DIFFERS = "NOT (ROW({}) IS NOT DISTINCT FROM ROW({}))".format(
    ", ".join(f"o.{quote(c)}" for c in COMPARE_COLUMNS),
    ", ".join(f"s.{quote(c)}" for c in COMPARE_COLUMNS),
)
# How many staged rows insert, exist, and would be updated (what ON CONFLICT does).
_COUNT_SQL = (
    f"SELECT s.channel, count(*), count(o.message_id), count(*) FILTER (WHERE o.message_id "
    f"IS NOT NULL AND {_DIFFERS} AND ({NEWEST_WINS.replace('t.', 'o.').replace('excluded.', 's.')})) "
    f"FROM {BATCH} s LEFT JOIN {_PLAN.target} o "
    "ON o.channel = s.channel AND o.message_id = s.message_id GROUP BY s.channel"
)


#: DuckDB's buffer pool in a load session. Its default (80 % of RAM) let a load keep
#: every block it wrote cached, so the peak grew with the lake (275 → 700 MB from a 1×
#: to a 16× lake); capped, DuckDB evicts and spills (bench/RESULTS.md, memory).
MEMORY_LIMIT = "256MB"


def bound_memory(session) -> None:
    """Cap the buffer pool of this load's connection (it closes with the session)."""
    session.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")


def prepared_groups(loader: Loader, chunk: list[Candidate]) -> list[DuckDBGroup]:
    """The chunk as one group, prepared now: before the chunk's transaction, since a
    DuckDB error (a file that is not JSON) would abort it."""
    group = DuckDBGroup(loader, loader.s._con)
    group.prepare(chunk)
    return [group]


class DuckDBGroup:
    """``engine``: the DuckDB connection that reads and validates (the session's)."""

    def __init__(self, loader: Loader, engine):
        self.loader = loader
        self.s = loader.s
        self.engine = engine
        self.done: list[tuple[Candidate, _Entry]] = []  # touched, not changed
        self.slow: list[Candidate] = []  # the Python path
        self.fast: list[_Hashed] = []
        self.rows: dict[str, int] = {}  # path -> staged rows
        # Report counts of prepare, applied by commit with the rest.
        self.vanished = self.skipped = 0

    def prepare(self, chunk: list[Candidate]) -> None:
        from databox.telegram.load_files import _Entry

        ld = self.loader
        for cand in chunk:
            try:
                with open(cand.path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    data = fh.read()
            except FileNotFoundError:
                self.vanished += 1
                continue
            sha = hashlib.sha256(data).hexdigest()
            old = ld.manifest.get(cand.rel)
            if old is not None and old.sha256 == sha:
                self.skipped += 1
                entry = _Entry(
                    sha, st.st_size, st.st_mtime_ns, old.row_count, old.status, old.loaded_at
                )
                self.done.append((cand, entry))
            elif b"\\u0000" in data:
                self.slow.append(cand)
            else:
                # As the Python path: the mtime through a float (same rounding).
                file_time = datetime.fromtimestamp(st.st_mtime_ns / 1e9, timezone.utc)
                self.fast.append(_Hashed(cand, sha, st, file_time))
            del data
        if not self.fast:
            return
        con = self.engine
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {FILES} "
            "(path VARCHAR, rel VARCHAR, channel VARCHAR, file_time TIMESTAMPTZ)"
        )
        files = [(str(h.cand.path), h.cand.rel, h.cand.path.stem, h.file_time) for h in self.fast]
        con.execute(  # one statement, not one per file: bound as a list per column
            f"INSERT INTO {FILES} SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::TIMESTAMPTZ[])",
            [list(c) for c in zip(*files, strict=True)],
        )
        select = stage_sql(ld.loaded_at, ld.loaded_at)
        paths = [str(h.cand.path) for h in self.fast]
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {BATCH} AS {select}", [paths])
        except Exception:  # duckdb.Error: one of the files is not a readable JSON array
            self._stage_one_by_one(select)
            if not self.fast:
                return
        slow = {r[0] for r in con.execute(FALLBACK_SQL).fetchall()}
        for h in self.fast:
            try:
                unchanged = _same_file(os.stat(h.cand.path), h.stat)
            except FileNotFoundError:
                unchanged = False
            if not unchanged:  # replaced since it was hashed: the Python path re-reads it
                slow.add(str(h.cand.path))
        if slow:
            con.execute(f"DELETE FROM {BATCH} WHERE filename IN (SELECT unnest(?))", [list(slow)])
            self.slow += [h.cand for h in self.fast if str(h.cand.path) in slow]
            self.fast = [h for h in self.fast if str(h.cand.path) not in slow]
        self.rows = dict(
            con.execute(f"SELECT filename, count(*) FROM {BATCH} GROUP BY 1").fetchall()
        )

    def _stage_one_by_one(self, select: str) -> None:
        con, created = self.engine, False
        for h in list(self.fast):
            verb = "INSERT INTO {}" if created else "CREATE OR REPLACE TEMP TABLE {} AS"
            try:
                con.execute(f"{verb.format(BATCH)} {select}", [[str(h.cand.path)]])
                created = True
            except Exception:  # this file fails: the Python path says why
                self.fast.remove(h)
                self.slow.append(h.cand)

    def commit(
        self, manifest_rows: list[tuple], error_rows: list[tuple], totals: list[int]
    ) -> None:
        """Inside the group's transaction: the staged rows, the report, the manifest."""
        from databox.telegram.load_files import _Entry

        ld, report = self.loader, self.loader.report
        report.files_seen -= self.vanished
        report.files_skipped += self.skipped
        for cand, entry in self.done:
            manifest_rows.append(entry.row(cand.rel))
            ld.manifest[cand.rel] = entry
        if not self.fast:
            return
        counts = self.s.fetchall(_COUNT_SQL)
        if sum(int(c[1]) for c in counts):
            if any(int(c[2]) for c in counts):
                self.s.execute(_PLAN.insert_sql(BATCH, prefilter=False))
            else:
                self.s.execute(_PLAN.append_sql(BATCH))
        counts = [(ch, int(n) - int(e), int(u), int(n)) for ch, n, e, u in counts]
        for channel, inserted, updated, n in counts:
            report.rows_inserted += inserted
            report.rows_updated += updated
            report.rows_unchanged += n - inserted - updated
            if inserted + updated:
                report.per_channel[channel] = (
                    report.per_channel.get(channel, 0) + inserted + updated
                )
            totals[1], totals[2] = totals[1] + inserted, totals[2] + updated
        for h in self.fast:
            n = int(self.rows.get(str(h.cand.path), 0))
            ld._resolve_older(h.cand.rel, h.sha)
            report.files_loaded += 1
            report.rows_in_files += n
            totals[0] += 1
            entry = _Entry(h.sha, h.stat.st_size, h.stat.st_mtime_ns, n, "loaded", ld.loaded_at)
            manifest_rows.append(entry.row(h.cand.rel))
            ld.manifest[h.cand.rel] = entry

    def close(self) -> None:
        self.engine.execute(f"DROP TABLE IF EXISTS {BATCH}")
        self.engine.execute(f"DROP TABLE IF EXISTS {FILES}")
