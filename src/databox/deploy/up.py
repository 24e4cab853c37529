"""``databox deploy up``: the whole production topology on one host, stopped without
leftovers.

Each process of ``processes.process_list`` starts in a session of its own, so its
process group holds it and whatever it spawns (the code server's run workers, a celery
worker's pool). The code server and the workers start first; the webserver and the
daemon once the code server listens (they load the workspace at start). Ready means:
the webserver answers /server_info and has the code location loaded, and every worker
answers a celery ping. SIGINT/SIGTERM/SIGHUP stop every group: SIGTERM, then SIGKILL
after ``STOP_TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from databox.config import resolve_path
from databox.demo_ui import _group_alive, _signals_ignored, _tail, check_port_free
from databox.deploy.processes import (
    PRODUCTION_DIR,
    Process,
    process_list,
    topology_environment,
    worker_name,
)
from databox.errors import ConfigError, DataboxError

DEFAULT_HOME = Path("data") / "deploy" / "dagster_home"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

Log = Callable[[str], None]


class Topology:
    """The started processes, by name; ``stop()`` leaves none behind."""

    def __init__(self, env: dict[str, str], log_dir: Path, log: Log):
        self.env, self.log_dir, self.log = env, log_dir, log
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, proc: Process) -> None:
        argv = [_resolve_program(proc.argv[0]), *proc.argv[1:]]
        log_path = self.log_dir / f"{proc.name}.log"
        with log_path.open("wb") as out:
            self.procs[proc.name] = subprocess.Popen(
                argv, cwd=resolve_path("."), env=self.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.log(f"started {proc.name} (pid {self.procs[proc.name].pid}; log {log_path})")

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise DataboxError(
                    f"{name} exited unexpectedly (exit {p.returncode}); the end of its log "
                    f"({self.log_dir / (name + '.log')}):\n{_tail(self.log_dir / (name + '.log'))}"
                )

    def stop(self) -> None:
        with _signals_ignored():  # a second Ctrl-C must not abort the clean-up half way
            for p in self.procs.values():
                _killpg(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for name, p in self.procs.items():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.log(f"{name} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
            # What outlives its leader (a run worker, a pool child) gets a moment, then
            # SIGKILL: every group is empty when we return.
            grace = time.monotonic() + 3
            while any(_group_alive(p.pid) for p in self.procs.values()):
                if time.monotonic() > grace:
                    break
                time.sleep(0.1)
            for p in self.procs.values():
                _killpg(p.pid, signal.SIGKILL)
                p.wait()


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _resolve_program(name: str) -> str:
    """``dagster`` → this virtualenv's ``dagster`` (a container has it on PATH)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise ConfigError(f"{name}: not installed in this environment; run `uv sync`")
    return found


def prepare_home(home: Path) -> Path:
    """DAGSTER_HOME with a fresh copy of deploy/production/dagster.yaml (the shipped file
    is the source of truth: a copy left from an earlier run is overwritten)."""
    home = resolve_path(str(home))
    (home / "logs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(resolve_path(str(PRODUCTION_DIR / "dagster.yaml")), home / "dagster.yaml")
    return home


def deploy_up(*, host: str, port: int, workers: int, grpc_port: int, home: Path, log: Log) -> int:
    if workers < 1:
        raise ConfigError(f"--workers {workers}: at least one celery worker is needed")
    check_port_free(port, host, command="databox deploy up")
    check_port_free(grpc_port, "127.0.0.1", command="databox deploy up --grpc-port")
    from databox.deploy.check import deploy_problems

    base = dict(os.environ)
    if problems := deploy_problems(base):
        raise ConfigError(*problems)
    started = time.monotonic()
    home = prepare_home(home)
    env = topology_environment(base, dagster_home=home, grpc_port=grpc_port, workers=workers)
    procs = process_list(host=host, port=port, workers=workers, grpc_port=grpc_port)
    url = f"http://{host}:{port}"
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    topology = Topology(env, home / "logs", log)
    try:
        for p in procs:
            if p.ready in ("grpc", "celery"):
                topology.start(p)
        if not _wait(lambda: _listening("127.0.0.1", grpc_port), topology, stop, "code server"):
            return _stopping(log)
        for p in procs:
            if p.ready in ("http", "none"):
                topology.start(p)
        if not _wait(lambda: _location_loaded(url), topology, stop, f"webserver on {url}"):
            return _stopping(log)
        names = {f"{worker_name(i)}@{socket.gethostname()}" for i in range(1, workers + 1)}
        broker = env["CELERY_BROKER_URL"]
        if not _wait(lambda: _workers_answer(broker, names), topology, stop, "celery workers"):
            return _stopping(log)
        log(f"Dagster UI: {url}  (ready in {time.monotonic() - started:.1f} s; "
            f"{workers} celery workers; Ctrl-C or SIGTERM stops every process)")  # fmt: skip
        while not stop.wait(0.5):
            topology.check_alive()
        return _stopping(log)
    finally:
        topology.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("all processes stopped")


def _stopping(log: Log) -> int:
    log("stopping the topology ...")
    return 0


def _wait(ready: Callable[[], bool], topology: Topology, stop: threading.Event, what: str):
    """True once ``ready()``; False when asked to stop first; a loud error on a timeout
    or a process that exited."""
    deadline = time.monotonic() + START_TIMEOUT
    while not stop.is_set():
        topology.check_alive()
        if ready():
            return True
        if time.monotonic() > deadline:
            raise DataboxError(
                f"the {what} was not ready within {START_TIMEOUT:.0f} s; the logs are in "
                f"{topology.log_dir}"
            )
        stop.wait(0.3)
    return False


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _location_loaded(url: str) -> bool:
    """The webserver answers and has loaded the code location from the code server
    (a load error is raised: it will not fix itself)."""
    try:
        with httpx.Client(timeout=3.0) as client:
            if client.get(f"{url}/server_info").status_code != 200:
                return False
            data = client.post(f"{url}/graphql", json={"query": LOCATION_QUERY}).json()
    except (httpx.HTTPError, ValueError):
        return False
    entries = (data.get("data") or {}).get("workspaceOrError", {}).get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise DataboxError(f"code location {entry['name']} failed to load: {error['message']}")
        if entry.get("loadStatus") == "LOADED" and error.get("__typename") == "RepositoryLocation":
            return True
    return False


def _workers_answer(broker: str, names: set[str]) -> bool:
    from celery import Celery

    app = Celery("databox-deploy-probe", broker=broker)
    try:
        replies = app.control.ping(timeout=1.0)
    except Exception:  # broker hiccup while workers start: try again
        return False
    finally:
        app.close()
    answered = {name for reply in replies for name in reply}
    return names <= answered
