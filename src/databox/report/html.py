"""The report as one self-contained HTML page.

Everything is inside the file (pictures as ``data:`` URIs, inline CSS, no script, no
web font, no link that loads anything) so it can be mailed, archived or opened on a
machine without network, and opening it never reaches out to anyone. Every value is
HTML-escaped: channel names, terms and place names come from the internet.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

CSS = """
body { font-family: system-ui, "DejaVu Sans", "Noto Sans Ethiopic", "Abyssinica SIL",
       sans-serif; margin: 0 auto; max-width: 1000px; padding: 1.5rem; color: #222;
       line-height: 1.4; }
h1 { margin-bottom: .2rem; }
.meta { color: #666; margin-top: 0; }
.figures { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0 1.5rem; padding: 0; }
.figures li { list-style: none; background: #f2f5fa; border-radius: 6px; padding: .6rem 1rem;
              min-width: 7rem; }
.figures b { display: block; font-size: 1.6rem; }
section { border-top: 1px solid #ddd; padding-top: .5rem; margin-top: 1.5rem; }
img.chart { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
.note { background: #fff6dd; border-left: 4px solid #e0b000; padding: .6rem 1rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .25rem .6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.thumbs { display: flex; flex-wrap: wrap; gap: .5rem; }
.thumbs figure { margin: 0; font-size: .75rem; color: #666; }
.thumbs img { height: 110px; width: auto; display: block; border-radius: 3px; }
"""


@dataclass
class SectionView:
    name: str
    title: str
    pipeline: str
    note: str | None = None  # the "no data yet" note; then nothing else is shown
    chart: bytes | None = None
    alt: str = ""
    headers: Sequence[str] = ()
    rows: Sequence[Sequence[object]] = ()
    caption: str = ""
    #: (caption, JPEG bytes): the annotated photo strip
    photos: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{'' if value is None else ('yes' if value else 'no')}</td>"
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:,.2f}</td>'
    return f"<td>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(view: SectionView) -> str:
    parts = [f'<section id="{escape(view.name)}">',
             f"<h2>{escape(view.title)} <small>({escape(view.pipeline)})</small></h2>"]  # fmt: skip
    if view.note:
        parts.append(f'<p class="note">{escape(view.note)}</p>')
    else:
        if view.chart:
            parts.append(
                f'<img class="chart" src="{data_uri(view.chart, "image/png")}" '
                f'alt="{escape(view.alt)}" title="{escape(view.title)}">'
            )
        if view.photos:
            parts.append('<div class="thumbs" aria-label="annotated photos">')
            parts += [
                f'<figure><img src="{data_uri(jpeg, "image/jpeg")}" '
                f'alt="annotated photo {escape(name)}"><figcaption>{escape(name)}</figcaption>'
                "</figure>"
                for name, jpeg in view.photos
            ]
            parts.append("</div>")
        if view.rows:
            parts.append(table(view.headers, view.rows, view.caption))
    parts.append("</section>")
    return "\n".join(parts)


def page(
    *,
    title: str,
    generated_at: str,
    source: str,
    figures: Sequence[tuple[str, int | None]],
    date_ranges: Sequence[str],
    sections: Sequence[SectionView],
) -> str:
    cards = "".join(
        f"<li><b>{'–' if value is None else f'{value:,}'}</b>{escape(label)}</li>"
        for label, value in figures
    )
    ranges = "; ".join(date_ranges) or "no dated data yet"
    body = "\n".join(_section(s) for s in sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">Data: {escape(ranges)}. Warehouse {escape(source)}. {escape(generated_at)}</p>
<ul class="figures">{cards}</ul>
{body}
</body>
</html>
"""
