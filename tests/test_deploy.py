"""`databox deploy up` end to end: the production topology (PostgreSQL instance, queued
runs, gRPC code server, webserver, daemon, celery workers on RabbitMQ) started once.

One test, several sub-assertions, so the ~20 s start is paid once: both pipelines are
launched through the webserver's GraphQL API, queued and dequeued, their steps run on
the celery workers, the warehouse (a second fresh PostgreSQL database) holds their
rows, a failing run is held back by the Telegram tag limit and then reaches the alert
webhook, and SIGTERM to `deploy up` leaves no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import psycopg
import pytest

from tests.conftest import REPO_ROOT, SHARED_DIR, create_database, drop_database, require_service

BROKER = os.environ.get("DATABOX_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
MODEL = SHARED_DIR / "models" / "yolox_nano.onnx"
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def _broker_reachable() -> bool:
    host, port = "127.0.0.1", 5672
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def warehouse_db(pg_server: str):
    url = create_database(pg_server, "databox_test_wh")
    try:
        yield url
    finally:
        drop_database(pg_server, url)


@pytest.fixture
def webhook():
    _Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", _Webhook.received
    finally:
        server.shutdown()
        server.server_close()


def _launch(ui: str, job: str, run_config: dict | None = None) -> str:
    params = {
        "selector": {"repositoryLocationName": "databox", "repositoryName": "__repository__",
                     "jobName": job},
        "runConfigData": run_config or {},
    }  # fmt: skip
    data = httpx.post(f"{ui}/graphql", json={"query": LAUNCH, "variables": {"p": params}},
                      timeout=30).json()  # fmt: skip
    result = data["data"]["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _wait_done(ui: str, run_ids: list[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = {}
        for rid in run_ids:
            query = {"query": STATUS, "variables": {"id": rid}}
            runs[rid] = httpx.post(f"{ui}/graphql", json=query, timeout=10).json()["data"][
                "runOrError"
            ]
        if all(r["status"] in DONE for r in runs.values()) or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def _events(instance_url: str, run_id: str) -> list[tuple[str | None, float, dict]]:
    with psycopg.connect(instance_url) as conn:
        rows = conn.execute(
            "select dagster_event_type, extract(epoch from timestamp), event from event_logs "
            "where run_id = %s order by id",
            (run_id,),
        ).fetchall()
    # Dagster stores run events under either spelling (PIPELINE_START / RUN_START).
    return [((t or "").replace("PIPELINE_", "RUN_"), float(ts), json.loads(e)) for t, ts, e in rows]


def _first(events, kind: str) -> float:
    times = [ts for t, ts, _ in events if t == kind]
    assert times, f"no {kind} event in the run"
    return times[0]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _tree(root: int) -> set[int]:
    """``root`` and every live descendant, plus every process in their groups."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        procs[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgid
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (pp, _) in procs.items() if pp == parent and p not in found]
        found.update(children)
        frontier.extend(children)
    groups = {procs[p][1] for p in found if p in procs} - {os.getpgrp()}
    return found | {p for p, (_, g) in procs.items() if g in groups}


