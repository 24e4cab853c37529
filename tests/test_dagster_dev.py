"""``dagster dev -f orchestration/definitions.py`` serves the code location: the webserver
answers and its GraphQL API lists the pipeline's assets and jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.dagster_helpers import DAGSTER_YAML, REPO_ROOT

pytestmark = pytest.mark.slow

QUERY = """
{ assetNodes { assetKey { path } jobNames }
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dagster_dev_serves_the_code_location(tmp_path):
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    port = _free_port()
    env = dict(
        os.environ, DAGSTER_HOME=str(tmp_path), DATABASE_URL=f"duckdb:///{tmp_path / 'w.duckdb'}"
    )
    # setsid + default signals: `dagster dev` started from a script otherwise ignores SIGINT.
    proc = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT,TERM", sys.executable, "-m", "dagster", "dev",
         "-f", "orchestration/definitions.py", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        data = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                r = httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=5)
                data = r.json()["data"]
                entries = data["workspaceOrError"]["locationEntries"]
                if (
                    entries
                    and all(e["loadStatus"] == "LOADED" for e in entries)
                    and data["assetNodes"]
                ):
                    break
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        assert data is not None, "dagster dev never answered"
        keys = {"/".join(n["assetKey"]["path"]): n["jobNames"] for n in data["assetNodes"]}
        assert "daily_pipeline_job" in keys["scrape_telegram"]
        assert "daily_pipeline_job" in keys["load_raw_data"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
