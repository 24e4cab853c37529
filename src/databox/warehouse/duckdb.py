"""DuckDB adapter: an embedded database file, one writer process at a time.

DuckDB lets a single process open a database file read-write, and while it has it
open no other process can open it at all. So a session (a) holds an inter-process
file lock (``<db>.lock``) for its whole life, making a second process *wait* rather
than fail with DuckDB's lock error, and (b) opens the connection only for the block
and closes it after, so the file is free between runs.

The bulk path stages the rows in a temp table (Python lists bound as one parameter
per column; a pyarrow Table is scanned directly) and runs one
``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <row differs>`` over it.

Opening errors are ours, not DuckDB's: a path under a regular file, a file that is not
a DuckDB database or a database held by another program raise ``ConfigError`` /
``WarehouseUnavailable`` naming DATABASE_URL, the file and the fix (``open_problem``
says the same before anything is opened, for the up-front checks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

from databox.config import redact_url, resolve_path, validate_database_url
from databox.errors import ConfigError, WarehouseUnavailable
from databox.filelock import file_lock
from databox.preflight import dir_blocker
from databox.warehouse.base import Session, UpsertPlan, Warehouse, quote

_PLACEHOLDER = re.compile(r"%%|%s")
_stage_ids = count()
#: Bytes 8..12 of every DuckDB database file (the first 8 are a checksum).
_DUCKDB_MAGIC = b"DUCK"


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` starts like a DuckDB database (read without opening it, so no
    lock is taken and a writer elsewhere is not disturbed)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == _DUCKDB_MAGIC
    except OSError:
        return False


def _to_qmark(sql: str, params: Sequence[Any] | None) -> str:
    """``%s`` → ``?`` so callers write one placeholder style for both dialects. As in
    psycopg, ``%`` is only special when parameters are given."""
    if params is None:
        return sql
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else "?", sql)


def _is_arrow(rows: Any) -> bool:
    """A pyarrow Table, told without importing pyarrow (the caller already did)."""
    return type(rows).__module__.startswith("pyarrow") and hasattr(rows, "select")


def _list_type(duck_type: str) -> str:
    """How a column's values are bound: JSON as text (cast after unnest)."""
    t = duck_type.upper()
    return "VARCHAR" if t in ("JSON", "") else t


