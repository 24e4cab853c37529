"""Parse one page of Telegram's public web preview, ``https://t.me/s/<channel>``.

The page is HTML meant for browsers: the newest ~20 posts in ascending order with a
``tme_messages_more[data-before]`` link to older ones. The selectors follow
``shared/docs/sources.md`` section 2b (snscrape's telegram module and recorded pages).

``parse_channel_page`` turns one page into ``WebPost`` objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from selectolax.lexbor import LexborHTMLParser, LexborNode

from databox.errors import DataboxError
from databox.telegram.message import TelegramMessage


class PreviewLayoutError(DataboxError):
    """A page or post block does not have the structure the parser expects.

    The message starts with "the t.me preview layout changed:" and names what is
    missing and the post (``data-post``) where known; ``html`` is the offending
    block (or page) so the caller can keep it in quarantine.
    """

    def __init__(self, message: str, *, html: str | None = None, post: str | None = None):
        super().__init__(message)
        self.html = html
        self.post = post


# ``style="width:800px;background-image:url('https://cdn4.telesco.pe/file/x.jpg')"``;
# the quotes are optional in CSS, so accept none, single or double.
_BG_URL_RE = re.compile(r"""background-image\s*:\s*url\(\s*(['"]?)(.*?)\1\s*\)""", re.I)
_EDITED_RE = re.compile(r"\bedited\b", re.I)


# -- parsing ---------------------------------------------------------------------------


def parse_views(text: str | None) -> int | None:
    """``"401"`` → 401, ``"1.2K"`` → 1200, ``"1.1M"`` → 1100000; None when empty/unparsable.

    Decimal, not float: ``int(4.35 * 1000)`` is 4349, and snscrape's
    ``int(float("1.2")) * 1000`` gives 1000.
    """
    if text is None:
        return None
    s = text.strip().replace(",", "").replace("\u00a0", "").replace(" ", "").upper()
    if not s:
        return None
    multiplier = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000, "B": 1_000_000_000}.get(s[-1])
    if multiplier is not None:
        s = s[:-1]
    try:
        value = Decimal(s) * (multiplier or 1)
    except InvalidOperation:
        return None
    return int(value) if value >= 0 else None


@dataclass
class WebPost:
    """One post as the web preview shows it (an album is one post with several photos)."""

    channel: str
    message_id: int
    url: str
    date: datetime | None = None
    text: str | None = None
    views: int | None = None
    views_text: str | None = None
    photo_urls: list[str] = field(default_factory=list)
    video_thumb_urls: list[str] = field(default_factory=list)
    has_video: bool = False
    has_document: bool = False
    edited: bool = False
    #: ``{"name": ..., "url": ... or None}``
    forwarded_from: dict[str, str | None] | None = None
    #: ``{"site_name", "title", "description", "url", "image_url"}``, each possibly None
    link_preview: dict[str, str | None] | None = None
    #: The name shown at the top of the bubble (the channel's title, as a rule).
    author: str | None = None
    #: The signature of a channel that signs posts (Telethon's ``post_author``).
    signed_author: str | None = None

    @property
    def has_media(self) -> bool:
        return bool(self.photo_urls or self.has_video or self.has_document)

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
        return TelegramMessage(
            channel=self.channel,
            message_id=self.message_id,
            date=self.date,
            text=self.text,
            views=self.views,
            has_media=self.has_media,
            image_paths=image_paths,
            grouped_id=None,  # the preview has no album id; an album is one post
            edit_date=None,  # the preview says "edited" but not when
            post_author=self.signed_author,
            source=source,
            photo_status=photo_status,
            photo_errors=photo_errors,
            raw={
                "url": self.url,
                "views_text": self.views_text,
                "photo_urls": list(self.photo_urls),
                "video_thumb_urls": list(self.video_thumb_urls),
                "has_video": self.has_video,
                "has_document": self.has_document,
                "edited": self.edited,
                "forwarded_from": self.forwarded_from,
                "link_preview": self.link_preview,
                "author": self.author,
                "signed_author": self.signed_author,
            },
        )


@dataclass
class WebPage:
    posts: list[WebPost]
    #: ``data-before`` of the "load older" link; None at the start of the channel.
    before: int | None = None
    channel_title: str | None = None


def _inside(node: LexborNode, cls: str, stop: LexborNode) -> bool:
    """Is ``node`` inside an element with class ``cls``, below ``stop``?"""
    parent = node.parent
    # selectolax hands out a new wrapper per access, so compare the underlying nodes.
    while parent is not None and parent.mem_id != stop.mem_id:
        if cls in (parent.attributes.get("class") or "").split():
            return True
        parent = parent.parent
    return False


def _own(post: LexborNode, selector: str) -> list[LexborNode]:
    """Matches of ``selector`` in ``post`` that are not part of a quoted reply, whose
    header repeats the author/text classes of the message it answers."""
    return [n for n in post.css(selector) if not _inside(n, "tgme_widget_message_reply", post)]


def _first(post: LexborNode, selector: str) -> LexborNode | None:
    found = _own(post, selector)
    return found[0] if found else None


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.replace("\u00a0", " ").strip()
    return text or None


def _node_text(node: LexborNode | None) -> str | None:
    return None if node is None else _clean(node.text(deep=True))


def _rich_text(node: LexborNode) -> str:
    """Text of a message div with ``<br>`` as newlines. Emoji sit in
    ``<i class="emoji"><b>😀</b></i>`` and links in ``<a>``, so recursing keeps both."""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            parts.append(child.text_content or "")
        elif child.tag == "br":
            parts.append("\n")
        elif child.tag in ("script", "style"):
            continue
        else:
            parts.append(_rich_text(child))
    return "".join(parts)


def _bg_url(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    match = _BG_URL_RE.search(node.attributes.get("style") or "")
    return match.group(2) if match and match.group(2) else None


def _parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # The page always carries an offset; a naive value is taken as UTC like elsewhere.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _parse_forwarded(post: LexborNode) -> dict[str, str | None] | None:
    node = _first(post, "div.tgme_widget_message_forwarded_from")
    if node is None:
        return None
    name_node = node.css_first(".tgme_widget_message_forwarded_from_name")
    name = _node_text(name_node)
    if name is None:
        # No name element: the header is "Forwarded from <name>" as plain text.
        name = _clean(re.sub(r"^\s*forwarded from\s*", "", node.text(deep=True) or "", flags=re.I))
    link = node.css_first("a[href]")
    return {"name": name, "url": link.attributes.get("href") if link else None}


def _parse_link_preview(post: LexborNode) -> dict[str, str | None] | None:
    node = _first(post, "a.tgme_widget_message_link_preview")
    if node is None:
        return None
    image = node.css_first("i.link_preview_image") or node.css_first("i.link_preview_right_image")
    return {
        "site_name": _node_text(node.css_first(".link_preview_site_name")),
        "title": _node_text(node.css_first(".link_preview_title")),
        "description": _node_text(node.css_first(".link_preview_description")),
        "url": node.attributes.get("href"),
        "image_url": _bg_url(image),
    }


def _parse_post(post: LexborNode, channel: str) -> WebPost | None:
    data_post = (post.attributes.get("data-post") or "").strip()
    post_channel, _, id_text = data_post.rpartition("/")
    if not post_channel or not id_text.isdigit():
        return None  # no usable id: nothing to key the post on
    # A /s/ page lists only its own channel; anything else would mix two id spaces.
    if post_channel.lower() != channel.lower():
        return None
    message_id = int(id_text)

    date_link = _first(post, "a.tgme_widget_message_date")
    time_node = (date_link or post).css_first("time[datetime]")
    text_node = _first(post, "div.tgme_widget_message_text")
    views_text = _node_text(_first(post, "span.tgme_widget_message_views"))
    meta = _first(post, "span.tgme_widget_message_meta")
    owner = _first(post, "a.tgme_widget_message_owner_name") or _first(
        post, ".tgme_widget_message_owner_name"
    )

    photo_urls = [
        url for url in (_bg_url(n) for n in _own(post, "a.tgme_widget_message_photo_wrap")) if url
    ]
    video_nodes = _own(post, "a.tgme_widget_message_video_player") + _own(
        post, ".tgme_widget_message_roundvideo_player"
    )
    video_thumbs = [
        url for url in (_bg_url(n) for n in _own(post, "i.tgme_widget_message_video_thumb")) if url
    ]
    return WebPost(
        channel=channel,
        message_id=message_id,
        url=(date_link.attributes.get("href") if date_link else None)
        or f"https://t.me/{post_channel}/{message_id}",
        date=_parse_datetime(time_node.attributes.get("datetime") if time_node else None),
        text=_clean(_rich_text(text_node)) if text_node is not None else None,
        views=parse_views(views_text),
        views_text=views_text,
        photo_urls=photo_urls,
        video_thumb_urls=video_thumbs,
        has_video=bool(video_nodes),
        has_document=bool(_own(post, ".tgme_widget_message_document")),
        edited=bool(meta is not None and _EDITED_RE.search(meta.text(deep=True) or "")),
        forwarded_from=_parse_forwarded(post),
        link_preview=_parse_link_preview(post),
        author=_node_text(owner),
        signed_author=_node_text(_first(post, ".tgme_widget_message_from_author")),
    )


def parse_channel_page(html: str, channel: str) -> WebPage:
    """Parse one ``/s/<channel>`` page; posts come back ascending, as on the page."""
    tree = LexborHTMLParser(html)
    posts: dict[int, WebPost] = {}
    for node in tree.css("div.tgme_widget_message[data-post]"):
        post = _parse_post(node, channel)
        if post is not None:
            posts.setdefault(post.message_id, post)
    before = None
    more = tree.css_first("a.tme_messages_more[data-before]")
    if more is not None:
        raw_before = (more.attributes.get("data-before") or "").strip()
        before = int(raw_before) if raw_before.isdigit() else None
    title = _node_text(tree.css_first("div.tgme_channel_info_header_title"))
    return WebPage(posts=[posts[k] for k in sorted(posts)], before=before, channel_title=title)
