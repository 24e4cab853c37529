"""The default executor forks each step from a server that preloaded what steps import
(orchestration.executors): safe to fork from, and still overridable by run config."""

from __future__ import annotations

import json
import subprocess
import sys

from orchestration.executors import STEP_PRELOAD, _forkserver_by_default, build_executor


def test_the_default_executor_is_multiprocess_with_a_preloading_forkserver(monkeypatch):
    monkeypatch.delenv("DATABOX_EXECUTOR", raising=False)
    executor = build_executor()
    assert executor.name == "multiprocess"
    config = _forkserver_by_default({"max_concurrent": 2, "retries": {"enabled": {}}})
    assert config["start_method"] == {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}
    assert config["max_concurrent"] == 2  # the rest of the run's config is kept
    # A run that asks for spawn (or its own preload list) gets it.
    assert _forkserver_by_default({"start_method": {"spawn": {}}})["start_method"] == {"spawn": {}}
    monkeypatch.setenv("DATABOX_EXECUTOR", "in_process")
    assert build_executor().name == "in_process"


def test_the_preload_imports_the_heavy_modules_and_leaves_only_the_main_thread(tmp_path):
    """A thread alive in the forkserver would be missing (or hold a lock) in every
    forked step: SQLMesh's analytics thread must stay off; no connection is opened;
    SQLMesh must not plan to fork model loaders from a daemonic celery pool process."""
    code = (
        "import json, sys, threading, orchestration.step_preload; "
        "from sqlmesh.core.constants import MAX_FORK_WORKERS; "
        "print(json.dumps({'threads': [t.name for t in threading.enumerate()], "
        "'sqlmesh_fork_workers': MAX_FORK_WORKERS, "
        "'modules': [m for m in ('sqlmesh', 'onnxruntime', 'duckdb', 'pyarrow', "
        "'orchestration.definitions', 'dagster._core.storage.runs.sqlite.sqlite_run_storage')"
        " if m in sys.modules]}))"
    )
    env = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["threads"] == ["MainThread"]
    # Decided at import: a celery pool process (daemonic) forked from this one must not
    # try to fork SQLMesh's model loaders.
    assert found["sqlmesh_fork_workers"] == 1
    assert found["modules"] == [
        "sqlmesh",
        "onnxruntime",
        "duckdb",
        "pyarrow",
        "orchestration.definitions",
        "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    ]
