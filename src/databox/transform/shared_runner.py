"""One ``SqlMeshRunner`` per process, warehouse and project, reused by the steps it runs.

A run's SQLMesh steps (Telegram staging, then marts; under the in-process executor or
on one celery worker) each built a ``sqlmesh.Context`` from scratch: parsing the
project again costs ~1 s a step. The runner closes its connections after every
operation (see ``runner``), so keeping it between steps holds no lock on the
warehouse. The key includes the project's SQLMesh variables (the Telegram lexicon's
and tokeniser's digests): a Context reads them when it is built, so a changed lexicon
must get a new one.
"""

from __future__ import annotations

import threading
from pathlib import Path

from databox.transform.runner import SqlMeshRunner

_lock = threading.Lock()
_runners: dict[tuple, SqlMeshRunner] = {}


def _variables(project_dir: Path) -> tuple:
    if project_dir.name == "telegram":
        from databox.transform.telegram.config import variables

        return tuple(sorted(variables().items()))
    return ()


def shared_runner(database_url: str, project_dir: Path | str) -> SqlMeshRunner:
    """The process's runner for this warehouse and project (built on first use; a new
    one, the old closed, when the project's variables changed)."""
    project_dir = Path(project_dir)
    key = (database_url, str(project_dir), _variables(project_dir))
    with _lock:
        runner = _runners.get(key)
        if runner is None:
            for old_key in [k for k in _runners if k[:2] == key[:2]]:
                _runners.pop(old_key).close()
            runner = _runners[key] = SqlMeshRunner(database_url, project_dir)
        return runner


def runner_for(
    database_url: str,
    project_dir: Path | str,
    runner: SqlMeshRunner | None = None,
    shared: bool = False,
) -> tuple[SqlMeshRunner, bool]:
    """The runner a refresh uses, and whether it is the caller's to close: the one
    given, else the process's (``shared``), else a new one."""
    if runner is not None:
        return runner, False
    if shared:
        return shared_runner(database_url, project_dir), False
    return SqlMeshRunner(database_url, project_dir), True
