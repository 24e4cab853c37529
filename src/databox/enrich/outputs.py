"""The enrichment's files under the processed directory.

``yolo_detections.csv``  one row per detected object (the seed's file)
``yolo_images.csv``      one row per (image, model version): status, category, counts
``parts/<name>.json``    batches committed since the last consolidation (see below)
``annotated/``           a few photos with their boxes drawn, for people to look at

Both CSVs are keyed by (image_path, model_version). A run commits every batch of
photos as one small part file (written to a temp file, fsynced, renamed, directory
fsynced), so a crash loses at most the batch in flight. At the end of a run the parts
are folded into the two CSVs (each rewritten atomically, once per run, not per batch:
per-batch rewrites of an ever-growing CSV would make a large run quadratic) and then
deleted. Readers always see the CSVs overlaid by the parts, newest part last, so the
view is the same before and after consolidation and after a crash at any point of it:
an image's row and its boxes always come from the same source.

Committing needs no lock: a part's name is unique to its writer
(``<time_ns>-<pid>-<random>.json``, so names sort oldest first across processes), which
lets the chunk steps of one enrichment (``databox.enrich.chunks``) commit in parallel
from different processes or hosts. Only consolidation (a read-modify-write of the CSVs)
holds ``writer_lock``; it deletes exactly the parts it folded, so a part committed while
it runs stays and keeps overlaying the CSVs. Parts of an older release (``<n>.json``,
8 digits) still read, as older than any new part.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import time
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
_LEGACY_PART = re.compile(r"^\d{8}\.json$")
_PART = re.compile(r"^\d{20}-\d+-[0-9a-f]{8}\.json$")
#: A temp file this old is a crashed write, not one in flight in another process.
STALE_TEMP_SECONDS = 3600
Key = tuple[str, str]


class ProcessedDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self._last_ns = 0  # part names of this process strictly increase

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
        """One consolidation (or whole sequential run) at a time: consolidation is a
        read-modify-write of the CSVs. Readers and ``commit_batch`` need no lock."""
        with file_lock(self.root / ".enrich.lock", timeout=timeout):
            yield

    # -- reading: the CSVs overlaid by the committed parts ----------------------------

    def read_images(self) -> list[dict[str, str]]:
        return self._view()[0]

    def read_detections(self) -> Iterator[dict[str, str]]:
        return iter(self._view()[1])

    def read_all(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(image rows, detection rows) from one snapshot: every image with its boxes."""
        return self._view()

    def part_names(self) -> list[str]:
        """Committed, not yet consolidated batches (file names), oldest first."""
        if not self.parts_dir.is_dir():
            return []
        names = [p.name for p in self.parts_dir.iterdir()]
        legacy = sorted(n for n in names if _LEGACY_PART.match(n))
        return legacy + sorted(n for n in names if _PART.match(n))

    #: The older name of ``part_names`` (callers only test for emptiness).
    part_numbers = part_names

    def _view(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        # Parts are read before the CSVs: a consolidation that lands in between has
        # already put the same rows into the CSVs. A part deleted while being read
        # means a consolidation finished meanwhile: read everything again.
        for _ in range(10):
            try:
                parts = [self._read_part(n) for n in self.part_names()]
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

    def _read_part(self, name: str) -> dict[str, list[dict[str, str]]]:
        path = self.parts_dir / name
        try:
            part = json.loads(path.read_bytes())
            return {"images": part["images"], "detections": part["detections"]}
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError) as exc:  # renamed only once complete
            raise ValueError(f"{path}: corrupt enrichment part file: {exc}") from exc

    # -- writing ---------------------------------------------------------------------

    def commit_batch(self, image_rows: list[dict], detection_rows: list[dict]) -> Path:
        """Durably add one batch; its rows replace earlier rows of the same images.

        The rows are stored as the CSVs would read them back (text, "" for None), in
        one file, so the batch's image rows and boxes appear together or not at all.
        Safe to call from several processes at once (the name is unique, no lock).
        """
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        name = f"{self._last_ns:020d}-{os.getpid()}-{secrets.token_hex(4)}.json"
        path = self.parts_dir / name
        payload = {
            "images": [_as_text(r, IMAGE_COLUMNS) for r in image_rows],
            "detections": [_as_text(r, DETECTION_COLUMNS) for r in detection_rows],
        }
        atomic_write_bytes(path, json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        return path

    def consolidate(self) -> int:
        """Fold the committed parts into the two CSVs, then delete them. Returns how
        many parts were folded; with none the CSVs are not touched. Hold ``writer_lock``."""
        names = self.part_names()
        if self.parts_dir.is_dir():
            # A write a crash interrupted was never committed. A recent temp file may be
            # a chunk step committing right now in another process: left alone.
            cutoff = time.time() - STALE_TEMP_SECONDS
            for stale in self.parts_dir.glob(".*.tmp"):
                try:
                    if stale.stat().st_mtime < cutoff:
                        stale.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
        if not names:
            return 0
        images, boxes = self._view()
        # Detections first: a reader that sees the new image rows finds their boxes.
        # Until the parts are gone they still override both files, so a crash between
        # the two writes changes nothing a reader sees.
        _write(self.detections_csv, DETECTION_COLUMNS, boxes)
        _write(self.images_csv, IMAGE_COLUMNS, images)
        for name in names:
            (self.parts_dir / name).unlink(missing_ok=True)
        _fsync_dir(self.parts_dir)
        return len(names)


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
