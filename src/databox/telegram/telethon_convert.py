"""Turn Telethon TL messages into the shared content model (``telegram/message.py``).

Pure functions, no network: ``TelethonSource`` downloads photos and passes the
outcome in. Each field follows the web preview's meaning, so both sources store the
same value for the same message; what Telethon cannot see (thumbnail URLs, a
sticker's URL, a poll's percentages, a link preview's image URL) is ``None``.

Telethon is imported inside functions only (see ``telethon_source``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from databox.telegram.message import TelegramMessage, format_ts, normalize_phone, to_utc

#: Sticker ``format`` by MIME type.
STICKER_FORMATS = {
    "image/webp": "webp",
    "application/x-tgsticker": "tgs",
    "video/webm": "webm",
}
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


# -- message type ---------------------------------------------------------------------
def is_empty(msg: Any) -> bool:
    """A deleted message (``MessageEmpty``): nothing to keep."""
    from telethon.tl import types

    return isinstance(msg, types.MessageEmpty)


def is_service(msg: Any) -> bool:
    from telethon.tl import types

    return isinstance(msg, types.MessageService) or getattr(msg, "action", None) is not None


def service_action(msg: Any) -> tuple[str, int | None, str | None]:
    """``(action, pinned_message_id, new_title)`` of a service message."""
    from telethon.tl import types

    action = msg.action
    if isinstance(action, types.MessageActionChannelCreate):
        return "channel_created", None, None
    if isinstance(action, types.MessageActionChatEditTitle):
        return "title_changed", None, action.title
    if isinstance(action, types.MessageActionChatEditPhoto):
        return "photo_changed", None, None
    if isinstance(action, types.MessageActionChatDeletePhoto):
        return "photo_removed", None, None
    if isinstance(action, types.MessageActionPinMessage):
        # The pinned message is referenced the way a reply is.
        return "pinned", getattr(msg.reply_to, "reply_to_msg_id", None), None
    return "other", None, None


# -- media ----------------------------------------------------------------------------
def has_photo(msg: Any) -> bool:
    """Whether the post's own media is a photo (web-preview and action photos are not)."""
    from telethon.tl import types

    return isinstance(msg.media, types.MessageMediaPhoto)


def _text(value: Any) -> str | None:
    # Layer 178+ (Telethon >= 1.37) wraps poll texts in TextWithEntities.
    return getattr(value, "text", value)


def _seconds(value: Any) -> int | None:
    # Video durations are doubles since layer 159; the web shows whole seconds.
    return None if value is None else math.floor(float(value) + 0.5)


def _photo_media(media: Any) -> dict[str, Any]:
    sizes = [
        s
        for s in getattr(media.photo, "sizes", None) or []
        if getattr(s, "w", None) and getattr(s, "h", None)
    ]
    best = max(sizes, key=lambda s: s.w * s.h, default=None)
    return {"width": getattr(best, "w", None), "height": getattr(best, "h", None)}


def _document_media(media: Any) -> tuple[str, dict[str, Any]]:
    from telethon.tl import types

    doc = media.document if isinstance(media.document, types.Document) else None
    attrs = doc.attributes if doc is not None else []

    def attr(kind: type) -> Any:
        return next((a for a in attrs if isinstance(a, kind)), None)

    file_name = getattr(attr(types.DocumentAttributeFilename), "file_name", None)
    size = doc.size if doc is not None else None
    mime = doc.mime_type if doc is not None else None
    video = attr(types.DocumentAttributeVideo)
    audio = attr(types.DocumentAttributeAudio)
    sticker = attr(types.DocumentAttributeSticker)
    image = attr(types.DocumentAttributeImageSize)
    if sticker is not None:
        return "sticker", {
            "url": None,
            "format": STICKER_FORMATS.get(mime or ""),
            "emoji": sticker.alt or None,
        }
    if (video is not None and video.round_message) or getattr(media, "round", None):
        return "round_video", {
            "thumb_url": None,
            "duration": _seconds(getattr(video, "duration", None)),
        }
    if attr(types.DocumentAttributeAnimated) is not None:
        dims = video or image
        return "gif", {
            "thumb_url": None,
            "duration": _seconds(getattr(video, "duration", None)),
            "width": getattr(dims, "w", None),
            "height": getattr(dims, "h", None),
        }
    if video is not None:
        return "video", {
            "thumb_url": None,
            "duration": _seconds(video.duration),
            "width": video.w,
            "height": video.h,
            "file_name": file_name,
            "size": size,
        }
    if (audio is not None and audio.voice) or getattr(media, "voice", None):
        return "voice", {"duration": _seconds(getattr(audio, "duration", None)), "size": size}
    if audio is not None:
        return "audio", {
            "title": audio.title or None,
            "performer": audio.performer or None,
            "duration": _seconds(audio.duration),
            "file_name": file_name,
            "size": size,
        }
    return "document", {"file_name": file_name, "size": size, "size_text": None, "mime_type": mime}


