"""Enrichment isolates every photo and commits in batches.

Bad lake entries (a symlink out of the lake, a decompression bomb, garbage, an empty
file, a directory, a FIFO, a file that vanishes) are recorded with their reason while
the good photos of the same run are detected; a run killed with SIGKILL keeps its
committed batches and the rerun does only the rest, ending with a clean run's outputs.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from databox.detect.preprocess import ImageTooLarge, load_image
from databox.enrich import lake_photos
from databox.enrich.detect_images import enrich_images
from databox.enrich.load_detections import load_detections
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake
from databox.warehouse import connect
from tests.conftest import REPO_ROOT, SHARED_DIR, require_service

MODEL = SHARED_DIR / "models" / "yolox_nano.onnx"


@pytest.fixture(scope="module")
def detector():
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    from databox.detect import Detector

    return Detector(MODEL)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares ``width`` × ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def put(lake: DataLake, channel: str, message_id: int, photo: Path) -> Path:
    target = lake.image_path(channel, message_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(photo, target)
    return target


def run(lake, processed, detector, **kwargs):
    return enrich_images(lake, processed, detector, annotate=0, log=lambda _m: None, **kwargs)


def test_bomb_is_refused_from_its_header(tmp_path, coco_photos):
    small = tmp_path / "bomb.png"
    small.write_bytes(png_declaring(9000, 9000))  # 81 MP: Pillow would not even warn
    with pytest.raises(ImageTooLarge, match=r"declares 9000×9000 = 81,000,000 pixels"):
        load_image(small)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_declaring(100_000, 100_000))  # past Pillow's own limit too
    with pytest.raises(ImageTooLarge, match="refused before decoding"):
        load_image(huge)
    img, width, height = load_image(coco_photos[0])  # a real photo is under the limit
    assert width * height < 64_000_000 and img.size == (width, height)
    with pytest.raises(ImageTooLarge, match="over the limit of 100 "):
        load_image(coco_photos[0], max_pixels=100)


@pytest.fixture
def mixed_lake(tmp_path, coco_photos):
    """Four good photos, an allowed in-lake symlink, and one entry of every bad kind."""
    lake = DataLake(tmp_path / "lake")
    good = [put(lake, "good", 1 + i, p) for i, p in enumerate(coco_photos[:4])]
    link = lake.image_path("good", 9)
    link.symlink_to(Path("..") / "good" / good[0].name)  # inside the lake: a photo
    bad = {
        "escape": lake.image_path("bad", 1),
        "dangling": lake.image_path("bad", 2),
        "bomb": lake.image_path("bad", 3, ext=".png"),
        "huge": lake.image_path("bad", 4, ext=".png"),
        "garbage": lake.image_path("bad", 5),
        "truncated": lake.image_path("bad", 6),
        "empty": lake.image_path("bad", 7),
        "directory": lake.image_path("bad", 8),
        "fifo": lake.image_path("bad", 10),
    }
    bad["escape"].parent.mkdir(parents=True)
    bad["escape"].symlink_to(coco_photos[5])  # a real photo, but outside the lake
    bad["dangling"].symlink_to(lake.image_path("bad", 99))
    bad["bomb"].write_bytes(png_declaring(9000, 9000))
    bad["huge"].write_bytes(png_declaring(100_000, 100_000))
    bad["garbage"].write_bytes(bytes(range(256)) * 16)
    bad["truncated"].write_bytes(coco_photos[6].read_bytes()[:2000])
    bad["empty"].write_bytes(b"")
    bad["directory"].mkdir()
    os.mkfifo(bad["fifo"])  # opening it for reading would block the run forever
    return lake, good, link, bad


REASONS = {
    "escape": "symlink escapes the lake: it resolves to ",
    "dangling": "dangling symlink to ",
    "bomb": "ImageTooLarge: refused before decoding: it declares 9000×9000",
    "huge": "ImageTooLarge: refused before decoding: Image size (10000000000 pixels)",
    "garbage": "UnidentifiedImageError: cannot identify image file",
    "truncated": "image file is truncated",
    "empty": "empty file (0 bytes)",
    "directory": "is a directory, not a photo",
    "fifo": "is a FIFO, not a photo",
}


def test_bad_entries_are_recorded_and_the_rest_detected(mixed_lake, tmp_path, detector):
    lake, good, link, bad = mixed_lake
    processed = ProcessedDir(tmp_path / "processed")
    report = run(lake, processed, detector, batch_size=4)
    assert report.images_seen == report.images_processed == len(good) + 1 + len(bad)
    assert report.status_counts["error"] == len(bad)

    rows = {r["image_path"]: r for r in processed.read_images()}
    assert len(rows) == report.images_processed  # one row each, no duplicates
    for kind, path in bad.items():
        row = rows[lake.relative(path.parent) + "/" + path.name]
        assert row["status"] == "error" and row["category"] == "", kind
        assert row["error"].startswith(f"{path}"), (kind, row["error"])  # names the file
        assert REASONS[kind] in row["error"], (kind, row["error"])
    assert str(lake.root) in rows["raw/images/bad/1.jpg"]["error"]  # says whose root
    for path in good:
        assert rows[lake.relative(path)]["status"] == "ok"
    # The in-lake symlink is detected like its target, under its own name and owner.
    linked, target = rows[f"raw/images/good/{link.name}"], rows[lake.relative(good[0])]
    assert (linked["status"], linked["message_id"]) == ("ok", "9")
    assert linked["image_sha256"] == target["image_sha256"]
    assert linked["object_count"] == target["object_count"] != "0"

    # Recorded once: a rerun reads nothing and rewrites nothing.
    before = processed.images_csv.read_bytes(), processed.detections_csv.read_bytes()
    assert run(lake, processed, detector).images_processed == 0
    assert (processed.images_csv.read_bytes(), processed.detections_csv.read_bytes()) == before

    # A bad entry that changes is processed again, and only that one.
    bad["empty"].write_bytes(good[1].read_bytes())
    bad["escape"].unlink()
    bad["escape"].symlink_to(good[2])
    again = run(lake, processed, detector)
    assert again.images_processed == 2 and again.status_counts["ok"] == 2
    statuses = {r["image_path"]: r["status"] for r in processed.read_images()}
    assert statuses["raw/images/bad/7.jpg"] == statuses["raw/images/bad/1.jpg"] == "ok"


def test_vanishing_files_are_recorded_and_retried_when_back(
    tmp_path, coco_photos, detector, monkeypatch
):
    lake = DataLake(tmp_path / "lake")
    keep = put(lake, "vanish", 1, coco_photos[0])
    late = put(lake, "vanish", 2, coco_photos[1])  # vanishes after it was hashed
    ghost = lake.image_path("vanish", 3)  # listed, gone before it is looked at
    listed = lake_photos.lake_images
    monkeypatch.setattr(lake_photos, "lake_images", lambda lk: sorted([*listed(lk), ghost]))

    class Deleting:  # deletes `late` once detection starts: between hash and decode
        model_version = detector.model_version

        def detect_paths(self, paths, **kwargs):
            late.unlink()
            return detector.detect_paths(list(paths), **kwargs)

    processed = ProcessedDir(tmp_path / "processed")
    report = run(lake, processed, Deleting())
    rows = {r["image_path"]: r for r in processed.read_images()}
    assert rows["raw/images/vanish/1.jpg"]["status"] == "ok" and keep.exists()
    for name in ("2.jpg", "3.jpg"):
        row = rows[f"raw/images/vanish/{name}"]
        assert row["status"] == "error", row
        assert row["error"].startswith(f"{lake.images_dir}/vanish/{name}: vanished between listing")
    assert report.status_counts == {"ok": 1, "error": 2}

    monkeypatch.setattr(lake_photos, "lake_images", listed)
    put(lake, "vanish", 2, coco_photos[1])  # back, same bytes: processed this time
    assert run(lake, processed, detector).images_processed == 1
    assert {r["image_path"]: r["status"] for r in processed.read_images()}[
        "raw/images/vanish/2.jpg"
    ] == "ok"


def _rows(processed: ProcessedDir) -> tuple[list, list]:
    images = [{k: v for k, v in r.items() if k != "processed_at"} for r in processed.read_images()]
    return images, list(processed.read_detections())


def _tables(url: str) -> list:
    wh = connect(url)
    return [
        [
            {k: v for k, v in r.items() if k not in ("processed_at", "loaded_at")}
            for r in wh.query(f"select * from {table} order by {order}")
        ]
        for table, order in (
            ("raw.image_enrichment", "image_path, model_version"),
            ("raw.image_detections", "image_path, model_version, box_index"),
        )
    ]


CHILD = """
import sys, time
from databox.detect import Detector
from databox.enrich.detect_images import enrich_images
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake

