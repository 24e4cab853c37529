"""Annotated detections as pictures for a UI: small JPEG thumbnails embedded in markdown.

The Dagster UI renders markdown metadata, images included, but cannot open a path on
the run's machine; a ``data:`` URI carries the picture itself. Thumbnails are small
(``MAX_WIDTH`` px wide, JPEG quality ``QUALITY``) and the whole entry stays under
``MAX_TOTAL_BYTES`` of base64, so the event log (a database row per event) stays small:
pictures past the budget are named, not embedded.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from pathlib import Path

MAX_WIDTH = 320
QUALITY = 70
MAX_TOTAL_BYTES = 300_000


def thumbnail_jpeg(path: Path | str, max_width: int = MAX_WIDTH, quality: int = QUALITY) -> bytes:
    """``path`` as a JPEG at most ``max_width`` px wide (and as tall, for portraits)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((max_width, max_width))  # keeps the aspect ratio, never enlarges
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _alt(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")


def previews_markdown(
    images: Iterable[tuple[str, Path | str]],
    *,
    max_width: int = MAX_WIDTH,
    quality: int = QUALITY,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> str:
    """Markdown with one captioned thumbnail per ``(caption, path)``. A picture that cannot
    be read is listed with the reason (a preview is never worth failing a run for)."""
    lines: list[str] = []
    used = 0
    for caption, path in images:
        try:
            data = base64.b64encode(thumbnail_jpeg(path, max_width, quality)).decode("ascii")
        except Exception as exc:  # a vanished or unreadable sample: say so, go on
            lines.append(f"- {caption}: no preview ({type(exc).__name__}: {exc})")
            continue
        if used + len(data) > max_total_bytes:
            lines.append(f"- {caption}: not embedded (previews over {max_total_bytes} bytes)")
            continue
        used += len(data)
        lines.append(f"**{caption}**\n\n![{_alt(caption)}](data:image/jpeg;base64,{data})\n")
    return "\n".join(lines)