def _poll_media(media: Any) -> dict[str, Any]:
    poll, results = media.poll, media.results
    counts = {r.option: r.voters for r in (getattr(results, "results", None) or [])}
    return {
        "question": _text(poll.question),
        "options": [
            {"text": _text(a.text), "voters": counts.get(a.option), "percent": None}
            for a in poll.answers
        ],
        "quiz": bool(poll.quiz),
        "closed": bool(poll.closed),
        "multiple_choice": bool(poll.multiple_choice),
        "voters": getattr(results, "total_voters", None),
    }


def _geo(geo: Any) -> dict[str, Any]:
    # GeoPointEmpty has no coordinates.
    return {"latitude": getattr(geo, "lat", None), "longitude": getattr(geo, "long", None)}


def link_preview(media: Any) -> dict[str, Any] | None:
    """The link card of a post; None without one (a pending or empty page shows none)."""
    from telethon.tl import types

    if not isinstance(media, types.MessageMediaWebPage):
        return None
    page = media.webpage
    if not isinstance(page, types.WebPage):
        return None
    return {
        "url": page.url,
        "site_name": page.site_name,
        "title": page.title,
        "description": page.description,  # line breaks kept
        "image_url": None,  # Telethon has a Photo object, not a URL
    }


def media_of(msg: Any) -> tuple[str, dict[str, Any] | None]:
    """``(media_kind, media)`` of the message's own attachment (albums not applied)."""
    from telethon.tl import types

    media = msg.media
    if media is None or isinstance(media, (types.MessageMediaEmpty, types.MessageMediaWebPage)):
        return "none", None
    if isinstance(media, types.MessageMediaPhoto):
        return "photo", _photo_media(media)
    if isinstance(media, types.MessageMediaDocument):
        return _document_media(media)
    if isinstance(media, types.MessageMediaPoll):
        return "poll", _poll_media(media)
    if isinstance(media, types.MessageMediaVenue):
        return "venue", {**_geo(media.geo), "title": media.title, "address": media.address}
    if isinstance(media, types.MessageMediaGeoLive):
        return "live_location", _geo(media.geo)
    if isinstance(media, types.MessageMediaGeo):
        return "location", _geo(media.geo)
    if isinstance(media, types.MessageMediaContact):
        name = f"{media.first_name or ''} {media.last_name or ''}".strip()
        return "contact", {"name": name or None, "phone": normalize_phone(media.phone_number)}
    if isinstance(media, types.MessageMediaUnsupported):
        return "unsupported", {}
    return "other", {"type": type(media).__name__}  # dice, game, invoice, story, giveaway, ...


def _album_item(kind: str, media: dict[str, Any] | None) -> dict[str, Any]:
    return {"kind": kind, "thumb_url": None, "duration": (media or {}).get("duration")}


def complete_albums(batch: list[TelegramMessage]) -> None:
    """Give every album member the ids and items of its whole album, in id order.

    A batch never splits an album (``fetch_since``), so the group is complete here."""
    groups: dict[int, list[TelegramMessage]] = {}
    for m in batch:
        if m.media_kind == "album" and m.grouped_id is not None:
            groups.setdefault(m.grouped_id, []).append(m)
    for members in groups.values():
        members.sort(key=lambda m: m.message_id)
        album_ids = [m.message_id for m in members]
        items = [m.raw["album_member"]["item"] for m in members]
        for m in members:
            m.album_ids = list(album_ids)
            m.media = {"items": [dict(i) for i in items]}


