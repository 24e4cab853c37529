"""Alerts: the webhook client against a real loopback HTTP server, and both alert
sensors evaluated with Dagster's test contexts over real failed runs and checks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from databox.alerts import (
    Alert,
    AlertSettings,
    alert_settings,
    post_json,
    redact_webhook,
    send_alert,
    summarize_error,
)
from databox.errors import ConfigError
from databox.warehouse import connect
from orchestration import alerts
from orchestration.freshness import telegram_freshness_check
from orchestration.inline_checks import evaluate_checks
from orchestration.resources import WarehouseResource

SECRET = "T000/B000/s3cr3tT0ken"


class Receiver:
    """A loopback webhook: ``mode`` ok (200), error (500) or hang (never answers)."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.bodies: list[dict] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                if receiver.mode == "hang":
                    receiver.release.wait(10)
                    return
                self.send_response(500 if receiver.mode == "error" else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}?token=x"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


ALERT = Alert(
    title="Run failed: daily_pipeline_job",
    run_id="abc123",
    error="load_raw_data: boom",
    link="http://127.0.0.1:3000/runs/abc123",
    fields={"job": "daily_pipeline_job"},
)


def test_payload_is_slack_compatible(receiver):
    delivery = post_json(receiver.url, ALERT.payload(), timeout=5)
    assert delivery.posted and "HTTP 200" in delivery.detail
    assert SECRET not in delivery.detail and "token" not in delivery.detail
    (body,) = receiver.bodies
    assert set(body) == {"text", "blocks"}
    assert "daily_pipeline_job" in body["text"] and "abc123" in body["text"]
    assert "http://127.0.0.1:3000/runs/abc123" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "actions"]
    assert body["blocks"][2]["text"]["text"] == "```load_raw_data: boom```"
    assert body["blocks"][3]["elements"][0]["url"] == "http://127.0.0.1:3000/runs/abc123"


def test_hanging_webhook_returns_within_the_timeout(receiver):
    receiver.mode = "hang"
    started = time.monotonic()
    delivery = post_json(receiver.url, ALERT.payload(), timeout=0.5)
    assert time.monotonic() - started < 2
    assert not delivery.posted and "timed out after 0.5 s" in delivery.detail
    assert SECRET not in delivery.detail


def test_error_and_refused_webhooks_are_reported_not_raised(receiver):
    receiver.mode = "error"
    delivery = post_json(receiver.url, ALERT.payload(), timeout=5)
    assert not delivery.posted and "HTTP 500" in delivery.detail
    receiver.close()
    refused = post_json(receiver.url, ALERT.payload(), timeout=2)
    assert not refused.posted and "refused" in refused.detail.lower()
    assert SECRET not in delivery.detail + refused.detail


def test_unset_url_is_not_posted():
    delivery = send_alert(ALERT, AlertSettings(webhook_url=None))
    assert not delivery.posted and "unset" in delivery.detail


def test_settings_validated_and_redacted():
    s = alert_settings({"DATABOX_UI_URL": "http://ui:3000/", "DATABOX_ALERT_TIMEOUT": "2.5"})
    assert (s.webhook_url, s.ui_url, s.timeout) == (None, "http://ui:3000", 2.5)
    with pytest.raises(ConfigError) as exc:
        alert_settings(
            {"DATABOX_ALERT_WEBHOOK_URL": f"hooks/{SECRET}", "DATABOX_ALERT_TIMEOUT": "0"}
        )
    assert len(exc.value.problems) == 2 and SECRET not in str(exc.value)
    assert redact_webhook(f"https://hooks.slack.com/services/{SECRET}?a=b") == (
        "https://hooks.slack.com/***"
    )


def test_error_summary_is_bounded():
    text = "\n".join(f"line {i}" for i in range(50))
    assert summarize_error(text).splitlines()[-1] == "line 7"
    assert len(summarize_error("x" * 5000)) == 1500
    assert summarize_error("") == "(no error message)"


# --- the sensors ----------------------------------------------------------------------


@dg.asset
def exploding_asset():
    raise RuntimeError("the warehouse is on fire\nsecond line\n" + "detail\n" * 40)


