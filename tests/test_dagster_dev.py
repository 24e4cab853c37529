"""``dagster dev -f orchestration/definitions.py`` from the repository root, as a fresh
clone runs it (no DAGSTER_HOME): the webserver answers, its GraphQL API lists the
pipeline's assets and jobs, the temporary instance Dagster makes in the cwd
(``.tmp_dagster_home_*``) runs with the project's dagster.yaml (the root symlink to
``.dagster/dagster.yaml``), git never sees it, and stopping removes it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.dagster_helpers import REPO_ROOT

pytestmark = pytest.mark.slow

QUERY = """
{ assetNodes { assetKey { path } jobNames }
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } }
  instance { info poolConfig { defaultPoolLimit } } }
"""
TMP_HOME_PREFIX = ".tmp_dagster_home_"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _untracked() -> set[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {line[3:] for line in out.splitlines() if line.startswith("??")}


def _tmp_homes() -> set[str]:
    return {p.name for p in REPO_ROOT.iterdir() if p.name.startswith(TMP_HOME_PREFIX)}


def _wait_until_served(proc: subprocess.Popen, base: str) -> dict:
    deadline = time.monotonic() + 90
    data = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            r = httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=5)
            data = r.json()["data"]
            entries = data["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries) and data["assetNodes"]:
                return data
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise AssertionError(f"dagster dev never served the code location; last answer: {data}")


def test_dagster_dev_without_dagster_home_serves_with_the_project_settings(tmp_path):
    untracked_before, homes_before = _untracked(), _tmp_homes()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(
        DATABASE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}",
        DATA_LAKE_DIR=str(tmp_path / "lake"),
        DLT_DATA_DIR=str(tmp_path / "dlt"),
        TELEGRAM_WEB_BASE_URL="http://127.0.0.1:9",  # loopback only, never t.me
    )
    # setsid + default signals: `dagster dev` started from a script otherwise ignores SIGINT.
    proc = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT,TERM", sys.executable, "-m", "dagster", "dev",
         "-f", "orchestration/definitions.py", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = ""
    try:
        data = _wait_until_served(proc, f"http://127.0.0.1:{port}")
        keys = {"/".join(n["assetKey"]["path"]): n["jobNames"] for n in data["assetNodes"]}
        assert "daily_pipeline_job" in keys["scrape_telegram"]
        assert "daily_pipeline_job" in keys["load_raw_data"]

        # The temporary instance in the cwd runs with .dagster/dagster.yaml's settings.
        [home] = _tmp_homes() - homes_before
        info = data["instance"]["info"]
        assert data["instance"]["poolConfig"]["defaultPoolLimit"] == 1
        assert "telemetry:\n  enabled: false" in info and "nux:\n  enabled: false" in info
        assert f"base_dir: {REPO_ROOT / home}" in info
        # ... with the storage that initialises under a lock (orchestration/instance.py).
        assert (REPO_ROOT / home / ".storage_init.lock").is_file()
        assert home not in "\n".join(_untracked())  # .gitignore covers it
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]
    assert _tmp_homes() == homes_before, "dagster dev left its temporary instance behind"
    assert _untracked() == untracked_before
