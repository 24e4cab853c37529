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

The code lives in ``databox.transform.sqlmesh_config`` (shared with the Telegram
project, which keeps its state in a schema of its own); this module re-exports it
under the names it always had.
"""

from __future__ import annotations

import os
from typing import Any

from databox.config import DEFAULT_DATABASE_URL
from databox.transform.sqlmesh_config import (  # noqa: F401 - re-exported
    DEFAULT_CACHE_DIR,
    DEFAULT_START,
    GATEWAY,
    MODEL_DIALECT,
    STATE_SCHEMA,
    _DuckDB2EngineAdapter,
    _DuckDBConnectionConfig,
    build_config,
    connection_config,
    default_cache_dir,
    duckdb_path,
)

_default_cache_dir = default_cache_dir  # its former name here


def __getattr__(name: str) -> Any:
    # PEP 562: the CLI's ``config`` is built on first access only.
    if name == "config":
        return build_config(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    raise AttributeError(name)
