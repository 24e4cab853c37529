"""Read one message block of the web preview into a ``WebPost``.

``read_post`` walks the block's elements once (``web_layout.POST_SCAN``, document
order) and dispatches each on its ``tgme_widget_message*`` class through
``web_layout.ELEMENTS``; a class missing there fails the page. Containers (a poll,
a document, a location, a contact) are filled by the elements that follow them.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from databox.telegram.web_layout import (
    ALBUM_ITEM_CLASS,
    AUDIO_ICON_CLASS,
    CHROME,
    DATA_POST_RE,
    ELEMENTS,
    POST_SCAN,
    REPLY_TEXT_CLASS,
    SERVICE_CLASS,
    UNSUPPORTED_BOX,
    UNSUPPORTED_TWIN,
    PreviewLayoutError,
)
from databox.telegram.web_media import (
    finish_part,
    link_preview,
    media_of,
    parse_percent,
    player,
    round_player,
    sticker,
)
from databox.telegram.web_media import voice as voice_media
from databox.telegram.web_post import WebPost, parse_datetime, permalink_id
from databox.telegram.web_text import (
    bg_url,
    clean,
    parse_views,
    plain,
    rich,
    service_action,
    text_and_links,
)

__all__ = ["read_post"]

#: lexbor's id of the <time> tag: comparing ids spares decoding the tag name.
_TIME_TAG = LexborHTMLParser("<time></time>").css_first("time").tag_id


def _token(cls: str, name: str) -> bool:
    """Is ``name`` one of the classes in ``cls``? (The substring test spares a split
    for the many elements that lack it.)"""
    return name in cls and name in cls.split()


def _inside(node: LexborNode, ancestor: int, stop: int) -> bool:
    parent = node.parent
    # selectolax hands out a new wrapper per access, so compare the underlying nodes.
    while parent is not None and parent.mem_id != stop:
        if parent.mem_id == ancestor:
            return True
        parent = parent.parent
    return False


def _forwarded(node: LexborNode) -> dict[str, str | None]:
    name_node = node.css_first(".tgme_widget_message_forwarded_from_name")
    link = node.css_first("a[href]")
    name = plain(name_node)
    if name is None:  # no name element: "Forwarded from <name>" as plain text
        text = plain(node) or ""
        name = (
            text[len("Forwarded from") :].strip() or None if text.startswith("Forwarded") else text
        )
    return {"name": name, "url": link.attrs.get("href") if link else None}


class _Reader:
    """The state of one block while its elements stream past (``read_post``)."""

    # Scalars default at class level: a block sets only what it shows.
    service = edited = album = unsupported = has_video = has_document = False
    author = signed = views_text = voters_text = reply_to_url = None
    reply: LexborNode | None = None
    date_link: LexborNode | None = None
    forwarded: dict[str, str | None] | None = None
    preview: dict[str, Any] | None = None
    kind: str | None = None  # the first media seen wins
    media: dict[str, Any] | None = None

    def __init__(self, block: LexborNode, channel: str, message_id: int, page: Any):
        self.block, self.block_id, self.page = block, block.mem_id, page
        self.channel, self.message_id = channel, message_id
        self.name = f"{channel}/{message_id}"
        self.texts: list[LexborNode] = []
        self.photo_urls: list[str] = []
        self.thumbs: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.item_ids: list[int | None] = []
        self.part: dict[str, Any] = {}  # the open document/poll/location/contact
        self.extra: dict[str, Any] = {}

    def error(self, problem: str) -> PreviewLayoutError:
        return self.page.error(f"post {self.name} {problem}", post=self.name, block=self.block)

    def set_media(self, kind: str, media: dict[str, Any]) -> None:
        if self.kind is None:
            self.kind, self.media = kind, media

    def open_part(self, kind: str, **part: Any) -> None:
        self.part = part
        self.set_media(kind, part)

    # -- one method per role of web_layout.ELEMENTS ------------------------------------
    def message(self, node: LexborNode, cls: str) -> None:
        if node.mem_id != self.block_id:
            raise self.error("contains another message block")
        self.service = SERVICE_CLASS in cls and SERVICE_CLASS in cls.split()

    def page_level(self, node: LexborNode, cls: str) -> None:
        raise self.error(f"contains a page-level element ({cls})")

    def owner(self, node: LexborNode, cls: str) -> None:
        if self.author is None:
            self.author = plain(node)

    def service_photo(self, node: LexborNode, cls: str) -> None:
        img = node.css_first("img")
        self.extra["service_photo_url"] = img.attrs.get("src") if img else None

    def forwarded_from(self, node: LexborNode, cls: str) -> None:
        if self.forwarded is None:
            self.forwarded = _forwarded(node)

    def reply_header(self, node: LexborNode, cls: str) -> None:
        if self.reply is None:
            self.reply = node
            self.reply_to_url = node.attrs.get("href")

    def text(self, node: LexborNode, cls: str) -> None:
        if REPLY_TEXT_CLASS in cls and REPLY_TEXT_CLASS in cls.split():
            return  # the quoted text of the replied-to message
        if self.reply is not None and _inside(node, self.reply.mem_id, self.block_id):
            return
        if self.texts and any(_inside(node, t.mem_id, self.block_id) for t in self.texts):
            return  # an album's caption is a text div inside a text div
        self.texts.append(node)

    def photo(self, node: LexborNode, cls: str) -> None:
        attrs = node.attrs
        url = bg_url(attrs.get("style"))
        if url is None:
            raise self.error("has a photo without a background-image URL")
        self.photo_urls.append(url)
        if _token(cls, ALBUM_ITEM_CLASS):
            self.items.append({"kind": "photo", "thumb_url": None, "duration": None})
            self.item_ids.append(permalink_id(attrs.get("href"), self.channel))
        else:
            self.set_media("photo", media_of("photo"))

    def grouped(self, node: LexborNode, cls: str) -> None:
        self.album = True

    def video(self, node: LexborNode, cls: str) -> None:
        seen = player(node)
        thumb, duration = seen["thumb_url"], seen["duration"]
        self.has_video = True
        if thumb:
            self.thumbs.append(thumb)
        if _token(cls, ALBUM_ITEM_CLASS):
            self.items.append({"kind": "video", "thumb_url": thumb, "duration": duration})
            self.item_ids.append(permalink_id(node.attrs.get("href"), self.channel))
        elif seen["gif"]:
            self.set_media("gif", media_of("gif", thumb_url=thumb))
        else:
            self.set_media("video", media_of("video", thumb_url=thumb, duration=duration))

    def round(self, node: LexborNode, cls: str) -> None:
        self.has_video = True
        self.set_media("round_video", round_player(node))

    def voice(self, node: LexborNode, cls: str) -> None:
        self.set_media("voice", voice_media(node))

    def document(self, node: LexborNode, cls: str) -> None:
        self.has_document = True
        time = node.css_first("time")
        self.open_part("document", audio=False, title=None, extra=None, time=time)

    def document_icon(self, node: LexborNode, cls: str) -> None:
        if _token(cls, AUDIO_ICON_CLASS) and "audio" in self.part:
            self.part["audio"] = True

    def document_title(self, node: LexborNode, cls: str) -> None:
        self.part["title"] = plain(node)

    def document_extra(self, node: LexborNode, cls: str) -> None:
        self.part["extra"] = plain(node)

    def sticker_webp(self, node: LexborNode, cls: str) -> None:
        self.set_media("sticker", sticker(node, "webp"))

    def sticker_tgs(self, node: LexborNode, cls: str) -> None:
        self.set_media("sticker", sticker(node, "tgs"))

    def sticker_webm(self, node: LexborNode, cls: str) -> None:
        self.set_media("sticker", sticker(node, "webm"))

    def poll(self, node: LexborNode, cls: str) -> None:
        self.open_part("poll", question=None, type=None, options=[])

    def poll_question(self, node: LexborNode, cls: str) -> None:
        self.part["question"] = plain(node)

    def poll_type(self, node: LexborNode, cls: str) -> None:
        self.part["type"] = plain(node)

    def poll_option(self, node: LexborNode, cls: str) -> None:
        if "options" in self.part:
            self.part["options"].append({"text": None, "percent": None, "voters": None})

    def poll_percent(self, node: LexborNode, cls: str) -> None:
        if self.part.get("options"):
            self.part["options"][-1]["percent"] = parse_percent(node.text())

    def poll_text(self, node: LexborNode, cls: str) -> None:
        if self.part.get("options"):
            self.part["options"][-1]["text"] = plain(node)

    def location(self, node: LexborNode, cls: str) -> None:
        href = node.attrs.get("href")
        self.open_part("location", href=href, map=None, title=None, address=None)

    def location_map(self, node: LexborNode, cls: str) -> None:
        if "map" in self.part:
            self.part["map"] = bg_url(node.attrs.get("style"))

    def venue_title(self, node: LexborNode, cls: str) -> None:
        self.part["title"] = plain(node)

    def venue_address(self, node: LexborNode, cls: str) -> None:
        self.part["address"] = plain(node)

    def contact(self, node: LexborNode, cls: str) -> None:
        self.open_part("contact", name=None, phone=None)

    def contact_name(self, node: LexborNode, cls: str) -> None:
        self.part["name"] = plain(node)

    def contact_phone(self, node: LexborNode, cls: str) -> None:
        self.part["phone"] = plain(node)

    def link_card(self, node: LexborNode, cls: str) -> None:
        if self.preview is None:
            self.preview = link_preview(node)

    def button(self, node: LexborNode, cls: str) -> None:
        button = {"text": plain(node), "url": node.attrs.get("href")}
        self.extra.setdefault("buttons", []).append(button)

    def views(self, node: LexborNode, cls: str) -> None:
        self.views_text = self.views_text or plain(node)

    def voters(self, node: LexborNode, cls: str) -> None:
        self.voters_text = self.voters_text or plain(node)

    def meta(self, node: LexborNode, cls: str) -> None:
        # "edited" is the meta span's own text, not the signature's.
        if "edited" in node.text(deep=False):
            self.edited = True

    def signature(self, node: LexborNode, cls: str) -> None:
        self.signed = self.signed or plain(node)

    def date(self, node: LexborNode, cls: str) -> None:
        self.date_link = self.date_link or node

    def unsupported_box(self, node: LexborNode, cls: str) -> None:
        if _token(cls, UNSUPPORTED_TWIN):
            return  # the fallback twin of a JS-only sticker
        parent = node.parent
        around = (parent.attrs.get("class") or "") if parent is not None else ""
        if UNSUPPORTED_TWIN in around or "_player" in around:
            return  # inside a player, or the twin of custom-emoji content
        self.unsupported = True

    # -- the post ----------------------------------------------------------------------
    def finish(self) -> WebPost:
        time = value = None
        if self.date_link is not None:
            time = self.date_link.child  # <a class=…_date href=…><time datetime=…>
            found = time is not None and time.tag_id == _TIME_TAG
            if found:
                value = time.attrs.get("datetime")  # read once: each read costs a lookup
                found = value is not None or "datetime" in time.attrs
            if not found:
                time = self.date_link.css_first("time[datetime]")
                value = None if time is None else time.attrs.get("datetime")
        if time is None:
            time = self.block.css_first("time[datetime]")
            value = None if time is None else time.attrs.get("datetime")
        if time is None:
            raise self.error("has no <time datetime> (its date)")
        date = parse_datetime(value)
        if date is None:
            raise self.error(f"has an unreadable date {value!r}")
        if self.reply_to_url is not None:
            self.extra["reply_to_url"] = self.reply_to_url
        url = (self.date_link.attrs.get("href") if self.date_link else None) or (
            f"https://t.me/{self.name}"
        )
        if self.service:
            post = WebPost(
                self.channel, self.message_id, url, date,
                views=parse_views(self.views_text), views_text=self.views_text,
                edited=self.edited, forwarded_from=self.forwarded, author=self.author,
                signed_author=self.signed, page_url=self.page.url, extra=self.extra,
            )  # fmt: skip
            self._finish_service(post)
            return post
        texts = [text_and_links(node) for node in self.texts]
        media_kind, media, album_ids = "none", None, []
        if self.items:
            album_ids = list(dict.fromkeys(i for i in self.item_ids if i is not None))
            if self.message_id not in album_ids:
                album_ids.insert(0, self.message_id)
            media_kind, media = "album", {"items": self.items}
        elif self.kind is not None:
            if self.kind == "poll":
                self.extra["poll_type"] = self.part.get("type")
            media_kind, media = finish_part(self.kind, self.media or {}, self.voters_text)
        elif self.unsupported:
            media_kind, media = "unsupported", media_of("unsupported")
        # One call with every field (not set field by field): this runs for every post.
        post = WebPost(
            self.channel, self.message_id, url, date,
            text="\n".join(t for t, _ in texts if t) or None,
            views=parse_views(self.views_text), views_text=self.views_text,
            photo_urls=self.photo_urls, video_thumb_urls=self.thumbs,
            has_video=self.has_video, has_document=self.has_document, edited=self.edited,
            forwarded_from=self.forwarded, link_preview=self.preview, author=self.author,
            signed_author=self.signed, media_kind=media_kind, media=media,
            links=[link for _, links in texts for link in links],
            reply_to_message_id=permalink_id(self.reply_to_url, self.channel),
            album_ids=album_ids, page_url=self.page.url, extra=self.extra,
        )  # fmt: skip
        return post

    def _finish_service(self, post: WebPost) -> None:
        post.message_type = "service"
        node = self.texts[0] if self.texts else None
        post.text = None if node is None else clean(rich(node))
        post.action, post.new_title = service_action(post.text)
        if post.action == "pinned" and node is not None:
            # Only a link to it names the pinned message; the page shows none as a rule.
            for a in node.css("a[href]"):
                found = permalink_id(a.attrs.get("href"), self.channel)
                if found is not None and found != self.message_id:
                    post.pinned_message_id = found
                    break


_HANDLERS = {role: getattr(_Reader, role) for role, _ in ELEMENTS.values() if role != CHROME}
_HANDLERS[UNSUPPORTED_BOX] = _Reader.unsupported_box
#: class → role, with the one CHROME object so the loop can compare by identity.
_ROLES = {name: CHROME if role == CHROME else role for name, (role, _) in ELEMENTS.items()}


def _slow_role(reader: _Reader, cls: str) -> str | None:
    """The role of an element whose first class is not its tgme_widget_message one,
    or that has several; an unknown tgme_widget_message* class fails the page."""
    role = None
    for token in cls.split():
        if token.startswith("tgme_widget_message"):
            found = _ROLES.get(token)
            if found is None:
                raise reader.error(f"has an element of unknown class {token!r}")
            role = role or found
        elif token == UNSUPPORTED_BOX:
            role = role or token
    return role


#: class attribute → the handler of its role (None: chrome or not ours), for the class
#: strings already resolved (bounded: ever new class strings cost lookups, not memory).
_SEEN: dict[str, Any] = {}
_SEEN_MAX = 4096
_UNSEEN = object()


def _handler_of(reader: _Reader, cls: str) -> Any:
    """The handler for an element of class ``cls`` (``_SEEN`` remembers it); an unknown
    tgme_widget_message* class fails the page each time it is met."""
    # Fast path: one tgme_widget_message* class, first (as on every real page).
    head, _, rest = cls.partition(" ")
    role = _ROLES.get(head)
    if role is None or "tgme_widget_message" in rest:
        role = _slow_role(reader, cls)  # raises for an unknown class: never remembered
    handler = None if role is None or role is CHROME else _HANDLERS[role]
    if len(_SEEN) < _SEEN_MAX:
        _SEEN[cls] = handler
    return handler


def read_post(
    block: LexborNode, index: int, previous: str | None, channel: str, page: Any
) -> WebPost:
    """The ``index``-th message block of a page (``previous``: the post before it).

    ``page`` has ``url`` and ``error(problem, post=, block=)`` (``web_parse._Page``)."""
    data_post = block.attrs.get("data-post")
    match = DATA_POST_RE.match((data_post or "").strip())
    if match is None or match["channel"].lower() != channel.lower():
        where = f"after {previous}" if previous else "the first on the page"
        got = "no data-post" if data_post is None else f"data-post={data_post!r}"
        raise page.error(
            f"message block #{index} ({where}) has no usable id ({got}; expected '{channel}/<id>')",
            post=data_post or f"#{index} ({where})",
            block=block,
        )
    reader = _Reader(block, channel, int(match["id"]), page)
    seen = _SEEN
    for node in block.css(POST_SCAN):
        # Every node here has a class (POST_SCAN matched it), so no .get: it costs a hop.
        cls = node.attrs["class"] or ""
        # A page repeats a few dozen class strings: each is resolved once (_handler_of).
        handler = seen.get(cls, _UNSEEN)
        if handler is _UNSEEN:
            handler = _handler_of(reader, cls)
        if handler is not None:
            handler(reader, node, cls)
    return reader.finish()