def test_deploy_up_runs_both_pipelines_on_celery_and_stops_clean(
    tmp_path, pg_url, warehouse_db, webhook, coco_photos
):
    from databox.replica.ebird_api import EbirdApiReplica, build_dataset
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus

    require_service(_broker_reachable(), f"RabbitMQ not reachable at {BROKER}")
    hook_url, received = webhook
    port, grpc_port = _free_port(), _free_port()
    corpus = build_demo_corpus(coco_photos[:4], posts_per_channel=20, days=5)
    dataset = build_dataset(regions=("US-NY",), days=3)
    with (
        TelegramWebReplica(corpus) as telegram,
        EbirdApiReplica(dataset, token="deploy-token") as ebird,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "EBIRD_"))}
        env.update({
            "DAGSTER_PG_URL": pg_url, "CELERY_BROKER_URL": BROKER, "DATABASE_URL": warehouse_db,
            "DATA_LAKE_DIR": str(tmp_path / "lake"), "PROCESSED_DATA_DIR": str(tmp_path / "out"),
            "DATABOX_REPORTS_DIR": str(tmp_path / "reports"),
            "DLT_DATA_DIR": str(tmp_path / "dlt"), "YOLO_MODEL": str(MODEL),
            "TELEGRAM_WEB_BASE_URL": telegram.base_url, "TELEGRAM_CHANNELS": "CheMed123",
            "TELEGRAM_API_ID": "", "TELEGRAM_API_HASH": "", "TELEGRAM_SESSION": "",
            "EBIRD_API_BASE_URL": ebird.base_url, "EBIRD_API_TOKEN": "deploy-token",
            "EBIRD_REGIONS": "US-NY", "EBIRD_DAILY_HISTORIC_DAYS": "1",
            "DATABOX_ALERT_WEBHOOK_URL": hook_url, "DATABOX_ALERT_SENSOR_INTERVAL": "2",
        })  # fmt: skip
        log_path = tmp_path / "deploy_up.log"
        argv = [sys.executable, "-m", "databox", "deploy", "up", "--workers", "2",
                "--port", str(port), "--grpc-port", str(grpc_port),
                "--home", str(tmp_path / "dagster_home")]  # fmt: skip
        with log_path.open("wb") as out:
            up = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        started: set[int] = set()
        try:
            deadline = time.monotonic() + 120
            while "Dagster UI:" not in log_path.read_text():
                assert up.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
            ui = f"http://127.0.0.1:{port}"

            telegram_run = _launch(ui, "daily_pipeline_job")
            ebird_run = _launch(ui, "daily_ebird_pipeline")
            # An honest failure: a channel the replica does not have. Same pipeline tag
            # as telegram_run, so the queue must hold it until telegram_run is done.
            failing_run = _launch(
                ui, "daily_pipeline_job",
                {"resources": {"telegram": {"config": {"channels": "nosuchchannel"}}}},
            )  # fmt: skip
            runs = _wait_done(ui, [telegram_run, ebird_run, failing_run], timeout=240)
            started = _tree(up.pid)
            logs = log_path.read_text()
            assert runs[telegram_run]["status"] == "SUCCESS", (runs, logs)
            assert runs[ebird_run]["status"] == "SUCCESS", (runs, logs)
            assert runs[failing_run]["status"] == "FAILURE", runs

            events = {rid: _events(pg_url, rid) for rid in runs}
            for evs in events.values():
                kinds = [t for t, _, _ in evs]
                # Dagster 1.13's queue daemon logs no DEQUEUED event: leaving the queue is
                # the daemon's RUN_STARTING (it launches the run), after RUN_ENQUEUED.
                assert "RUN_ENQUEUED" in kinds and "RUN_STARTING" in kinds, sorted(set(kinds))
                assert _first(evs, "RUN_ENQUEUED") <= _first(evs, "RUN_STARTING")
                assert _first(evs, "RUN_STARTING") <= _first(evs, "RUN_START")
            tags = {t["key"]: t["value"] for t in runs[ebird_run]["tags"]}
            assert tags.get("databox/pipeline") == "ebird", tags
            # The tag limit: the second Telegram run left the queue only after the first ended.
            assert _first(events[failing_run], "RUN_STARTING") >= _first(
                events[telegram_run], "RUN_SUCCESS"
            )
            # Every step ran in a celery worker of this topology.
            for rid in (telegram_run, ebird_run):
                evs = events[rid]
                steps = {e["step_key"] for t, _, e in evs if t == "STEP_START"}
                # The worker's own engine event: "[CeleryExecutor] Executing steps <key>
                # in celery worker", with the worker's node name in its metadata.
                on_celery = {e["step_key"] for t, _, e in evs
                             if "in celery worker" in ((e.get("dagster_event") or {})
                                                       .get("message") or "")}  # fmt: skip
                assert steps and steps <= on_celery, (steps, on_celery)
                assert "databox-worker-" in json.dumps([e for _, _, e in evs])

            # Each worker imported the code location at its start, not in its first step.
            for i in (1, 2):
                worker_log = (tmp_path / "dagster_home" / "logs" / f"worker-{i}.log").read_text()
                assert "databox worker: code location imported" in worker_log, worker_log[-2000:]

            with psycopg.connect(warehouse_db) as conn:
                count = conn.execute("select count(*) from raw.telegram_messages").fetchone()[0]
                assert count > 0
                # Through the SQLMesh marts on PostgreSQL, to the report.
                facts = "select count(*) from telegram_marts.fct_messages"
                assert 0 < conn.execute(facts).fetchone()[0] <= count
                obs = "select count(*) from raw_ebird.recent_observations"
                assert conn.execute(obs).fetchone()[0] > 0
            assert (tmp_path / "reports" / "report.html").is_file()

            # The daemon's run-failure sensor posts the failed run to the webhook.
            deadline = time.monotonic() + 30
            while not any(failing_run in json.dumps(a) for a in received):
                assert time.monotonic() < deadline, f"no alert for {failing_run}: {received}"
                time.sleep(0.5)
            assert not any(r in json.dumps(received) for r in (telegram_run, ebird_run))
        finally:
            started |= _tree(up.pid)
            if up.poll() is None:
                up.send_signal(signal.SIGTERM)
            try:
                code = up.wait(timeout=40)
            except subprocess.TimeoutExpired:
                # `deploy up` hung: kill what it started ourselves, then fail.
                for pid in started | {up.pid}:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                raise
        assert code == 0, log_path.read_text()
        assert "all processes stopped" in log_path.read_text()
        time.sleep(0.2)
        left = sorted(p for p in started if _alive(p))
        assert not left, f"processes left behind: {left}"
