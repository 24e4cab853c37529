"""eBird settings from the environment (and ``.env``), validated once at start-up.

| variable | default | meaning |
|---|---|---|
| EBIRD_API_TOKEN | (none) | API key; sent with (and required by) every call |
| EBIRD_REGIONS | US-NY | comma list of region codes (country, subnational1/2, L-location) |
| EBIRD_BACK_DAYS | 14 | days the recent/notable endpoints look back, 1..30 |
| EBIRD_API_BASE_URL | https://api.ebird.org/v2 | the API root (a replica's ``…/v2`` in tests) |
| EBIRD_DAILY_HISTORIC_DAYS | 3 | complete days (ending yesterday) of historic observations the daily job loads, 0..30 |
| EBIRD_SCHEDULE_TIMEZONE | UTC | IANA time zone of the daily schedule and of "today" |
| DLT_DATA_DIR | data/dlt | dlt's working directory; pipelines live in ``<it>/pipelines`` |

``read_ebird_settings`` reports every malformed variable at once (``databox config``);
``ebird_settings_from_env`` raises one ``ConfigError`` listing them all.

The token is held in memory only: it is left out of ``repr`` and ``redacted()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from databox.config import env_getter, env_or_process, resolve_path
from databox.config_values import Problems
from databox.errors import ConfigError

if TYPE_CHECKING:
    from databox.ebird.client import EbirdClient

DEFAULT_BASE_URL = "https://api.ebird.org/v2"
DEFAULT_REGIONS = ("US-NY",)
DEFAULT_BACK_DAYS = 14
DEFAULT_DAILY_HISTORIC_DAYS = 3
DEFAULT_DLT_DATA_DIR = Path("data") / "dlt"
DEFAULT_SCHEDULE_TIMEZONE = "UTC"

#: The environment variable behind each ``EbirdSettings`` field read from it.
ENV_NAMES = {
    "api_token": "EBIRD_API_TOKEN",
    "regions": "EBIRD_REGIONS",
    "back_days": "EBIRD_BACK_DAYS",
    "daily_historic_days": "EBIRD_DAILY_HISTORIC_DAYS",
    "api_base_url": "EBIRD_API_BASE_URL",
    "schedule_timezone": "EBIRD_SCHEDULE_TIMEZONE",
    "dlt_data_dir": "DLT_DATA_DIR",
}

#: Country (US), subnational1 (US-NY), subnational2 (US-NY-109) or location (L123).
#: The API rejects lowercase codes (§1.4), so we upper-case what we are given.
REGION_CODE = re.compile(r"^(?:[A-Z]{2}(?:-[A-Z0-9]{1,3}){0,2}|L\d+)$")


def validate_regions(
    regions: Iterable[str] | str, *, name: str = "EBIRD_REGIONS"
) -> tuple[str, ...]:
    """``"us-ny, KE"`` or ``["US-NY", "KE"]`` → ``("US-NY", "KE")``; duplicates dropped."""
    items = regions.split(",") if isinstance(regions, str) else list(regions)
    codes = [str(r).strip().upper() for r in items if str(r).strip()]
    bad = [c for c in codes if not REGION_CODE.match(c)]
    if bad:
        shown = regions if isinstance(regions, str) else ",".join(map(str, items))
        raise ConfigError(
            f"{name}={shown!r}: {', '.join(map(repr, bad))} is not an eBird region code; use a "
            "country (US), subnational1 (US-NY), subnational2 (US-NY-109) or location (L123) code"
        )
    if not codes:
        raise ConfigError(f"{name} is empty; give a comma-separated list such as US-NY,KE")
    return tuple(dict.fromkeys(codes))


def _whole_days(value: int | str, name: str, low: int, high: int, why: str = "") -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = low - 1
    if not low <= days <= high:
        raise ConfigError(
            f"{name}={str(value)!r} must be a whole number of days from {low} to {high}{why}; "
            "fix it, or unset it for the default"
        )
    return days


def validate_back_days(value: int | str, *, name: str = "EBIRD_BACK_DAYS") -> int:
    # The API's own limit; older data needs the historic endpoint (§1.2).
    return _whole_days(value, name, 1, 30, " (the eBird API's limit)")


def validate_daily_historic_days(
    value: int | str | None, *, name: str = "EBIRD_DAILY_HISTORIC_DAYS"
) -> int:
    """Days of historic (per-date) observations the daily job loads: 0 (none) .. 30."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_DAILY_HISTORIC_DAYS
    return _whole_days(value, name, 0, 30)


def daily_historic_dates(today: date, days: int) -> list[date]:
    """The ``days`` complete days before ``today``, oldest first: the dates whose
    historic observations (the only true per-day data) the daily job loads. Today is
    left out: it is not over yet, so its counts would not be a day's counts."""
    return [today - timedelta(days=n) for n in range(days, 0, -1)]


