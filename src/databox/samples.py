"""Real photos for the demo replica and tests, found without any network access.

In order of preference:

1. the folder named by ``DATABOX_SAMPLE_PHOTOS``;
2. ``shared/datasets/coco-val-sample`` beside the checkout (the repo lives at
   ``X/main`` with ``X/shared`` next to it);
3. the photos bundled inside the scikit-image wheel (astronaut, coffee, ...), written
   once as JPEGs into ``$DATABOX_CACHE_DIR/sample-photos`` (default
   ``~/.cache/databox/sample-photos``). Only files shipped in the wheel are read;
   nothing is ever downloaded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

from databox.errors import ConfigError
from databox.lake import atomic_write_bytes

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
COCO_SAMPLE = Path("datasets") / "coco-val-sample"

#: Colour photos that ship inside the scikit-image wheel (skimage/data/), by file name.
#: Grey test charts and microscopy images are left out: they do not look like posts.
SKIMAGE_BUNDLED = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
)


def _photos_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())


def _shared_candidates() -> Iterator[Path]:
    """``shared`` directories beside the cwd or this file, or any of their parents."""
    env = os.environ.get("DATABOX_SHARED_DIR")
    if env:
        yield Path(env)
    seen: set[Path] = set()
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder / "shared"
            if candidate not in seen and candidate.is_dir():
                seen.add(candidate)
                yield candidate


def find_shared_dir() -> Path | None:
    """The project's ``shared`` directory (``DATABOX_SHARED_DIR`` or ``X/shared`` next
    to the ``X/main`` checkout), or None. A stray ``shared`` folder without
    ``datasets``/``docs`` is not taken for it."""
    for candidate in _shared_candidates():
        if (candidate / "datasets").is_dir() or (candidate / "docs").is_dir():
            return candidate
    return None


def cache_dir() -> Path:
    root = os.environ.get("DATABOX_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "databox"


def _skimage_photos() -> list[Path]:
    """Convert the wheel's bundled photos to JPEG once; later calls reuse the files."""
    import skimage.data
    from PIL import Image  # a dependency of scikit-image

    data_dir = Path(skimage.data.__file__).parent
    target = cache_dir() / "sample-photos"
    out = []
    for name in SKIMAGE_BUNDLED:
        source = data_dir / name
        if not source.is_file():
            continue  # a future wheel may drop one; use the rest
        dest = target / f"skimage_{Path(name).stem}.jpg"
        if not dest.exists():
            with Image.open(source) as img:
                buf = io.BytesIO()
                img.convert("RGB").save(buf, format="JPEG", quality=90)
            # Atomic, so two processes filling the cache at once never see half a file.
            atomic_write_bytes(dest, buf.getvalue())
        out.append(dest)
    return out


def find_sample_photos(limit: int | None = None) -> list[Path]:
    """Paths of real photos (sorted, at most ``limit``); raises ``ConfigError`` when
    ``DATABOX_SAMPLE_PHOTOS`` names a folder without photos, or none can be found."""
    env = os.environ.get("DATABOX_SAMPLE_PHOTOS")
    if env:
        photos = _photos_in(Path(env))
        if not photos:
            raise ConfigError(f"DATABOX_SAMPLE_PHOTOS={env!r} holds no .jpg/.jpeg/.png photos")
    else:
        photos = []
        for shared in _shared_candidates():
            photos = _photos_in(shared / COCO_SAMPLE)
            if photos:
                break
        if not photos:
            photos = _skimage_photos()
    if not photos:
        raise ConfigError("no sample photos: set DATABOX_SAMPLE_PHOTOS to a folder of .jpg files")
    return photos[:limit] if limit is not None else photos
