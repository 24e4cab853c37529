"""The enrichment in chunks (``databox.enrich.chunks``) and its previews: planning is
bounded and exact, chunks in parallel processes give what one sequential run gives."""

from __future__ import annotations

import base64
import multiprocessing
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor

import pytest
from PIL import Image

from databox.config import Settings
from databox.enrich.chunks import (
    enrich_chunk,
    finish_chunks,
    plan_chunks,
    split,
)
from databox.enrich.detect_images import enrich_images
from databox.enrich.outputs import ProcessedDir
from databox.enrich.previews import previews_markdown, thumbnail_jpeg
from databox.errors import ConfigError
from databox.lake import DataLake
from tests.conftest import SHARED_DIR, require_service

MODEL = SHARED_DIR / "models" / "yolox_nano.onnx"


@pytest.fixture(scope="module")
def detector():
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    from databox.detect import Detector

    return Detector(MODEL)


def _lake(root, photos) -> DataLake:
    lake = DataLake(root)
    for i, photo in enumerate(photos):
        target = lake.image_path("CheMed123" if i % 2 else "lobelia4cosmetics", 100 + i)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(photo, target)  # same bytes and mtime in every lake
    return lake


@pytest.mark.parametrize("count,size", [(0, 4), (1, 4), (4, 4), (5, 4), (65, 64), (200, 64)])
def test_split_is_bounded_balanced_and_exact(count, size):
    paths = [f"raw/images/c/{i}.jpg" for i in range(count)]
    chunks = split(paths, size)
    assert [p for c in chunks for p in c] == paths  # every photo once, in order
    assert all(0 < len(c) <= size for c in chunks)
    assert len(chunks) == -(-count // size)
    if chunks:
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


@pytest.mark.parametrize(
    "count,size,workers,sizes",
    [
        (400, 64, 2, [50] * 8),  # 7 chunks would leave one worker idle for a whole chunk
        (400, 64, 3, [45] * 4 + [44] * 5),
        (130, 64, 1, [44, 43, 43]),
        (3, 64, 4, [1, 1, 1]),  # fewer photos than workers: one photo per chunk
        (100, 64, 2, [50, 50]),
    ],
)
def test_split_cuts_a_multiple_of_the_workers(count, size, workers, sizes):
    paths = [f"raw/images/c/{i}.jpg" for i in range(count)]
    chunks = split(paths, size, workers)
    assert [len(c) for c in chunks] == sizes
    assert [p for c in chunks for p in c] == paths


def test_chunk_settings_are_checked_loudly():
    assert (Settings.from_env({}).enrich_chunk_size, Settings().enrich_workers) == (128, 1)
    env = {"ENRICH_CHUNK_SIZE": " 8 ", "ENRICH_WORKERS": "2"}
    assert (Settings.from_env(env).enrich_chunk_size, Settings.from_env(env).enrich_workers) == (
        8,
        2,
    )
    for var in ("ENRICH_CHUNK_SIZE", "ENRICH_WORKERS"):
        for bad in ("0", "-3", "lots"):
            with pytest.raises(ConfigError, match=f"{var}='{bad}'"):
                Settings.from_env({var: bad})


def test_plan_covers_every_pending_photo_and_nothing_when_done(tmp_path, coco_photos, detector):
    lake = _lake(tmp_path / "lake", coco_photos[:7])
    processed = ProcessedDir(tmp_path / "processed")
    plan = plan_chunks(lake, processed, detector, 3)
    paths = sorted(p for c in plan.chunks for p in c)
    assert [len(c) for c in plan.chunks] == [3, 2, 2]
    assert len(paths) == len(set(paths)) == plan.images_seen == plan.images_pending == 7

    # One chunk done: only the others are planned; a retried chunk does nothing again.
    enrich_chunk(lake, processed, detector, plan.chunks[0], annotate=0, log=lambda _m: None)
    again = plan_chunks(lake, processed, detector, 3)
    assert sorted(p for c in again.chunks for p in c) == sorted(plan.chunks[1] + plan.chunks[2])
    redo = enrich_chunk(lake, processed, detector, plan.chunks[0], log=lambda _m: None)
    assert redo.images_processed == 0 and redo.batches_committed == 0

    for chunk in again.chunks:
        enrich_chunk(lake, processed, detector, chunk, annotate=0, log=lambda _m: None)
    done = plan_chunks(lake, processed, detector, 3)
    assert done.chunks == [] and done.images_seen == 7


def test_chunk_refuses_paths_outside_the_images_directory(tmp_path, detector):
    lake = DataLake(tmp_path / "lake")
    processed = ProcessedDir(tmp_path / "processed")
    for bad in ("raw/images/../../etc/passwd.jpg", "/etc/x.jpg", "state/x.jpg"):
        with pytest.raises(ValueError, match="not a photo path under"):
            enrich_chunk(lake, processed, detector, [bad], log=lambda _m: None)


def _chunk_in_child(lake_root: str, processed_root: str, paths: list[str]) -> tuple[int, int]:
    import os

    from databox.detect import Detector

    report = enrich_chunk(
        DataLake(lake_root), ProcessedDir(processed_root), Detector(MODEL), paths,
        annotate=0, batch_size=2, log=lambda _m: None,
    )  # fmt: skip
    return os.getpid(), report.images_processed


def _without_time(rows):
    return [{k: v for k, v in r.items() if k != "processed_at"} for r in rows]


def test_two_chunks_in_two_processes_equal_one_sequential_run(tmp_path, coco_photos, detector):
    photos = coco_photos[:10]
    sequential = ProcessedDir(tmp_path / "sequential")
    enrich_images(_lake(tmp_path / "lake_a", photos), sequential, detector, annotate=0,
                  log=lambda _m: None)  # fmt: skip

    lake = _lake(tmp_path / "lake_b", photos)
    processed = ProcessedDir(tmp_path / "chunked")
    plan = plan_chunks(lake, processed, detector, 5)
    assert len(plan.chunks) == 2
    # Both chunks commit at the same time (no lock between them), in separate processes.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futures = [
            pool.submit(_chunk_in_child, str(lake.root), str(processed.root), c)
            for c in plan.chunks
        ]
        results = [f.result(timeout=120) for f in futures]
    assert sorted(n for _pid, n in results) == [5, 5]
    assert len(processed.part_names()) == 6  # 3 batches of ≤2 photos per chunk, unique names

    reports = []  # the children's reports are not needed for the data, only the counts
    report = finish_chunks(processed, plan, reports, started=plan.started)
    assert report.images_seen == 10 and processed.part_names() == []
    assert _without_time(processed.read_images()) == _without_time(sequential.read_images())
    assert list(processed.read_detections()) == list(sequential.read_detections())
    assert processed.detections_csv.read_bytes() == sequential.detections_csv.read_bytes()


