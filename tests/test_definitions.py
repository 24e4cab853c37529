"""The code location loads from every entry point users know, and wires what it should."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.dagster_helpers import REPO_ROOT, dagster


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(tmp_path)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


@pytest.mark.parametrize(
    ("args", "cwd"),
    [
        (["-f", "orchestration/definitions.py"], REPO_ROOT),
        (["-m", "orchestration.definitions"], REPO_ROOT),
        (["-f", "orchestration/dagster_project.py"], REPO_ROOT),
        ([], REPO_ROOT),  # bare: [tool.dagster] in pyproject.toml
        (["-f", "dagster_project.py"], REPO_ROOT / "orchestration"),
    ],
    ids=["file", "module", "dagster_project", "pyproject", "cd-orchestration"],
)
def test_definitions_load_from_every_entry_point(tmp_path, args, cwd):
    proc = dagster(["definitions", "validate", *args], _env(tmp_path), cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_definitions_wire_the_telegram_pipeline():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_pipeline_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"scrape_telegram", "load_raw_data"} <= keys
    graph = defs.resolve_asset_graph()
    load = graph.get(dg_key("load_raw_data"))
    assert dg_key("scrape_telegram") in load.parent_keys
    schedule = defs.resolve_schedule_def("daily_pipeline_schedule")
    assert schedule.job_name == "daily_pipeline_job"
    assert schedule.execution_timezone == "UTC"


def test_secrets_are_env_vars_not_values(monkeypatch):
    """With credentials in the environment the resource config holds EnvVar names only."""
    import dagster as dg

    from orchestration.resources import build_resources

    monkeypatch.setenv("TELEGRAM_API_HASH", "super-secret-hash")
    monkeypatch.setenv("TELEGRAM_SESSION", "1SECRETSESSION")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:5432/x")
    resources = build_resources()
    telegram = resources["telegram"]
    assert isinstance(telegram.api_hash, dg.EnvVar) or telegram.api_hash == dg.EnvVar(
        "TELEGRAM_API_HASH"
    )
    assert "super-secret-hash" not in repr(telegram)
    assert "1SECRETSESSION" not in repr(telegram)
    assert "pw@" not in repr(resources["warehouse"])


def dg_key(name: str):
    import dagster as dg

    return dg.AssetKey(name)


# Records every write the import makes, wherever it lands: files opened for writing,
# directories made, renames, removals, SQLite databases. Python's audit hooks see them all
# without comparing listings, which others working in this checkout could change meanwhile.
_RECORD_WRITES = textwrap.dedent(
    """
    import os, sys
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    EVENTS = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.symlink",
              "os.link", "os.truncate", "shutil.rmtree", "shutil.move", "sqlite3.connect"}
    writes = []

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & WRITE
            if writing and not str(path).startswith("/dev/"):
                writes.append(f"open {path}")
        elif event in EVENTS:
            writes.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    import orchestration.definitions
    print("WRITES:", writes)
    """
)


def test_loading_the_definitions_writes_nothing(tmp_path):
    """Every code server, run worker and ``dagster dev`` loads them: that must not create
    dlt's pipeline directory (dagster-dlt's specs used to build a real pipeline) or
    anything else, under the project, DATABOX_HOME or DLT_DATA_DIR."""
    env = dict(
        os.environ,
        DATABOX_HOME=str(tmp_path / "home"),
        DLT_DATA_DIR=str(tmp_path / "dlt"),
        PYTHONDONTWRITEBYTECODE="1",  # the interpreter's bytecode cache is not the import's doing
    )
    proc = subprocess.run(
        [sys.executable, "-c", _RECORD_WRITES],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WRITES: []" in proc.stdout, proc.stdout[-3000:]
    assert list(tmp_path.iterdir()) == []  # neither DATABOX_HOME nor DLT_DATA_DIR appeared
