"""The lake's photos as enrichment sees them: which entries there are, which of them
cannot be photos (and why), and which need detection.

Every entry under ``raw/images`` named like a photo is listed, whether or not it is
a regular file, so that nothing named like a photo is skipped silently. An entry that
cannot be decoded safely gets a *problem* (the message recorded as its error) and is
never opened by the decoder:

- a symlink whose target, resolved, is outside the lake root (or a dangling one).
  A symlink resolving *inside* the lake is a photo like any other: its target is read
  (the resolved path, so it cannot be re-pointed between the check and the read), and
  its row is keyed by the link's own path, whose name says which message it belongs to;
- a directory, a FIFO, a socket or a device named like a photo (opening a FIFO would
  block the run forever);
- an empty file;
- an entry that vanished between listing and reading, or that cannot be read.

Truncated, garbage and oversized (decompression bomb) files are regular files: the
decoder refuses them (``databox.detect.preprocess``) and they are recorded the same way.

Whether an entry needs work is decided by its stat (size, mtime) and then its hash,
against its row for the current model version. For an entry without readable bytes
the "hash" is the SHA-256 of what it is (``symlink-outside:<target>``, ``directory``,
``missing``, …), so it is recorded once and not retried until it changes; such an
entry skips the stat shortcut (its stat says nothing about its target) and records
size and mtime -1 when they are unknown.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})
# raw/images/<channel>/<message_id>[_<n>].<ext>, as DataLake.image_path writes them.
_IMAGE_NAME = re.compile(r"^(?P<mid>\d+)(?:_\d+)?$")
_SPECIAL = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device"}


@dataclass(frozen=True, slots=True)
class Photo:
    """One lake entry named like a photo."""

    path: Path  # as listed, under the lake's images directory
    rel: str  # lake-relative, the key of its rows
    read_path: Path | None  # the file to decode (a symlink's resolved target); None: never
    size: int
    mtime_ns: int
    sha256: str = ""
    problem: str | None = None  # why it is not decoded: recorded as its error


def owner_of(rel_path: str) -> tuple[str | None, int | None]:
    """(channel, message_id) from ``raw/images/<channel>/<message_id>[_n].jpg``."""
    parts = Path(rel_path).parts
    if len(parts) >= 2 and (m := _IMAGE_NAME.match(Path(parts[-1]).stem)):
        return parts[-2], int(m["mid"])
    return None, None


def lake_images(lake: DataLake) -> list[Path]:
    """Every entry under the images directory named like a photo, files or not.
    (``rglob`` does not descend into symlinked directories.)"""
    if not lake.images_dir.exists():
        return []
    return sorted(p for p in lake.images_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def identity(description: str) -> str:
    """The recorded hash of an entry that has no bytes we read."""
    return hashlib.sha256(description.encode("utf-8", "surrogateescape")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_entry(lake: DataLake, path: Path) -> Photo:
    """What ``path`` is, from its lstat (and its target's, for a symlink). Never raises
    for a bad entry: the reason is its ``problem``."""
    rel = path.relative_to(lake.root).as_posix()  # the entry's own name, not its target's

    def bad(reason: str, what: str, st: os.stat_result | None = None) -> Photo:
        size, mtime = (st.st_size, st.st_mtime_ns) if st else (-1, -1)
        return Photo(path, rel, None, size, mtime, identity(what), f"{path}: {reason}")

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return bad("vanished between listing and reading", "missing")
    except OSError as exc:
        return bad(f"cannot stat: {type(exc).__name__}: {exc}", f"unstatable:{exc.errno}")
    read_path = path
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except FileNotFoundError:
            return bad("vanished between listing and reading", "missing")
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            return bad(f"dangling symlink to {target}", f"symlink-dangling:{target}", st)
        except (OSError, RuntimeError) as exc:  # a loop, or no permission on the way
            return bad(f"symlink cannot be resolved: {exc}", f"symlink-broken:{target}", st)
        if not _inside(real, (lake.root, lake.images_dir.resolve())):
            return bad(
                f"symlink escapes the lake: it resolves to {real}, outside {lake.root}",
                f"symlink-outside:{real}",
                st,
            )
        try:
            st = os.stat(real)
        except FileNotFoundError:
            return bad("symlink target vanished between listing and reading", "missing")
        read_path = real
    if stat.S_ISDIR(st.st_mode):
        return bad("is a directory, not a photo", "directory", st)
    if not stat.S_ISREG(st.st_mode):
        kind = _SPECIAL.get(stat.S_IFMT(st.st_mode), "not a regular file")
        return bad(f"is {kind}, not a photo", f"special:{kind}", st)
    if st.st_size == 0:  # identity("") is the SHA-256 of no bytes: its true content hash
        return bad("empty file (0 bytes)", "", st)
    return Photo(path, rel, read_path, st.st_size, st.st_mtime_ns)


def _inside(real: Path, roots: tuple[Path, ...]) -> bool:
    # The images directory counts separately: raw/ or raw/images may itself be a
    # symlink to other storage, an operator's choice rather than a photo's.
    return any(real.is_relative_to(root) for root in roots)


def lake_entries(lake: DataLake, rels: Iterable[str]) -> list[Path]:
    """The entries named by lake-relative paths (a chunk's list), refusing any that
    would point outside the images directory: such a list is a bug, never data."""
    images = lake.images_dir.relative_to(lake.root).as_posix() + "/"
    paths = []
    for rel in rels:
        if not rel.startswith(images) or ".." in Path(rel).parts:
            raise ValueError(f"{rel!r}: not a photo path under {lake.images_dir}")
        paths.append(lake.root / rel)
    return paths


def pending_photos(
    lake: DataLake,
    processed: ProcessedDir,
    model_version: str,
    only: Iterable[str] | None = None,
) -> tuple[list[Photo], int]:
    """Entries without a row for ``model_version`` that still describes them, and how
    many entries there are. Bad entries come back with their ``problem`` set.
    ``only`` (lake-relative paths) restricts the look to those entries: a chunk step
    re-checks its photos, so a retried chunk skips what it committed before."""
    done = {
        r["image_path"]: r for r in processed.read_images() if r["model_version"] == model_version
    }
    todo = []
    paths = lake_images(lake) if only is None else lake_entries(lake, only)
    for path in paths:
        photo = inspect_entry(lake, path)
        previous = done.get(photo.rel)
        if photo.problem is None:
            if previous and (int(previous["size"]), int(previous["mtime_ns"])) == (
                photo.size,
                photo.mtime_ns,
            ):
                continue  # unchanged since it was processed: not even read
            photo = _hashed(photo)
        if previous and previous["image_sha256"] == photo.sha256:
            continue  # same bytes (touched), or the same bad entry as recorded
        todo.append(photo)
    return todo, len(paths)


def _hashed(photo: Photo) -> Photo:
    assert photo.read_path is not None
    try:
        return replace(photo, sha256=sha256_file(photo.read_path))
    except FileNotFoundError:
        reason, what = "vanished between listing and reading", "missing"
    except OSError as exc:  # no permission, an I/O error: retried once it reads
        reason, what = f"cannot read: {type(exc).__name__}: {exc}", f"unreadable:{exc.errno}"
    return replace(
        photo,
        read_path=None,
        size=-1,
        mtime_ns=-1,
        sha256=identity(what),
        problem=f"{photo.path}: {reason}",
    )
