"""SQLMesh configuration of the eBird project, built in Python from our DATABASE_URL.

``build_config(database_url)`` is what ``SqlMeshRunner`` passes to ``sqlmesh.Context``.
The module-level ``config`` (what the SQLMesh CLI looks for, e.g.
``sqlmesh -p src/databox/transform/ebird render staging.stg_ebird_observations``) is
built lazily from ``DATABASE_URL`` (default ``duckdb:///data/warehouse.duckdb``), so
importing this module for ``build_config`` never reads the environment.

Decisions:

* One gateway, ``databox``, whose connection is the warehouse named by the URL:
  ``duckdb:///path`` → ``DuckDBConnectionConfig(database=path)``;
  ``postgresql://user[:pw]@host[:port]/db`` → ``PostgresConnectionConfig`` (password
  ``""`` when absent: psycopg2/libpq then sends none unless the server asks).
* SQLMesh's state lives in the warehouse itself (schema ``sqlmesh``), on both engines.
  For DuckDB a separate state file was considered and rejected: inside one process
  SQLMesh shares one DuckDB connection per file anyway (so there is no self-locking),
  other processes are kept out by our ``<db>.lock`` file lock, and a separate file
  would survive a deleted or replaced warehouse and then claim tables that no longer
  exist. One file = state and data can never drift apart.
* Models are written once, in the DuckDB dialect (``model_defaults.dialect``), for
  both engines: SQLMesh parses them as DuckDB SQL and generates PostgreSQL SQL for a
  Postgres gateway. The dialect is the *source* dialect, not the engine's.
* Unit tests (``tests/*.yaml``) run on an in-memory DuckDB whatever the gateway:
  fast, and they need no server.
* SQLMesh's cache goes to ``cache_dir`` (default ``data/sqlmesh/cache`` under the
  project root) instead of ``<project>/.cache``, which would be inside ``src/``. (The
  CLI still writes its log files to ``./logs``.)
* ``allow_partials`` for every model, daily cron, models start 2020-01-01: see
  ``build_config``; the DuckDB adapter is patched for DuckDB 2.0: see
  ``_DuckDB2EngineAdapter``.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlmesh.core.config import (
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
    PostgresConnectionConfig,
)
from sqlmesh.core.engine_adapter.duckdb import DuckDBEngineAdapter

from databox.config import (
    DEFAULT_DATABASE_URL,
    redact_url,
    resolve_database_url,
    resolve_path,
    validate_database_url,
)
from databox.errors import ConfigError

GATEWAY = "databox"
#: The dialect the models are written in (transpiled to the engine's dialect).
MODEL_DIALECT = "duckdb"
#: Earliest date incremental models cover. eBird's API only serves data from 1800 on
#: request, but our loads are recent/historic days; older backfills need an earlier start.
DEFAULT_START = "2020-01-01"
DEFAULT_CACHE_DIR = Path("data") / "sqlmesh" / "cache"
#: Where SQLMesh keeps its state tables (in the warehouse).
STATE_SCHEMA = "sqlmesh"

#: libpq URL query options we pass on to psycopg2.
_PG_OPTIONS = {"sslmode": str, "connect_timeout": int, "application_name": str}


class _DuckDB2EngineAdapter(DuckDBEngineAdapter):
    """SQLMesh 0.236's DuckDB adapter, fixed for DuckDB 2.0.

    DuckDB 2.0 refuses ``connection.sql(...)`` while an earlier ``execute()`` on the
    connection has rows left unread ("Resource In Use Error: connection has an unfinished
    result from execute(); call complete() or abort() ..."); DuckDB 1.x dropped them.
    SQLMesh reads some results with ``fetchone()`` and then loads DataFrames (its state
    rows, unit-test fixtures) with ``cursor.sql(...)``, so the first plan failed while
    recording intervals. ``complete()`` (2.0 only; a no-op when nothing is pending) runs
    the leftover result out first.
    """

    def _df_to_source_queries(self, *args: Any, **kwargs: Any) -> Any:
        complete = getattr(self.cursor, "complete", None)
        if complete is not None:
            complete()
        return super()._df_to_source_queries(*args, **kwargs)


class _DuckDBConnectionConfig(DuckDBConnectionConfig):
    """``DuckDBConnectionConfig`` building the adapter above."""

    @property
    def _engine_adapter(self) -> type[DuckDBEngineAdapter]:
        return _DuckDB2EngineAdapter


def duckdb_path(database_url: str) -> Path | None:
    """The DuckDB file of a ``duckdb:///`` URL (relative paths against the project root),
    else None (PostgreSQL)."""
    url = resolve_database_url(validate_database_url(database_url))
    if urlsplit(url).scheme != "duckdb":
        return None
    path = url[len("duckdb:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(f"DATABASE_URL {url!r}: a DuckDB warehouse needs a file path")
    return Path(path)


def connection_config(database_url: str) -> DuckDBConnectionConfig | PostgresConnectionConfig:
    """The SQLMesh connection for our DATABASE_URL."""
    path = duckdb_path(database_url)
    if path is not None:
        # One task: DuckDB runs one statement at a time per file anyway, and SQLMesh's
        # thread pool would only add cursors on the shared connection.
        return _DuckDBConnectionConfig(database=str(path), concurrent_tasks=1)
    parts = urlsplit(database_url.strip())
    database = unquote(parts.path.lstrip("/"))
    user = unquote(parts.username or "") or os.environ.get("PGUSER") or getpass.getuser()
    if not database:
        raise ConfigError(f"DATABASE_URL {redact_url(database_url)!r} names no database")
    options: dict[str, Any] = {}
    for key, values in parse_qs(parts.query).items():
        if key in _PG_OPTIONS:
            options[key] = _PG_OPTIONS[key](values[-1])
    return PostgresConnectionConfig(
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=user,
        # Trust auth needs no password, but the config field is required.
        password=unquote(parts.password) if parts.password else os.environ.get("PGPASSWORD", ""),
        database=database,
        # Two connections are plenty for a handful of models on a 2-core box.
        concurrent_tasks=2,
        **options,
    )


def _default_cache_dir(database_url: str) -> Path:
    import hashlib

    digest = hashlib.sha256(resolve_database_url(database_url).encode()).hexdigest()[:12]
    return Path(DEFAULT_CACHE_DIR) / digest


def build_config(
    database_url: str,
    *,
    cache_dir: Path | str | None = None,
    start: str = DEFAULT_START,
) -> Config:
    """The project's ``Config`` for the warehouse at ``database_url``."""
    return Config(
        gateways={
            GATEWAY: GatewayConfig(
                connection=connection_config(database_url),
                # No state_connection: state goes to the warehouse (see module doc).
                state_schema=STATE_SCHEMA,
                test_connection=_DuckDBConnectionConfig(),  # in-memory
            )
        },
        default_gateway=GATEWAY,
        model_defaults=ModelDefaultsConfig(
            dialect=MODEL_DIALECT,
            start=start,
            cron="@daily",
            # Let a run compute the current, unfinished day. Without it SQLMesh only
            # processes complete intervals: today's sightings would appear tomorrow,
            # and FULL models would be rebuilt once a day whatever dlt loaded since.
            allow_partials=True,
        ),
        # One cache per warehouse: cached models carry the warehouse's default catalog
        # (for DuckDB, the file's stem), so a cache shared between two warehouses made
        # SQLMesh look up raw tables in the other one's catalog.
        cache_dir=str(resolve_path(cache_dir or _default_cache_dir(database_url))),
        # Belt and braces with SQLMESH__DISABLE_ANONYMIZED_ANALYTICS: no host to reach.
        disable_anonymized_analytics=True,
    )


def __getattr__(name: str) -> Any:
    # PEP 562: the CLI's ``config`` is built on first access only.
    if name == "config":
        return build_config(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    raise AttributeError(name)
