"""The enrichment's files under the processed directory.

``yolo_detections.csv``  one row per detected object (the seed's file)
``yolo_images.csv``      one row per (image, model version): status, category, counts
``annotated/``           a few photos with their boxes drawn, for people to look at

Both CSVs are keyed by (image_path, model_version) and rewritten atomically on every
run: rows of images processed again replace their old rows, every other row is kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from databox.lake import atomic_write_bytes

DETECTION_COLUMNS = (
    "channel",
    "message_id",
    "image_path",
    "image_sha256",
    "model_version",
    "box_index",
    "class_id",
    "class_name",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "image_width",
    "image_height",
)
IMAGE_COLUMNS = (
    "channel",
    "message_id",
    "image_path",
    "image_sha256",
    "size",
    "mtime_ns",
    "model_version",
    "status",
    "category",
    "object_count",
    "error",
    "image_width",
    "image_height",
    "processed_at",
)


class ProcessedDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def detections_csv(self) -> Path:
        return self.root / "yolo_detections.csv"

    @property
    def images_csv(self) -> Path:
        return self.root / "yolo_images.csv"

    @property
    def annotated_dir(self) -> Path:
        return self.root / "annotated"

    def read_images(self) -> list[dict[str, str]]:
        return list(_read(self.images_csv))

    def read_detections(self) -> Iterator[dict[str, str]]:
        return _read(self.detections_csv)

    def merge(self, image_rows: list[dict], detection_rows: list[dict]) -> None:
        """Replace the rows of the images in ``image_rows``; keep all other rows."""
        replaced = {(r["image_path"], r["model_version"]) for r in image_rows}

        def kept(path: Path) -> Iterator[dict]:
            for row in _read(path):
                if (row["image_path"], row["model_version"]) not in replaced:
                    yield row

        old_images = list(kept(self.images_csv))
        old_detections = list(kept(self.detections_csv))
        # Detections first: a reader that sees the new image rows finds their boxes.
        _write(self.detections_csv, DETECTION_COLUMNS, [*old_detections, *detection_rows])
        _write(self.images_csv, IMAGE_COLUMNS, [*old_images, *image_rows])


def _read(path: Path) -> Iterator[dict[str, str]]:
    if not path.exists():
        return iter(())
    with path.open(newline="", encoding="utf-8") as fh:
        return iter(list(csv.DictReader(fh)))


def _write(path: Path, columns: tuple[str, ...], rows: Iterable[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    ordered = sorted(
        rows,
        key=lambda r: (str(r["image_path"]), str(r["model_version"]), int(r.get("box_index") or 0)),
    )
    writer.writerows(ordered)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
