"""Processes opening a fresh Dagster instance together all succeed: the shipped
``.dagster/dagster.yaml`` names ``orchestration.instance.DataboxInstance``, whose SQLite
storage creates its tables in one process at a time. Without it, processes opening a
fresh directory together fail (``table runs already exists``, ``UNIQUE constraint
failed: alembic_version.version_num``, alembic's "more than one head")."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dagster_helpers import REPO_ROOT

SHIPPED_YAML = REPO_ROOT / ".dagster" / "dagster.yaml"
#: 3 processes on a fresh directory failed 10 of 10 trials without the lock; 2 failed 8 of 10.
PROCESSES = 3
TRIALS = 6


def _open_instance(base_dir: str, config_dir: str, barrier, errors) -> None:
    """One process: wait for the others, then open the instance and read from it."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    barrier.wait()
    try:
        ref = InstanceRef.from_dir(base_dir, config_dir=config_dir)
        with dg.DagsterInstance.from_ref(ref) as instance:
            instance.get_runs(limit=1)  # run storage
            instance.all_instigator_state()  # schedule storage
            instance.get_asset_keys()  # event log index
    except Exception as exc:  # reported to the parent, which fails the test with it
        errors.put(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


def _fresh_home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    shutil.copy(SHIPPED_YAML, home / "dagster.yaml")
    return home


def test_processes_opening_a_fresh_instance_together_all_succeed(tmp_path):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from orchestration.instance import DataboxInstance, InitLockedSqliteStorage

    # The shipped yaml selects the locked storage. Opening it here also imports
    # everything once, so the forked processes race on the storage, not on imports.
    home = _fresh_home(tmp_path, "warm")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert isinstance(instance, DataboxInstance)
        assert instance.get_ref().storage_data.class_name == InitLockedSqliteStorage.__name__
        assert (home / ".storage_init.lock").is_file()
        assert (home / "history" / "runs.db").is_file()
    context = multiprocessing.get_context("fork")
    failed: list[str] = []
    for trial in range(TRIALS):
        if trial % 2:  # DAGSTER_HOME: the yaml is in the instance directory
            base_dir = config_dir = str(_fresh_home(tmp_path, f"home{trial}"))
        else:  # no DAGSTER_HOME: a fresh temporary directory, the yaml from the cwd (root)
            base_dir, config_dir = str(tmp_path / f"tmp_home{trial}"), str(REPO_ROOT)
            os.mkdir(base_dir)
        barrier, errors = context.Barrier(PROCESSES), context.Queue()
        procs = [
            context.Process(target=_open_instance, args=(base_dir, config_dir, barrier, errors))
            for _ in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        codes = [p.exitcode for p in procs]
        while not errors.empty():
            failed.append(f"trial {trial}: {errors.get()}")
        if codes != [0] * PROCESSES:
            failed.append(f"trial {trial}: exit codes {codes}")
    assert not failed, "\n".join(failed)


@pytest.mark.slow
def test_two_cli_runs_started_together_on_a_fresh_dagster_home_both_succeed(tmp_path):
    home = _fresh_home(tmp_path, "dagster_home")  # what a fresh clone's .dagster/ holds
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    procs, logs = [], []
    for name in ("a", "b"):
        (tmp_path / name / "lake").mkdir(parents=True)
        env = dict(
            base,
            DAGSTER_HOME=str(home),
            DATABOX_EXECUTOR="in_process",
            DATABASE_URL=f"duckdb:///{tmp_path / name / 'warehouse.duckdb'}",
            DATA_LAKE_DIR=str(tmp_path / name / "lake"),
            TELEGRAM_WEB_BASE_URL="http://127.0.0.1:9",  # never t.me (nothing scrapes anyway)
        )
        cmd = [sys.executable, "-m", "dagster", "asset", "materialize",
               "-f", "orchestration/definitions.py", "--select", "load_raw_data"]  # fmt: skip
        # Output to files: two processes filling pipes we read one after the other could block.
        logs.append(tmp_path / f"{name}.log")
        with logs[-1].open("w") as log:
            procs.append(
                subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    try:
        for proc in procs:
            # ~10 s on a quiet box; generous because the shipped pool limit (1) makes the
            # second run wait for the first's warehouse slot, which a loaded box stretches.
            proc.wait(timeout=300)
    finally:
        for proc in procs:  # never leave a run behind, whatever happened
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    for proc, log in zip(procs, logs, strict=True):
        output = log.read_text()
        assert proc.returncode == 0, output[-3000:]
        assert "RUN_SUCCESS" in output, output[-3000:]
