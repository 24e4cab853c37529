"""``databox demo --ui``: the Dagster UI over the demo's data, stopped without leftovers.

``dagster dev`` runs with the demo's environment (warehouse, lake, instance, and the
replicas' URLs and token), so a run launched from the UI scrapes the local t.me replica
and calls the local eBird replica exactly as the demo's own jobs did. The replicas are
threads of this process: they serve for as long as the UI does.

Processes: ``dagster dev`` starts in a session of its own, so its process group holds it,
the webserver, the daemon, the code server and every run they launch. Ctrl-C or SIGTERM
to this process asks ``dagster dev`` to shut down (SIGINT, its graceful path); whatever
is still alive in its group afterwards is killed, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from databox.config import resolve_path
from databox.errors import ConfigError, DataboxError

#: Dagster 1.13's CLI commands (`dev`, `job execute`, `asset materialize`) print a
#: FutureWarning pointing at its newer `dg` CLI before our code loads; this filters
#: exactly that one in the processes the demo starts (not globally).
DAGSTER_CLI_WARNING_FILTER = "ignore:Function `:FutureWarning:click.core"

UI_HOST = "127.0.0.1"
#: `dagster dev` answers on /server_info after ~15 s on a 2-core laptop; allow a slow one.
STARTUP_TIMEOUT = 180.0
#: dagster dev's own shutdown waits for the webserver and the daemon; this bounds ours.
SHUTDOWN_TIMEOUT = 45.0

#: The path in Dagster 1.13's UI (an asset job has no Launchpad tab; see docs/ui-*.png).
LAUNCH_HINT = (
    "launch a run: Jobs → daily_pipeline_job → Materialize all "
    "(the ▾ beside it → Open launchpad shows the config first)"
)
#: Ctrl-C, kill/docker stop, and a closed terminal: each stops the UI and the replicas.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Log = Callable[[str], None]


def check_port_free(
    port: int, host: str = UI_HOST, command: str = "uv run databox demo --ui --keep"
) -> None:
    """Fail before any work when the UI could not listen on ``host:port``; the error
    suggests ``command --port <next>``."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: a TCP port is between 1 and 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option as the webserver's listener: a socket in TIME_WAIT is no conflict,
        # a listening one (another dagster dev, an earlier demo UI) is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else "is not allowed"
            raise ConfigError(
                f"port {port} on {host} {reason} (another `dagster dev` or an earlier "
                f"`databox demo --ui` still running?). Stop it, or pick another port with "
                f"--port, e.g. `{command} --port {_suggest(port)}`"
            ) from None


def _suggest(port: int) -> int:
    return port + 1 if port < 65535 else 3001


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """While the demo's jobs run, SIGTERM ends the demo like Ctrl-C does: the exception
    makes ``subprocess.run`` kill the running ``dagster job execute`` on its way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def dagster_dev_command(port: int, host: str = UI_HOST) -> list[str]:
    return [sys.executable, "-W", DAGSTER_CLI_WARNING_FILTER, "-m", "dagster", "dev", "-m", "orchestration.definitions",
            "-h", host, "-p", str(port)]  # fmt: skip


def serve_ui(env: dict[str, str], port: int, log_path: Path, log: Log) -> int:
    """Run ``dagster dev`` until Ctrl-C or SIGTERM; 0 after a requested stop.

    Raises ``DataboxError`` (with the end of dagster dev's log) when it exits on its own
    or never answers.
    """
    url = f"http://{UI_HOST}:{port}"
    stop = threading.Event()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if on_main_thread:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        log(f"starting the Dagster UI (dagster dev; its log: {log_path}) ...")
        with log_path.open("wb") as out:
            # A Python handler is reset to the default across exec, so SIGINT/SIGTERM
            # reach dagster dev with their default meaning even if ours were ignored.
            proc = subprocess.Popen(
                dagster_dev_command(port), cwd=resolve_path("."), env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            if not _wait_until_up(proc, url, stop, log_path):
                log("stopping the Dagster UI before it answered ...")
                return 0
            log(f"Dagster UI: {url}  (Ctrl-C stops it and the replicas)")
            log(LAUNCH_HINT)
            while not stop.wait(0.5):
                if proc.poll() is not None:
                    raise DataboxError(_exited_message(proc, log_path))
            log("stopping the Dagster UI ...")
            return 0
        finally:
            stop_process_group(proc, log)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_until_up(proc: subprocess.Popen, url: str, stop: threading.Event, log_path: Path):
    """True once the webserver answers /server_info; False when asked to stop first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while not stop.is_set():
            if proc.poll() is not None:
                raise DataboxError(_exited_message(proc, log_path))
            try:
                if client.get(f"{url}/server_info").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise DataboxError(
                    f"dagster dev did not answer on {url}/server_info within "
                    f"{STARTUP_TIMEOUT:.0f} s; the end of its log ({log_path}):\n" + _tail(log_path)
                )
            stop.wait(0.5)
    return False


def _exited_message(proc: subprocess.Popen, log_path: Path) -> str:
    return (
        f"dagster dev exited unexpectedly (exit {proc.returncode}); the end of its log "
        f"({log_path}):\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log unreadable: {exc})"


def stop_process_group(proc: subprocess.Popen, log: Log) -> None:
    """SIGINT to dagster dev (its graceful shutdown), then kill what is left of its group."""
    # A second Ctrl-C while we stop must not abort the clean-up half way.
    with _signals_ignored():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"dagster dev did not stop within {SHUTDOWN_TIMEOUT:.0f} s; killing it")
        # Children that outlive dagster dev (a run worker, a slow code server) get a
        # moment to finish, then SIGKILL: the group must be empty when we return.
        deadline = time.monotonic() + 5
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is in process group ``pgid``."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: any member, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
