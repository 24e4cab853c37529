"""``databox demo --ui``: the Dagster UI over the demo's data, wired to live replicas.

The end-to-end test serves a minimal demo directory (``keep=True`` + a warehouse file:
no jobs run), so it costs one ``dagster dev`` start (~15 s). It checks what a newcomer
relies on: the UI answers, the code location loaded with the jobs, the code location's
environment points at the replicas that are actually serving (its eBird sensor reaches
the replica with the demo token), and SIGTERM leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from databox.config import DEFAULT_DEMO_DIR, demo_paths, resolve_path
from databox.demo import (
    DEMO_EBIRD_TOKEN,
    closing_hint,
    demo_data_present,
    install_instance_config,
    run_demo,
)
from databox.errors import ConfigError
from tests.dagster_helpers import REPO_ROOT

# -- the plain demo's closing hint -------------------------------------------------------


def _command_after(label: str, hint: str) -> str:
    (line,) = [line for line in hint.splitlines() if line.startswith(label)]
    return line[len(label) :].strip()


def test_closing_hint_for_the_default_dir_is_the_pasteable_ui_command():
    hint = closing_hint(resolve_path(DEFAULT_DEMO_DIR))
    ui = _command_after("Browse it in the Dagster UI, replicas included:", hint)
    assert ui == "uv run databox demo --ui --keep"
    assert _command_after("See what landed:", hint) == "uv run databox status --demo"
    # The old hint: a bare `dagster` (not on PATH outside `uv run`) and no replicas.
    assert "dagster dev" not in hint


def test_closing_hint_for_another_dir_names_it_and_survives_the_shell(tmp_path):
    root = tmp_path / "my demo"
    hint = closing_hint(root)
    ui = shlex.split(_command_after("Browse it in the Dagster UI, replicas included:", hint))
    assert ui == ["uv", "run", "databox", "demo", "--ui", "--keep", "--dir", str(root)]
    status = shlex.split(_command_after("See what landed:", hint))
    paths = demo_paths(root)
    assert status == [
        f"DATABASE_URL={paths['DATABASE_URL']}",
        f"DATA_LAKE_DIR={paths['DATA_LAKE_DIR']}",
        "uv", "run", "databox", "status",
    ]  # fmt: skip


# -- instance config, data detection, port -----------------------------------------------


def test_the_demo_instance_is_a_copy_of_the_shipped_dagster_yaml(tmp_path):
    install_instance_config(tmp_path / "dagster_home")
    shipped = (REPO_ROOT / ".dagster" / "dagster.yaml").read_bytes()
    assert (tmp_path / "dagster_home" / "dagster.yaml").read_bytes() == shipped


def test_a_missing_instance_config_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "dagster.yaml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))) as info:
        install_instance_config(tmp_path / "dagster_home", source=missing)
    assert "git restore .dagster/dagster.yaml" in str(info.value)
    assert not (tmp_path / "dagster_home").exists()


def test_demo_data_present_means_a_warehouse_file(tmp_path):
    assert not demo_data_present(tmp_path)
    _minimal_warehouse(tmp_path)
    assert demo_data_present(tmp_path)


def test_a_busy_port_fails_at_once_naming_the_port_and_the_flag(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            run_demo(workdir=str(tmp_path / "demo"), ui=True, ui_port=port, log=lambda _: None)
    message = str(info.value)
    assert f"port {port} on 127.0.0.1 is already in use" in message
    root = tmp_path / "demo"
    assert f"`uv run databox demo --ui --dir {root} --port {port + 1}`" in message
    # Before any work: no demo directory, no minute of jobs.
    assert not (tmp_path / "demo").exists()
    assert time.monotonic() - started < 5


def test_a_port_out_of_range_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="between 1 and 65535"):
        run_demo(workdir=str(tmp_path / "demo"), ui=True, ui_port=70000, log=lambda _: None)


# -- end to end: serve, inspect, SIGTERM --------------------------------------------------

SERVE = (
    "import sys; from databox.demo import run_demo; "
    "sys.exit(run_demo(workdir=sys.argv[1], keep=True, ui=True, ui_port=int(sys.argv[2])))"
)
WORKSPACE = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on RepositoryLocation { name
      repositories { name jobs { name } } } ... on PythonError { message } } } } }
  assetNodes { assetKey { path } jobNames } }
"""
RESOURCE = """
query ($location: String!, $repository: String!, $resource: String!) {
  topLevelResourceDetailsOrError(resourceSelector: {repositoryLocationName: $location,
      repositoryName: $repository, resourceName: $resource}) {
    __typename ... on ResourceDetails { configuredValues { key value type } }
    ... on PythonError { message } } }
"""
SENSOR_DRY_RUN = """
mutation ($location: String!, $repository: String!) {
  sensorDryRun(selectorData: {repositoryLocationName: $location, repositoryName: $repository,
      sensorName: "ebird_api_availability_sensor"}, cursor: null) {
    __typename ... on DryRunInstigationTick { evaluationResult {
      runRequests { runKey } skipReason error { message } } }
    ... on PythonError { message } } }
"""


