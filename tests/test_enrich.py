"""enrich_data_yolo's work and the load of its results, on real photos and the real model."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from databox.enrich.detect_images import enrich_images, owner_of
from databox.enrich.load_detections import load_detections
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake
from databox.warehouse import connect
from tests.conftest import SHARED_DIR, require_service

MODEL = SHARED_DIR / "models" / "yolox_nano.onnx"


@pytest.fixture(scope="module")
def detector():
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    from databox.detect import Detector

    return Detector(MODEL)


def add_photo(lake: DataLake, channel: str, message_id: int, source, index: int = 0):
    target = lake.image_path(channel, message_id, index)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, np.ndarray):
        Image.fromarray(source).save(target, quality=92)
    else:
        shutil.copyfile(source, target)
    return target


@pytest.fixture
def lake_with_photos(tmp_path, coco_photos):
    import skimage.data

    lake = DataLake(tmp_path / "lake")
    add_photo(lake, "CheMed123", 10, skimage.data.astronaut())
    add_photo(lake, "CheMed123", 11, skimage.data.coffee())
    for i, photo in enumerate(coco_photos[:3]):
        add_photo(lake, "lobelia4cosmetics", 20 + i, photo)
    # A truncated JPEG and a text file posing as one.
    truncated = lake.image_path("lobelia4cosmetics", 30)
    truncated.write_bytes(coco_photos[3].read_bytes()[:3000])
    lake.image_path("lobelia4cosmetics", 31).write_text("not an image")
    return lake


def run(lake, processed, detector):
    return enrich_images(lake, processed, detector, log=lambda _m: None)


def test_detects_categorises_and_records_errors(lake_with_photos, tmp_path, detector):
    processed = ProcessedDir(tmp_path / "processed")
    report = run(lake_with_photos, processed, detector)
    assert report.images_seen == report.images_processed == 7
    assert report.status_counts["error"] == 2
    errors = dict(report.errors)
    assert set(errors) == {
        "raw/images/lobelia4cosmetics/30.jpg",
        "raw/images/lobelia4cosmetics/31.jpg",
    }
    assert all("lobelia4cosmetics/3" in e for e in errors.values())

    images = {r["image_path"]: r for r in processed.read_images()}
    astronaut = images["raw/images/CheMed123/10.jpg"]
    coffee = images["raw/images/CheMed123/11.jpg"]
    assert (astronaut["status"], astronaut["category"]) == ("ok", "lifestyle")
    assert coffee["category"] == "product_display"  # a cup, no person
    assert (astronaut["channel"], astronaut["message_id"]) == ("CheMed123", "10")
    boxes = [d for d in processed.read_detections() if d["image_path"] == coffee["image_path"]]
    cup = max((b for b in boxes if b["class_name"] == "cup"), key=lambda b: float(b["confidence"]))
    assert float(cup["confidence"]) > 0.5
    # Boxes are in original image pixels (coffee is 600x400).
    assert 0 <= float(cup["x1"]) < float(cup["x2"]) <= 600
    assert 0 <= float(cup["y1"]) < float(cup["y2"]) <= 400
    assert report.annotated and all(p.is_file() for p in report.annotated)


def test_incremental_only_new_or_changed_images(lake_with_photos, tmp_path, detector, coco_photos):
    processed = ProcessedDir(tmp_path / "processed")
    run(lake_with_photos, processed, detector)
    csv_before = processed.detections_csv.read_bytes()

    assert run(lake_with_photos, processed, detector).images_processed == 0
    assert processed.detections_csv.read_bytes() == csv_before

    # Touched, same bytes: still nothing to do.
    path = lake_with_photos.image_path("CheMed123", 10)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert run(lake_with_photos, processed, detector).images_processed == 0

    add_photo(lake_with_photos, "tikvahpharma", 99, coco_photos[10])
    report = run(lake_with_photos, processed, detector)
    assert report.images_processed == 1
    rows = processed.read_images()
    assert len(rows) == 8 and len({r["image_path"] for r in rows}) == 8

    # A photo whose bytes change is processed again and its old rows are replaced.
    first_sha = next(r["image_sha256"] for r in rows if r["image_path"].endswith("/11.jpg"))
    add_photo(lake_with_photos, "CheMed123", 11, coco_photos[11])
    assert run(lake_with_photos, processed, detector).images_processed == 1
    coffee_rows = [r for r in processed.read_images() if r["image_path"].endswith("/11.jpg")]
    assert len(coffee_rows) == 1
    assert coffee_rows[0]["image_sha256"] != first_sha
    assert len(processed.read_images()) == 8


def test_owner_of_parses_lake_image_paths():
    assert owner_of("raw/images/CheMed123/42.jpg") == ("CheMed123", 42)
    assert owner_of("raw/images/CheMed123/42_3.jpg") == ("CheMed123", 42)
    assert owner_of("elsewhere/photo.jpg") == (None, None)


def _table_dump(url: str) -> list:
    wh = connect(url)
    return [
        wh.query("select * from raw.image_enrichment order by image_path, model_version"),
        wh.query(
            "select * from raw.image_detections order by image_path, model_version, box_index"
        ),
    ]


def test_load_is_idempotent_and_drops_vanished_boxes(
    lake_with_photos, tmp_path, detector, warehouse_url, coco_photos
):
    processed = ProcessedDir(tmp_path / "processed")
    run(lake_with_photos, processed, detector)
    first = load_detections(connect(warehouse_url), processed)
    assert first.images_inserted == 7
    assert first.boxes_inserted == first.boxes_in_files > 0
    dump = _table_dump(warehouse_url)
    errors = [r for r in dump[0] if r["status"] == "error"]
    assert len(errors) == 2 and all(r["error"] for r in errors)

    again = load_detections(connect(warehouse_url), processed)
    assert (
        again.images_inserted,
        again.images_updated,
        again.boxes_inserted,
        again.boxes_updated,
    ) == (0, 0, 0, 0)
    assert _table_dump(warehouse_url) == dump  # byte for byte, loaded_at included

    # The astronaut photo is replaced by an empty white image: its boxes must go.
    add_photo(lake_with_photos, "CheMed123", 10, np.full((200, 200, 3), 255, dtype=np.uint8))
    run(lake_with_photos, processed, detector)
    report = load_detections(connect(warehouse_url), processed)
    assert report.images_updated == 1 and report.boxes_deleted > 0
    wh = connect(warehouse_url)
    left = wh.query(
        "select count(*) as n from raw.image_detections where image_path = %s",
        ["raw/images/CheMed123/10.jpg"],
    )
    assert left[0]["n"] == 0
    status = wh.query(
        "select status, object_count from raw.image_enrichment where image_path = %s",
        ["raw/images/CheMed123/10.jpg"],
    )
    assert status == [{"status": "no_objects", "object_count": 0}]
