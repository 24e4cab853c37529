"""File primitives of the lake: atomic writes, and JSON reads that name the file.

Every lake file is JSON written by ``atomic_write_bytes``, so our own writers never
leave half a file. A file damaged some other way (a truncated copy, a full disk, a
hand edit) is reported by ``read_json`` as ``CorruptLakeFile`` with its path and
what is wrong, never as a bare ``JSONDecodeError``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from databox.errors import DataboxError


class CorruptLakeFile(DataboxError):
    """A lake file is not the JSON its kind needs; ``kept`` is its quarantined copy."""

    def __init__(self, path: Path, reason: str, data: bytes, kept: Path | None = None):
        self.path, self.reason, self.data, self.kept = path, reason, data, kept
        super().__init__(str(self))

    def __str__(self) -> str:
        kept = f"; a copy is kept at {self.kept}" if self.kept else ""
        return f"{self.path}: {self.reason}{kept}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path, check: Callable[[Any], bool], shape: str) -> Any:
    """``path``'s JSON value; ``CorruptLakeFile`` when it does not parse or fails
    ``check`` (``shape`` says what it should hold, for the message)."""
    data = path.read_bytes()
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:  # truncated, garbled, not UTF-8
        raise CorruptLakeFile(path, f"not valid JSON ({exc})", data) from None
    if not check(value):
        raise CorruptLakeFile(path, f"valid JSON but not {shape}", data)
    return value


def is_id(value: Any) -> bool:
    """A Telegram id: a positive integer (``bool`` is an int to Python, not to us)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
