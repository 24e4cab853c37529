"""The local data lake: raw Telegram messages, their photos, and scrape state.

Layout under the lake root::

    raw/telegram_messages/YYYY-MM-DD/<channel>.json   messages by their UTC date
    raw/images/<channel>/<message_id>[_<n>].<ext>      photos (.jpg, .png, .webp, .gif: sniffed)
    state/telegram/<channel>.json                      the channel's watermark
    state/telegram/<channel>.photos_pending.json       photos to download again
    quarantine/...                                     copies of files that failed to load

Writes are atomic (temp file, fsync, rename), a same-day rescrape merges into the
existing file instead of overwriting it, and the watermark is written only after the
messages it covers are on disk. A process killed mid-write leaves its temp file
(``.<name>.<random>.tmp``) beside the target; ``remove_stale_temp_files`` removes a
channel's on its next scrape, under the channel lock.

A file damaged some other way (a truncated copy, a full disk, a hand edit) raises
``CorruptLakeFile`` naming it, after a copy of its bytes is put in the quarantine;
state files are rebuilt from the day files (lake_state.py). A corrupt day file is
never rewritten here: only a person can tell what its lost bytes held (the loader
reports it as a load error and loads every other file).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson

from databox.errors import ConfigError
from databox.filelock import file_lock
from databox.lake_io import CorruptLakeFile, atomic_write_bytes, is_id, read_json
from databox.lake_state import ChannelStateFiles
from databox.telegram.message import TelegramMessage, to_utc

# Telegram usernames are 5-32 characters of letters, digits and underscores; we accept
# a slightly wider range (test and demo channels) but never a path separator or dot.
_CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,63}$")
_LOG = logging.getLogger(__name__)
__all__ = ["CorruptLakeFile", "DataLake", "atomic_write_bytes", "utc_day", "validate_channel"]


def validate_channel(name: str) -> str:
    name = name.strip().lstrip("@")
    if not _CHANNEL_RE.fullmatch(name):
        raise ConfigError(
            f"invalid Telegram channel name {name!r}: use the public username "
            "(letters, digits, underscores; it must start with a letter)"
        )
    return name


def utc_day(value: datetime) -> str:
    """The day file a message dated ``value`` belongs to (``YYYY-MM-DD``, UTC)."""
    return to_utc(value).strftime("%Y-%m-%d")


class DataLake(ChannelStateFiles):
    def __init__(self, root: Path | str, *, warn: Callable[[str], None] | None = None):
        self.root = Path(root).resolve()
        #: Where recoveries from damaged files are announced (default: logging).
        self.warn = warn or _LOG.warning

    # -- layout ---------------------------------------------------------------------
    @property
    def messages_dir(self) -> Path:
        return self.root / "raw" / "telegram_messages"

    @property
    def images_dir(self) -> Path:
        return self.root / "raw" / "images"

    @property
    def state_dir(self) -> Path:
        return self.root / "state" / "telegram"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    def messages_file(self, channel: str, day: str) -> Path:
        return self.messages_dir / day / f"{validate_channel(channel)}.json"

    def image_path(self, channel: str, message_id: int, index: int = 0, ext: str = ".jpg") -> Path:
        channel = validate_channel(channel)
        if not re.fullmatch(r"\.[A-Za-z0-9]{1,5}", ext):
            ext = ".jpg"
        suffix = "" if index == 0 else f"_{index}"
        return self.images_dir / channel / f"{int(message_id)}{suffix}{ext.lower()}"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    # -- messages -------------------------------------------------------------------
    @contextmanager
    def channel_lock(self, channel: str, timeout: float = 600.0) -> Iterator[None]:
        """Serialise writers of one channel (two runs scraping it at once)."""
        with file_lock(self.state_dir / f".{validate_channel(channel)}.lock", timeout=timeout):
            yield

    def write_messages(self, channel: str, messages: Iterable[TelegramMessage]) -> list[Path]:
        """Merge ``messages`` into their day files; a message already there is replaced
        by the newer copy, every other message already there is kept."""
        by_day: dict[str, list[dict]] = defaultdict(list)
        for msg in messages:
            if msg.channel != channel:
                raise ValueError(
                    f"message {msg.message_id} belongs to {msg.channel!r}, not {channel!r}"
                )
            by_day[utc_day(msg.date)].append(msg.to_record())
        return [
            self.replace_records(channel, day, records) for day, records in sorted(by_day.items())
        ]

    def read_day_records(self, channel: str, day: str) -> list[dict]:
        """The records of one channel's day file (empty when there is none)."""
        path = self.messages_file(channel, day)
        return self.read_day_file(path) if path.exists() else []

    def read_day_file(self, path: Path) -> list:
        """A day file's records; ``CorruptLakeFile`` (a copy quarantined) if damaged."""
        try:
            return read_json(path, lambda v: isinstance(v, list), "an array of records")
        except CorruptLakeFile as exc:
            raise self.quarantine_corrupt(exc) from None

    def replace_records(self, channel: str, day: str, records: Iterable[dict]) -> Path:
        """Merge lake records into one day file: each replaces the record with its
        ``message_id``, every other record is kept; written atomically. A record
        without a usable id (hand-edited: the loader rejects it) is kept as it is."""
        path = self.messages_file(channel, day)
        merged: dict[int, dict] = {}
        unkeyed: list = []
        for r in self.read_day_records(channel, day):
            if isinstance(r, dict) and is_id(r.get("message_id")):
                merged[r["message_id"]] = r
            else:
                unkeyed.append(r)
        for record in records:
            merged[int(record["message_id"])] = record
        ordered = [merged[k] for k in sorted(merged)] + unkeyed
        atomic_write_bytes(path, orjson.dumps(ordered, option=orjson.OPT_INDENT_2))
        return path

    def message_files(self) -> list[Path]:
        if not self.messages_dir.exists():
            return []
        return sorted(p for p in self.messages_dir.glob("*/*.json") if not p.name.startswith("."))

    def read_messages(self, channel: str) -> list[dict]:
        """Every record of one channel, ascending by id (for tests and `status`)."""
        out: dict[int, dict] = {}
        for path in self.message_files():
            if path.stem == channel:
                for record in self.read_day_file(path):
                    out[int(record["message_id"])] = record
        return [out[k] for k in sorted(out)]

    def readable_day_files(self, channel: str, purpose: str) -> Iterator[tuple[Path, list]]:
        """``(path, records)`` of the channel's day files; a damaged one is skipped
        with a warning naming it and ``purpose`` (the loader reports it too)."""
        for path in self.message_files():
            if path.stem == channel:
                try:
                    yield path, self.read_day_file(path)
                except CorruptLakeFile as exc:
                    self.warn(f"{exc}; skipped while {purpose}")

    # -- state files (the methods are in lake_state.py) -------------------------------
    def _watermark_file(self, channel: str) -> Path:
        return self.state_dir / f"{validate_channel(channel)}.json"

    def photos_pending_file(self, channel: str) -> Path:
        return self.state_dir / f"{validate_channel(channel)}.photos_pending.json"

    # -- temp files of killed writers -------------------------------------------------
    def stale_temp_files(self, channel: str) -> list[Path]:
        """Temp files ``atomic_write_bytes`` left for ``channel`` when its writer was
        killed: in its image folder, beside its day files (``.<channel>.json.*.tmp``)
        and beside its state files. Only meaningful under ``channel_lock``: a live
        writer of the channel holds that lock while its temp file exists."""
        channel = validate_channel(channel)
        found: list[Path] = []
        images = self.images_dir / channel
        if images.is_dir():
            found += images.glob(".*.tmp")
        if self.messages_dir.is_dir():
            found += self.messages_dir.glob(f"*/.{channel}.json.*.tmp")
        if self.state_dir.is_dir():
            # ".<channel>." cannot prefix another channel's files: names have no dots.
            found += self.state_dir.glob(f".{channel}.*.tmp")
        return sorted(p for p in found if p.is_file())

    def remove_stale_temp_files(self, channel: str) -> list[Path]:
        """Remove (and return) ``stale_temp_files(channel)``; call under the lock."""
        removed = []
        for path in self.stale_temp_files(channel):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return removed

    # -- quarantine -----------------------------------------------------------------
    def quarantine_bytes(self, name: str, data: bytes) -> Path:
        """Keep ``data`` (an unreadable page, a post block) as ``quarantine/<name>``;
        ``name`` is relative and may not climb out of the quarantine folder."""
        target = (self.quarantine_dir / name).resolve()
        if not target.is_relative_to(self.quarantine_dir.resolve()):
            raise ValueError(f"quarantine name {name!r} escapes {self.quarantine_dir}")
        atomic_write_bytes(target, data)
        return target

    def quarantine_copy(self, path: Path, checksum: str) -> Path:
        """Keep a copy of a file that failed to load, named by its checksum so the
        exact bytes that failed are preserved even if the original changes later."""
        rel = self.relative(path)
        target = self.quarantine_dir / f"{rel}.{checksum[:12]}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return target

    def quarantine_corrupt(self, exc: CorruptLakeFile) -> CorruptLakeFile:
        """Keep the exact bytes ``exc`` found (they may change or vanish later)."""
        target = self.quarantine_dir / f"{self.relative(exc.path)}.{_sha(exc.data)[:12]}"
        if not target.exists():
            atomic_write_bytes(target, exc.data)
        exc.kept = target
        return exc


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
