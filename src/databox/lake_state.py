"""A channel's scrape state in the lake: its watermark and its photos-pending list.

Both are derived from the day files, which are the truth: the watermark is the
highest message id scraped (a batch lands before the watermark moves past it), the
pending list is the records' ``photo_errors`` that can be retried by URL.

So a corrupt watermark (truncated, garbled, the wrong shape) is copied to the
quarantine and rebuilt from the day files, with a warning naming both paths. A
corrupt pending list raises ``CorruptLakeFile`` (its copy quarantined): its entries
carry retry counts only photo_retry understands, and ``photo_retry.read_pending``
rebuilds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from databox.lake_io import CorruptLakeFile, atomic_write_bytes, is_id, read_json

WATERMARK_SHAPE = 'an object with "last_message_id" > 0'
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
PENDING_SHAPE = 'an object with a "photos" list of {message_id, day, index, url}'


def _is_watermark(value: Any) -> bool:
    return isinstance(value, dict) and is_id(value.get("last_message_id"))


def _is_pending_list(value: Any) -> bool:
    photos = value.get("photos") if isinstance(value, dict) else None
    return isinstance(photos, list) and all(
        isinstance(e, dict)
        and is_id(e.get("message_id"))
        and isinstance(e.get("index"), int)
        and isinstance(e.get("day"), str)
        and _DAY.fullmatch(e["day"]) is not None  # it names a folder: never "../.."
        and isinstance(e.get("url"), str)
        for e in photos
    )


class ChannelStateFiles:
    """``DataLake``'s state-file methods (a mixin: it supplies the paths and helpers)."""

    warn: Callable[[str], None]
    _watermark_file: Callable[[str], Path]
    photos_pending_file: Callable[[str], Path]
    quarantine_corrupt: Callable[[CorruptLakeFile], CorruptLakeFile]
    readable_day_files: Callable[[str, str], Iterator[tuple[Path, list]]]

    # -- watermarks -----------------------------------------------------------------
    def read_watermark(self, channel: str, *, repair: bool = True) -> int | None:
        """The last message id scraped (None: never). A corrupt file is rebuilt from
        the day files; ``repair=False`` (read-only callers such as ``status``) returns
        the rebuilt value without quarantining or rewriting the file."""
        path = self._watermark_file(channel)
        if not path.exists():
            return None
        try:
            return read_json(path, _is_watermark, WATERMARK_SHAPE)["last_message_id"]
        except CorruptLakeFile as exc:
            return self._rebuild_watermark(channel, exc, repair)

    def _rebuild_watermark(self, channel: str, exc: CorruptLakeFile, repair: bool) -> int | None:
        ids = [
            r["message_id"]
            for _, records in self.readable_day_files(channel, f"rebuilding {exc.path}")
            for r in records
            if isinstance(r, dict) and is_id(r.get("message_id"))
        ]
        rebuilt = max(ids, default=None)
        if not repair:
            self.warn(f"{exc}; the day files give last_message_id={rebuilt} (not repaired)")
            return rebuilt
        self.quarantine_corrupt(exc)
        if rebuilt is None:  # nothing scraped survives: the next scrape starts afresh
            exc.path.unlink(missing_ok=True)
        else:
            atomic_write_bytes(exc.path, _watermark_payload(channel, rebuilt))
        self.warn(f"{exc}; rebuilt from the day files as last_message_id={rebuilt}")
        return rebuilt

    def write_watermark(self, channel: str, message_id: int) -> None:
        current = self.read_watermark(channel)
        if current is not None and message_id <= current:
            return  # never move backwards
        atomic_write_bytes(self._watermark_file(channel), _watermark_payload(channel, message_id))

    # -- photos to download again ---------------------------------------------------
    def read_photos_pending(self, channel: str) -> list[dict]:
        """``[{"message_id", "day", "index", "url", "attempts", "error", ...}]``;
        ``CorruptLakeFile`` (a copy quarantined) when the file is damaged."""
        path = self.photos_pending_file(channel)
        if not path.exists():
            return []
        try:
            return list(read_json(path, _is_pending_list, PENDING_SHAPE)["photos"])
        except CorruptLakeFile as exc:
            raise self.quarantine_corrupt(exc) from None

    def write_photos_pending(self, channel: str, entries: list[dict]) -> None:
        """Replace the channel's pending list atomically; an empty list removes the file."""
        path = self.photos_pending_file(channel)
        if not entries:
            path.unlink(missing_ok=True)
            return
        ordered = sorted(entries, key=lambda e: (int(e["message_id"]), int(e["index"])))
        payload = {
            "channel": channel,
            "updated_at": datetime.now(timezone.utc).isoformat(),
            "photos": ordered,
        }
        atomic_write_bytes(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2))


def _watermark_payload(channel: str, message_id: int) -> bytes:
    return orjson.dumps(
        {
            "channel": channel,
            "last_message_id": int(message_id),
            "updated_at": datetime.now(timezone.utc).isoformat(),
        }
    )
