"""What a step process should find imported: loaded once by the multiprocess executor's
forkserver (orchestration.executors) and by each celery worker at its start
(orchestration.celery_worker), then inherited by every step forked from them.

Only modules more than one step imports (every step: Dagster and the definitions; both
SQLMesh steps of each job; the enrichment chunks: onnxruntime, PIL, numpy; the loaders:
DuckDB, pyarrow). Importing them opens no connection and builds no session; SQLMesh
would start its analytics thread on import, which must not exist before a fork, so it
is switched off here as databox.transform.runner does for every SQLMesh run, and its
model-loading pool too (below).
matplotlib is left out: one step of one job draws. Each step also opens the Dagster
instance (its storage classes pull in SQLAlchemy and alembic: 0.7 s, 400 modules), so
the classes the instance's dagster.yaml names are imported too, without connecting.
"""

from __future__ import annotations

import contextlib
import importlib
import os

os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")
# SQLMesh decides at import whether it may fork workers to load models: yes in a
# process that is not daemonic. Imported here, in a celery worker's main process, it
# said yes, then forked from the pool's daemonic children, which Python refuses
# ("daemonic processes are not allowed to have children"). One process loads our ~10
# models as fast as a pool (1.4–1.6 s either way, measured).
os.environ.setdefault("MAX_FORK_WORKERS", "1")

import duckdb  # noqa: F401
import numpy  # noqa: F401
import onnxruntime  # noqa: F401
import pyarrow  # noqa: F401
import sqlmesh.core.console  # noqa: F401
from PIL import Image  # noqa: F401

import orchestration.definitions  # noqa: F401


def _import_instance_classes() -> None:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return  # an ephemeral instance: nothing to open
    from dagster._core.instance.factory import create_instance_from_ref  # noqa: F401
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(home)
    ref.custom_instance_class  # noqa: B018  (imports it)
    for data in (
        ref.run_storage_data,
        ref.event_storage_data,
        ref.schedule_storage_data,
        ref.compute_logs_data,
        ref.local_artifact_storage_data,
    ):
        if data is not None:
            getattr(importlib.import_module(data.module_name), data.class_name)


# Only an optimisation: each step opens the instance anyway (and reports a bad
# dagster.yaml itself). An error here would kill the forkserver, which ignores only
# ImportError, and every step with it.
with contextlib.suppress(Exception):
    _import_instance_classes()
