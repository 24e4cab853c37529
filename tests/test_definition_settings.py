"""Settings the Dagster definitions are built from: a bad value fails the code
location's load with a message naming the variable and its value, not a bare
ValueError, and the defaults and good values come through."""

from __future__ import annotations

import pytest

from databox.errors import ConfigError
from orchestration import definition_settings as ds

BAD = [
    (ds.executor_choice, "DATABOX_EXECUTOR", "fast", "must be one of multiprocess, in_process"),
    (ds.telegram_schedule, "TELEGRAM_SCHEDULE_CRON", "every day", "is not a cron expression"),
    (ds.telegram_schedule, "TELEGRAM_SCHEDULE_TIMEZONE", "Mars/Olympus", "not an IANA time zone"),
    (ds.ebird_timezone, "EBIRD_SCHEDULE_TIMEZONE", "nowhere", "not an IANA time zone"),
    (ds.ebird_sensor_interval, "EBIRD_SENSOR_INTERVAL_SECONDS", "15m", "positive whole number"),
    (ds.ebird_sensor_interval, "EBIRD_SENSOR_INTERVAL_SECONDS", "0", "positive whole number"),
    (ds.ebird_history_start, "EBIRD_HISTORY_START", "2025-13-01", "past date as YYYY-MM-DD"),
    (ds.ebird_history_start, "EBIRD_HISTORY_START", "2999-01-01", "past date as YYYY-MM-DD"),
]


@pytest.mark.parametrize(
    ("read", "var", "value", "expected"), BAD, ids=[f"{b[1]}={b[2]}" for b in BAD]
)
def test_a_bad_value_names_the_variable_value_and_fix(monkeypatch, read, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as raised:
        read()
    message = str(raised.value)
    assert message.startswith(f"{var}={value!r}")
    assert expected in message
    assert "unset it for" in message


def test_defaults_and_good_values(monkeypatch):
    for var in ("DATABOX_EXECUTOR", "TELEGRAM_SCHEDULE_CRON", "TELEGRAM_SCHEDULE_TIMEZONE",
                "EBIRD_SCHEDULE_TIMEZONE", "EBIRD_SENSOR_INTERVAL_SECONDS", "EBIRD_HISTORY_START"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    assert ds.executor_choice() == "multiprocess"
    assert ds.telegram_schedule() == ("0 3 * * *", "UTC")
    assert ds.ebird_sensor_interval() == 900
    assert ds.ebird_history_start() == "2025-01-01"
    monkeypatch.setenv("DATABOX_EXECUTOR", " In_Process ")
    monkeypatch.setenv("TELEGRAM_SCHEDULE_CRON", "30 4 * * 1-5")
    monkeypatch.setenv("TELEGRAM_SCHEDULE_TIMEZONE", "Africa/Addis_Ababa")
    assert ds.executor_choice() == "in_process"
    assert ds.telegram_schedule() == ("30 4 * * 1-5", "Africa/Addis_Ababa")
