"""Where sample photos come from: env folder, shared/ beside the checkout, or scikit-image."""

from __future__ import annotations

import pytest
from PIL import Image

from databox import samples
from databox.errors import ConfigError


def test_env_folder_wins(tmp_path, monkeypatch):
    for name in ("b.jpg", "a.JPEG", "c.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv("DATABOX_SAMPLE_PHOTOS", str(tmp_path))
    assert [p.name for p in samples.find_sample_photos()] == ["a.JPEG", "b.jpg", "c.png"]
    assert len(samples.find_sample_photos(limit=2)) == 2


def test_env_folder_without_photos_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABOX_SAMPLE_PHOTOS", str(tmp_path))
    with pytest.raises(ConfigError, match="DATABOX_SAMPLE_PHOTOS"):
        samples.find_sample_photos()


def test_shared_dir_beside_the_checkout(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "datasets" / "coco-val-sample").mkdir(parents=True)
    (shared / "datasets" / "coco-val-sample" / "1.jpg").write_bytes(b"x")
    (tmp_path / "main" / "src").mkdir(parents=True)
    monkeypatch.delenv("DATABOX_SAMPLE_PHOTOS", raising=False)
    monkeypatch.delenv("DATABOX_SHARED_DIR", raising=False)
    monkeypatch.chdir(tmp_path / "main" / "src")  # found by walking up from the cwd
    assert samples.find_shared_dir() == shared.resolve()
    assert samples.find_sample_photos()[0] == shared.resolve() / "datasets/coco-val-sample/1.jpg"


def test_scikit_image_fallback_writes_real_jpegs_once(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABOX_SAMPLE_PHOTOS", raising=False)
    monkeypatch.setenv("DATABOX_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(samples, "_shared_candidates", lambda: iter(()))
    photos = samples.find_sample_photos()
    assert len(photos) >= 4
    assert all(p.parent == tmp_path / "sample-photos" for p in photos)
    with Image.open(photos[0]) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and min(img.size) >= 256
    before = [p.stat().st_mtime_ns for p in photos]
    assert samples.find_sample_photos() == photos  # cached, not rewritten
    assert [p.stat().st_mtime_ns for p in photos] == before
