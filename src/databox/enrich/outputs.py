"""The enrichment's files under the processed directory.

``yolo_detections.csv``  one row per detected object (the seed's file)
``yolo_images.csv``      one row per (image, model version): status, category, counts
``parts/<n>.json``       batches committed since the last consolidation (see below)
``annotated/``           a few photos with their boxes drawn, for people to look at

Both CSVs are keyed by (image_path, model_version). A run commits every batch of
photos as one small part file (written to a temp file, fsynced, renamed, directory
fsynced), so a crash loses at most the batch in flight. At the end of a run the parts
are folded into the two CSVs (each rewritten atomically, once per run, not per batch:
per-batch rewrites of an ever-growing CSV would make a large run quadratic) and then
deleted. Readers always see the CSVs overlaid by the parts, newest part last, so the
view is the same before and after consolidation and after a crash at any point of it:
an image's row and its boxes always come from the same source.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from databox.filelock import file_lock
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
_PART = re.compile(r"^(\d{8})\.json$")
Key = tuple[str, str]


class ProcessedDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        # The next part number, listed once per run (under writer_lock), not per batch.
        self._next_part: int | None = None

    @property
    def detections_csv(self) -> Path:
        return self.root / "yolo_detections.csv"

    @property
    def images_csv(self) -> Path:
        return self.root / "yolo_images.csv"

    @property
    def annotated_dir(self) -> Path:
        return self.root / "annotated"

    @property
    def parts_dir(self) -> Path:
        return self.root / "parts"

    @contextmanager
    def writer_lock(self, timeout: float = 600.0) -> Iterator[None]:
        """One writer (an enrichment run) at a time: part numbers and consolidation are
        read-modify-write. Readers need no lock."""
        with file_lock(self.root / ".enrich.lock", timeout=timeout):
            self._next_part = None  # another process may have written parts meanwhile
            try:
                yield
            finally:
                self._next_part = None

    # -- reading: the CSVs overlaid by the committed parts ----------------------------

    def read_images(self) -> list[dict[str, str]]:
        return self._view()[0]

    def read_detections(self) -> Iterator[dict[str, str]]:
        return iter(self._view()[1])

    def read_all(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(image rows, detection rows) from one snapshot: every image with its boxes."""
        return self._view()

    def part_numbers(self) -> list[int]:
        """Committed, not yet consolidated batches, oldest first."""
        if not self.parts_dir.is_dir():
            return []
        return sorted(int(m[1]) for p in self.parts_dir.iterdir() if (m := _PART.match(p.name)))

    def _view(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        # Parts are read before the CSVs: a consolidation that lands in between has
        # already put the same rows into the CSVs. A part deleted while being read
        # means a consolidation finished meanwhile: read everything again.
        for _ in range(10):
            try:
                parts = [self._read_part(n) for n in self.part_numbers()]
            except FileNotFoundError:
                continue
            images: dict[Key, dict[str, str]] = {}
            source: dict[Key, int] = {}  # -1: the CSVs, else the index in ``parts``
            for row in _read(self.images_csv):
                images[_key(row)] = row
                source[_key(row)] = -1
            for i, part in enumerate(parts):
                for row in part["images"]:
                    images[_key(row)] = row
                    source[_key(row)] = i
            boxes = [r for r in _read(self.detections_csv) if source.get(_key(r), -1) == -1]
            for i, part in enumerate(parts):
                boxes += (r for r in part["detections"] if source.get(_key(r)) == i)
            return sorted(images.values(), key=_order), sorted(boxes, key=_order)
        raise RuntimeError(f"{self.parts_dir}: parts kept vanishing while being read")

    def _read_part(self, number: int) -> dict[str, list[dict[str, str]]]:
        path = self.parts_dir / f"{number:08d}.json"
        try:
            part = json.loads(path.read_bytes())
            return {"images": part["images"], "detections": part["detections"]}
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError) as exc:  # renamed only once complete
            raise ValueError(f"{path}: corrupt enrichment part file: {exc}") from exc

    # -- writing (hold ``writer_lock``) ----------------------------------------------

    def commit_batch(self, image_rows: list[dict], detection_rows: list[dict]) -> Path:
        """Durably add one batch; its rows replace earlier rows of the same images.

        The rows are stored as the CSVs would read them back (text, "" for None), in
        one file, so the batch's image rows and boxes appear together or not at all.
        """
        if self._next_part is None:
            numbers = self.part_numbers()
            self._next_part = (numbers[-1] if numbers else 0) + 1
        path = self.parts_dir / f"{self._next_part:08d}.json"
        payload = {
            "images": [_as_text(r, IMAGE_COLUMNS) for r in image_rows],
            "detections": [_as_text(r, DETECTION_COLUMNS) for r in detection_rows],
        }
        atomic_write_bytes(path, json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        self._next_part += 1
        return path

    def consolidate(self) -> int:
        """Fold the committed parts into the two CSVs, then delete them. Returns how
        many parts were folded; with none the CSVs are not touched."""
        numbers = self.part_numbers()
        self._next_part = None
        if self.parts_dir.is_dir():
            for stale in self.parts_dir.glob(".*.tmp"):
                stale.unlink(missing_ok=True)  # a write a crash interrupted: never committed
        if not numbers:
            return 0
        images, boxes = self._view()
        # Detections first: a reader that sees the new image rows finds their boxes.
        # Until the parts are gone they still override both files, so a crash between
        # the two writes changes nothing a reader sees.
        _write(self.detections_csv, DETECTION_COLUMNS, boxes)
        _write(self.images_csv, IMAGE_COLUMNS, images)
        for n in numbers:
            (self.parts_dir / f"{n:08d}.json").unlink(missing_ok=True)
        _fsync_dir(self.parts_dir)
        return len(numbers)


def _key(row: dict) -> Key:
    return str(row["image_path"]), str(row["model_version"])


def _order(row: dict) -> tuple[str, str, int]:
    return str(row["image_path"]), str(row["model_version"]), int(row.get("box_index") or 0)


def _as_text(row: dict, columns: tuple[str, ...]) -> dict[str, str]:
    return {c: "" if row.get(c) is None else str(row[c]) for c in columns}


def _read(path: Path) -> Iterator[dict[str, str]]:
    if not path.exists():
        return iter(())
    with path.open(newline="", encoding="utf-8") as fh:
        return iter(list(csv.DictReader(fh)))


def _write(path: Path, columns: tuple[str, ...], rows: Iterable[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=_order))
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
