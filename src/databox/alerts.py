"""Alerts: Slack-compatible webhook payloads and a webhook client that never raises.

Plain Python (no Dagster): the sensors in ``orchestration/alerts.py`` turn a failed run
or a failed asset check into an ``Alert`` and hand it to ``send_alert``.

* ``DATABOX_ALERT_WEBHOOK_URL``: where alerts are POSTed (Slack incoming webhook or
  anything that accepts ``{"text": …, "blocks": […]}``). Unset: alerts are only logged.
  The URL usually embeds a token in its path, so it is only ever shown as
  ``scheme://host/***`` (``redact_webhook``).
* ``DATABOX_UI_URL``: the Dagster UI the run links point to (default
  http://127.0.0.1:3000 → ``<base>/runs/<run_id>``).
* ``DATABOX_ALERT_TIMEOUT``: seconds for connecting and for reading the answer (default 5).

A webhook that refuses, answers an error or hangs is reported in the returned
``Delivery`` (and logged by the caller); it never raises, so alerting can never fail a
run or stop a sensor from handling the next alert.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from databox.config_values import env_getter, fix_or_unset
from databox.errors import ConfigError

DEFAULT_UI_URL = "http://127.0.0.1:3000"
DEFAULT_TIMEOUT = 5.0
#: Bounds of the error summary: Slack truncates long sections and a traceback's first
#: lines say what failed; the full text stays in the run's logs.
SUMMARY_LINES = 8
SUMMARY_CHARS = 1500


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None
    ui_url: str = DEFAULT_UI_URL
    timeout: float = DEFAULT_TIMEOUT

    @property
    def shown_webhook(self) -> str:
        return redact_webhook(self.webhook_url) if self.webhook_url else "(unset)"


def _http_url(name: str, value: str, secret: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = redact_webhook(value) if secret else repr(value)
        raise ConfigError(f"{name}={shown} is not an http(s) URL such as https://host/path")
    return value


def alert_settings(env: Mapping[str, str]) -> AlertSettings:
    """The validated alert settings; a bad value raises ``ConfigError`` naming the
    variable (the webhook URL redacted), every problem at once."""
    get = env_getter(env)
    problems: list[str] = []
    webhook = get("DATABOX_ALERT_WEBHOOK_URL")
    ui_url = (get("DATABOX_UI_URL") or DEFAULT_UI_URL).rstrip("/")
    timeout = DEFAULT_TIMEOUT
    for name, value, secret in (
        ("DATABOX_ALERT_WEBHOOK_URL", webhook, True),
        ("DATABOX_UI_URL", ui_url, False),
    ):
        try:
            if value:
                _http_url(name, value, secret)
        except ConfigError as exc:
            problems.extend(exc.problems)
    raw_timeout = get("DATABOX_ALERT_TIMEOUT")
    if raw_timeout:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            timeout = float("nan")
        if not 0 < timeout <= 120:
            problems.append(
                f"DATABOX_ALERT_TIMEOUT={raw_timeout!r} must be a number of seconds above 0 "
                f"and at most 120; {fix_or_unset(DEFAULT_TIMEOUT)}"
            )
    if problems:
        raise ConfigError(*problems)
    return AlertSettings(webhook_url=webhook, ui_url=ui_url, timeout=timeout)


def redact_webhook(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/secret?x=1`` → ``https://hooks.slack.com/***``:
    webhook tokens live in the path or the query, so neither is ever shown."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme or '?'}://{host}/***"


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def summarize_error(
    text: str | None, lines: int = SUMMARY_LINES, chars: int = SUMMARY_CHARS
) -> str:
    """The first ``lines`` non-blank lines of ``text``, at most ``chars`` characters."""
    kept = [line.rstrip() for line in (text or "").splitlines() if line.strip()][:lines]
    summary = "\n".join(kept) or "(no error message)"
    if len(summary) > chars:
        summary = summary[: chars - 1].rstrip() + "…"
    return summary


@dataclass(frozen=True)
class Alert:
    """One thing to tell the on-call: a failed run or a failed asset check."""

    title: str  # e.g. "Run failed: daily_pipeline_job"
    run_id: str
    error: str  # already summarized
    link: str
    fields: dict[str, str] = field(default_factory=dict)  # job, asset, check, …

    def text(self) -> str:
        """The plain-text form: the payload's ``text`` (notifications) and the log line."""
        details = ", ".join(f"{k}: {v}" for k, v in self.fields.items())
        return f"{self.title} ({details}; run {self.run_id}): {self.error}\n{self.link}"

    def payload(self) -> dict:
        """Slack-compatible JSON: ``text`` is the fallback, ``blocks`` the rich layout."""
        facts = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in self.fields.items()]
        facts.append({"type": "mrkdwn", "text": f"*run*\n<{self.link}|{self.run_id}>"})
        return {
            "text": self.text(),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.title[:150]}},
                {"type": "section", "fields": facts[:10]},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"```{self.error}```"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open the run"},
                            "url": self.link,
                        }
                    ],
                },
            ],
        }


@dataclass(frozen=True)
class Delivery:
    posted: bool  # False: not sent (no URL) or the webhook failed
    detail: str  # what happened, safe to log (never the webhook's path or query)


def post_json(url: str, payload: dict, timeout: float) -> Delivery:
    """POST ``payload``; ``timeout`` bounds the connect and each read. Never raises."""
    shown = redact_webhook(url)
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
            return Delivery(True, f"posted to {shown}: HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        is_timeout = isinstance(exc.reason, TimeoutError)
        reason = f"timed out after {timeout:g} s" if is_timeout else str(exc.reason)
    except TimeoutError:
        reason = f"timed out after {timeout:g} s"
    except Exception as exc:  # anything else (bad response, reset): reported, not raised
        reason = f"{type(exc).__name__}: {exc}"
    # The error text could quote the URL (a redirect, a proxy): strip it to be sure.
    reason = reason.replace(url, shown)
    return Delivery(False, f"webhook {shown} failed: {reason}")


def send_alert(alert: Alert, settings: AlertSettings) -> Delivery:
    """Post ``alert`` to the webhook, or (no URL) only report it for the log."""
    if not settings.webhook_url:
        return Delivery(False, "DATABOX_ALERT_WEBHOOK_URL is unset: alert logged, not posted")
    return post_json(settings.webhook_url, alert.payload(), settings.timeout)
