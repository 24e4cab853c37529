"""The one message schema both Telegram sources produce.

A record in the lake is ``TelegramMessage.to_record()``: plain JSON, datetimes as
ISO 8601 strings in UTC. ``from_record`` is the inverse and the validation gate
the loader uses, so a malformed record is rejected with the field it lacks.

The content model (``docs`` in ``telegram/README.md``):

* ``message_type``: ``post`` or ``service``. Service messages ("Channel created",
  renamed, photo changed, "… pinned «…»") are kept so nothing a channel shows is
  lost, but they carry an ``action`` and are never counted as posts downstream.
* ``media_kind``: one word from ``MEDIA_KINDS``; ``media`` holds that kind's own
  fields (see ``MEDIA_FIELDS``). ``None`` only for records written before the
  content model existed whose kind cannot be derived.
* ``links``: every link, mention, e-mail and hashtag of the text, in order.
* ``reply_to_message_id``, ``link_preview``, ``album_ids``.
* ``photo_status``/``photo_errors``: whether every photo of the post reached the
  lake; a failed download is recorded here and retried by later runs.

A field a source cannot see is ``None`` (or empty), never a made-up value.
Records written before a field existed load with its default, so old lakes load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from databox.errors import InvalidRecord

#: ``message_type`` values.
MESSAGE_TYPES = ("post", "service")
#: ``action`` values of service messages.
SERVICE_ACTIONS = (
    "channel_created",
    "title_changed",
    "photo_changed",
    "photo_removed",
    "pinned",
    "other",
)
#: ``media_kind`` values, shared by both sources.
MEDIA_KINDS = (
    "none",  # text only (a link preview is not media)
    "photo",
    "album",  # several photos/videos shown as one post (web) or sharing a grouped_id
    "video",
    "gif",
    "round_video",  # a video note
    "voice",
    "audio",
    "document",
    "sticker",
    "poll",
    "location",
    "live_location",
    "venue",
    "contact",
    "unsupported",  # the web preview says "open Telegram to view"; Telethon never
    "other",  # a kind Telethon sees that has no word here (dice, game, story, ...)
)
#: The keys ``media`` may hold for each kind (every key optional; None when unseen).
MEDIA_FIELDS: dict[str, tuple[str, ...]] = {
    "photo": ("width", "height"),
    "album": ("items",),  # [{"kind": "photo"|"video", "thumb_url", "duration"}]
    "video": ("thumb_url", "duration", "width", "height", "file_name", "size"),
    "gif": ("thumb_url", "duration", "width", "height"),
    "round_video": ("thumb_url", "duration"),
    "voice": ("duration", "size"),
    "audio": ("title", "performer", "duration", "file_name", "size"),
    "document": ("file_name", "size", "size_text", "mime_type"),
    "sticker": ("url", "format", "emoji"),  # format: webp | tgs | webm
    "poll": ("question", "options", "quiz", "closed", "multiple_choice", "voters"),
    "location": ("latitude", "longitude"),
    "live_location": ("latitude", "longitude"),
    "venue": ("latitude", "longitude", "title", "address"),
    "contact": ("name", "phone"),
    "unsupported": (),
    "other": ("type",),
}
#: ``links[].type`` values.
LINK_TYPES = ("url", "text_url", "mention", "email", "hashtag")
#: ``link_preview`` keys.
LINK_PREVIEW_KEYS = ("url", "site_name", "title", "description", "image_url")
#: ``photo_status`` values (None: the message has no photo to download).
PHOTO_STATUSES = ("ok", "partial", "failed")

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
    "message_type",
    "action",
    "pinned_message_id",
    "new_title",
    "media_kind",
    "media",
    "reply_to_message_id",
    "links",
    "link_preview",
    "album_ids",
    "photo_status",
    "photo_errors",
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
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRecord(
            f"field {field_name!r} is not an ISO 8601 timestamp: {value!r}"
        ) from exc
    try:
        return to_utc(parsed)
    except OverflowError as exc:  # 0001-01-01T00:00+03:00 has no UTC equivalent
        raise InvalidRecord(f"field {field_name!r} is out of range in UTC: {value!r}") from exc


def _opt_int(record: dict, name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(f"field {name!r} must be an integer, got {value!r}")
    return value


def _opt_str(record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRecord(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def _opt_choice(record: dict, name: str, choices: tuple[str, ...]) -> str | None:
    value = _opt_str(record, name)
    if value is not None and value not in choices:
        raise InvalidRecord(f"field {name!r} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _dict_list(record: dict, name: str) -> list[dict]:
    value = record.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidRecord(f"field {name!r} must be a list of JSON objects")
    return value


def _opt_dict(record: dict, name: str) -> dict | None:
    value = record.get(name)
    if value is not None and not isinstance(value, dict):
        raise InvalidRecord(f"field {name!r} must be a JSON object, got {type(value).__name__}")
    return value


def normalize_phone(value: str | None) -> str | None:
    """``"+251 911 000 000"`` (the web) and ``"251911000000"`` (the API) are one number:
    ``"+251911000000"``. Anything without digits is kept as it is shown."""
    if not value:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"+{digits}" if digits else value


def legacy_media_kind(record: dict) -> str | None:
    """The kind of a record written before ``media_kind`` existed, where its fields
    tell; None where they do not (a video or a file looked the same then)."""
    paths = record.get("image_paths") or []
    if isinstance(paths, list) and len(paths) > 1:
        return "album"
    if paths:
        return "photo"
    if not record.get("has_media"):
        return "none"
    return None


def _validate_links(links: list[dict]) -> None:
    for i, link in enumerate(links):
        if link.get("type") not in LINK_TYPES:
            raise InvalidRecord(
                f"links[{i}].type must be one of {', '.join(LINK_TYPES)}; got {link.get('type')!r}"
            )
        if not isinstance(link.get("label"), str):
            raise InvalidRecord(f"links[{i}].label must be a string")


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
    #: Lake-relative paths of the photos that were downloaded, in order.
    image_paths: list[str] = field(default_factory=list)
    grouped_id: int | None = None
    edit_date: datetime | None = None
    post_author: str | None = None
    source: str = "web"
    scraped_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    raw: dict[str, Any] = field(default_factory=dict)
    message_type: str = "post"
    #: For service messages: one of ``SERVICE_ACTIONS``.
    action: str | None = None
    #: ``action == "pinned"``: the id of the message that was pinned, where visible.
    pinned_message_id: int | None = None
    #: ``action == "title_changed"``: the new title.
    new_title: str | None = None
    media_kind: str | None = "none"
    media: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    #: ``[{"type": LINK_TYPES, "label": text as shown, "url": target or None}]``
    links: list[dict[str, Any]] = field(default_factory=list)
    #: ``LINK_PREVIEW_KEYS`` → value or None; None when the post has no preview card.
    link_preview: dict[str, Any] | None = None
    #: Ids of every member of the album this message shows or belongs to, ascending.
    album_ids: list[int] = field(default_factory=list)
    photo_status: str | None = None
    #: ``[{"index": n, "url": source URL or None, "error": why}]`` for photos not in the lake.
    photo_errors: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.date = to_utc(self.date)
        self.scraped_at = to_utc(self.scraped_at)
        if self.edit_date is not None:
            self.edit_date = to_utc(self.edit_date)

    @property
    def is_post(self) -> bool:
        return self.message_type == "post"

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
            "message_type": self.message_type,
            "action": self.action,
            "pinned_message_id": self.pinned_message_id,
            "new_title": self.new_title,
            "media_kind": self.media_kind,
            "media": self.media,
            "reply_to_message_id": self.reply_to_message_id,
            "links": list(self.links),
            "link_preview": self.link_preview,
            "album_ids": list(self.album_ids),
            "photo_status": self.photo_status,
            "photo_errors": list(self.photo_errors),
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
        raw = record.get("raw") or {}
        if not isinstance(raw, dict):
            raise InvalidRecord("field 'raw' must be a JSON object")
        message_type = _opt_choice(record, "message_type", MESSAGE_TYPES) or "post"
        action = _opt_choice(record, "action", SERVICE_ACTIONS)
        if message_type == "service" and action is None:
            raise InvalidRecord("a service message needs an 'action'")
        if message_type == "post" and action is not None:
            raise InvalidRecord(f"a post cannot carry the service action {action!r}")
        if "media_kind" in record:
            media_kind = _opt_choice(record, "media_kind", MEDIA_KINDS)
        else:
            media_kind = legacy_media_kind(record)
        album_ids = record.get("album_ids") or []
        if not isinstance(album_ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in album_ids
        ):
            raise InvalidRecord("field 'album_ids' must be a list of integers")
        links = _dict_list(record, "links")
        _validate_links(links)
        return cls(
            channel=channel,
            message_id=message_id,
            date=parse_ts(record["date"], "date"),  # type: ignore[arg-type]
            text=_opt_str(record, "text"),
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
            message_type=message_type,
            action=action,
            pinned_message_id=_opt_int(record, "pinned_message_id"),
            new_title=_opt_str(record, "new_title"),
            media_kind=media_kind,
            media=_opt_dict(record, "media"),
            reply_to_message_id=_opt_int(record, "reply_to_message_id"),
            links=links,
            link_preview=_opt_dict(record, "link_preview"),
            album_ids=album_ids,
            photo_status=_opt_choice(record, "photo_status", PHOTO_STATUSES),
            photo_errors=_dict_list(record, "photo_errors"),
        )