def _minimal_warehouse(root: Path) -> None:
    import duckdb

    root.mkdir(parents=True, exist_ok=True)
    duckdb.connect(demo_paths(root)["DATABASE_URL"][len("duckdb:///") :]).close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, pgid) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[2])


def _descendants(root_pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            parents[int(entry.name)] = stat[0]
    found, frontier = set(), {root_pid}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[1] != "Z"


def _live_in_groups(groups: set[int]) -> list[int]:
    return [
        int(entry.name) for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name)))
        and stat[2] in groups and stat[1] != "Z"
    ]  # fmt: skip


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _graphql(base: str, query: str, **variables) -> dict:
    reply = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=30)
    reply.raise_for_status()
    return reply.json()["data"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_demo_ui_serves_the_code_location_wired_to_live_replicas_and_stops_cleanly(tmp_path):
    root = tmp_path / "demo"
    _minimal_warehouse(root)
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-u", "-c", SERVE, str(root), str(port)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=lambda: [lines.put(x) for x in demo.stdout], daemon=True).start()

    def wait_for(pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                output.append(lines.get(timeout=0.5))
            except queue.Empty:
                assert demo.poll() is None, "demo exited early:\n" + "".join(output)
                continue
            if match := re.search(pattern, output[-1]):
                return match
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n" + "".join(output))

    groups: set[int] = set()
    try:
        replicas = wait_for(r"t\.me replica serving on (\S+); eBird replica on (\S+)", 30)
        telegram_url, ebird_url = replicas.groups()
        base = wait_for(r"Dagster UI: (http://127\.0\.0\.1:\d+)", 120).group(1)
        assert base == f"http://127.0.0.1:{port}"
        assert "serving it as is" in "".join(output)  # keep + data: no jobs were run

        deadline = time.monotonic() + 90
        while True:
            data = _graphql(base, WORKSPACE)
            (entry,) = data["workspaceOrError"]["locationEntries"]
            if entry["loadStatus"] == "LOADED" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        (repository,) = location["repositories"]
        assert "daily_pipeline_job" in {job["name"] for job in repository["jobs"]}
        jobs_of = {"/".join(n["assetKey"]["path"]): n["jobNames"] for n in data["assetNodes"]}
        assert "daily_pipeline_job" in jobs_of["scrape_telegram"]
        where = {"location": location["name"], "repository": repository["name"]}

        # The resources read the replicas' URLs from the environment (EnvVar: the UI shows
        # the variable's name) ...
        for resource, key, variable in (
            ("telegram", "web_base_url", "TELEGRAM_WEB_BASE_URL"),
            ("ebird", "api_base_url", "EBIRD_API_BASE_URL"),
        ):
            details = _graphql(base, RESOURCE, resource=resource, **where)
            values = details["topLevelResourceDetailsOrError"]["configuredValues"]
            assert {"key": key, "value": variable, "type": "ENV_VAR"} in values
        # ... the code server that loads the definitions got the live replicas' URLs ...
        tree = _descendants(demo.pid)
        (code_server,) = [pid for pid in tree if {"api", "grpc"} <= set(_cmdline(pid))]
        env = _environ(code_server)
        assert env["TELEGRAM_WEB_BASE_URL"] == telegram_url
        assert env["EBIRD_API_BASE_URL"] == ebird_url
        assert env["DATABASE_URL"] == demo_paths(root)["DATABASE_URL"]
        page = httpx.get(f"{telegram_url}/s/CheMed123", timeout=10)
        assert page.status_code == 200 and "CheMed123" in page.text
        # ... and code running in the code location reaches the eBird replica with the
        # demo token: the availability sensor would request today's run.
        tick = _graphql(base, SENSOR_DRY_RUN, **where)["sensorDryRun"]
        assert tick["__typename"] == "DryRunInstigationTick", tick
        result = tick["evaluationResult"]
        assert result["error"] is None and result["skipReason"] is None, result
        assert result["runRequests"], result
        assert env["EBIRD_API_TOKEN"] == DEMO_EBIRD_TOKEN

        # SIGTERM stops dagster dev, its children and the replicas.
        tree = _descendants(demo.pid)
        groups = {stat[2] for pid in tree if (stat := _proc_stat(pid))}
        assert len(tree) >= 4  # dagster dev, webserver, daemon, code server(s)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0, "".join(output)
        assert not [pid for pid in tree if _alive(pid)]
        assert not _live_in_groups(groups)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{telegram_url}/s/CheMed123", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/server_info", timeout=5)
    finally:
        for group in {demo.pid, *groups}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)  # only if an assertion failed mid-way
        demo.wait(timeout=10)
    time.sleep(0.2)  # the reader thread hands over the last lines
    while not lines.empty():
        output.append(lines.get())
    assert "stopped the Dagster UI and the replicas" in "".join(output)
