"""The report's charts as small PNGs (matplotlib, Agg backend).

matplotlib is imported inside the functions only: the Dagster code server imports the
report package when it loads, and must not pay for (or depend on) matplotlib then.

Reproducible: the same rows give the same bytes (no timestamps or version in the PNG
metadata, fixed sizes and colours, rows already ordered by the queries).

Ethiopic: product terms are often Amharic. DejaVu Sans (matplotlib's default) has no
Ethiopic glyphs, so an installed Ethiopic font (found with ``fc-list :lang=am``; e.g.
Debian's fonts-noto-core → Noto Sans Ethiopic, or fonts-sil-abyssinica) is added as a
*fallback* family: Latin text keeps DejaVu, Ethiopic characters come from the other
font. Without one, Ethiopic characters are drawn as empty boxes in the charts (the
HTML tables next to them still show the text, in whatever font the browser has).
"""

from __future__ import annotations

import functools
import io
import subprocess
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

#: ~800 px wide at this DPI: readable in the report and light in Dagster metadata.
WIDTH_IN, DPI = 8.0, 100
ETHIOPIC_NAMES = ("Noto Sans Ethiopic", "Abyssinica SIL", "Noto Serif Ethiopic")


@functools.cache
def ethiopic_font() -> str | None:
    """The family name of an installed Ethiopic font registered with matplotlib, or None."""
    from matplotlib import font_manager

    paths: list[str] = []
    try:
        out = subprocess.run(
            ["fc-list", ":lang=am", "file"], capture_output=True, text=True, timeout=10
        ).stdout
        paths = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    except (OSError, subprocess.SubprocessError):  # no fontconfig: look by file name
        paths = sorted(
            p for p in font_manager.findSystemFonts() if "thiopic" in p or "byssinica" in p
        )
    families = {}
    for path in paths:
        try:
            font_manager.fontManager.addfont(path)  # matplotlib's cache may predate it
            families[font_manager.FontProperties(fname=path).get_name()] = path
        except Exception:  # an unreadable font file: skip it
            continue
    # A known family first (a stable choice whatever order fc-list lists them in).
    for name in (*ETHIOPIC_NAMES, *sorted(families)):
        if name in families:
            return name
    return None


def _style() -> dict[str, Any]:
    family = ["DejaVu Sans"] + ([ethiopic_font()] if ethiopic_font() else [])
    return {
        "font.family": family,
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }


def render(draw: Callable[[Any], None], height_in: float = 3.6) -> bytes:
    """PNG bytes of a figure ``draw(fig)`` fills, palette-quantised to keep it small."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    with matplotlib.rc_context(_style()), warnings.catch_warnings():
        # "Glyph … missing from font": the documented fallback (boxes), not an error.
        warnings.filterwarnings("ignore", message=".*missing from font.*")
        fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)  # Agg explicitly, without touching pyplot's global backend
        draw(fig)
        raw = io.BytesIO()
        fig.savefig(raw, format="png", dpi=DPI, metadata={"Software": None})
    # 256 colours are plenty for flat charts and cut the size ~3x.
    with Image.open(raw) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _series(rows, key: str, x: str, y: str) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {}
    for r in rows:
        xs, ys = out.setdefault(str(r[key]), ([], []))
        xs.append(r[x])
        ys.append(r[y] or 0)
    return out


def _dates(ax, days: list[date]) -> None:
    """Day ticks (the marts are daily: no hours between them), at most ~8 labels."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DayLocator
    from matplotlib.ticker import MaxNLocator

    span = (max(days) - min(days)).days if days else 0
    locator = DayLocator(interval=1) if span <= 8 else AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.25 species


def _legend(ax, title: str | None = None) -> None:
    # Beside the plot, so it never hides a line or a bar.
    ax.legend(fontsize=8, title=title, loc="upper left", bbox_to_anchor=(1.01, 1))


def daily_activity(rows: list[dict], day: Callable[[Any], date]) -> bytes:
    def draw(fig):
        posts_ax, views_ax = fig.subplots(2, 1, sharex=True)
        for name, (xs, ys) in _series(rows, "channel", "message_date", "posts").items():
            posts_ax.plot([day(x) for x in xs], ys, marker="o", ms=3, label=name)
        for name, (xs, ys) in _series(rows, "channel", "message_date", "views").items():
            views_ax.plot([day(x) for x in xs], ys, marker="o", ms=3, label=name)
        posts_ax.set(title="Daily posts and views per channel", ylabel="posts")
        views_ax.set(xlabel="day", ylabel="views")
        _legend(posts_ax, "channel")
        _dates(posts_ax, [day(r["message_date"]) for r in rows])
        _dates(views_ax, [day(r["message_date"]) for r in rows])

    return render(draw, 4.6)


def visual_content(rows: list[dict]) -> bytes:
    channels = sorted({str(r["channel"]) for r in rows})
    categories = sorted({str(r["image_category"]) for r in rows})
    images = {(str(r["channel"]), str(r["image_category"])): r["images"] or 0 for r in rows}

    def draw(fig):
        ax = fig.subplots()
        left = [0] * len(channels)
        for category in categories:
            widths = [images.get((c, category), 0) for c in channels]
            ax.barh(channels, widths, left=left, label=category)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.invert_yaxis()
        ax.set(title="Image categories per channel", xlabel="images", ylabel="channel")
        _legend(ax, "category")

    return render(draw, 0.8 + 0.45 * max(len(channels), 3))


def ranked_bars(
    labels: list[str], values: list[float], *, title: str, xlabel: str, ylabel: str
) -> bytes:
    def draw(fig):
        ax = fig.subplots()
        ax.barh(labels, values, color="#3b7dd8")
        ax.invert_yaxis()  # the biggest on top
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        for y, v in enumerate(values):
            ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)  # fmt: skip

    return render(draw, 0.9 + 0.28 * max(len(labels), 4))


def species_per_region(rows: list[dict], day: Callable[[Any], date]) -> bytes:
    def draw(fig):
        ax = fig.subplots()
        for region, (xs, ys) in _series(rows, "region_code", "obs_date", "species").items():
            ax.plot([day(x) for x in xs], ys, marker="o", ms=3, label=region)
        ax.set(title="eBird: distinct species per region and day", xlabel="day",
               ylabel="species")  # fmt: skip
        _legend(ax, "region")
        _dates(ax, [day(r["obs_date"]) for r in rows])

    return render(draw)


def notable_per_day(rows: list[dict], day: Callable[[Any], date]) -> bytes:
    days = sorted({day(r["obs_date"]) for r in rows})
    regions = sorted({str(r["region_code"]) for r in rows})
    counts = {(day(r["obs_date"]), str(r["region_code"])): r["sightings"] for r in rows}

    def draw(fig):
        ax = fig.subplots()
        bottom = [0] * len(days)
        for region in regions:
            heights = [counts.get((d, region), 0) for d in days]
            ax.bar(days, heights, bottom=bottom, label=region, width=0.8)
            bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
        ax.set(title="eBird: notable sightings per day", xlabel="day", ylabel="sightings")
        _legend(ax, "region")
        _dates(ax, days)

    return render(draw)


def thumbnails(folder: Path, limit: int = 8) -> list[tuple[str, bytes]]:
    """(file name, small JPEG) for the first ``limit`` annotated photos, by name."""
    from databox.enrich.previews import thumbnail_jpeg

    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.jp*g"))[:limit]:
        try:
            out.append((path.name, thumbnail_jpeg(path, max_width=160, quality=70)))
        except Exception:  # an unreadable photo is left out; it is only a preview
            continue
    return out