# -- links ----------------------------------------------------------------------------
def utf16_slice(text: str, offset: int, length: int) -> str:
    """``text[offset:offset+length]`` with Telegram's UTF-16 code-unit offsets."""
    data = text.encode("utf-16-le", "surrogatepass")
    return data[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")


def links_of(text: str | None, entities: list[Any] | None) -> list[dict[str, Any]]:
    """Every link, mention, e-mail and hashtag of the text, in text order."""
    from telethon.tl import types

    if not text or not entities:
        return []
    links: list[dict[str, Any]] = []
    for e in sorted(entities, key=lambda e: e.offset):
        label = utf16_slice(text, e.offset, e.length)
        if isinstance(e, types.MessageEntityUrl):
            url = label if _SCHEME_RE.match(label) else f"http://{label}"
            links.append({"type": "url", "label": label, "url": url})
        elif isinstance(e, types.MessageEntityTextUrl):
            links.append({"type": "text_url", "label": label, "url": e.url})
        elif isinstance(e, types.MessageEntityMention):
            links.append(
                {"type": "mention", "label": label, "url": f"https://t.me/{label.lstrip('@')}"}
            )
        elif isinstance(e, types.MessageEntityMentionName):
            links.append({"type": "mention", "label": label, "url": None})
        elif isinstance(e, types.MessageEntityEmail):
            links.append({"type": "email", "label": label, "url": f"mailto:{label}"})
        elif isinstance(e, types.MessageEntityHashtag):
            links.append({"type": "hashtag", "label": label, "url": None})
    return links


def reply_to_id(msg: Any) -> int | None:
    """The id of the message this one answers, when it is in the same channel."""
    reply_to = msg.reply_to
    if reply_to is None or getattr(reply_to, "reply_to_peer_id", None) is not None:
        return None  # no reply, or a reply to another chat (its id means nothing here)
    return getattr(reply_to, "reply_to_msg_id", None)


# -- the record -----------------------------------------------------------------------
def to_message(
    msg: Any,
    channel: str,
    *,
    source: str,
    image_paths: list[str],
    photo_status: str | None,
    photo_errors: list[dict[str, Any]],
) -> TelegramMessage:
    raw = raw_fields(msg)
    common: dict[str, Any] = {
        "channel": channel,
        "message_id": msg.id,
        "date": to_utc(msg.date),
        "views": msg.views,
        "forwards": msg.forwards,
        "replies": msg.replies.replies if msg.replies else None,
        "grouped_id": msg.grouped_id,
        "edit_date": msg.edit_date,
        "post_author": msg.post_author,
        "source": source,
        "raw": raw,
    }
    if is_service(msg):
        action, pinned_id, new_title = service_action(msg)
        return TelegramMessage(
            **common,
            text=None,  # Telethon has no rendered wording for a service message
            message_type="service",
            action=action,
            pinned_message_id=pinned_id,
            new_title=new_title,
            media_kind="none",
            reply_to_message_id=None if action == "pinned" else reply_to_id(msg),
        )
    kind, media = media_of(msg)
    if msg.grouped_id is not None:
        # Filled with the whole album's items and ids by complete_albums.
        raw["album_member"] = {"kind": kind, "media": media, "item": _album_item(kind, media)}
        kind, media = "album", {"items": [raw["album_member"]["item"]]}
    return TelegramMessage(
        **common,
        text=msg.message or None,  # "" (media without caption) is no text, as on the web
        has_media=kind != "none",
        image_paths=image_paths,
        media_kind=kind,
        media=media,
        reply_to_message_id=reply_to_id(msg),
        links=links_of(msg.message, msg.entities),
        link_preview=link_preview(msg.media),
        album_ids=[msg.id] if msg.grouped_id is not None else [],
        photo_status=photo_status,
        photo_errors=photo_errors,
    )


# -- raw ------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """Turn a TL object (or anything inside one) into plain JSON values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, (bytes, bytearray)):
        return None  # file references and hashes: opaque, expire, useless for analysis
    if isinstance(value, dict):
        return {
            str(k): v for k, v in ((k, _jsonable(v)) for k, v in value.items()) if v is not None
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return str(value)


def _reaction_label(reaction: Any) -> str:
    if hasattr(reaction, "emoticon"):
        return reaction.emoticon
    if hasattr(reaction, "document_id"):
        return f"custom:{reaction.document_id}"
    if type(reaction).__name__ == "ReactionPaid":
        return "paid"
    return type(reaction).__name__


def raw_fields(msg: Any) -> dict[str, Any]:
    """The interesting fields of a Telethon message as a JSON-safe dict.

    ``msg.to_dict()`` holds datetimes, bytes and deeply nested TL objects, so we pick
    fields instead: enough to audit a record and to derive new columns later.
    """
    media = msg.media
    entities = msg.entities or []
    results = getattr(msg.reactions, "results", None) or []
    reply_to = msg.reply_to
    raw: dict[str, Any] = {
        "id": msg.id,
        "date": format_ts(msg.date),
        "message": msg.message,
        "media_type": type(media).__name__ if media is not None else None,
        "views": msg.views,
        "forwards": msg.forwards,
        "replies": msg.replies.replies if msg.replies else None,
        "grouped_id": msg.grouped_id,
        "edit_date": format_ts(msg.edit_date),
        "post_author": msg.post_author,
        "reply_to_msg_id": getattr(reply_to, "reply_to_msg_id", None),
        "reply_to_peer": _jsonable(getattr(reply_to, "reply_to_peer_id", None)),
        "fwd_from": _jsonable(msg.fwd_from),
        "reactions": [{"reaction": _reaction_label(r.reaction), "count": r.count} for r in results],
        "reactions_total": sum(r.count for r in results),
        "entities": len(entities),
        "entity_types": sorted({type(e).__name__ for e in entities}),
        "pinned": bool(getattr(msg, "pinned", False)),
        "noforwards": bool(getattr(msg, "noforwards", False)),
    }
    action = getattr(msg, "action", None)
    if action is not None:
        # Scalars only (a new channel photo is a whole Photo object: keep its id).
        fields = _jsonable(action.to_dict())
        raw["action"] = {k: v for k, v in fields.items() if not isinstance(v, (dict, list))}
        if getattr(getattr(action, "photo", None), "id", None) is not None:
            raw["action"]["photo_id"] = action.photo.id
    photo = getattr(media, "photo", None)
    if photo is not None and hasattr(photo, "id"):
        raw["photo_id"] = photo.id
    document = getattr(media, "document", None)
    if document is not None and hasattr(document, "mime_type"):
        raw["document"] = {
            "id": document.id,
            "mime_type": document.mime_type,
            "size": document.size,
        }
    webpage = getattr(media, "webpage", None)
    if getattr(webpage, "url", None):
        raw["web_preview_url"] = webpage.url
    return raw
