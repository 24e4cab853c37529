"""Alert sensors: a failed run or a failed ERROR-severity asset check → the webhook.

* ``run_failure_alert``: every failed run of a job of this code location.
* ``failed_check_alert``: new asset check evaluations (the ``ASSET_CHECK_EVALUATION``
  events, read through the check execution records, whose ids are global on every
  storage) with ``passed=False`` and severity ERROR since its cursor — the freshness
  checks (``orchestration.freshness``) and every other ERROR check. Its first tick
  starts at the newest execution already stored: switching it on never replays history.

Both post ``databox.alerts.Alert.payload()`` to ``DATABOX_ALERT_WEBHOOK_URL`` (or only
log the alert when it is unset). A webhook that fails (refused, HTTP error, timeout
after ``DATABOX_ALERT_TIMEOUT`` s) is logged with the whole alert text and **not
retried**: the sensor moves on, so one dead webhook cannot hold back later alerts or
repeat an alert every tick; the tick log keeps what would have been sent. A bad alert
setting fails the tick with a message naming the variable; the check sensor's cursor
then stays put, so no check alert is lost once it is fixed.

Sensors default to RUNNING under ``DATABOX_PROFILE=production`` (the production
topology sets it), STOPPED otherwise; ``DATABOX_ALERT_SENSOR_INTERVAL`` (seconds,
default 30) sets how often they tick. Both are read when the definitions load.
"""

from __future__ import annotations

import json
import os

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from databox.alerts import Alert, alert_settings, run_url, send_alert, summarize_error
from databox.config_values import env_getter, positive_int
from databox.errors import ConfigError

PROFILES = ("laptop", "production")
#: Check evaluations handled per tick; the rest wait for the next tick.
CHECK_BATCH = 100

__all__ = ["alert_sensors"]


def alert_profile() -> str:
    profile = (env_getter(os.environ)("DATABOX_PROFILE") or "laptop").lower()
    if profile not in PROFILES:
        raise ConfigError(
            f"DATABOX_PROFILE={profile!r} must be one of {', '.join(PROFILES)} "
            "(production: the alert sensors start RUNNING); fix it, or unset it (laptop)"
        )
    return profile


def alert_sensor_interval() -> int:
    return positive_int(os.environ, "DATABOX_ALERT_SENSOR_INTERVAL", 30)


def _default_status() -> dg.DefaultSensorStatus:
    if alert_profile() == "production":
        return dg.DefaultSensorStatus.RUNNING
    return dg.DefaultSensorStatus.STOPPED


def _deliver(log, alert: Alert) -> bool:
    """Send (or, without a webhook, log) one alert; never raises."""
    delivery = send_alert(alert, alert_settings(os.environ))
    if delivery.posted:
        log.info(f"alert sent ({delivery.detail}): {alert.title}, run {alert.run_id}")
    else:
        # Unset URL or failed webhook: the full alert goes to the tick log instead.
        log.warning(f"{delivery.detail}. ALERT: {alert.text()}")
    return delivery.posted


def _user_message(error) -> str:
    """The message of the error the step's code raised: Dagster wraps it in a
    ``DagsterExecutionStepExecutionError`` ("Error occurred while executing op …")
    whose cause is the one that says what went wrong."""
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return error.message


