"""The one message schema both Telegram sources produce.

A record in the lake is ``TelegramMessage.to_record()``: plain JSON, datetimes as
ISO 8601 strings in UTC. ``from_record`` is the inverse and the validation gate
the loader uses, so a malformed record is rejected with the field it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from databox.errors import InvalidRecord

#: Column order of ``raw.telegram_messages`` (without the loader's bookkeeping columns).
MESSAGE_FIELDS = (
    "channel",
    "message_id",
    "date",
    "text",
    "views",
    "forwards",
    "replies",
    "has_media",
    "image_paths",
    "grouped_id",
    "edit_date",
    "post_author",
    "source",
    "scraped_at",
    "raw",
)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def format_ts(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat()


def parse_ts(value: Any, field_name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    if not isinstance(value, str):
        raise InvalidRecord(f"field {field_name!r} must be an ISO 8601 string, got {value!r}")
    try:
        return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise InvalidRecord(
            f"field {field_name!r} is not an ISO 8601 timestamp: {value!r}"
        ) from exc


def _opt_int(record: dict, name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(f"field {name!r} must be an integer, got {value!r}")
    return value


@dataclass(slots=True)
class TelegramMessage:
    channel: str
    message_id: int
    date: datetime
    text: str | None = None
    views: int | None = None
    forwards: int | None = None
    replies: int | None = None
    has_media: bool = False
    image_paths: list[str] = field(default_factory=list)
    grouped_id: int | None = None
    edit_date: datetime | None = None
    post_author: str | None = None
    source: str = "web"
    scraped_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.date = to_utc(self.date)
        self.scraped_at = to_utc(self.scraped_at)
        if self.edit_date is not None:
            self.edit_date = to_utc(self.edit_date)

    def to_record(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "message_id": self.message_id,
            "date": format_ts(self.date),
            "text": self.text,
            "views": self.views,
            "forwards": self.forwards,
            "replies": self.replies,
            "has_media": self.has_media,
            "image_paths": list(self.image_paths),
            "grouped_id": self.grouped_id,
            "edit_date": format_ts(self.edit_date),
            "post_author": self.post_author,
            "source": self.source,
            "scraped_at": format_ts(self.scraped_at),
            "raw": self.raw,
        }

    @classmethod
    def from_record(cls, record: Any) -> TelegramMessage:
        """Validate one lake record; raise ``InvalidRecord`` naming what is wrong."""
        if not isinstance(record, dict):
            raise InvalidRecord(f"record must be a JSON object, got {type(record).__name__}")
        for required in ("channel", "message_id", "date"):
            if record.get(required) is None:
                raise InvalidRecord(f"record lacks required field {required!r}")
        message_id = _opt_int(record, "message_id")
        if message_id is None or message_id <= 0:
            raise InvalidRecord(
                f"field 'message_id' must be a positive integer, got {message_id!r}"
            )
        channel = record["channel"]
        if not isinstance(channel, str) or not channel:
            raise InvalidRecord(f"field 'channel' must be a non-empty string, got {channel!r}")
        image_paths = record.get("image_paths") or []
        if not isinstance(image_paths, list) or not all(isinstance(p, str) for p in image_paths):
            raise InvalidRecord("field 'image_paths' must be a list of strings")
        text = record.get("text")
        if text is not None and not isinstance(text, str):
            raise InvalidRecord(f"field 'text' must be a string, got {type(text).__name__}")
        raw = record.get("raw") or {}
        if not isinstance(raw, dict):
            raise InvalidRecord("field 'raw' must be a JSON object")
        return cls(
            channel=channel,
            message_id=message_id,
            date=parse_ts(record["date"], "date"),  # type: ignore[arg-type]
            text=text,
            views=_opt_int(record, "views"),
            forwards=_opt_int(record, "forwards"),
            replies=_opt_int(record, "replies"),
            has_media=bool(record.get("has_media", bool(image_paths))),
            image_paths=image_paths,
            grouped_id=_opt_int(record, "grouped_id"),
            edit_date=parse_ts(record.get("edit_date"), "edit_date"),
            post_author=record.get("post_author"),
            source=str(record.get("source") or "unknown"),
            scraped_at=parse_ts(record.get("scraped_at"), "scraped_at")
            or datetime.now(timezone.utc),
            raw=raw,
        )
