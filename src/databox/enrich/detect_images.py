"""``enrich_data_yolo``'s work: detect objects in lake photos that have no result yet.

An image needs work when there is no row for (its path, the current model version)
in ``yolo_images.csv``, or when its bytes changed (size or mtime differ and the
SHA-256 differs). So a second run processes nothing, a new photo exactly one, and a
new model version every photo again. Photos stream through the detector (decode in
threads, inference overlapped), so memory stays flat however many there are.

Each photo is isolated: one that cannot be a photo (a symlink out of the lake, a
directory, an empty file, … see ``lake_photos``) or cannot be decoded (truncated,
garbage, a decompression bomb) gets status ``error`` with a message naming the file
and the reason, and the run goes on. It is kept as processed for this model version,
so it is not retried until it changes.

Results are committed every ``batch_size`` photos (``ProcessedDir.commit_batch``), so
a crash loses at most one batch and the next run does only what was not committed.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from databox.detect import (
    DEFAULT_PRODUCT_CLASSES,
    Detector,
    ImageResult,
    categorise,
    draw_detections,
)
from databox.enrich.lake_photos import Photo, identity, owner_of, pending_photos
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake

#: Photos per commit. At ~80 photos/s a batch is under a second of work: a crash loses
#: little, and a commit (one fsynced file of a few KB) costs ~1 % of the batch.
DEFAULT_BATCH_SIZE = 64


@dataclass
class EnrichReport:
    model_version: str
    images_seen: int = 0
    images_processed: int = 0
    batches_committed: int = 0
    status_counts: Counter = field(default_factory=Counter)
    objects_per_class: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)
    annotated: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.images_processed / self.seconds if self.seconds else 0.0


def _rows(result: ImageResult, photo: Photo, version: str, category: str):
    channel, message_id = owner_of(photo.rel)
    image = {
        "channel": channel,
        "message_id": message_id,
        "image_path": photo.rel,
        "image_sha256": photo.sha256,
        "size": photo.size,
        "mtime_ns": photo.mtime_ns,
        "model_version": version,
        "status": result.status,
        "category": category if result.status != "error" else None,
        "object_count": len(result.detections),
        "error": result.error,
        "image_width": result.width,
        "image_height": result.height,
        "processed_at": datetime.now(timezone.utc).isoformat(),
    }
    boxes = [
        {
            "channel": channel,
            "message_id": message_id,
            "image_path": photo.rel,
            "image_sha256": photo.sha256,
            "model_version": version,
            "box_index": i,
            "class_id": d.class_id,
            "class_name": d.class_name,
            "confidence": round(d.confidence, 5),
            "x1": round(d.x1, 2),
            "y1": round(d.y1, 2),
            "x2": round(d.x2, 2),
            "y2": round(d.y2, 2),
            "image_width": result.width,
            "image_height": result.height,
        }
        for i, d in enumerate(result.detections)
    ]
    return image, boxes


def _results(
    todo: list[Photo], detector: Detector, decode_workers: int
) -> Iterator[tuple[Photo, ImageResult]]:
    """(photo, result) for every pending entry: bad entries first (no decoding), then
    the detector's stream, which yields in input order."""
    good = [p for p in todo if p.problem is None]
    for photo in todo:
        if photo.problem is not None:
            yield photo, ImageResult.failed(photo.path, photo.problem)
    paths = (p.read_path for p in good)
    for photo, result in zip(
        good, detector.detect_paths(paths, decode_workers=decode_workers), strict=True
    ):
        if result.status == "error" and not os.path.exists(photo.path):
            # Gone after it was hashed: record it as missing, so that it is processed
            # again if it comes back, even with the same bytes and mtime.
            error = f"{photo.path}: vanished between listing and reading ({result.error})"
            photo = replace(photo, size=-1, mtime_ns=-1, sha256=identity("missing"))
            result = ImageResult.failed(result.path, error)
        yield photo, result


def enrich_images(
    lake: DataLake,
    processed: ProcessedDir,
    detector: Detector,
    *,
    product_classes: Iterable[str] = DEFAULT_PRODUCT_CLASSES,
    annotate: int = 6,
    decode_workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lock_timeout: float = 600.0,
    log: Callable[[str], None] = print,
) -> EnrichReport:
    """The whole enrichment in this process: find what is pending, detect, consolidate.
    (``databox.enrich.chunks`` splits the same work into steps for several workers.)"""
    started = time.perf_counter()
    report = EnrichReport(model_version=detector.model_version)
    with processed.writer_lock(lock_timeout):
        todo, report.images_seen = pending_photos(lake, processed, report.model_version)
        log(
            f"{len(todo)} of {report.images_seen} images need detection with {detector.model_version}"
        )
        detect_and_commit(
            todo, processed, detector, report,
            product_classes=product_classes, annotate=annotate,
            decode_workers=decode_workers, batch_size=batch_size, log=log,
        )  # fmt: skip
        # Once per run: fold the parts into the CSVs (also a crashed run's parts).
        processed.consolidate()
    report.seconds = time.perf_counter() - started
    return report


def detect_and_commit(
    todo: list[Photo],
    processed: ProcessedDir,
    detector: Detector,
    report: EnrichReport,
    *,
    product_classes: Iterable[str] = DEFAULT_PRODUCT_CLASSES,
    annotate: int = 6,
    decode_workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    log: Callable[[str], None] = print,
) -> None:
    """Detect ``todo`` and commit the results every ``batch_size`` photos as part files
    (no lock needed: see ``outputs``), counting into ``report``. Does not consolidate."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    products = frozenset(product_classes)
    version = detector.model_version
    image_rows: list[dict] = []
    detection_rows: list[dict] = []

    def commit() -> None:
        if image_rows:
            processed.commit_batch(image_rows, detection_rows)
            report.batches_committed += 1
            image_rows.clear()
            detection_rows.clear()

    try:
        for photo, result in _results(todo, detector, decode_workers):
            category = categorise(result.detections, products)
            image, boxes = _rows(result, photo, version, category)
            image_rows.append(image)
            detection_rows.extend(boxes)
            _count(report, photo, result, category, log)
            if result.status != "error" and len(report.annotated) < annotate:
                _annotate(report, processed, photo, result, log)
            if len(image_rows) >= batch_size:
                commit()
        commit()
    except BaseException:
        # Interrupted (an error, Dagster terminating the step): keep the finished
        # photos of the open batch too; the next run does the rest.
        if image_rows:
            try:
                commit()
            except Exception as exc:
                log(f"could not commit the last {len(image_rows)} results: {exc}")
        raise


def _count(
    report: EnrichReport, photo: Photo, result: ImageResult, category: str, log: Callable
) -> None:
    report.images_processed += 1
    report.status_counts[result.status] += 1
    if result.status == "error":
        report.errors.append((photo.rel, result.error or "unknown error"))
        log(f"ERROR {photo.rel}: {result.error}")
    else:
        report.categories[category] += 1
        report.objects_per_class.update(d.class_name for d in result.detections)


def _annotate(
    report: EnrichReport, processed: ProcessedDir, photo: Photo, result: ImageResult, log: Callable
) -> None:
    """Draw a sample for people; a photo that cannot be drawn is not worth failing for."""
    if not result.detections:
        return
    out = (processed.annotated_dir / photo.rel.replace("/", "__")).with_suffix(".jpg")
    try:
        report.annotated.append(draw_detections(result.path, result, out))
    except Exception as exc:
        log(f"could not draw {out.name} from {result.path}: {type(exc).__name__}: {exc}")
