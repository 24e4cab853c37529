"""Helpers shared by the eBird tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from databox.ebird.settings import EbirdSettings
from databox.filelock import file_lock


def fast_settings(
    replica, tmp_path: Path, token: str, regions: Sequence[str], **overrides
) -> EbirdSettings:
    """Settings against the replica, with retries fast enough for tests (they exercise
    dlt's retry, not its patience)."""
    values = {
        "api_token": token,
        "regions": tuple(regions),
        "api_base_url": replica.base_url,
        "dlt_data_dir": tmp_path / "dlt",
        "max_attempts": 2,
        "backoff_factor": 0.01,
        "max_retry_delay": 0.05,
        "request_timeout": 5.0,
        **overrides,
    }
    return EbirdSettings(**values)


def reset_replica(replica, token: str) -> None:
    """Undo a test's failure rules, log and token change on a shared replica."""
    replica.clear_failures()
    replica.clear_log()
    replica.set_token(token)


@contextmanager
def lock_held_elsewhere(path: Path) -> Iterator[None]:
    """Hold the file lock at ``path`` from another thread for the block's duration."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with file_lock(path):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()
