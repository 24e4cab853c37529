"""Annotated copies of photos, for eyeballing what the detector found."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import ImageDraw, ImageFont

from databox.detect.preprocess import load_image
from databox.detect.result import ImageResult

# A fixed palette indexed by class id: the same class has the same colour everywhere.
_PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (128, 0, 0), (128, 128, 0), (0, 0, 128),
)  # fmt: skip


def draw_detections(
    image_path: str | os.PathLike[str],
    result: ImageResult,
    out_path: str | os.PathLike[str],
    quality: int = 90,
) -> Path:
    """Write ``image_path`` with ``result``'s boxes and labels to ``out_path`` (JPEG).

    The image is loaded upright (EXIF applied) exactly as the detector saw it, so the
    boxes line up. The file is written atomically: a reader never sees half a JPEG.
    """
    from databox.lake import atomic_write_bytes  # lazy: keeps `import databox.detect` light

    if result.status == "error":
        raise ValueError(f"{image_path}: nothing to draw, detection failed: {result.error}")
    img, _, _ = load_image(Path(image_path))  # full resolution: no DCT reduction
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    line = max(2, round(max(img.size) / 320))  # visible on a 4000 px photo, thin at 640
    for det in result.detections:
        colour = _PALETTE[det.class_id % len(_PALETTE)]
        draw.rectangle((det.x1, det.y1, det.x2, det.y2), outline=colour, width=line)
        label = f"{det.class_name} {det.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left + 4, bottom - top + 4
        # Label above the box, or inside it when the box touches the top edge.
        y = det.y1 - text_h if det.y1 >= text_h else det.y1
        draw.rectangle((det.x1, y, det.x1 + text_w, y + text_h), fill=colour)
        draw.text((det.x1 + 2 - left, y + 2 - top), label, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return out
