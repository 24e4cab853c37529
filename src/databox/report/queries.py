"""What the report reads: one query per section over the marts of both pipelines.

The marts are SQLMesh models another job builds, so each may not exist yet (or be
empty, or predate a column): such a section comes back as ``Missing`` with the job to
run, never as an error. Aggregation happens in SQL where the mart can be large (the
eBird daily counts: one row per region, day and species); the small marts are read
whole. Everything is plain SQL that DuckDB and PostgreSQL both accept, and every
query has a total ORDER BY so the same data always gives the same charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from databox.warehouse import Session

TELEGRAM_JOB = "daily_pipeline_job"
EBIRD_JOB = "daily_ebird_pipeline"


@dataclass(frozen=True)
class SectionSpec:
    name: str
    title: str
    table: str
    columns: tuple[str, ...]
    job: str


SECTIONS = (
    SectionSpec(
        "daily_activity",
        "Daily posts and views per channel",
        "telegram_marts.mart_daily_channel_activity",
        (
            "channel",
            "message_date",
            "posts",
            "views",
            "avg_views",
            "forwards",
            "posts_with_images",
            "image_share",
        ),
        TELEGRAM_JOB,
    ),
    SectionSpec(
        "visual_content",
        "Image categories per channel",
        "telegram_marts.mart_visual_content",
        ("channel", "image_category", "images", "posts", "share_of_channel_images"),
        TELEGRAM_JOB,
    ),
    SectionSpec(
        "product_terms",
        "Top product terms",
        "telegram_marts.mart_product_terms_weekly",
        ("week_start", "term", "mentions", "messages", "channels", "rank"),
        TELEGRAM_JOB,
    ),
    SectionSpec(
        "top_objects",
        "Top detected objects",
        "telegram_marts.mart_top_objects",
        ("class_name", "detections", "images", "messages", "channels", "avg_confidence"),
        TELEGRAM_JOB,
    ),
    SectionSpec(
        "species_counts",
        "eBird species per region and day",
        "marts.fct_daily_species_counts",
        ("region_code", "obs_date", "species_code"),
        EBIRD_JOB,
    ),
    SectionSpec(
        "notable_sightings",
        "eBird notable sightings",
        "marts.fct_notable_sightings",
        (
            "obs_date",
            "region_code",
            "com_name",
            "loc_name",
            "how_many",
            "obs_reviewed",
            "obs_valid",
        ),
        EBIRD_JOB,
    ),
)
SPECS = {s.name: s for s in SECTIONS}

#: The queries behind each section (table names come from SECTIONS, never from input).
_SQL = {
    "daily_activity": "SELECT channel, message_date, posts, views, avg_views, forwards, "
    "posts_with_images, image_share FROM {t} ORDER BY message_date, channel",
    "visual_content": "SELECT channel, image_category, images, posts, share_of_channel_images "
    "FROM {t} ORDER BY channel, image_category",
    "product_terms": "SELECT term, sum(mentions) AS mentions, sum(messages) AS messages, "
    "max(channels) AS channels, count(DISTINCT week_start) AS weeks FROM {t} "
    "GROUP BY term ORDER BY mentions DESC, term LIMIT 15",
    "top_objects": "SELECT class_name, detections, images, messages, channels, avg_confidence "
    "FROM {t} ORDER BY detections DESC, class_name LIMIT 15",
    "species_counts": "SELECT region_code, obs_date, count(DISTINCT species_code) AS species "
    "FROM {t} GROUP BY region_code, obs_date ORDER BY region_code, obs_date",
    "notable_sightings": "SELECT obs_date, region_code, count(*) AS sightings FROM {t} "
    "GROUP BY obs_date, region_code ORDER BY obs_date, region_code",
}
_LATEST_NOTABLE = (
    "SELECT obs_date, region_code, com_name, loc_name, how_many, obs_reviewed, obs_valid "
    "FROM {t} ORDER BY obs_date DESC, region_code, com_name, loc_name LIMIT 15"
)


@dataclass(frozen=True)
class Missing:
    """A section without data, and what to run to get it."""

    note: str


@dataclass
class ReportData:
    sections: dict[str, list[dict[str, Any]] | Missing] = field(default_factory=dict)
    #: Extra rows: the latest notable sightings for the table.
    latest_notable: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)
    #: pipeline ("Telegram", "eBird") -> (first day, last day)
    date_ranges: dict[str, tuple[date, date]] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, Any]] | None:
        value = self.sections.get(name)
        return None if isinstance(value, Missing) or value is None else value


def _plain(value: Any) -> Any:
    """Driver values as plain Python: PostgreSQL's sum() is a Decimal, dates may be
    timestamps or ISO text depending on how the model casts them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def as_day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _missing(s: Session, spec: SectionSpec) -> Missing | None:
    run = f"run `{spec.job}` (it builds {spec.table})"
    if not s.table_exists(spec.table):
        return Missing(f"no data yet: {spec.table} does not exist; {run}")
    lacking = [c for c in spec.columns if c not in s.column_names(spec.table)]
    if lacking:
        return Missing(f"no data yet: {spec.table} lacks {', '.join(lacking)}; {run}")
    if not s.fetchone(f"SELECT count(*) FROM {spec.table}")[0]:
        return Missing(f"no data yet: {spec.table} is empty; {run}")
    return None


def read_report_data(s: Session) -> ReportData:
    data = ReportData()
    for spec in SECTIONS:
        missing = _missing(s, spec)
        if missing:
            data.sections[spec.name] = missing
            continue
        rows = s.query(_SQL[spec.name].format(t=spec.table))
        data.sections[spec.name] = [{k: _plain(v) for k, v in r.items()} for r in rows]
    if data.rows("notable_sightings"):
        table = SPECS["notable_sightings"].table
        data.latest_notable = [
            {k: _plain(v) for k, v in r.items()} for r in s.query(_LATEST_NOTABLE.format(t=table))
        ]
    if data.rows("top_objects"):
        # The section keeps the top 15 classes; the headline counts every class.
        total = s.fetchone(f"SELECT sum(detections) FROM {SPECS['top_objects'].table}")[0]
        data.figures["detections"] = int(total or 0)
    if data.rows("species_counts"):
        # Distinct over the whole mart, not a sum of the per-day counts.
        data.figures["species"], data.figures["regions"] = (
            int(v) for v in s.fetchone(
                "SELECT count(DISTINCT species_code), count(DISTINCT region_code) "
                f"FROM {SPECS['species_counts'].table}"
            )
        )  # fmt: skip
    _headline(data)
    return data


def _headline(data: ReportData) -> None:
    """The headline numbers, from the rows already read (only for sections with data)."""
    activity = data.rows("daily_activity")
    if activity:
        data.figures["posts"] = sum(int(r["posts"] or 0) for r in activity)
        data.figures["channels"] = len({r["channel"] for r in activity})
        days = [as_day(r["message_date"]) for r in activity]
        data.date_ranges["Telegram"] = (min(days), max(days))
    visual = data.rows("visual_content")
    if visual:
        data.figures["photos"] = sum(int(r["images"] or 0) for r in visual)
    species = data.rows("species_counts")
    if species:
        days = [as_day(r["obs_date"]) for r in species]
        data.date_ranges["eBird"] = (min(days), max(days))