@dataclass(frozen=True)
class EbirdSettings:
    api_token: str | None = field(default=None, repr=False)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    back_days: int = DEFAULT_BACK_DAYS
    #: Days of historic observations the daily job loads (``daily_historic_dates``).
    daily_historic_days: int = DEFAULT_DAILY_HISTORIC_DAYS
    api_base_url: str = DEFAULT_BASE_URL
    #: The daily schedule's time zone (also what "today" means for the daily job).
    schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE
    #: dlt's data directory (as dlt's own DLT_DATA_DIR); see ``pipelines_dir``.
    dlt_data_dir: Path = DEFAULT_DLT_DATA_DIR
    # HTTP behaviour (not read from the environment; tests shorten them).
    request_timeout: float = 30.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay: float = 60.0

    def __post_init__(self) -> None:
        # Validate direct construction too, not only from_env.
        object.__setattr__(self, "regions", validate_regions(self.regions))
        object.__setattr__(self, "back_days", validate_back_days(self.back_days))
        object.__setattr__(
            self, "daily_historic_days", validate_daily_historic_days(self.daily_historic_days)
        )
        object.__setattr__(self, "api_base_url", _validate_base_url(self.api_base_url))
        object.__setattr__(self, "schedule_timezone", validate_timezone(self.schedule_timezone))
        object.__setattr__(self, "dlt_data_dir", Path(self.dlt_data_dir))

    @property
    def pipelines_dir(self) -> Path:
        """Where dlt keeps pipeline state: ``<DLT_DATA_DIR>/pipelines``, the layout dlt
        itself uses, so ``DLT_DATA_DIR=… dlt pipeline ebird info`` finds it."""
        return self.dlt_data_dir / "pipelines"

    def require_token(self) -> str:
        if not self.api_token:
            raise ConfigError(
                "EBIRD_API_TOKEN is not set; get a key at https://ebird.org/api/keygen "
                "and put it in the environment or .env"
            )
        return self.api_token

    def client(self) -> EbirdClient:
        """A fresh client with these settings (the token is checked per request)."""
        from databox.ebird.client import EbirdClient

        return EbirdClient(
            self.api_token,
            self.api_base_url,
            timeout=self.request_timeout,
            max_attempts=self.max_attempts,
            backoff_factor=self.backoff_factor,
            max_retry_delay=self.max_retry_delay,
        )

    def redacted(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["api_token"] = "***" if self.api_token else None
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items())
        return f"EbirdSettings({inner})"


def _validate_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(
            f"EBIRD_API_BASE_URL={url!r} is not an http(s) URL; use {DEFAULT_BASE_URL} (the "
            "default) or a replica's URL such as http://127.0.0.1:8082/v2"
        )
    return url


def validate_timezone(name: str, *, var: str = "EBIRD_SCHEDULE_TIMEZONE") -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{var}={name!r} is not an IANA time zone; use a name such as UTC or "
            "America/New_York, or unset it for UTC"
        ) from None
    return name.strip()


def read_ebird_settings(env: Mapping[str, str] | None = None) -> tuple[EbirdSettings, list[str]]:
    """The settings with each malformed variable replaced by its default, and one message
    per problem (``databox config`` shows both)."""
    get = env_getter(env_or_process(env))
    p = Problems()
    settings = EbirdSettings(
        api_token=get("EBIRD_API_TOKEN"),
        regions=p.take(
            DEFAULT_REGIONS, validate_regions, get("EBIRD_REGIONS") or ",".join(DEFAULT_REGIONS)
        ),
        back_days=p.take(
            DEFAULT_BACK_DAYS, validate_back_days, get("EBIRD_BACK_DAYS") or DEFAULT_BACK_DAYS
        ),
        daily_historic_days=p.take(
            DEFAULT_DAILY_HISTORIC_DAYS,
            validate_daily_historic_days,
            get("EBIRD_DAILY_HISTORIC_DAYS"),
        ),
        api_base_url=p.take(
            DEFAULT_BASE_URL, _validate_base_url, get("EBIRD_API_BASE_URL") or DEFAULT_BASE_URL
        ),
        schedule_timezone=p.take(
            DEFAULT_SCHEDULE_TIMEZONE,
            validate_timezone,
            get("EBIRD_SCHEDULE_TIMEZONE") or DEFAULT_SCHEDULE_TIMEZONE,
        ),
        dlt_data_dir=resolve_path(get("DLT_DATA_DIR") or DEFAULT_DLT_DATA_DIR),
    )
    return settings, p.items


def ebird_settings_from_env(env: Mapping[str, str] | None = None) -> EbirdSettings:
    """Read the EBIRD_* variables (and DLT_DATA_DIR). With ``env=None`` the process
    environment is used, after loading ``.env`` without overriding anything. Raises one
    ``ConfigError`` naming every malformed variable."""
    settings, problems = read_ebird_settings(env)
    if problems:
        raise ConfigError(*problems)
    return settings