def test_previews_are_small_embedded_jpegs(tmp_path, coco_photos):
    big = tmp_path / "big.png"
    Image.new("RGB", (1600, 900), (200, 30, 30)).save(big)
    thumb = thumbnail_jpeg(big)
    assert thumb[:3] == b"\xff\xd8\xff"  # JPEG
    from io import BytesIO

    assert Image.open(BytesIO(thumb)).size == (320, 180)

    samples = [(f"CheMed123__{i}.jpg", p) for i, p in enumerate(coco_photos[:6])]
    samples.append(("gone.jpg", tmp_path / "missing.jpg"))
    markdown = previews_markdown(samples)
    uris = re.findall(r"!\[([^\]]*)\]\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert [alt for alt, _ in uris] == [c for c, _ in samples[:6]]
    assert all(Image.open(BytesIO(base64.b64decode(d))).width <= 320 for _, d in uris)
    assert len(markdown) < 300_000
    assert "gone.jpg: no preview (FileNotFoundError" in markdown

    # Over the budget: named, not embedded.
    tight = previews_markdown(samples[:3], max_total_bytes=len(uris[0][1]) + 10)
    assert tight.count("data:image/jpeg") == 1 and "not embedded" in tight


def test_one_detector_per_process_and_a_new_one_when_the_model_changes(tmp_path):
    """A worker runs many chunk steps: they share one onnxruntime session, and a replaced
    model file or changed setting builds a new one (never a stale model's results)."""
    from databox.detect.shared import shared_detector

    require_service(MODEL.is_file(), f"no model at {MODEL}")
    model = tmp_path / "model.onnx"
    shutil.copyfile(MODEL, model)
    first = shared_detector(model, intra_op_threads=1)
    assert shared_detector(model, intra_op_threads=1) is first
    assert shared_detector(model, intra_op_threads=1, score_threshold=0.5) is not first
    again = shared_detector(model, intra_op_threads=1)
    assert again is not first and again.model_version == first.model_version

    shutil.copyfile(MODEL, model)  # replaced in place: new mtime
    os.utime(model, ns=(1, 1))
    assert shared_detector(model, intra_op_threads=1) is not again
