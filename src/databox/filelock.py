"""A small inter-process lock on a file (POSIX ``flock``), waiting with a timeout.

Used where two processes (two Dagster runs, a run and the CLI) may touch the same
thing: one channel's lake files, or a DuckDB database, which admits one writer
process at a time.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from databox.errors import DataboxError


class LockTimeout(DataboxError):
    pass


@contextmanager
def file_lock(path: Path, timeout: float = 600.0, poll: float = 0.05) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"waited {timeout:.0f} s for the lock {path}; another process holds it"
                    ) from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
