"""One lake file's records turned into rows of ``raw.telegram_messages``.

Each record is validated (load_validate.py); a record that fails is set aside with
its index and reason, the others become rows. Rows are built lazily in the common
case so they reach the database while later ones are still being built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from databox.errors import InvalidRecord
from databox.telegram.load_validate import validate_record
from databox.telegram.message import TelegramMessage

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: How much of a bad record (or a bad file's first bytes) raw.load_errors keeps; the
#: whole file is copied to the quarantine.
SNIPPET = 2000

_dumps = orjson.dumps


@dataclass
class FileContext:
    """What validating a file's records needs to know about the file and the load."""

    rel: str  # lake-relative path, the rows' source_file
    channel: str  # the channel its path names
    file_time: datetime  # its mtime: scraped_at of records without one
    loaded_at: datetime  # the load's clock


@dataclass
class ParsedFile:
    """A file's records, turned into rows lazily (``rows`` is consumed once)."""

    rows: Iterator[tuple]
    bad: list[tuple[int, Any, str]]  # (record index, record, error) filled as rows are consumed
    superseded: int  # same message twice in the file: the older copies


def to_row(msg: TelegramMessage, record: dict, ctx: FileContext) -> tuple:
    # JSON columns get orjson's UTF-8 bytes as they are: both adapters take bytes,
    # and decoding 3 strings per row was measurable.
    return (
        msg.channel,
        msg.message_id,
        msg.date,
        msg.text,
        msg.views,
        msg.forwards,
        msg.replies,
        msg.has_media,
        _dumps(msg.image_paths),
        msg.grouped_id,
        msg.edit_date,
        msg.post_author,
        msg.source,
        msg.scraped_at,
        _dumps(msg.raw),
        msg.message_type,
        msg.action,
        msg.pinned_message_id,
        msg.new_title,
        msg.media_kind,
        None if msg.media is None else _dumps(msg.media),
        msg.reply_to_message_id,
        _dumps(msg.links),
        None if msg.link_preview is None else _dumps(msg.link_preview),
        _dumps(msg.album_ids),
        msg.photo_status,
        _dumps(msg.photo_errors),
        _dumps(record),
        ctx.rel,
        ctx.loaded_at,
    )


def strip_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold U+0000; replace it (U+FFFD) everywhere."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    return value


def message_id_of(record: Any) -> int | None:
    """The record's message id where it is one the errors table can hold."""
    mid = record.get("message_id") if isinstance(record, dict) else None
    if isinstance(mid, int) and not isinstance(mid, bool) and _INT64_MIN <= mid <= _INT64_MAX:
        return mid
    return None


def snippet(record: Any) -> str:
    try:
        return _dumps(record).decode()[:SNIPPET]
    except TypeError:
        return repr(record)[:SNIPPET]


def _valid_records(
    records: list, ctx: FileContext, bad: list
) -> Iterator[tuple[int, Any, TelegramMessage]]:
    """``(index, record, message)`` for each record that validates; each one that does
    not is appended to ``bad`` as ``(index, record, error)``."""
    for i, record in enumerate(records):
        try:
            msg = validate_record(
                record, channel=ctx.channel, now=ctx.loaded_at, file_time=ctx.file_time
            )
        except (InvalidRecord, TypeError, ValueError, OverflowError) as exc:
            bad.append((i, record, str(exc)))
            continue
        yield i, record, msg


def parse_records(records: list, ctx: FileContext) -> ParsedFile:
    bad: list[tuple[int, Any, str]] = []
    keys = [(r.get("channel"), r.get("message_id")) if type(r) is dict else None for r in records]
    try:
        unique = len(set(keys)) == len(keys)
    except TypeError:  # an unhashable id (a list...): that record fails validation anyway
        unique = False

    if unique:
        # The common case: stream, so rows reach the database while later ones are built.
        def stream() -> Iterator[tuple]:
            for _, record, msg in _valid_records(records, ctx, bad):
                yield to_row(msg, record, ctx)

        return ParsedFile(stream(), bad, 0)

    # Duplicates in one file (hand-edited, or concatenated): validate everything first,
    # then keep, per key, the copy scraped last (ties: the later one in the file).
    best: dict[tuple, tuple[datetime, int, TelegramMessage]] = {}
    for i, _, msg in _valid_records(records, ctx, bad):
        key = (msg.channel, msg.message_id)
        if key not in best or (msg.scraped_at, i) >= best[key][:2]:
            best[key] = (msg.scraped_at, i, msg)
    winners = sorted(best.values(), key=lambda v: v[1])
    superseded = len(records) - len(bad) - len(winners)
    rows = iter([to_row(msg, records[i], ctx) for _, i, msg in winners])
    return ParsedFile(rows, bad, superseded)
