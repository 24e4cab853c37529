"""The Dagster instance class the project's dagster.yaml names: SQLite storage that
initialises once, even when several processes open a fresh instance directory together.

Why: Dagster's SQLite run, event-log and schedule storages each check for their tables
and then create and stamp them, with nothing between processes. Two ``dagster job
execute`` started together on a fresh DAGSTER_HOME both find no tables, both create
them, and one dies with ``table alembic_version already exists`` (or ``UNIQUE
constraint failed: alembic_version.version_num``, or alembic's "more than one head").

How: ``.dagster/dagster.yaml`` sets ``instance_class`` to ``DataboxInstance``. Dagster
asks that class for the defaults of the instance directory it opens
(``config_defaults(base_dir)``): DAGSTER_HOME, or the ``.tmp_dagster_home_*`` directory
a command makes in the cwd when DAGSTER_HOME is unset. So the yaml names no path and is
valid in any directory. The default storage there is ``InitLockedSqliteStorage``:
Dagster's own ``DagsterSqliteStorage``, built while holding an exclusive ``flock`` on
``<base_dir>/.storage_init.lock``. The first process creates the tables (about a
second); the others wait for the lock, then find them (milliseconds). The kernel drops
the lock when its holder exits, so a killed process never leaves the directory locked.

A storage the yaml configures explicitly (``storage: postgres:`` in production) is used
as configured. A DAGSTER_HOME without our dagster.yaml gets Dagster's unlocked default:
``dagster job execute`` creates the instance before it imports the code location, so
nothing in the definitions could step in first.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, SqliteStorageConfig
from dagster._serdes import ConfigurableClassData

from databox.filelock import LockTimeout, file_lock

#: Held while the storage is opened; it lives in the instance directory it guards.
INIT_LOCK_NAME = ".storage_init.lock"
#: A fresh SQLite storage takes ~1 s to create and stamp: waiting this long means the
#: holder is stuck, not slow.
INIT_LOCK_TIMEOUT = 300.0


class InitLockedSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` whose table creation (runs, event log index, schedules)
    runs in one process at a time per instance directory."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        lock = Path(base_dir) / INIT_LOCK_NAME
        try:
            with file_lock(lock, timeout=INIT_LOCK_TIMEOUT):
                super().__init__(base_dir, inst_data=inst_data)
        except LockTimeout as exc:
            raise LockTimeout(
                f"Dagster storage in {base_dir}: another process has held {lock} for "
                f"{INIT_LOCK_TIMEOUT:.0f} s while opening it; find it with `fuser {lock}` "
                "and stop it, then retry"
            ) from exc

    @classmethod
    def from_config_value(  # the base class hard-codes DagsterSqliteStorage here
        cls, inst_data: ConfigurableClassData | None, config_value: SqliteStorageConfig
    ) -> InitLockedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def _storage_data(base_dir: str) -> ConfigurableClassData:
    return ConfigurableClassData(
        __name__,
        InitLockedSqliteStorage.__name__,
        yaml.dump({"base_dir": base_dir}, default_flow_style=False),
    )


class DataboxInstance(DagsterInstance):
    """Dagster's instance with ``InitLockedSqliteStorage`` as the default storage;
    nothing else differs."""

    @classmethod
    def config_schema(cls) -> dict:
        return {}  # no settings of its own: dagster.yaml keeps Dagster's schema

    @staticmethod
    def config_defaults(base_dir: str) -> dict[str, ConfigurableClassData | None]:
        defaults = dict(InstanceRef.config_defaults(base_dir))
        defaults["storage"] = _storage_data(os.fspath(base_dir))
        return defaults
