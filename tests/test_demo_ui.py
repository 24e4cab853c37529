"""``databox demo --ui``: the Dagster UI over the demo's data, wired to live replicas.

The end-to-end tests share one UI (a module fixture) over a minimal demo directory
(``keep=True`` + an empty warehouse file: no jobs run first), so they cost one ``dagster
dev`` start (~15 s). They check what a newcomer relies on: the UI answers, the code
location loaded with the jobs, the code location's environment points at the replicas
that are actually serving (its eBird sensor reaches the replica with the demo token), in
a real browser the lineage, a launched run and the detection previews (tests/ui_browser.py),
and SIGTERM leaves no process behind.
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
from tests.conftest import require_service
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


class DemoUI:
    """``run_demo(ui=True, keep=True)`` in a subprocess of its own session, its output
    collected line by line (a thread drains the pipe so the demo never blocks on it)."""

    def __init__(self, root: Path):
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", SERVE, str(root), str(_free_port())],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
            # A small corpus: the run the browser test launches scrapes and detects it all.
            env={**os.environ, "DATABOX_DEMO_POSTS_PER_CHANNEL": "40"},
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.groups: set[int] = set()  # process groups to kill if a test failed mid-way
        stdout = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.output.append(self.lines.get(timeout=0.5))
            except queue.Empty:
                assert self.proc.poll() is None, "demo exited early:\n" + self.text()
                continue
            if match := re.search(pattern, self.output[-1]):
                return match
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n" + self.text())

    def drain(self) -> None:
        time.sleep(0.2)  # the reader thread hands over the last lines
        while not self.lines.empty():
            self.output.append(self.lines.get())

    def text(self) -> str:
        return "".join(self.output)

    def kill(self) -> None:
        for group in {self.proc.pid, *self.groups}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    """ONE demo UI for this module's end-to-end tests (a `dagster dev` start is ~15 s).

    A minimal demo directory (``keep=True`` + an empty warehouse file): no jobs run
    before the UI, so a run launched from the UI scrapes the replica for real. The
    SIGTERM test stops it, so it stays the module's last test; if it did not run (or
    failed mid-way), the teardown kills what is left."""
    root = tmp_path_factory.mktemp("demo_ui") / "demo"
    _minimal_warehouse(root)
    demo = DemoUI(root)
    try:
        replicas = demo.wait_for(r"t\.me replica serving on (\S+); eBird replica on (\S+)", 30)
        demo.telegram_url, demo.ebird_url = replicas.groups()
        demo.base = demo.wait_for(r"Dagster UI: (http://127\.0\.0\.1:\d+)", 120).group(1)
        deadline = time.monotonic() + 90
        while True:
            data = _graphql(demo.base, WORKSPACE)
            (entry,) = data["workspaceOrError"]["locationEntries"]
            if entry["loadStatus"] == "LOADED" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        demo.workspace = data
        yield demo
    finally:
        if demo.proc.poll() is None:
            demo.groups |= {s[2] for pid in _descendants(demo.proc.pid) if (s := _proc_stat(pid))}
        demo.kill()


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads processes from /proc"
)


@pytest.mark.slow
@needs_proc
def test_demo_ui_serves_the_code_location_wired_to_live_replicas(demo_ui):
    base, root = demo_ui.base, demo_ui.root
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert "serving it as is" in demo_ui.text()  # keep + data: no jobs were run

    data = demo_ui.workspace
    (entry,) = data["workspaceOrError"]["locationEntries"]
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
    tree = _descendants(demo_ui.proc.pid)
    (code_server,) = [pid for pid in tree if {"api", "grpc"} <= set(_cmdline(pid))]
    env = _environ(code_server)
    assert env["TELEGRAM_WEB_BASE_URL"] == demo_ui.telegram_url
    assert env["EBIRD_API_BASE_URL"] == demo_ui.ebird_url
    assert env["DATABASE_URL"] == demo_paths(root)["DATABASE_URL"]
    page = httpx.get(f"{demo_ui.telegram_url}/s/CheMed123", timeout=10)
    assert page.status_code == 200 and "CheMed123" in page.text
    # ... and code running in the code location reaches the eBird replica with the
    # demo token: the availability sensor would request today's run.
    tick = _graphql(base, SENSOR_DRY_RUN, **where)["sensorDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    result = tick["evaluationResult"]
    assert result["error"] is None and result["skipReason"] is None, result
    assert result["runRequests"], result
    assert env["EBIRD_API_TOKEN"] == DEMO_EBIRD_TOKEN


# -- in a real browser ---------------------------------------------------------------------

#: Every asset of the two pipelines, as the lineage graph names its nodes (the last part
#: of the key: raw_ebird/<table>, staging/<model>, marts/<model>).
TELEGRAM_ASSETS = ["scrape_telegram", "load_raw_data", "enrich_data_yolo", "load_yolo_detections"]
RAW_EBIRD_ASSETS = [
    "recent_observations", "notable_observations", "taxonomy", "hotspots",
    "historic_observations",
]  # fmt: skip


def shown_as(labels: list[str], names: list[str]) -> list[str]:
    """The asset names the node labels stand for: the UI cuts a long name to
    ``prefix…suffix``; a label that fits no name, or two names, fails."""

    def fits(label: str, name: str) -> bool:
        if "…" not in label:
            return label == name
        head, _, tail = label.partition("…")
        return name.startswith(head) and name.endswith(tail) and len(name) > len(label) - 1

    found = []
    for label in labels:
        fitting = [n for n in names if fits(label, n) and n not in found]
        assert fitting, f"lineage node {label!r} is none of {names}"
        found.append(fitting[0])
    return sorted(found)


@pytest.mark.slow
def test_the_ui_in_a_browser_lineage_launchpad_run_and_detection_previews(demo_ui):
    """Headless Chromium on the demo UI: the whole lineage expanded, daily_pipeline_job
    launched from its launchpad and followed to success, enrich_data_yolo's annotated
    detections shown as pictures, and not one request off the machine. Screenshots:
    test-artifacts/ui/{lineage,run,enrich_data_yolo,demo-report}.png (the last: the run's
    HTML report, opened offline)."""
    from tests import ui_browser

    reason = ui_browser.chromium_available()
    require_service(reason is None, reason or "")  # CI installs Chromium: never skipped there
    from playwright.sync_api import sync_playwright

    from databox.transform.dag import load_dag

    dag, telegram_dag = load_dag(), load_dag("telegram")
    expected = sorted(
        [*TELEGRAM_ASSETS, *RAW_EBIRD_ASSETS, "data_quality_checks", "databox_report"]
        + [m.split(".")[-1] for m in dag.models("staging") + dag.models("marts")]
        + [m.split(".")[-1] for m in telegram_dag.models()]
    )
    base = demo_ui.base
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=ui_browser.CHROMIUM)
        try:
            page = browser.new_page(viewport=ui_browser.VIEWPORT)
            off_machine = ui_browser.OffMachineRequests(page)

            # 1. The global lineage opens as two collapsed group boxes; expanded, it shows
            # every asset of both pipelines.
            names = ui_browser.open_expanded_lineage(page, base)
            ui_browser.shot(page, "lineage.png")
            assert shown_as(names, expected) == expected

            # 2. Launch daily_pipeline_job the README's way; it scrapes the t.me replica.
            run_id = ui_browser.launch_from_launchpad(page, base, "daily_pipeline_job")
            status = ui_browser.wait_for_run(base, run_id)
            page.reload(wait_until="networkidle")
            ui_browser.settle(page, 2500)
            ui_browser.shot(page, "run.png")
            assert status == "SUCCESS", f"run {run_id}: {status}"
            page.get_by_text("Success", exact=True).first.wait_for()

            # 3. The detections as pictures on the asset's page (inline data: URIs, which
            # the UI can show, unlike a path on the run's machine).
            ui_browser.open_asset(page, base, "enrich_data_yolo")
            images = ui_browser.data_uri_images(page)
            ui_browser.shot(page, "enrich_data_yolo.png")
            assert images, "no <img src=data:image/…> on enrich_data_yolo's page"
            assert all(src.startswith("data:image/") for src in images)

            # 4. The run's report, built from the demo's data (the Telegram sections; the
            # eBird ones wait for daily_ebird_pipeline): it opens with no request but
            # file: and data:, and its charts and photos load.
            report = demo_ui.root / "reports" / "report.html"
            assert report.is_file(), f"no report at {report}"
            report_page = browser.new_page(viewport=ui_browser.VIEWPORT)
            requested: list[str] = []
            report_page.on("request", lambda r: requested.append(r.url))
            report_page.goto(report.as_uri(), wait_until="load")
            widths = report_page.evaluate("[...document.images].map(i => i.naturalWidth)")
            ui_browser.ARTIFACTS.mkdir(parents=True, exist_ok=True)
            report_page.screenshot(
                path=str(ui_browser.ARTIFACTS / "demo-report.png"), full_page=True
            )
            assert all(u.startswith(("file:", "data:")) for u in requested), requested
            assert len(widths) >= 5 and all(w > 0 for w in widths), widths
        finally:
            browser.close()
    assert off_machine.urls == []


# Stops the module's demo UI: keep it the last test of the module.
@pytest.mark.slow
@needs_proc
def test_sigterm_stops_the_demo_ui_its_processes_and_the_replicas(demo_ui):
    demo, base = demo_ui.proc, demo_ui.base
    assert demo.poll() is None, demo_ui.text()
    tree = _descendants(demo.pid)
    demo_ui.groups |= {stat[2] for pid in tree if (stat := _proc_stat(pid))}
    assert len(tree) >= 4  # dagster dev, webserver, daemon, code server(s)
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=60) == 0, demo_ui.text()
    assert not [pid for pid in tree if _alive(pid)]
    assert not _live_in_groups(demo_ui.groups)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{demo_ui.telegram_url}/s/CheMed123", timeout=5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/server_info", timeout=5)
    demo_ui.drain()
    assert "stopped the Dagster UI and the replicas" in demo_ui.text()