class DuckDBSession(Session):
    dialect = "duckdb"
    TYPES = {  # noqa: RUF012 - a constant mapping
        "text": "VARCHAR",
        "bigint": "BIGINT",
        "integer": "INTEGER",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamptz": "TIMESTAMPTZ",
        "json": "JSON",
    }
    default_schema = "main"

    def __init__(self, con):
        self._con = con
        self._in_tx = False
        self._column_types: dict[str, dict[str, str]] = {}

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        rel = self._con.execute(_to_qmark(sql, params), params)
        # INSERT/UPDATE/DELETE answer one row with a "Count" column: the affected rows.
        if [d[0] for d in rel.description or ()] == ["Count"]:
            row = rel.fetchone()
            return int(row[0]) if row else 0
        return -1

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self._con.execute(_to_qmark(sql, params), params).fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        rel = self._con.execute(_to_qmark(sql, params), params)
        names = [d[0] for d in rel.description or ()]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[DuckDBSession]:
        if self._in_tx:  # DuckDB has no savepoints: a nested block joins the outer one
            yield self
            return
        self._con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self._in_tx = False
            self._con.execute("ROLLBACK")
            raise
        self._in_tx = False
        self._con.execute("COMMIT")

    def ensure_tables(self, *tables) -> None:
        super().ensure_tables(*tables)
        self._column_types.clear()  # columns may have been added

    def _types(self, table: str) -> dict[str, str]:
        if table not in self._column_types:
            schema, _, name = table.rpartition(".")
            rows = self.fetchall(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (schema or "main", name),
            )
            if not rows:
                raise LookupError(f"table {table} does not exist")
            self._column_types[table] = dict(rows)
        return self._column_types[table]

    def _stage(self, stage: str, table: str, cols: list[str], rows) -> int:
        """``rows`` into the temp table ``stage``; returns how many.

        Python rows are bound as one list per column and unnested by DuckDB: the
        lists convert in C, and unlike a registered Arrow table this never makes
        DuckDB import pandas (1.3 s, once per process: most of a no-op load).
        """
        if _is_arrow(rows):
            self._con.register(f"{stage}_arrow", rows.select(cols))
            try:
                self._con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS FROM {stage}_arrow")
            finally:
                self._con.unregister(f"{stage}_arrow")
            return rows.num_rows
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return 0
        types = self._types(table)
        selects, params = [], []
        for name, values in zip(cols, zip(*rows, strict=True), strict=True):
            duck = types.get(name, "").upper()
            values = list(values)
            if duck == "JSON":  # the loaders hand orjson's UTF-8 bytes
                values = [v.decode() if isinstance(v, bytes | bytearray) else v for v in values]
            cast = "::JSON" if duck == "JSON" else ""
            selects.append(f"unnest(?::{_list_type(duck)}[]){cast} AS {quote(name)}")
            params.append(values)
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT {', '.join(selects)}", params
        )
        return len(rows)

    def bulk_upsert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]] | Any,
        key_columns: Sequence[str],
        update_columns: Sequence[str] | None = None,
        *,
        compare_columns: Sequence[str] | None = None,
        update_where: str | None = None,
        assume_new: bool = False,
    ) -> tuple[int, int]:
        plan = UpsertPlan.build(
            table, columns, key_columns, update_columns, compare_columns, update_where
        )
        stage = f"_databox_stage_{next(_stage_ids)}"
        n = self._stage(stage, plan.table, list(plan.cols), rows)
        if n == 0:
            return 0, 0
        try:
            with self.transaction():
                n_keys, existing = self.fetchone(plan.count_sql(stage))
                if n_keys != n:
                    raise ValueError(f"bulk_upsert into {table}: duplicate keys in the input rows")
                if existing == 0:
                    # Nothing to update: a plain append skips the conflict machinery.
                    self.execute(plan.append_sql(stage))
                    return n, 0
                affected = self.execute(plan.insert_sql(stage, prefilter=False))
        finally:
            self._con.execute(f"DROP TABLE IF EXISTS {stage}")
        inserted = n - existing
        return inserted, max(affected - inserted, 0)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, url: str, *, lock_timeout: float = 600.0, read_only: bool = False):
        super().__init__(url)
        if not url.startswith("duckdb:///"):
            raise ValueError(f"not a DuckDB URL: {url!r} (use duckdb:///relative/path.duckdb)")
        # Refuses :memory: (sessions reconnect, so it would forget) and an empty path.
        validate_database_url(url)
        # duckdb:///rel/path -> "rel/path"; duckdb:////abs/path -> "/abs/path"
        path = url[len("duckdb:///") :].split("?", 1)[0]
        # Relative paths resolve against the project root, as in Settings, so every
        # process (CLI, Dagster, dlt) means the same file and the same lock.
        self.path = resolve_path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        #: Read-only sessions never create the file or its directory (``databox status``).
        self.read_only = read_only

    def _where(self) -> str:
        return f"DATABASE_URL={redact_url(self._url)}"

    def _not_a_database(self) -> str:
        return (
            f"{self._where()}: {self.path} exists but is not a DuckDB database; point "
            "DATABASE_URL at a .duckdb file, or move this file away to start a new warehouse"
        )

    def open_problem(self, *, create: bool = True) -> str | None:
        """Why a session could not open the database (None: it can). A missing file is
        fine when ``create`` (the first write makes it) as long as its directory can be
        made; without ``create`` it is a problem. Nothing is opened or locked."""
        if self.path.is_dir():
            return (
                f"{self._where()}: {self.path} is a directory, not a DuckDB database file; "
                f"name a file, e.g. duckdb:///{self.path / 'warehouse.duckdb'}"
            )
        if self.path.exists():
            # An empty file may be a database another process is creating this instant;
            # if it stays empty, opening it says so (``_connect``).
            if self.path.stat().st_size == 0 or is_duckdb_file(self.path):
                return None
            return self._not_a_database()
        if not create:
            return f"{self._where()}: {self.path} does not exist (nothing has been loaded yet)"
        blocker = dir_blocker(self.path.parent)
        if blocker:
            return (
                f"{self._where()}: the database's directory {self.path.parent} {blocker}; "
                "point DATABASE_URL at a file in a directory you can write"
            )
        return None

    def _connect(self):
        import duckdb

        try:
            return duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.Error as exc:
            if "not a valid DuckDB database" in str(exc):
                raise ConfigError(self._not_a_database()) from exc
            problem = self.open_problem(create=not self.read_only)
            if problem:  # e.g. missing in read-only mode
                raise ConfigError(problem) from exc
            # e.g. a program other than databox holds the file (DuckDB's own lock).
            reason = str(exc).splitlines()[0]
            raise WarehouseUnavailable(
                f"{self._where()}: cannot open {self.path}: {reason}; close the other "
                "program using it, or wait for it to finish"
            ) from exc

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        if self.read_only:
            if not self.path.exists():  # checked before the lock, which would make files
                raise ConfigError(self.open_problem(create=False) or f"{self._where()}: missing")
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(self.open_problem() or f"{self._where()}: {exc}") from exc
        with file_lock(self.lock_path, timeout=self.lock_timeout):
            con = self._connect()
            try:
                # Timestamps come back (and naive literals are read) in UTC, not local time.
                con.execute("SET TimeZone = 'UTC'")
                yield DuckDBSession(con)
            finally:
                con.close()
