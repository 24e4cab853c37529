"""The warehouse layer: one small interface over DuckDB and PostgreSQL.

``connect(url)`` picks the adapter from the URL scheme::

    duckdb:///relative/path.duckdb      embedded (the default)
    duckdb:////absolute/path.duckdb
    postgresql://user@host:5432/db

Importing this package is cheap: duckdb and psycopg are imported only when a
warehouse of that kind is connected.

Opening failures are ours, never a driver traceback: ``ConfigError`` (the URL or the
file it names is wrong) or ``WarehouseUnavailable`` (server down, file busy), each
naming DATABASE_URL (password masked) and the fix. ``Warehouse.open_problem()`` on
either adapter says the same without opening anything for long.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from databox.config import redact_url
from databox.errors import ConfigError
from databox.warehouse.base import Column, Session, Table, Warehouse

__all__ = ["Column", "Session", "Table", "Warehouse", "connect"]


def connect(url: str, *, lock_timeout: float = 600.0, read_only: bool = False) -> Warehouse:
    """A ``Warehouse`` for ``url``. Nothing is opened until ``session()``.

    ``lock_timeout`` (DuckDB) is how long a session waits for another process that
    has the database file open before raising ``LockTimeout``. ``read_only`` (DuckDB)
    sessions never create the file or its directory: for readers such as
    ``databox status``. PostgreSQL reads never create anything anyway.
    """
    scheme = urlsplit(url).scheme
    if scheme == "duckdb":
        from databox.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(url, lock_timeout=lock_timeout, read_only=read_only)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        from databox.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    raise ConfigError(
        f"warehouse URL {redact_url(url)!r}: unsupported scheme {scheme!r}; "
        "use duckdb:///path.duckdb or postgresql://user@host:5432/dbname"
    )
