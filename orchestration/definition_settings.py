"""The few settings Dagster needs while it *builds* the definitions (executor, schedule
cron and time zones, sensor interval, first historic partition).

Everything else is read by the resources when a step runs. These cannot wait: they
shape the definitions themselves. A bad value fails the code location's load with one
message naming the variable, its value and the fix (the same wording as ``databox
config``, which reports them too), instead of a bare ``ValueError`` from ``int()``.
"""

from __future__ import annotations

import os
from datetime import date

from databox.config_values import fix_or_unset, positive_int
from databox.ebird.settings import validate_timezone
from databox.errors import ConfigError

EXECUTORS = ("multiprocess", "in_process", "celery")

#: The variable the celery executor, its workers and ``databox deploy check`` read the
#: broker from (Celery itself reads it too, so workers and runs always agree).
CELERY_BROKER_VAR = "CELERY_BROKER_URL"
_BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss")


def _get(name: str, default: str) -> str:
    return (os.environ.get(name) or "").strip() or default


def executor_choice() -> str:
    choice = _get("DATABOX_EXECUTOR", "multiprocess").lower()
    if choice not in EXECUTORS:
        raise ConfigError(
            f"DATABOX_EXECUTOR={choice!r} must be one of {', '.join(EXECUTORS)}; "
            f"{fix_or_unset('multiprocess')}"
        )
    if choice == "celery":
        celery_broker_url()  # validated now: a run must not fail later on a missing broker
    return choice


def celery_broker_url() -> str:
    """The broker URL for ``DATABOX_EXECUTOR=celery`` (required; never logged: it may
    hold a password, so the message shows only its scheme)."""
    raw = _get(CELERY_BROKER_VAR, "")
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in _BROKER_SCHEMES:
        shown = f"a URL with scheme {scheme!r}" if scheme else repr(raw.split(":", 1)[0])
        raise ConfigError(
            f"{CELERY_BROKER_VAR}={shown if raw else '(unset)'}: DATABOX_EXECUTOR=celery needs "
            f"the Celery broker as amqp://user:password@host:5672// (RabbitMQ) or "
            f"redis://host:6379/0; set {CELERY_BROKER_VAR}, or unset DATABOX_EXECUTOR"
        )
    return raw


def telegram_schedule() -> tuple[str, str]:
    """(cron, time zone) of ``daily_pipeline_schedule``."""
    from dagster._utils.schedules import is_valid_cron_string

    cron = _get("TELEGRAM_SCHEDULE_CRON", "0 3 * * *")
    if not is_valid_cron_string(cron):
        raise ConfigError(
            f"TELEGRAM_SCHEDULE_CRON={cron!r} is not a cron expression such as '0 3 * * *' "
            f"(minute hour day month weekday); {fix_or_unset('0 3 * * *')}"
        )
    tz = validate_timezone(
        _get("TELEGRAM_SCHEDULE_TIMEZONE", "UTC"), var="TELEGRAM_SCHEDULE_TIMEZONE"
    )
    return cron, tz


def ebird_timezone() -> str:
    return validate_timezone(_get("EBIRD_SCHEDULE_TIMEZONE", "UTC"))


def ebird_sensor_interval() -> int:
    return positive_int(os.environ, "EBIRD_SENSOR_INTERVAL_SECONDS", 900)


def ebird_history_start() -> str:
    raw = _get("EBIRD_HISTORY_START", "2025-01-01")
    try:
        first = date.fromisoformat(raw)
    except ValueError:
        first = None
    if first is None or first > date.today():
        raise ConfigError(
            f"EBIRD_HISTORY_START={raw!r} must be a past date as YYYY-MM-DD (the first "
            f"historic partition); {fix_or_unset('2025-01-01')}"
        )
    return first.isoformat()
