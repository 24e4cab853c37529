"""SQLMesh configuration shared by our projects (eBird, Telegram), built in Python from
our DATABASE_URL: the connection, the DuckDB 2.0 adapter fix, the model defaults.

Each project's ``config.py`` calls ``build_config`` with its own state schema and cache
directory: two projects sharing one state schema would each see the other's models as
removed and drop them on the next plan. The decisions behind the settings (state in
the warehouse, models in DuckDB SQL transpiled for PostgreSQL, unit tests on an
in-memory DuckDB, ``allow_partials``) are explained in ``ebird/config.py``.
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
#: Where the eBird project keeps its SQLMesh state tables (in the warehouse).
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


def default_cache_dir(database_url: str, project: str | None = None) -> Path:
    """``data/sqlmesh/cache[/<project>]/<digest of the URL>``: one per warehouse (and
    project; eBird, the first project, keeps the original layout without one)."""
    import hashlib

    digest = hashlib.sha256(resolve_database_url(database_url).encode()).hexdigest()[:12]
    base = Path(DEFAULT_CACHE_DIR)
    return (base / project if project else base) / digest


def build_config(
    database_url: str,
    *,
    cache_dir: Path | str | None = None,
    start: str = DEFAULT_START,
    state_schema: str = STATE_SCHEMA,
    variables: dict[str, Any] | None = None,
) -> Config:
    """A project's ``Config`` for the warehouse at ``database_url``. ``state_schema``:
    where SQLMesh keeps this project's state; ``variables``: ``@VAR``/``context.var``
    values, part of the fingerprint of every model that reads them."""
    return Config(
        gateways={
            GATEWAY: GatewayConfig(
                connection=connection_config(database_url),
                # No state_connection: state goes to the warehouse (see module doc).
                state_schema=state_schema,
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
        cache_dir=str(resolve_path(cache_dir or default_cache_dir(database_url))),
        # Belt and braces with SQLMESH__DISABLE_ANONYMIZED_ANALYTICS: no host to reach.
        disable_anonymized_analytics=True,
        variables=dict(variables or {}),
    )
