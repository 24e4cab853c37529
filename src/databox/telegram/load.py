"""Load the lake's raw Telegram message files into ``raw.telegram_messages``.

Incremental by file: ``raw.load_manifest`` remembers each file's size, mtime and
sha256. A file whose size and mtime match is skipped without being opened, so a
run with nothing new costs one ``stat`` per file. A file whose bytes hash to the
recorded sha256 (touched, not changed) only has its mtime refreshed. Anything else
is parsed and upserted.

Bad data never raises: a file that is not a JSON array (truncated, garbled) and a
record that fails validation (load_validate.py: shape, plausible ids, counts and
dates, the file's channel) are recorded in ``raw.load_errors`` with the file, the
record index and the message id, and the exact bytes of the file are copied to the
lake's quarantine; the file's valid records and every other file still load. The
report lists every open problem, including those earlier runs found in files that
have not changed since, so ``LoadReport.ok`` stays False until they are fixed (the
Dagster check ``no_unresolved_load_errors`` agrees). Only infrastructure failures
(database, disk) raise.

The pieces: load_schema.py (tables), load_validate.py (the rules), load_records.py
(records to rows), load_errors.py (problems), load_files.py (one run over the
files), load_duckdb.py + load_duckdb_sql.py (on DuckDB, groups of files parsed and
validated by DuckDB itself, falling back to the Python path per file),
load_report.py, load_status.py; every public name is importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from databox.lake import DataLake
from databox.telegram.load_errors import LoadError, unresolved_load_errors
from databox.telegram.load_files import Loader as _Loader
from databox.telegram.load_files import chunks
from databox.telegram.load_report import LoadReport
from databox.telegram.load_schema import (
    COMPARE_COLUMNS,
    ERROR_COLUMNS,
    ERRORS_TABLE,
    IS_POST,
    LOAD_ERRORS,
    LOAD_MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_TABLE,
    MESSAGES_TABLE,
    NEWEST_WINS,
    RAW_MESSAGES,
    RAW_TABLES,
    ROW_COLUMNS,
    ensure_raw_schema,
)
from databox.telegram.load_status import warehouse_status
from databox.telegram.load_validate import FUTURE_SKEW, TELEGRAM_LAUNCH
from databox.warehouse import Warehouse

__all__ = [
    "COMPARE_COLUMNS",
    "DEFAULT_CHUNK_BYTES",
    "ERRORS_TABLE",
    "ERROR_COLUMNS",
    "FUTURE_SKEW",
    "IS_POST",
    "LOAD_ERRORS",
    "LOAD_MANIFEST",
    "MANIFEST_COLUMNS",
    "MANIFEST_TABLE",
    "MESSAGES_TABLE",
    "NEWEST_WINS",
    "RAW_MESSAGES",
    "RAW_TABLES",
    "ROW_COLUMNS",
    "TELEGRAM_LAUNCH",
    "LoadError",
    "LoadReport",
    "ensure_raw_schema",
    "load_raw_messages",
    "unresolved_load_errors",
    "warehouse_status",
]

#: Files are committed in groups of about this many bytes: see ``load_raw_messages``.
DEFAULT_CHUNK_BYTES = 64 << 20
_LOCK_NAME = "databox.load_raw_messages"


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
    is bounded. Memory is bounded by one group either way: on DuckDB, which parses and
    validates each group itself (load_duckdb.py), its buffer pool is capped as well.
    """
    started = time.perf_counter()
    with warehouse.session() as s, s.advisory_lock(_LOCK_NAME):
        # The advisory lock (PostgreSQL; DuckDB's session already holds the file lock)
        # serialises concurrent loaders: they would otherwise race on the manifest
        # and on CREATE TABLE IF NOT EXISTS.
        ensure_raw_schema(s)
        if s.dialect == "duckdb":
            from databox.telegram.load_duckdb import bound_memory

            bound_memory(s)
        loader = _Loader(s, lake, log)
        loader.read_state()
        for chunk in chunks(loader.plan(), chunk_bytes):
            loader.load_chunk(chunk)
        loader.collect_errors()
        report = loader.report
    report.seconds = time.perf_counter() - started
    log(f"load_raw_messages: {report.summary()}")
    earlier = report.earlier_errors
    if earlier:  # their files are unchanged, so no other line of this run names them
        log(
            f"load_raw_messages: {len(earlier)} problems found by earlier runs are still "
            f"unresolved (raw.load_errors), the oldest: {earlier[0]}"
        )
    return report
