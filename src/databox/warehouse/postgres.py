"""PostgreSQL adapter (psycopg 3).

The bulk path streams rows with binary ``COPY`` (measured faster than text here:
the client encodes timestamps and integers natively instead of formatting strings
the server then parses; see bench/RESULTS.md):

* into a per-session temp staging table, then one
  ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE … WHERE <row differs>``;
* or, when the caller says the keys are new (``assume_new``), straight into the
  target inside a savepoint. That skips writing every row twice, which is most of
  the cost of a first load. If a key did exist after all, the primary key rejects
  the COPY, the savepoint is rolled back and the same rows go through staging, so
  the hint can never make the result wrong, only slower.

A connection that fails raises ``WarehouseUnavailable`` naming host, port, database
and user (never the password), libpq's reason and a hint (``describe_connect_error``);
``open_problem`` gives the same message up front, for the checks before a command.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from typing import Any

from databox.config import redact_url
from databox.errors import WarehouseUnavailable
from databox.warehouse.base import Session, UpsertPlan, Warehouse, quote

#: libpq's reason (lower-cased fragment) → what to do about it.
_HINTS = (
    ("connection refused", "is PostgreSQL running and listening there? Start it, or fix the "
     "host/port in DATABASE_URL"),
    ("database does not exist", "create it (createdb -h {host} -p {port} -U {user} "
     "{dbname}) or fix the database name in DATABASE_URL"),
    ("role does not exist", "create the role, or fix the user name in DATABASE_URL"),
    ("authentication failed", "check the user and password in DATABASE_URL (or PGPASSWORD, "
     "~/.pgpass)"),
    ("no password supplied", "the server wants a password: add it to DATABASE_URL (or "
     "PGPASSWORD, ~/.pgpass)"),
    ("pg_hba.conf", "the server's pg_hba.conf does not admit this host/user/database; ask its "
     "administrator or fix DATABASE_URL"),
    ("timeout", "no answer within {timeout} s: check the host and port, and that no firewall "
     "drops the connection"),
    ("resolve", "fix the host name in DATABASE_URL"),
    ("translate host name", "fix the host name in DATABASE_URL"),
)  # fmt: skip


def describe_connect_error(url: str, exc: Exception, timeout: float) -> str:
    """One line: which server, as whom, libpq's reason and a hint. Never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(_libpq_dsn(url))
    except Exception:  # a DSN libpq cannot even parse: the reason says why
        info = {}
    user = info.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    params = {
        "host": info.get("host") or os.environ.get("PGHOST") or "the local socket",
        "port": info.get("port") or os.environ.get("PGPORT") or "5432",
        "dbname": info.get("dbname") or os.environ.get("PGDATABASE") or user,
        "user": user,
        "timeout": f"{timeout:g}",
    }
    # "connection failed: connection to server at "h", port 1 failed: FATAL:  <reason>"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    reason = reason.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    if "does not exist" in reason:
        reason_kind = f"{reason.split()[0]} does not exist"  # database / role
    else:
        reason_kind = reason.lower()
    hint = next((h for key, h in _HINTS if key in reason_kind), "check DATABASE_URL")
    return (
        f"DATABASE_URL={redact_url(url)}: cannot connect to PostgreSQL at host "
        f"{params['host']}, port {params['port']}, database {params['dbname']!r}, user "
        f"{user!r}: {reason}; {hint.format(**params)}"
    )


def _libpq_dsn(url: str) -> str:
    # SQLAlchemy-style "postgresql+psycopg://" means nothing to libpq.
    scheme, sep, rest = url.partition("://")
    return ("postgresql" + sep + rest) if "+" in scheme else url


@lru_cache(maxsize=1)
def _json_dumpers() -> tuple:
    """COPY dumpers taking JSON *text* (str or UTF-8 bytes) for json/jsonb columns.

    psycopg's own json dumpers serialise a Python object; our rows already carry
    JSON text (orjson output), so these only frame it: in binary, jsonb is a version
    byte (1) then the text and json is the bare text; in text format both are the
    text itself (COPY escaping is applied afterwards by psycopg).
    """
    from psycopg import adapters
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    def as_bytes(obj) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    class JsonbBinary(Dumper):
        format = Format.BINARY
        oid = adapters.types["jsonb"].oid

        def dump(self, obj):
            return b"\x01" + as_bytes(obj)

    class JsonBinary(Dumper):
        format = Format.BINARY
        oid = adapters.types["json"].oid

        def dump(self, obj):
            return as_bytes(obj)

    class JsonbText(JsonBinary):
        format = Format.TEXT
        oid = adapters.types["jsonb"].oid

    class JsonText(JsonBinary):
        format = Format.TEXT

    return JsonbBinary, JsonBinary, JsonbText, JsonText


