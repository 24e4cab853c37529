"""Problems the loader found in lake files, and their rows in ``raw.load_errors``.

A problem is one row, keyed by a digest of (file, sha256 of its bytes, record index):
the same problem in the same bytes is one row however many runs see it. It stays
open (``resolved_at`` NULL) until its file's bytes change and load again; then the
rows of the older bytes are resolved and any problem of the new bytes is a new row.
An open problem is reported by every run, not only the one that found it: a file
that has not changed is not re-read, but its problems are still there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from databox.telegram.load_schema import ERRORS_TABLE
from databox.warehouse import Session, Warehouse


@dataclass
class LoadError:
    source_file: str  # lake-relative
    record_index: int | None  # 0-based index in the file's array; None: the whole file
    message_id: int | None
    message: str  # what is wrong
    quarantine_path: str | None = None  # lake-relative copy of the file's bytes
    #: When a run first saw it; None while the run that found it has not committed.
    first_seen_at: datetime | None = None
    #: Found by an earlier run in bytes that have not changed since (still open).
    earlier: bool = False
    error_id: str = field(default="", repr=False)

    @property
    def file(self) -> str:
        return self.source_file

    def __str__(self) -> str:
        if self.record_index is None:
            where = self.source_file
            fate = "file not loaded"
        else:
            mid = (
                "no usable message id" if self.message_id is None else f"message {self.message_id}"
            )
            where = f"{self.source_file} record #{self.record_index} ({mid})"
            fate = "record not loaded, kept in raw.load_errors"
        if self.quarantine_path:
            fate += f"; copy of the file kept at {self.quarantine_path}"
        text = f"{where}: {self.message} [{fate}]"
        if self.earlier and self.first_seen_at is not None:
            seen = self.first_seen_at.astimezone(timezone.utc).isoformat(timespec="seconds")
            text += f" (unresolved since {seen}: fix the file and load again)"
        return text


def error_id(source_file: str, sha256: str, record_index: int | None) -> str:
    key = f"{source_file}\x00{sha256}\x00{'file' if record_index is None else record_index}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def error_row(
    error: LoadError, sha256: str, snippet: str, first_seen_at: datetime
) -> tuple[Any, ...]:
    """``error`` as a row of ``raw.load_errors`` (``ERROR_COLUMNS`` order)."""
    return (
        error.error_id,
        error.source_file,
        sha256,
        error.record_index,
        error.message_id,
        error.message,
        snippet,
        error.quarantine_path,
        first_seen_at,
        None,
    )


_UNRESOLVED = (
    "SELECT error_id, source_file, sha256, record_index, message_id, error, record, "
    f"quarantine_path, first_seen_at FROM {ERRORS_TABLE} WHERE resolved_at IS NULL "
    "ORDER BY first_seen_at, source_file, record_index NULLS FIRST"
)


def fetch_unresolved(session: Session, new_ids: Collection[str] = ()) -> list[LoadError]:
    """Every open problem, oldest first; those not in ``new_ids`` are ``earlier``."""
    out = []
    for eid, rel, _sha, index, mid, message, _rec, kept, seen in session.fetchall(_UNRESOLVED):
        index = None if index is None else int(index)
        mid = None if mid is None else int(mid)
        out.append(LoadError(rel, index, mid, message, kept, seen, eid not in new_ids, eid))
    return out


def _iso(value: Any) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value


def unresolved_load_errors(warehouse: Warehouse) -> list[dict]:
    """Every open problem in ``raw.load_errors``, oldest first."""
    with warehouse.session() as s:
        if not s.table_exists(ERRORS_TABLE):
            return []
        rows = s.fetchall(_UNRESOLVED)
    keys = ("source_file", "sha256", "record_index", "message_id", "error", "record")
    return [
        {
            **dict(zip(keys, r[1:7], strict=True)),
            "quarantine_path": r[7],
            "first_seen_at": _iso(r[8]),
        }
        for r in rows
    ]