class Throttled(Detector):  # paces the run so the kill lands mid-way, every time
    def detect_paths(self, paths, **kwargs):
        for result in super().detect_paths(paths, **kwargs):
            time.sleep(0.03)
            yield result

model, lake, processed, batch = sys.argv[1:]
enrich_images(DataLake(lake), ProcessedDir(processed), Throttled(model),
              batch_size=int(batch), annotate=0, log=lambda _m: None)
print("finished")
"""


def test_kill_9_keeps_committed_batches_and_rerun_completes(
    tmp_path, coco_photos, detector, duckdb_url
):
    photos, batch = coco_photos[:36], 6
    lake = DataLake(tmp_path / "lake")
    for i, photo in enumerate(photos):
        put(lake, "crash", 100 + i, photo)
    processed = ProcessedDir(tmp_path / "processed")
    args = [str(MODEL), str(lake.root), str(processed.root), str(batch)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not processed.part_numbers():
            assert child.poll() is None, "the child ended before committing a batch"
            assert time.monotonic() < deadline, "no batch committed within 60 s"
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        out, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL and b"finished" not in out

    committed = len(processed.read_images())
    assert 0 < committed < len(photos) and committed % batch == 0  # whole batches only
    assert not processed.images_csv.exists()  # nothing but the parts survived
    partial = load_detections(connect(duckdb_url), processed)  # the loader reads parts too
    assert partial.images_inserted == committed

    report = run(lake, processed, detector, batch_size=batch)
    assert report.images_processed == len(photos) - committed  # only the rest
    assert processed.part_numbers() == []  # folded into the CSVs
    load_detections(connect(duckdb_url), processed)

    clean = ProcessedDir(tmp_path / "clean")
    assert run(lake, clean, detector).images_processed == len(photos)
    assert _rows(processed) == _rows(clean)
    assert processed.detections_csv.read_bytes() == clean.detections_csv.read_bytes()
    clean_url = f"duckdb:///{tmp_path / 'clean.duckdb'}"
    load_detections(connect(clean_url), clean)
    assert _tables(duckdb_url) == _tables(clean_url)
    again = load_detections(connect(duckdb_url), processed)
    assert (again.images_inserted, again.images_updated, again.boxes_inserted) == (0, 0, 0)


def _image(path: str, status: str = "ok", boxes: int = 0) -> dict:
    return {
        "image_path": path,
        "model_version": "m@1",
        "image_sha256": "ab" * 32,
        "size": 10,
        "mtime_ns": 1,
        "status": status,
        "object_count": boxes,
        "processed_at": "2026-01-01T00:00:00+00:00",
    }


def _box(path: str, index: int) -> dict:
    return {
        "image_path": path,
        "image_sha256": "ab" * 32,
        "model_version": "m@1",
        "box_index": index,
        "class_id": 0,
        "class_name": "person",
        "confidence": 0.5,
        "x1": 1.0,
        "y1": 1.0,
        "x2": 2.0,
        "y2": 2.0,
    }


def test_parts_override_in_order_and_survive_a_crash_mid_consolidation(tmp_path, monkeypatch):
    from databox.enrich import outputs

    processed = ProcessedDir(tmp_path)
    processed.commit_batch(
        [_image("a", boxes=2), _image("b", boxes=1)], [_box("a", 0), _box("a", 1), _box("b", 0)]
    )
    processed.consolidate()
    # A later batch processes "a" again: its single box replaces both older ones.
    processed.commit_batch([_image("a", boxes=1), _image("c")], [_box("a", 0)])
    view = _rows(processed)
    assert [(r["image_path"], r["object_count"]) for r in view[0]] == [
        ("a", "1"),
        ("b", "1"),
        ("c", "0"),
    ]
    assert [(r["image_path"], r["box_index"]) for r in view[1]] == [("a", "0"), ("b", "0")]

    real_write = outputs._write

    def crash_on_images(path, columns, rows):
        if path == processed.images_csv:
            raise OSError("simulated crash between the two CSV writes")
        real_write(path, columns, rows)

    monkeypatch.setattr(outputs, "_write", crash_on_images)
    with pytest.raises(OSError):
        processed.consolidate()
    assert _rows(processed) == view  # the parts still override both files
    monkeypatch.setattr(outputs, "_write", real_write)
    assert processed.consolidate() == 1
    assert _rows(processed) == view and processed.part_numbers() == []
    assert processed.consolidate() == 0  # nothing left: the CSVs are not rewritten
