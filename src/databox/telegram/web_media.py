"""Per-kind media of the web preview: the ``media`` dict of each ``media_kind``.

Keys are exactly ``MEDIA_FIELDS[kind]``; what the page does not show is None
(photo and video dimensions, file sizes in bytes, a poll's per-option voters, a
sticker's emoji), never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from selectolax.lexbor import LexborNode

from databox.telegram.message import MEDIA_FIELDS, normalize_phone
from databox.telegram.web_layout import LINK_PREVIEW_PARTS, LINK_PREVIEW_SCAN
from databox.telegram.web_text import bg_url, clean, parse_views, plain, rich

_DURATION_RE = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{2})\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def media_of(kind: str, **values: Any) -> dict[str, Any]:
    """``media`` for ``kind`` with every key of ``MEDIA_FIELDS`` (None when unseen)."""
    fields = MEDIA_FIELDS[kind]
    if not values:
        return dict.fromkeys(fields)
    for name in values:
        if name not in fields:
            raise ValueError(f"media of kind {kind!r} has no field {name!r}")
    media = dict.fromkeys(fields)
    media.update(values)
    return media


def parse_duration(text: str | None) -> int | None:
    """``"0:42"`` → 42, ``"1:02:03"`` → 3723; None when absent or unreadable."""
    match = _DURATION_RE.match(text or "")
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


def parse_percent(text: str | None) -> int | None:
    match = _PERCENT_RE.match(text or "")
    return None if match is None else round(float(match.group(1)))


_NUM = r"(-?\d+(?:\.\d+)?)"
#: Google Maps links: ``?q=lat,lon`` / ``&ll=lat,lon``; static maps: ``center=lat,lon``.
_LAT_LON_RE = re.compile(rf"[?&](?:q|ll|query|center|markers)={_NUM}(?:,|%2C){_NUM}", re.I)
#: Yandex static maps: ``pt=lon,lat`` / ``ll=lon,lat``.
_LON_LAT_RE = re.compile(rf"[?&](?:pt|ll)={_NUM}(?:,|%2C){_NUM}", re.I)


def coordinates(href: str | None, map_url: str | None) -> tuple[float | None, float | None]:
    """``(latitude, longitude)`` from the pin's maps link (Google: ``q``/``ll`` =
    ``lat,lon``) or else from the map image (Yandex: ``pt``/``ll`` = ``lon,lat``)."""
    match = _LAT_LON_RE.search(href or "")
    if match is not None:
        return float(match[1]), float(match[2])
    if map_url and "yandex" in map_url:
        match = _LON_LAT_RE.search(map_url)
        if match is not None:
            return float(match[2]), float(match[1])
    match = _LAT_LON_RE.search(map_url or "")
    if match is not None:
        return float(match[1]), float(match[2])
    return None, None


def poll_flags(type_text: str | None) -> tuple[bool | None, bool | None, bool | None]:
    """``(quiz, closed, multiple_choice)`` from the type line ("Anonymous Quiz",
    "Anonymous Poll", "Final results", …); None where the line does not tell."""
    if not type_text:
        return None, None, None
    lower = type_text.lower()
    quiz = True if "quiz" in lower else (False if "poll" in lower else None)
    closed = "final" in lower or "closed" in lower
    multiple = True if "multiple" in lower else None
    return quiz, closed, multiple


def player(node: LexborNode) -> dict[str, Any]:
    """A video player's thumbnail, duration and whether it plays like a GIF (no play
    button and no duration, autoplaying in a loop). Thumbnail, play button and
    duration are the player's own children; the ``<video>`` sits in its wrap."""
    thumb = duration = None
    play = looping = False
    for child in node.iter():
        tag = child.tag
        if tag == "i":
            thumb = thumb or bg_url(child.attrs.get("style"))
        elif tag == "time":
            duration = parse_duration(child.text())
        elif tag == "div":
            cls = child.attrs.get("class") or ""
            if "message_video_play" in cls:
                play = True
            elif "video_wrap" in cls:
                for video in child.iter():
                    attrs = video.attributes
                    looping = looping or ("loop" in attrs and "autoplay" in attrs)
    if thumb is None:  # not where the catalog puts it: look deeper
        found = node.css_first("i.tgme_widget_message_video_thumb")
        thumb = bg_url(found.attrs.get("style")) if found is not None else None
    return {
        "thumb_url": thumb,
        "duration": duration,
        "gif": looping and not play and duration is None,
    }


