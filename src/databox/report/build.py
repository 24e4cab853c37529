"""``build_report``: read the marts, draw the charts, write ``report.html`` atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from databox.config import redact_url, resolve_path
from databox.errors import ConfigError, DataboxError, WarehouseUnavailable
from databox.filelock import LockTimeout
from databox.report import charts
from databox.report.chart_cache import FOLDER as CHART_CACHE
from databox.report.chart_cache import ChartCache
from databox.report.html import SectionView, data_uri, page
from databox.report.queries import SPECS, Missing, ReportData, as_day, read_report_data
from databox.warehouse import connect

DEFAULT_REPORTS_DIR = Path("data/reports")
DEFAULT_PROCESSED_DIR = Path("data/processed")
#: Seconds to wait for a loader holding the DuckDB file (``<db>.lock``), as status does.
LOCK_TIMEOUT = 15.0
#: (key in Report.figures, label), in the order the page shows them.
FIGURES = (("posts", "posts"), ("channels", "channels"), ("photos", "photos"),
           ("detections", "detections"), ("species", "species"), ("regions", "regions"))  # fmt: skip


class ReportUnavailable(DataboxError):
    """The warehouse could not be read (the CLI's exit 1); the message names it."""


@dataclass
class Report:
    path: Path
    #: section name -> PNG bytes, the same images the HTML embeds
    charts: dict[str, bytes] = field(default_factory=dict)
    #: chart titles, for markdown
    titles: dict[str, str] = field(default_factory=dict)
    sections_with_data: tuple[str, ...] = ()
    sections_missing: tuple[str, ...] = ()
    #: section name -> its "no data yet: run …" note
    notes: dict[str, str] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=dict)
    #: charts drawn by this build; the others were unchanged and came from the cache
    charts_drawn: int = 0


def default_reports_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return resolve_path(env.get("DATABOX_REPORTS_DIR") or DEFAULT_REPORTS_DIR)


def default_processed_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return resolve_path(env.get("PROCESSED_DATA_DIR") or DEFAULT_PROCESSED_DIR)


def read_warehouse(database_url: str) -> ReportData:
    warehouse = connect(database_url, read_only=True, lock_timeout=LOCK_TIMEOUT)
    try:
        with warehouse.session() as s:
            return read_report_data(s)
    except (ConfigError, WarehouseUnavailable, LockTimeout) as exc:
        raise ReportUnavailable(f"cannot read the warehouse: {exc}") from exc


def build_report(
    database_url: str,
    *,
    out_dir: Path | str | None = None,
    processed_dir: Path | str | None = None,
    now: datetime | None = None,
) -> Report:
    """Read both pipelines' marts and write ``out_dir/report.html``; what was written.

    A mart that is missing or empty gives its section a "no data yet: run …" note; only
    an unreadable warehouse raises (``ReportUnavailable``)."""
    data = read_warehouse(database_url)
    out = resolve_path(out_dir) if out_dir is not None else default_reports_dir()
    photos_dir = resolve_path(processed_dir) if processed_dir else default_processed_dir()
    cache = ChartCache(out / CHART_CACHE)
    views = [_view(name, data, photos_dir, cache) for name in SPECS]
    now = now or datetime.now(timezone.utc)
    html = page(
        title="Databox report: Telegram channels and eBird sightings",
        generated_at=f"Generated {now:%Y-%m-%d %H:%M %Z}".strip(),
        source=redact_url(database_url),
        figures=[(label, data.figures.get(key)) for key, label in FIGURES],
        date_ranges=[f"{p} {a} to {b}" for p, (a, b) in data.date_ranges.items()],
        sections=views,
    )
    path = out / "report.html"
    write_atomically(path, html.encode("utf-8"))
    cache.prune()
    return Report(
        path=path,
        charts={v.name: v.chart for v in views if v.chart},
        titles={v.name: v.title for v in views},
        sections_with_data=tuple(v.name for v in views if not v.note),
        sections_missing=tuple(v.name for v in views if v.note),
        notes={v.name: v.note for v in views if v.note},
        figures=dict(data.figures),
        charts_drawn=cache.drawn,
    )


