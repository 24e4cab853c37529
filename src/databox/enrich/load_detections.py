"""Load the enrichment's CSVs into ``raw.image_detections`` and ``raw.image_enrichment``.

Idempotent per (image, model version): rows are bulk-upserted on their keys, a row
whose content is unchanged is not rewritten (its ``loaded_at`` stays), and the boxes
an image no longer has after being processed again are deleted — all in one
transaction, so a reader never sees an image's new status with its old boxes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from databox.enrich.outputs import DETECTION_COLUMNS, IMAGE_COLUMNS, ProcessedDir
from databox.warehouse import Column, Table, Warehouse

DETECTIONS_TABLE = "raw.image_detections"
IMAGES_TABLE = "raw.image_enrichment"

IMAGE_DETECTIONS = Table(
    DETECTIONS_TABLE,
    (
        Column("channel", "text"),
        Column("message_id", "bigint"),
        Column("image_path", "text", not_null=True),  # lake-relative
        Column("image_sha256", "text", not_null=True),
        Column("model_version", "text", not_null=True),  # model file name @ its sha256
        Column("box_index", "integer", not_null=True),
        Column("class_id", "integer", not_null=True),
        Column("class_name", "text", not_null=True),
        Column("confidence", "double", not_null=True),
        Column("x1", "double", not_null=True),  # box corners in original image pixels
        Column("y1", "double", not_null=True),
        Column("x2", "double", not_null=True),
        Column("y2", "double", not_null=True),
        Column("image_width", "integer"),
        Column("image_height", "integer"),
        Column("loaded_at", "timestamptz", not_null=True),
    ),
    primary_key=("image_path", "model_version", "box_index"),
)
IMAGE_ENRICHMENT = Table(
    IMAGES_TABLE,
    (
        Column("channel", "text"),
        Column("message_id", "bigint"),
        Column("image_path", "text", not_null=True),
        Column("image_sha256", "text", not_null=True),
        Column("model_version", "text", not_null=True),
        Column("status", "text", not_null=True),  # ok | no_objects | error
        Column("category", "text"),  # promotional | product_display | lifestyle | other
        Column("object_count", "integer", not_null=True),
        Column("error", "text"),
        Column("image_width", "integer"),
        Column("image_height", "integer"),
        Column("processed_at", "timestamptz", not_null=True),
        Column("loaded_at", "timestamptz", not_null=True),
    ),
    primary_key=("image_path", "model_version"),
)

_INT = {"message_id", "box_index", "class_id", "image_width", "image_height", "object_count"}
_FLOAT = {"confidence", "x1", "y1", "x2", "y2"}


@dataclass
class DetectionLoadReport:
    images_inserted: int = 0
    images_updated: int = 0
    boxes_inserted: int = 0
    boxes_updated: int = 0
    boxes_deleted: int = 0
    images_in_files: int = 0
    boxes_in_files: int = 0
    seconds: float = 0.0


def _typed(row: dict[str, str], columns: tuple[str, ...]) -> tuple:
    out = []
    for name in columns:
        value = row.get(name)
        if value in ("", None):
            out.append(None)
        elif name in _INT:
            out.append(int(value))
        elif name in _FLOAT:
            out.append(float(value))
        elif name == "processed_at":
            out.append(datetime.fromisoformat(value))
        else:
            out.append(value)
    return tuple(out)


def load_detections(warehouse: Warehouse, processed: ProcessedDir) -> DetectionLoadReport:
    started = time.perf_counter()
    report = DetectionLoadReport()
    loaded_at = datetime.now(timezone.utc)
    image_cols = tuple(c for c in IMAGE_COLUMNS if c not in ("size", "mtime_ns"))
    # One snapshot of the CSVs and the committed parts of a run still in progress or
    # killed: every image comes with exactly its boxes.
    image_rows, box_rows = processed.read_all()
    images = [(*_typed(r, image_cols), loaded_at) for r in image_rows]
    boxes = [(*_typed(r, DETECTION_COLUMNS), loaded_at) for r in box_rows]
    report.images_in_files, report.boxes_in_files = len(images), len(boxes)
    with warehouse.transaction() as tx:
        tx.ensure_tables(IMAGE_DETECTIONS, IMAGE_ENRICHMENT)
        # loaded_at is bookkeeping: a row is rewritten only when its content changed.
        report.images_inserted, report.images_updated = tx.bulk_upsert(
            IMAGES_TABLE,
            (*image_cols, "loaded_at"),
            images,
            IMAGE_ENRICHMENT.primary_key,
            compare_columns=[c for c in image_cols if c not in IMAGE_ENRICHMENT.primary_key],
        )
        report.boxes_inserted, report.boxes_updated = tx.bulk_upsert(
            DETECTIONS_TABLE,
            (*DETECTION_COLUMNS, "loaded_at"),
            boxes,
            IMAGE_DETECTIONS.primary_key,
            compare_columns=[c for c in DETECTION_COLUMNS if c not in IMAGE_DETECTIONS.primary_key],
        )
        # An image processed again may have fewer boxes than before: drop the extras.
        report.boxes_deleted = tx.execute(
            f"delete from {DETECTIONS_TABLE} where exists (select 1 from {IMAGES_TABLE} i "
            f"where i.image_path = {DETECTIONS_TABLE}.image_path "
            f"and i.model_version = {DETECTIONS_TABLE}.model_version "
            f"and {DETECTIONS_TABLE}.box_index >= i.object_count)"
        )
    report.seconds = time.perf_counter() - started
    return report


def detection_summary(warehouse: Warehouse) -> dict:
    """Counts a person (or the Dagster UI) wants after a load."""
    per_class = warehouse.query(
        f"select class_name, count(*) as n from {DETECTIONS_TABLE} group by class_name order by n desc, class_name"
    )
    per_category = warehouse.query(
        f"select coalesce(category, status) as category, count(*) as n from {IMAGES_TABLE} "
        "group by coalesce(category, status) order by n desc"
    )
    return {
        "objects_per_class": {r["class_name"]: r["n"] for r in per_class},
        "images_per_category": {r["category"]: r["n"] for r in per_category},
    }
