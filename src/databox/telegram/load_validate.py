"""What a lake record must satisfy to become a row of ``raw.telegram_messages``.

``TelegramMessage.from_record`` checks the shape (types, required fields, allowed
words). On top of it the load boundary checks what a warehouse constraint would:
values that parse but cannot be true of a Telegram message. These rules live here,
not in the scrapers, so the lake always keeps what the source gave and a record
that breaks one is kept (in ``raw.load_errors`` and the quarantine) and reported.

* ids positive: ``message_id``, ``reply_to_message_id``, ``pinned_message_id``,
  every ``album_ids`` entry (``grouped_id`` is an opaque 64-bit key: only its width
  is checked);
* counts non-negative: ``views``, ``forwards``, ``replies``, and the reactions
  Telethon records in ``raw`` (``reactions_total``, ``reactions[].count``);
* every integer fits in 64 bits (the columns are ``bigint``);
* timestamps (``date``, ``edit_date``, ``scraped_at``) carry a time zone, are not
  before Telegram's launch (``TELEGRAM_LAUNCH``) and not later than the load's clock
  plus ``FUTURE_SKEW``;
* the record's ``channel`` is the channel of its file (``.../<day>/<channel>.json``).

Not checked: that the record's UTC day is the day of its file. The day file is
where the scraper filed the message, and a message can legitimately sit under
another day (re-filed when a source reported its date differently; the loader keeps
the copy scraped last). The date itself is checked by the rules above.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from databox.errors import InvalidRecord
from databox.telegram.message import TelegramMessage

#: Telegram's public launch (iOS app, 14 August 2013): no message is older.
TELEGRAM_LAUNCH = datetime(2013, 8, 14, tzinfo=timezone.utc)
#: How far past the loader's clock a timestamp may be. Telegram stamps ``date`` and
#: ``edit_date`` with its servers' clock and the scraper stamps ``scraped_at`` with
#: its own; NTP keeps either within seconds of ours, so 10 minutes only forgives a
#: badly set clock, while a date days or years ahead (9999-12-31) is rejected.
FUTURE_SKEW = timedelta(minutes=10)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_POSITIVE_IDS = ("reply_to_message_id", "pinned_message_id")
_COUNTS = ("views", "forwards", "replies")
_TIMESTAMPS = ("date", "edit_date", "scraped_at")


def validate_record(
    record: Any, *, channel: str, now: datetime, file_time: datetime
) -> TelegramMessage:
    """The message ``record`` holds, or ``InvalidRecord`` listing every problem.

    ``channel``: the channel of the record's file; ``now``: the load's clock;
    ``file_time``: the file's mtime, taken as ``scraped_at`` when the record has none
    (stamping "now" instead would make every reload look like an edit)."""
    problems = _naive_timestamps(record)
    if problems:  # from_record would take them as UTC: stop before it does
        raise InvalidRecord("; ".join(problems))
    msg = TelegramMessage.from_record(record)
    problems = [
        *_id_problems(msg),
        *_count_problems(msg),
        *_time_problems(msg, now, has_scraped_at=record.get("scraped_at") is not None),
    ]
    if msg.post_author is not None and not isinstance(msg.post_author, str):
        problems.append(f"field 'post_author' must be a string, got {msg.post_author!r}")
    if msg.channel != channel:
        problems.append(
            f"record is of channel {msg.channel!r} but filed in the day file of {channel!r} "
            "(a day file holds one channel)"
        )
    if problems:
        raise InvalidRecord("; ".join(problems))
    if record.get("scraped_at") is None:
        msg.scraped_at = file_time
    return msg


def _naive_timestamps(record: Any) -> list[str]:
    if not isinstance(record, dict):
        return []  # from_record says what is wrong with it
    problems = []
    for name in _TIMESTAMPS:
        value = record.get(name)
        if not isinstance(value, str) or _ends_with_offset(value):
            continue
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue  # from_record reports the unparsable value
        if parsed.tzinfo is None:
            problems.append(
                f"field {name!r} has no time zone: {value!r} (write its UTC offset, "
                "e.g. +00:00; a naive time is not guessed to be UTC)"
            )
    return problems


def _ends_with_offset(value: str) -> bool:
    """The fast path for what format_ts writes ("...+00:00"); anything else is parsed."""
    return value[-6:-5] in ("+", "-") and value[-3:-2] == ":" and "T" in value


def _id_problems(msg: TelegramMessage) -> list[str]:
    problems = []
    for name in _POSITIVE_IDS:
        value = getattr(msg, name)
        if value is not None and value <= 0:
            problems.append(f"field {name!r} must be a positive message id, got {value}")
    bad = [i for i in msg.album_ids if i <= 0]
    if bad:
        problems.append(f"field 'album_ids' must hold positive message ids, got {bad}")
    for name in ("message_id", "grouped_id", *_POSITIVE_IDS, *_COUNTS):
        value = getattr(msg, name)
        if value is not None and not _INT64_MIN <= value <= _INT64_MAX:
            problems.append(f"field {name!r}: integer {value} does not fit in 64 bits")
    return problems


def _count_problems(msg: TelegramMessage) -> list[str]:
    problems = [
        f"field {name!r} must be a non-negative count, got {getattr(msg, name)}"
        for name in _COUNTS
        if getattr(msg, name) is not None and getattr(msg, name) < 0
    ]
    raw = msg.raw
    total = raw.get("reactions_total")
    if total is not None and not _is_count(total):
        problems.append(f"field 'raw.reactions_total' must be a non-negative count, got {total!r}")
    reactions = raw.get("reactions")
    if isinstance(reactions, list):
        for i, reaction in enumerate(reactions):
            count = reaction.get("count") if isinstance(reaction, dict) else None
            if count is not None and not _is_count(count):
                problems.append(
                    f"field 'raw.reactions[{i}].count' must be a non-negative count, got {count!r}"
                )
    return problems


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64_MAX


def _time_problems(msg: TelegramMessage, now: datetime, *, has_scraped_at: bool) -> list[str]:
    latest = now + FUTURE_SKEW
    problems = []
    for name in _TIMESTAMPS:
        value = getattr(msg, name)
        if value is None or (name == "scraped_at" and not has_scraped_at):
            continue
        if value < TELEGRAM_LAUNCH:
            problems.append(
                f"field {name!r} is {value.isoformat()}, before Telegram's launch "
                f"({TELEGRAM_LAUNCH.date().isoformat()})"
            )
        elif value > latest:
            problems.append(
                f"field {name!r} is {value.isoformat()}, in the future (the load ran at "
                f"{now.isoformat(timespec='seconds')}; {_minutes(FUTURE_SKEW)} of clock "
                "skew are allowed)"
            )
    return problems


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} minutes"
