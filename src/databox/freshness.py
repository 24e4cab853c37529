"""How fresh the raw tables are: the newest time in a table, its age, and a verdict.

Plain Python over ``databox.warehouse`` (DuckDB and PostgreSQL alike); the Dagster
asset checks in ``orchestration/freshness.py`` only wire these to assets.

* Telegram: the newest ``raw.telegram_messages.date`` over *all* channels. The post
  time is what a consumer means by "fresh data", and it keeps moving as long as the
  scraper runs and any channel posts; ``loaded_at`` only moves when a row changes and
  ``scraped_at`` only when a lake file is (re)loaded, so both would also age on a
  healthy day with no news. Taking the newest over all channels means one channel that
  posts rarely never pages on its own; ``TELEGRAM_FRESHNESS_HOURS`` (default 48) is
  the quiet time tolerated before the whole source counts as stale.
* eBird: the newest *successful* dlt load (``_dlt_loads.status = 0``) that left rows in
  the table, as ``databox.ebird.quality`` measures it: a load that touched other tables
  does not make this one fresh. ``EBIRD_FRESHNESS_HOURS`` (default 36: a daily job plus
  slack for a late or retried run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from databox.config_values import fix_or_unset
from databox.errors import ConfigError
from databox.warehouse.base import quote

TELEGRAM_TABLE = "raw.telegram_messages"
EBIRD_LOADS_TABLE = "raw_ebird._dlt_loads"
TELEGRAM_DEFAULT_HOURS = 48.0
EBIRD_DEFAULT_HOURS = 36.0


def freshness_hours(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of hours from ``env[name]`` (unset: ``default``)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(
            f"{name}={raw!r} must be a positive number of hours; {fix_or_unset(default)}"
        )
    return value


@dataclass(frozen=True)
class Freshness:
    table: str
    measured: str  # what the newest time is, e.g. "newest message date"
    newest: datetime | None  # None: the table is missing or empty
    threshold_hours: float
    now: datetime

    @property
    def age_hours(self) -> float | None:
        if self.newest is None:
            return None
        return (self.now - self.newest).total_seconds() / 3600

    @property
    def passed(self) -> bool:
        age = self.age_hours
        return age is not None and age <= self.threshold_hours

    def describe(self) -> str:
        """One sentence for the check's description and the alert's error summary."""
        if self.newest is None:
            return f"{self.table}: no data yet (no {self.measured}); stale by definition"
        verdict = "fresh" if self.passed else "STALE"
        return (
            f"{self.table}: {verdict}: {self.measured} {self.newest.isoformat()} is "
            f"{self.age_hours:.1f} h old (threshold {self.threshold_hours:g} h)"
        )


def _utc(value) -> datetime | None:
    """A timestamp from either backend as an aware UTC datetime (DuckDB may return a
    naive one for a TIMESTAMP column: dlt's columns are UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _newest(wh, tables: tuple[str, ...], sql: str) -> datetime | None:
    with wh.session() as session:
        if not all(session.table_exists(t) for t in tables):
            return None
        row = session.fetchone(sql)
    return _utc(row[0] if row else None)


def telegram_freshness(wh, threshold_hours: float, now: datetime | None = None) -> Freshness:
    newest = _newest(wh, (TELEGRAM_TABLE,), f"SELECT max(date) FROM {quote(TELEGRAM_TABLE)}")
    return Freshness(
        TELEGRAM_TABLE, "newest message date", newest, threshold_hours, now or datetime.now(UTC)
    )


#: The Telegram fact table the marts' freshness check reads (telegram_marts.fct_messages).
TELEGRAM_FACTS_TABLE = "telegram_marts.fct_messages"


def telegram_facts_freshness(wh, threshold_hours: float, now: datetime | None = None) -> Freshness:
    """The newest post the marts hold: stale while raw is fresh means the marts did not
    build (the raw check passes, this one fails)."""
    table = TELEGRAM_FACTS_TABLE
    newest = _newest(wh, (table,), f"SELECT max(posted_at) FROM {quote(table)}")
    return Freshness(
        table, "newest post in the marts", newest, threshold_hours, now or datetime.now(UTC)
    )


def ebird_freshness(
    wh, table: str, threshold_hours: float, now: datetime | None = None
) -> Freshness:
    sql = (
        f"SELECT max(l.inserted_at) FROM {quote(EBIRD_LOADS_TABLE)} l WHERE l.status = 0 "
        f"AND l.load_id IN (SELECT DISTINCT {quote('_dlt_load_id')} FROM {quote(table)})"
    )
    newest = _newest(wh, (EBIRD_LOADS_TABLE, table), sql)
    return Freshness(
        table, "newest successful dlt load", newest, threshold_hours, now or datetime.now(UTC)
    )