def run_failure_alert_for(context: dg.RunFailureSensorContext) -> Alert:
    """The alert of one failed run: job, failed steps (assets), the first error lines."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    if steps:
        errors = []
        for event in steps:
            error = event.event_specific_data.error if event.event_specific_data else None
            message = _user_message(error) if error else (event.message or "")
            errors.append(f"{event.step_key}: {message.strip()}")
        error_text = "\n".join(errors)
    else:  # failed before or between steps (config, executor, a killed worker)
        error_text = context.failure_event.message or ""
    fields = {"job": run.job_name}
    if steps:
        fields["failed steps"] = ", ".join(sorted({e.step_key or "?" for e in steps}))
    settings = alert_settings(os.environ)
    return Alert(
        title=f"Run failed: {run.job_name}",
        run_id=run.run_id,
        error=summarize_error(error_text),
        link=run_url(settings.ui_url, run.run_id),
        fields=fields,
    )


@dg.run_failure_sensor(
    name="run_failure_alert",
    description="Posts every failed run of this code location to DATABOX_ALERT_WEBHOOK_URL.",
    minimum_interval_seconds=alert_sensor_interval(),
    default_status=_default_status(),
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    _deliver(context.log, run_failure_alert_for(context))


def check_alert_for(record) -> Alert | None:
    """The alert of one resolved check execution, or None when it needs none (passed,
    a WARN-severity check, or never evaluated: its run's failure is alerted instead)."""
    event = record.event.dagster_event if record.event else None
    evaluation = event.event_specific_data if event else None
    if not isinstance(evaluation, AssetCheckEvaluation):
        return None
    if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    asset = evaluation.asset_key.to_user_string()
    details = [evaluation.description or ""]
    for key, value in evaluation.metadata.items():
        details.append(f"{key}: {getattr(value, 'value', value)}")
    settings = alert_settings(os.environ)
    return Alert(
        title=f"Check failed: {asset} {evaluation.check_name}",
        run_id=record.run_id,
        error=summarize_error("\n".join(d for d in details if d)),
        link=run_url(settings.ui_url, record.run_id),
        fields={"asset": asset, "check": evaluation.check_name},
    )


def _check_keys(context: dg.SensorEvaluationContext):
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError(
            "failed_check_alert needs the code location's definitions to list its checks"
        )
    return sorted(context.repository_def.asset_graph.asset_check_keys, key=str)


def _executions_after(instance, keys, after: int) -> list:
    """Check executions with an id above ``after``, oldest first. Execution ids are
    global and assigned when a check is planned (unlike event storage ids, which the
    laptop's run-sharded SQLite storage numbers per run)."""
    storage = instance.event_log_storage
    found = []
    for key in keys:
        history = storage.get_asset_check_execution_history(key, limit=CHECK_BATCH)
        found.extend(r for r in history if r.id > after)
    return sorted(found, key=lambda r: r.id)


def _resolved(instance, record) -> bool:
    """Evaluated, or planned in a run that has ended without evaluating it."""
    if record.status != AssetCheckExecutionRecordStatus.PLANNED:
        return True
    run = instance.get_run_by_id(record.run_id)
    return run is None or run.is_finished


@dg.sensor(
    name="failed_check_alert",
    description=(
        "Posts every failed asset check of severity ERROR (freshness included) to "
        "DATABOX_ALERT_WEBHOOK_URL."
    ),
    minimum_interval_seconds=alert_sensor_interval(),
    default_status=_default_status(),
)
def failed_check_alert(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Cursor ``{"after": id, "done": [ids]}``: every execution up to ``after`` is
    handled, ``done`` are those handled above it while an older one was still running
    (an execution gets its id when planned and its result later)."""
    alert_settings(os.environ)  # a bad setting fails the tick before the cursor moves
    instance, keys = context.instance, _check_keys(context)
    if context.cursor is None:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
        start = max((r.id for r in latest.values()), default=0)
        context.update_cursor(json.dumps({"after": start, "done": []}))
        return dg.SkipReason(f"started after check execution {start}: history not replayed")
    cursor = json.loads(context.cursor)
    after, done = int(cursor["after"]), set(cursor["done"])
    above = _executions_after(instance, keys, after)
    records = [r for r in above if r.id not in done]
    sent = failed = 0
    pending = []
    for record in records:
        if not _resolved(instance, record):
            pending.append(record.id)
            continue
        alert = check_alert_for(record)
        if alert is not None:
            if _deliver(context.log, alert):
                sent += 1
            else:
                failed += 1
        done.add(record.id)  # delivered or not: a dead webhook is not retried
    seen = [after, *(r.id for r in above)]
    new_after = min(pending) - 1 if pending else max(seen)
    done = sorted(i for i in done if i > new_after)
    context.update_cursor(json.dumps({"after": new_after, "done": done}))
    return dg.SkipReason(
        f"{len(records)} check executions read ({len(pending)} still running), "
        f"{sent} alerts posted, {failed} only logged"
    )


alert_sensors: list[dg.SensorDefinition] = [run_failure_alert, failed_check_alert]