def write_atomically(path: Path, content: bytes) -> None:
    """Write a temporary file beside ``path`` and rename it over: a reader (a browser,
    a web server) sees the old report or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _view(name: str, data: ReportData, photos_dir: Path, cache: ChartCache) -> SectionView:
    spec = SPECS[name]
    pipeline = "eBird" if spec.table.startswith("marts.") else "Telegram"
    view = SectionView(name=name, title=spec.title, pipeline=pipeline)
    value = data.sections.get(name)
    if isinstance(value, Missing) or not value:
        view.note = value.note if isinstance(value, Missing) else "no data yet"
        return view
    _FILL[name](view, value, data, photos_dir, cache)
    return view


def _span(rows, column: str) -> str:
    days = sorted(as_day(r[column]) for r in rows)
    return f"{days[0]} to {days[-1]}"


def _daily_activity(view, rows, data, photos_dir, cache) -> None:
    view.chart = cache.chart("daily_activity", rows, lambda: charts.daily_activity(rows, as_day))
    totals: dict[str, list[int]] = {}
    for r in rows:
        t = totals.setdefault(str(r["channel"]), [0, 0, 0, 0])
        t[0] += 1
        t[1] += int(r["posts"] or 0)
        t[2] += int(r["views"] or 0)
        t[3] += int(r["posts_with_images"] or 0)
    view.alt = (f"Line charts of posts (top) and views (bottom) per day for "
                f"{len(totals)} channels, {_span(rows, 'message_date')}")  # fmt: skip
    view.headers = ("channel", "days", "posts", "views", "views per post", "posts with images")
    view.rows = [(c, d, p, v, round(v / p, 1) if p else 0.0, i)
                 for c, (d, p, v, i) in sorted(totals.items())]  # fmt: skip
    view.caption = "Totals per channel"


def _visual_content(view, rows, data, photos_dir, cache) -> None:
    view.chart = cache.chart("visual_content", rows, lambda: charts.visual_content(rows))
    view.alt = (f"Stacked horizontal bars of images per category for each channel "
                f"({data.figures.get('photos', 0)} images)")  # fmt: skip
    view.headers = ("channel", "category", "images", "posts", "share of channel images")
    view.rows = [(r["channel"], r["image_category"], int(r["images"] or 0), int(r["posts"] or 0),
                  f"{float(r['share_of_channel_images'] or 0):.0%}") for r in rows]  # fmt: skip


def _product_terms(view, rows, data, photos_dir, cache) -> None:
    labels = [str(r["term"]) for r in rows]
    values = [int(r["mentions"] or 0) for r in rows]
    view.chart = cache.chart("product_terms", (labels, values), lambda: charts.ranked_bars(
        labels, values, title="Top product terms (all weeks)", xlabel="mentions", ylabel="term"
    ))  # fmt: skip
    view.alt = f"Horizontal bars of mentions for the top {len(rows)} product terms: " + ", ".join(
        labels[:5]
    )
    view.headers = ("term", "mentions", "messages", "channels (most in a week)", "weeks")
    view.rows = [(r["term"], int(r["mentions"] or 0), int(r["messages"] or 0),
                  int(r["channels"] or 0), int(r["weeks"] or 0)) for r in rows]  # fmt: skip


def _top_objects(view, rows, data, photos_dir, cache) -> None:
    labels = [str(r["class_name"]) for r in rows]
    values = [int(r["detections"] or 0) for r in rows]
    view.chart = cache.chart("top_objects", (labels, values), lambda: charts.ranked_bars(
        labels, values, title="Top detected objects", xlabel="detections", ylabel="object class"
    ))  # fmt: skip
    view.alt = f"Horizontal bars of detections for the top {len(rows)} object classes: " + (
        ", ".join(labels[:5])
    )
    view.photos = charts.thumbnails(photos_dir / "annotated")
    view.headers = ("class", "detections", "images", "messages", "channels", "avg confidence")
    view.rows = [(r["class_name"], int(r["detections"] or 0), int(r["images"] or 0),
                  int(r["messages"] or 0), int(r["channels"] or 0),
                  float(r["avg_confidence"] or 0)) for r in rows]  # fmt: skip


def _species_counts(view, rows, data, photos_dir, cache) -> None:
    view.chart = cache.chart(
        "species_counts", rows, lambda: charts.species_per_region(rows, as_day)
    )
    regions: dict[str, list] = {}
    for r in rows:  # ordered by region, day: the last row of a region is its latest day
        t = regions.setdefault(str(r["region_code"]), [0, 0, None, 0])
        t[0] += 1
        t[1] = max(t[1], int(r["species"]))
        t[2], t[3] = str(as_day(r["obs_date"])), int(r["species"])
    view.alt = (f"Line chart of distinct species per day for {len(regions)} regions, "
                f"{_span(rows, 'obs_date')}")  # fmt: skip
    view.headers = ("region", "days", "most species in a day", "latest day", "species that day")
    view.rows = [(k, *v) for k, v in sorted(regions.items())]


def _notable_sightings(view, rows, data, photos_dir, cache) -> None:
    view.chart = cache.chart(
        "notable_sightings", rows, lambda: charts.notable_per_day(rows, as_day)
    )
    total = sum(int(r["sightings"]) for r in rows)
    view.alt = (f"Stacked bars of notable sightings per day by region ({total} sightings, "
                f"{_span(rows, 'obs_date')})")  # fmt: skip
    view.headers = ("date", "region", "species", "location", "how many", "reviewed", "valid")
    view.rows = [(str(as_day(r["obs_date"])), r["region_code"], r["com_name"], r["loc_name"],
                  r["how_many"], r["obs_reviewed"], r["obs_valid"])
                 for r in data.latest_notable]  # fmt: skip
    view.caption = f"The latest {len(view.rows)} notable sightings"


_FILL = {
    "daily_activity": _daily_activity,
    "visual_content": _visual_content,
    "product_terms": _product_terms,
    "top_objects": _top_objects,
    "species_counts": _species_counts,
    "notable_sightings": _notable_sightings,
}


def charts_markdown(report: Report, names: tuple[str, ...] | None = None) -> str:
    """Markdown with the report's charts as ``data:`` images (the Dagster UI renders it)
    and a line per section without data; ``names`` picks sections (default: all)."""
    lines = []
    for name in names or tuple(SPECS):
        title = report.titles.get(name, SPECS[name].title)
        if name in report.charts:
            lines.append(
                f"**{title}**\n\n![{title}]({data_uri(report.charts[name], 'image/png')})\n"
            )
        elif name in report.notes:
            lines.append(f"- {title}: {report.notes[name]}")
    return "\n".join(lines)