class PostgresSession(Session):
    dialect = "postgresql"
    TYPES = {  # noqa: RUF012 - a constant mapping
        "text": "text",
        "bigint": "bigint",
        "integer": "integer",
        "double": "double precision",
        "boolean": "boolean",
        "timestamptz": "timestamptz",
        "json": "jsonb",  # jsonb: compact, has equality (needed to detect unchanged rows)
    }

    def __init__(self, conn, copy_format: str = "binary"):
        self._conn = conn
        self._binary = copy_format == "binary"
        self._oids: dict[str, dict[str, int]] = {}
        for dumper in _json_dumpers():
            # cls=None: used only where the column type is known (COPY after set_types),
            # never for ordinary query parameters.
            conn.adapters.register_dumper(None, dumper)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    @contextmanager
    def transaction(self) -> Iterator[PostgresSession]:
        # The connection is in autocommit mode; psycopg's transaction() issues
        # BEGIN/COMMIT, or a SAVEPOINT when nested.
        with self._conn.transaction():
            yield self

    @contextmanager
    def advisory_lock(self, name: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _column_oids(self, table: str) -> dict[str, int]:
        if table not in self._oids:
            rows = self.fetchall(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (quote(table),),
            )
            self._oids[table] = dict(rows)
        return self._oids[table]

    def _copy(self, target: str, plan: UpsertPlan, oids: list[int], rows: Iterable) -> int:
        n = 0
        fmt = "BINARY" if self._binary else "TEXT"
        sql = f"COPY {target} ({plan.column_list()}) FROM STDIN (FORMAT {fmt})"
        with self._conn.cursor() as cur, cur.copy(sql) as cp:
            cp.set_types(oids)
            for row in rows:
                cp.write_row(row)
                n += 1
        return n

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
        from psycopg import errors

        plan = UpsertPlan.build(
            table, columns, key_columns, update_columns, compare_columns, update_where
        )
        table, cols = plan.table, list(plan.cols)
        if hasattr(rows, "to_pylist") and hasattr(rows, "select"):  # a pyarrow Table
            rows = zip(*(rows.column(c).to_pylist() for c in cols), strict=True)
        table_oids = self._column_oids(table)
        unknown = [c for c in cols if c not in table_oids]
        if unknown:
            raise ValueError(f"bulk_upsert into {table}: no such columns {unknown}")
        oids = [table_oids[c] for c in cols]

        with self.transaction():
            if assume_new:
                source = iter(rows)
                kept: list = []  # what was sent, to replay through staging if needed

                def sent():
                    for row in source:
                        kept.append(row)
                        yield row

                try:
                    with self.transaction():  # savepoint
                        n = self._copy(plan.target, plan, oids, sent())
                    return n, 0
                except errors.UniqueViolation:
                    # A key existed after all: replay what was sent (and whatever the
                    # failed COPY did not get to) through the upsert path.
                    rows = chain(kept, source)

            stage = f"_databox_stage_{table.replace('.', '_')}"
            # One round trip (no parameters, so both statements go as one simple query).
            # The temp table lives for the session; it may hold the previous batch.
            self.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                f"(LIKE {plan.target} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; "
                f"TRUNCATE {stage}"
            )
            n = self._copy(stage, plan, oids, rows)
            if n == 0:
                return 0, 0
            # One statement, one pass over the batch. xmax = 0 marks a row this statement
            # inserted (an updated row carries the xid that locked it), so no separate
            # "which keys exist" query is needed; unchanged rows are not returned at all.
            sql = (
                f"WITH done AS ({plan.insert_sql(stage)} RETURNING (t.xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
                "FROM done"
            )
            try:
                inserted, updated = self.fetchone(sql)
            except errors.CardinalityViolation:
                raise ValueError(
                    f"bulk_upsert into {table}: duplicate keys in the input rows"
                ) from None
        return int(inserted), int(updated)


class PostgresWarehouse(Warehouse):
    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout: int = 10, copy_format: str = "binary"):
        super().__init__(url)
        if copy_format not in ("binary", "text"):
            raise ValueError(f"copy_format must be 'binary' or 'text', got {copy_format!r}")
        #: COPY format of the bulk path; "text" exists to measure the choice (bench/load_raw.py).
        self.copy_format = copy_format
        self._dsn = _libpq_dsn(url)
        self.connect_timeout = connect_timeout

    def _open(self, timeout: float):
        import psycopg

        try:
            # libpq wants whole seconds.
            seconds = max(1, round(timeout))
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=seconds)
        except psycopg.Error as exc:  # OperationalError; ProgrammingError for a bad DSN
            raise WarehouseUnavailable(describe_connect_error(self._url, exc, timeout)) from exc

    def open_problem(self, *, create: bool = True, timeout: float | None = None) -> str | None:
        """Why a session could not connect (None: the server accepted us). ``create`` is
        for symmetry with DuckDB: connecting never creates a database."""
        try:
            self._open(timeout or self.connect_timeout).close()
        except WarehouseUnavailable as exc:
            return str(exc)
        return None

    @contextmanager
    def session(self) -> Iterator[PostgresSession]:
        conn = self._open(self.connect_timeout)
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            # Loader statements are many and short; JIT compiling them cost 20–570 ms each
            # (the planner over-estimates staged batches, which have no statistics).
            conn.execute("SET jit = off")
            yield PostgresSession(conn, self.copy_format)
        finally:
            conn.close()
