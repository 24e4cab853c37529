"""Turning one variable's text into a value.

Each parser raises ``ConfigError`` with one message that names the variable, shows
its value (a URL's password masked; secrets are never echoed) and says how to fix
it; ``Problems`` collects them so a run reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from databox.errors import ConfigError
from databox.lake import validate_channel


def env_getter(env: Mapping[str, str]) -> Callable[[str], str | None]:
    """``get(name)``: the variable stripped, or None when unset or blank."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value and value.strip() else None

    return get


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class Problems:
    """Collects configuration problems so one run reports all of them, not the first."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def take(self, default, parse: Callable, *args):
        """``parse(*args)``, or ``default`` after recording why it failed."""
        try:
            return parse(*args)
        except ConfigError as exc:
            self.items.extend(exc.problems)
            return default

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(*self.items)


def fix_or_unset(default: object) -> str:
    return f"fix it, or unset it for the default ({default})"


def validate_database_url(url: str) -> str:
    url = url.strip()
    shown = f"DATABASE_URL={redact_url(url)!r}"
    scheme = urlsplit(url).scheme
    if scheme == "duckdb":
        if not url.startswith("duckdb:///"):
            raise ConfigError(
                f"{shown}: a DuckDB URL is duckdb:///relative/path.duckdb "
                "or duckdb:////absolute/path.duckdb"
            )
        path = url[len("duckdb:///") :].split("?", 1)[0]
        if path == ":memory:":
            # Resolved as a relative path this would even create a file named ':memory:'.
            raise ConfigError(
                f"{shown}: an in-memory DuckDB database vanishes when the command ends and "
                "cannot be shared by Dagster's step processes (nor by the loader's sessions, "
                f"which reconnect); use a file, e.g. duckdb:///data/warehouse.duckdb"
            )
        if not path.strip():
            raise ConfigError(
                f"{shown}: no database file after duckdb:///; use duckdb:///relative/path.duckdb "
                "or duckdb:////absolute/path.duckdb (default duckdb:///data/warehouse.duckdb)"
            )
        return url
    if scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        try:
            urlsplit(url).port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ConfigError(
                f"{shown}: the port is not a number; use postgresql://user@host:5432/dbname"
            ) from None
        if not urlsplit(url).path.strip("/"):
            raise ConfigError(
                f"{shown}: names no database; add it after the host, "
                "e.g. postgresql://user@host:5432/databox"
            )
        return url
    raise ConfigError(
        f"{shown}: unsupported scheme {scheme!r}; "
        "use duckdb:///path.duckdb or postgresql://user@host:5432/dbname"
    )


def parse_channels(value: str, name: str = "TELEGRAM_CHANNELS") -> tuple[str, ...]:
    problems = Problems()
    channels = tuple(
        c
        for c in (problems.take(None, validate_channel, c) for c in value.split(",") if c.strip())
        if c
    )
    if problems.items:
        raise ConfigError(*(f"{name}={value!r}: {p}" for p in problems.items))
    if not channels:
        raise ConfigError(f"{name} is empty; give a comma-separated list of channel usernames")
    return channels


def _float(env: Mapping[str, str], name: str) -> tuple[str, float | None]:
    """(the text, its value): None when unset or blank, NaN when not a number (NaN
    fails every range check, so the caller's message covers both)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return raw, None
    try:
        return raw, float(raw)
    except ValueError:
        return raw, float("nan")


def unit_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw, value = _float(env, name)
    if value is None:
        return default
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"{name}={raw!r} must be a number between 0 and 1; {fix_or_unset(default)}"
        )
    return value


def int_at_least(
    env: Mapping[str, str], name: str, default: int, minimum: int, shown_default: object = None
) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    need = "a positive whole number" if minimum == 1 else f"a whole number, {minimum} or more"
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        fix = fix_or_unset(default if shown_default is None else shown_default)
        raise ConfigError(f"{name}={raw!r} must be {need}; {fix}")
    return value


def positive_int(env: Mapping[str, str], name: str, default: int, shown: object = None) -> int:
    return int_at_least(env, name, default, 1, shown)


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw, value = _float(env, name)
    if value is None:
        return default
    if not 0 < value < float("inf"):
        raise ConfigError(
            f"{name}={raw!r} must be a positive number of seconds; {fix_or_unset(default)}"
        )
    return value


def non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    return int_at_least(env, name, default, 0)


def telegram_api_id(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        raise ConfigError(
            f"TELEGRAM_API_ID={raw!r} is not a number; copy the numeric api_id from "
            "https://my.telegram.org (or unset TELEGRAM_API_ID, TELEGRAM_API_HASH and "
            "TELEGRAM_SESSION to scrape the public web preview)"
        ) from None


def telethon_complete(given: Mapping[str, str | None]) -> None:
    present = [k for k, v in given.items() if v]
    if present and len(present) != len(given):
        missing = sorted(set(given) - set(present))
        raise ConfigError(
            "Telethon needs TELEGRAM_API_ID, TELEGRAM_API_HASH and TELEGRAM_SESSION together; "
            f"{', '.join(present)} set, missing {', '.join(missing)}. Create a session with "
            "`databox telegram login`, or unset all three to scrape the public web preview."
        )


def web_base_url(raw: str | None) -> str:
    url = (raw or "https://t.me").rstrip("/")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(
            f"TELEGRAM_WEB_BASE_URL={url!r} is not an http(s) URL; use https://t.me (the "
            "default) or a replica's URL such as http://127.0.0.1:8081"
        )
    return url