def round_player(node: LexborNode) -> dict[str, Any]:
    thumb = duration = None
    for child in node.css("i.tgme_widget_message_roundvideo_thumb, time"):
        if child.tag == "i":
            thumb = bg_url(child.attrs.get("style"))
        else:
            duration = parse_duration(child.text())
    return media_of("round_video", thumb_url=thumb, duration=duration)


def voice(node: LexborNode) -> dict[str, Any]:
    time = node.css_first("time")
    return media_of("voice", duration=parse_duration(time.text() if time else None))


def sticker(node: LexborNode, fmt: str) -> dict[str, Any]:
    """A sticker's file: ``data-webp`` of a static one, the ``.tgs`` source of an
    animated ``<picture>``, the ``<video src>`` of a video sticker."""
    url = None
    if fmt == "webp":
        url = node.attrs.get("data-webp")
        if not url:
            bg = bg_url(node.attrs.get("style"))
            url = bg if bg and not bg.startswith("data:") else None
    elif fmt == "tgs":
        for source in node.css("source"):
            attrs = source.attributes
            srcset = (attrs.get("srcset") or "").split(" ")[0]
            if attrs.get("type") == "application/x-tgsticker" or srcset.endswith(".tgs"):
                url = srcset or None
                break
    else:
        video = node.css_first("video")
        url = (video.attrs.get("src") if video else None) or None
    return media_of("sticker", url=url, format=fmt, emoji=None)


def link_preview(node: LexborNode) -> dict[str, Any]:
    """``LINK_PREVIEW_KEYS`` of a link card; the description keeps its line breaks."""
    found: dict[str, Any] = {}
    for part in node.css(LINK_PREVIEW_SCAN):
        for token in (part.attrs.get("class") or "").split():
            name = LINK_PREVIEW_PARTS.get(token)
            if name is None or name in found:
                continue
            if name in ("image", "video_thumb"):
                found[name] = bg_url(part.attrs.get("style"))
            elif name == "description":
                found[name] = clean(rich(part))
            else:
                found[name] = plain(part)
            break
    return {
        "url": node.attrs.get("href"),
        "site_name": found.get("site_name"),
        "title": found.get("title"),
        "description": found.get("description"),
        "image_url": found.get("image") or found.get("video_thumb"),
    }


def finish_part(
    kind: str, part: dict[str, Any], voters_text: str | None
) -> tuple[str, dict[str, Any]]:
    """The ``(media_kind, media)`` of a post whose media was read piece by piece
    (document or music, poll, location or venue, contact); others pass through."""
    if kind == "document":
        time = part["time"]
        if part["audio"]:
            duration = parse_duration(time.text()) if time is not None else None
            return "audio", media_of(
                "audio", title=part["title"], performer=part["extra"], duration=duration
            )
        return "document", media_of("document", file_name=part["title"], size_text=part["extra"])
    if kind == "poll":
        quiz, closed, multiple = poll_flags(part["type"])
        return "poll", media_of(
            "poll",
            question=part["question"],
            options=part["options"],
            quiz=quiz,
            closed=closed,
            multiple_choice=multiple,
            voters=parse_views(voters_text),
        )
    if kind == "location":
        lat, lon = coordinates(part["href"], part["map"])
        if part["title"] is not None or part["address"] is not None:
            return "venue", media_of(
                "venue",
                latitude=lat,
                longitude=lon,
                title=part["title"],
                address=part["address"],
            )
        return "location", media_of("location", latitude=lat, longitude=lon)
    if kind == "contact":
        return "contact", media_of(
            "contact", name=part["name"], phone=normalize_phone(part["phone"])
        )
    return kind, part  # type: ignore[return-value]