def _failed_run(instance):
    result = dg.materialize([exploding_asset], instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    (record,) = instance.get_records_for_run(
        run_id=run.run_id, of_type=DagsterEventType.RUN_FAILURE
    ).records
    return run, record.event_log_entry.dagster_event


def _alert_env(monkeypatch, url: str | None):
    monkeypatch.delenv("DATABOX_ALERT_WEBHOOK_URL", raising=False)
    if url:
        monkeypatch.setenv("DATABOX_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("DATABOX_UI_URL", "http://dagster.example:3000")
    monkeypatch.setenv("DATABOX_ALERT_TIMEOUT", "2")


def _logged(capfd) -> str:
    """What the sensors logged: their loggers write to the console (the tick log in a
    real deployment), not through the root logger."""
    out, err = capfd.readouterr()
    return out + err


def _run_failure_sensor(instance, run, event):
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
    ).for_run_failure()
    alerts.run_failure_alert(context)


def test_run_failure_sensor_posts_logs_and_survives_a_failing_webhook(receiver, monkeypatch, capfd):
    with dg.instance_for_test() as instance:
        run, event = _failed_run(instance)
        _alert_env(monkeypatch, receiver.url)
        _run_failure_sensor(instance, run, event)
        (body,) = receiver.bodies
        _alert_env(monkeypatch, None)  # unset: logged, not posted
        _run_failure_sensor(instance, run, event)
        assert len(receiver.bodies) == 1
        receiver.mode = "error"
        _alert_env(monkeypatch, receiver.url)
        _run_failure_sensor(instance, run, event)  # HTTP 500: logged, no exception
    assert body["blocks"][0]["text"]["text"] == f"Run failed: {run.job_name}"
    assert f"http://dagster.example:3000/runs/{run.run_id}" in body["text"]
    error = body["blocks"][2]["text"]["text"]
    assert error.startswith("```exploding_asset: RuntimeError: the warehouse is on fire\n")
    assert len(error) < 1600 and error.count("\n") < 8
    logged = _logged(capfd)
    assert "DATABOX_ALERT_WEBHOOK_URL is unset: alert logged, not posted. ALERT: Run" in logged
    assert "failed: HTTP 500 Internal Server Error. ALERT: Run failed" in logged
    assert run.run_id in logged and SECRET not in logged


@dg.asset(name="load_raw_data", check_specs=[telegram_freshness_check.spec])
def stub_load_raw_data(context, warehouse: WarehouseResource):
    """Stands in for the Telegram load: the real freshness check is evaluated in its
    step, as in load_raw_data."""
    yield dg.MaterializeResult()
    yield from evaluate_checks(context, [telegram_freshness_check], warehouse)


@dg.asset_check(asset=stub_load_raw_data)
def warn_only_check():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


def test_failed_check_sensor_posts_error_checks_since_its_cursor(
    receiver, monkeypatch, capfd, duckdb_url
):
    _alert_env(monkeypatch, receiver.url)
    monkeypatch.setenv("TELEGRAM_FRESHNESS_HOURS", "48")
    with connect(duckdb_url).transaction() as tx:  # the newest message is 3 days old
        tx.execute("CREATE SCHEMA raw")
        tx.execute("CREATE TABLE raw.telegram_messages (date timestamptz)")
        tx.execute("INSERT INTO raw.telegram_messages VALUES (now() - INTERVAL 72 HOUR)")
    with dg.instance_for_test() as instance:
        defs = dg.Definitions(
            assets=[stub_load_raw_data],
            asset_checks=[warn_only_check],
            resources={"warehouse": WarehouseResource(database_url=duckdb_url)},
        )
        first = dg.build_sensor_context(instance=instance, definitions=defs)
        alerts.failed_check_alert(first)  # starts at the newest execution: none yet
        assert json.loads(first.cursor) == {"after": 0, "done": []}
        result = dg.materialize(
            [stub_load_raw_data, warn_only_check],
            instance=instance,
            resources={"warehouse": WarehouseResource(database_url=duckdb_url)},
            raise_on_error=False,
        )
        context = dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs)
        alerts.failed_check_alert(context)
        assert "alert sent (posted to http://127.0.0.1:" in _logged(capfd)
        (body,) = receiver.bodies  # the WARN check is not an alert
        assert body["blocks"][0]["text"]["text"] == (
            "Check failed: load_raw_data telegram_freshness"
        )
        assert f"/runs/{result.run_id}" in body["text"]
        error = body["blocks"][2]["text"]["text"]
        assert "STALE" in error and "threshold 48 h" in error
        # The next tick starts after what was read: nothing is posted twice.
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor, definitions=defs)
        alerts.failed_check_alert(again)
        assert len(receiver.bodies) == 1
        assert json.loads(again.cursor) == {"after": 2, "done": []}
    assert SECRET not in _logged(capfd) + json.dumps(receiver.bodies)


def test_sensor_defaults_follow_the_profile(monkeypatch):
    monkeypatch.setenv("DATABOX_PROFILE", "production")
    assert alerts._default_status() == dg.DefaultSensorStatus.RUNNING
    monkeypatch.delenv("DATABOX_PROFILE")
    assert alerts._default_status() == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("DATABOX_PROFILE", "prod")
    with pytest.raises(ConfigError, match="DATABOX_PROFILE='prod' must be one of"):
        alerts.alert_profile()
    monkeypatch.setenv("DATABOX_ALERT_SENSOR_INTERVAL", "5")
    assert alerts.alert_sensor_interval() == 5
    monkeypatch.setenv("DATABOX_ALERT_SENSOR_INTERVAL", "0")
    with pytest.raises(ConfigError, match="DATABOX_ALERT_SENSOR_INTERVAL='0'"):
        alerts.alert_sensor_interval()


def test_check_sensor_cursor_waits_for_a_check_still_running(monkeypatch):
    """An execution gets its id when planned: one still running holds ``after`` back so
    its result is not skipped, while newer resolved ones are remembered in ``done``."""
    from types import SimpleNamespace

    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    def record(i, status):
        return SimpleNamespace(id=i, status=status, run_id=f"run{i}", event=None)

    stored = [record(5, Status.PLANNED), record(6, Status.SUCCEEDED), record(7, Status.FAILED)]
    runs = {"run5": SimpleNamespace(is_finished=False)}
    instance = SimpleNamespace(get_run_by_id=runs.get)
    monkeypatch.setattr(alerts, "_check_keys", lambda context: [])
    monkeypatch.setattr(
        alerts, "_executions_after", lambda inst, keys, after: [r for r in stored if r.id > after]
    )
    monkeypatch.delenv("DATABOX_ALERT_WEBHOOK_URL", raising=False)
    context = SimpleNamespace(
        instance=instance, cursor=json.dumps({"after": 4, "done": []}), log=None
    )
    context.update_cursor = lambda c: setattr(context, "cursor", c)
    alerts.failed_check_alert._raw_fn(context)
    assert json.loads(context.cursor) == {"after": 4, "done": [6, 7]}
    runs["run5"].is_finished = True  # ended without evaluating: resolved, nothing to send
    alerts.failed_check_alert._raw_fn(context)
    assert json.loads(context.cursor) == {"after": 7, "done": []}
