"""``WebPost``: one message block as the web preview shows it, and its mapping into
the shared content model (``WebPost.to_message``). ``web_block`` reads blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from databox.telegram.message import TelegramMessage, to_utc
from databox.telegram.web_layout import PERMALINK_RE
from databox.telegram.web_text import parse_views

__all__ = ["WebPost", "parse_datetime", "parse_views", "permalink_id"]


@dataclass(slots=True)
class WebPost:
    """One message block as the web preview shows it (an album is one block)."""

    channel: str
    message_id: int
    url: str
    date: datetime | None = None
    text: str | None = None
    views: int | None = None
    views_text: str | None = None
    #: The photos to download: a single photo, or an album's photo items, in order.
    photo_urls: list[str] = field(default_factory=list)
    video_thumb_urls: list[str] = field(default_factory=list)
    has_video: bool = False
    has_document: bool = False
    edited: bool = False
    #: ``{"name": ..., "url": ... or None}``
    forwarded_from: dict[str, str | None] | None = None
    #: ``LINK_PREVIEW_KEYS`` → value or None
    link_preview: dict[str, str | None] | None = None
    #: The name shown at the top of the bubble (the channel's title, as a rule).
    author: str | None = None
    #: The signature of a channel that signs posts (Telethon's ``post_author``).
    signed_author: str | None = None
    message_type: str = "post"
    action: str | None = None
    new_title: str | None = None
    #: The web shows no link to the pinned message (as a rule): then None.
    pinned_message_id: int | None = None
    media_kind: str = "none"
    media: dict[str, Any] | None = None
    links: list[dict[str, Any]] = field(default_factory=list)
    reply_to_message_id: int | None = None
    album_ids: list[int] = field(default_factory=list)
    #: The page this post was read from, when the caller said.
    page_url: str | None = None
    #: What the page shows beyond the content model (kept in ``raw``).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_media(self) -> bool:
        return self.message_type == "post" and self.media_kind != "none"

    def to_message(
        self,
        *,
        source: str,
        image_paths: list[str],
        photo_status: str | None,
        photo_errors: list[dict],
    ) -> TelegramMessage:
        """The post in the shared content model; the caller says which photos landed."""
        assert self.date is not None, "a post without a date never leaves the parser"
        raw = {
            "url": self.url,
            "views_text": self.views_text,
            "photo_urls": list(self.photo_urls),
            "video_thumb_urls": list(self.video_thumb_urls),
            "has_video": self.has_video,
            "has_document": self.has_document,
            "edited": self.edited,
            "forwarded_from": self.forwarded_from,
            "author": self.author,
            "signed_author": self.signed_author,
            **self.extra,
        }
        if self.page_url is not None:
            raw["page_url"] = self.page_url
        return TelegramMessage(
            channel=self.channel,
            message_id=self.message_id,
            date=self.date,
            text=self.text,
            views=self.views,
            has_media=self.has_media,
            image_paths=image_paths,
            grouped_id=None,  # the preview has no album id; an album is one block
            edit_date=None,  # the preview says "edited" but not when
            post_author=self.signed_author,
            source=source,
            raw=raw,
            message_type=self.message_type,
            action=self.action,
            pinned_message_id=self.pinned_message_id,
            new_title=self.new_title,
            media_kind=self.media_kind,
            media=self.media,
            reply_to_message_id=self.reply_to_message_id,
            links=[dict(link) for link in self.links],
            link_preview=self.link_preview,
            album_ids=list(self.album_ids),
            photo_status=photo_status,
            photo_errors=photo_errors,
        )


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # The page always carries an offset; a naive value is taken as UTC like elsewhere.
    return to_utc(parsed)


def permalink_id(href: str | None, channel: str) -> int | None:
    """The id in ``https://t.me/<channel>/<id>`` when it is ``channel``'s (an id of
    another chat means nothing here, as in ``telethon_convert.reply_to_id``)."""
    if not href:
        return None
    match = PERMALINK_RE.match(href)
    if match is None or match["channel"].lower() != channel.lower():
        return None
    return int(match["id"])
