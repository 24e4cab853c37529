"""``enrich_data_yolo``'s work: detect objects in lake photos that have no result yet.

An image needs work when there is no row for (its path, the current model version)
in ``yolo_images.csv``, or when its bytes changed (size or mtime differ and the
SHA-256 differs). So a second run processes nothing, a new photo exactly one, and a
new model version every photo again. Photos stream through the detector (decode in
threads, inference overlapped), so memory stays flat however many there are.

A photo that cannot be decoded (truncated, corrupt, not an image) gets status
``error`` with the reason; the run goes on. It is kept as processed for this model
version, so it is not retried until its bytes change.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from databox.detect import (
    DEFAULT_PRODUCT_CLASSES,
    Detector,
    ImageResult,
    categorise,
    draw_detections,
)
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
# raw/images/<channel>/<message_id>[_<n>].<ext>, as DataLake.image_path writes them.
_IMAGE_NAME = re.compile(r"^(?P<mid>\d+)(?:_\d+)?$")


@dataclass
class EnrichReport:
    model_version: str
    images_seen: int = 0
    images_processed: int = 0
    status_counts: Counter = field(default_factory=Counter)
    objects_per_class: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)
    annotated: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.images_processed / self.seconds if self.seconds else 0.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def owner_of(rel_path: str) -> tuple[str | None, int | None]:
    """(channel, message_id) from ``raw/images/<channel>/<message_id>[_n].jpg``."""
    parts = Path(rel_path).parts
    if len(parts) >= 2 and (m := _IMAGE_NAME.match(Path(parts[-1]).stem)):
        return parts[-2], int(m["mid"])
    return None, None


def lake_images(lake: DataLake) -> list[Path]:
    if not lake.images_dir.exists():
        return []
    return sorted(
        p for p in lake.images_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def pending_images(lake: DataLake, processed: ProcessedDir, model_version: str) -> tuple[list, int]:
    """Images without a result for ``model_version``: [(path, rel, size, mtime_ns, sha256)]."""
    done = {
        r["image_path"]: r for r in processed.read_images() if r["model_version"] == model_version
    }
    todo = []
    images = lake_images(lake)
    for path in images:
        rel = lake.relative(path)
        stat = path.stat()
        previous = done.get(rel)
        if previous and (int(previous["size"]), int(previous["mtime_ns"])) == (
            stat.st_size,
            stat.st_mtime_ns,
        ):
            continue  # unchanged since it was processed: not even read
        sha = _sha256(path)
        if previous and previous["image_sha256"] == sha:
            continue  # touched, same bytes
        todo.append((path, rel, stat.st_size, stat.st_mtime_ns, sha))
    return todo, len(images)


def _rows(
    result: ImageResult, rel: str, size: int, mtime_ns: int, sha: str, version: str, category: str
):
    channel, message_id = owner_of(rel)
    image = {
        "channel": channel,
        "message_id": message_id,
        "image_path": rel,
        "image_sha256": sha,
        "size": size,
        "mtime_ns": mtime_ns,
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
            "image_path": rel,
            "image_sha256": sha,
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


def enrich_images(
    lake: DataLake,
    processed: ProcessedDir,
    detector: Detector,
    *,
    product_classes: Iterable[str] = DEFAULT_PRODUCT_CLASSES,
    annotate: int = 6,
    decode_workers: int = 2,
    log: Callable[[str], None] = print,
) -> EnrichReport:
    started = time.perf_counter()
    products = frozenset(product_classes)
    version = detector.model_version
    report = EnrichReport(model_version=version)
    todo, report.images_seen = pending_images(lake, processed, version)
    log(f"{len(todo)} of {report.images_seen} images need detection with {version}")
    by_path = {t[0]: t for t in todo}
    image_rows: list[dict] = []
    detection_rows: list[dict] = []
    for result in detector.detect_paths((t[0] for t in todo), decode_workers=decode_workers):
        _, rel, size, mtime_ns, sha = by_path[Path(result.path)]
        category = categorise(result.detections, products)
        image, boxes = _rows(result, rel, size, mtime_ns, sha, version, category)
        image_rows.append(image)
        detection_rows.extend(boxes)
        report.images_processed += 1
        report.status_counts[result.status] += 1
        if result.status == "error":
            report.errors.append((rel, result.error or "unknown error"))
            log(f"ERROR {rel}: {result.error}")
        else:
            report.categories[category] += 1
            report.objects_per_class.update(d.class_name for d in result.detections)
            if len(report.annotated) < annotate and result.detections:
                out = processed.annotated_dir / rel.replace("/", "__")
                report.annotated.append(
                    draw_detections(result.path, result, out.with_suffix(".jpg"))
                )
    if image_rows:
        processed.merge(image_rows, detection_rows)
    report.seconds = time.perf_counter() - started
    return report
