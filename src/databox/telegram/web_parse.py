"""Parse one page of Telegram's public web preview, ``https://t.me/s/<channel>``.

The page is HTML meant for browsers: the newest ~20 messages in ascending order with
a ``tme_messages_more[data-before]`` link to older ones. ``parse_channel_page`` turns
one page into ``WebPost`` objects carrying every kind of message in the shared
content model (``WebPost.to_message``); the structure it expects is declared in
``web_layout``, per-kind media in ``web_media``, text and links in ``web_text``.

Nothing is dropped quietly: a block without a usable id or date, an element the
layout table does not know, a page that is not a channel preview, or one whose
header or paging shows posts but that yields none raises ``PreviewLayoutError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from databox.telegram.web_block import read_post
from databox.telegram.web_layout import (
    AUDIENCE_COUNTERS,
    CENTERED,
    CHANNEL_TITLE,
    COUNTER,
    COUNTER_TYPE,
    COUNTER_VALUE,
    HISTORY,
    MESSAGE,
    MORE,
    NO_POSTS,
    PREFIX,
    SEARCH_WITH_QUERY,
    WRAP,
    PreviewLayoutError,
    layout_error,
)
from databox.telegram.web_post import WebPost
from databox.telegram.web_text import breaks_to_newlines, parse_views, plain

__all__ = [
    "PREFIX",
    "PreviewLayoutError",
    "WebPage",
    "WebPost",
    "parse_channel_page",
    "parse_views",
]


@dataclass
class WebPage:
    posts: list[WebPost]
    #: ``data-before`` of the "load older" link; None at the start of the channel.
    before: int | None = None
    channel_title: str | None = None
    #: ``data-after`` of the "load newer" link, if any.
    after: int | None = None
    url: str | None = None


def _counted_posts(tree: LexborHTMLParser) -> list[str]:
    """The header counters that count posts ("102 photos"), above zero."""
    counted = []
    for counter in tree.css(COUNTER):
        kind = (plain(counter.css_first(COUNTER_TYPE)) or "").lower()
        value_text = plain(counter.css_first(COUNTER_VALUE))
        value = parse_views(value_text)
        if kind and kind not in AUDIENCE_COUNTERS and value:
            counted.append(f"{value_text} {kind}")
    return counted


@dataclass
class _Scan:
    """The history's structure: message blocks, wraps, "No posts found" boxes,
    paging links, and elements where a message block should be but is not."""

    blocks: list[LexborNode] = field(default_factory=list)
    no_posts: int = 0
    more: list[LexborNode] = field(default_factory=list)
    strays: list[LexborNode] = field(default_factory=list)


def _first_element(node: LexborNode) -> LexborNode | None:
    for child in node.iter():  # elements and comments (text nodes are skipped)
        if not child.is_comment_node:
            return child
    return None


#: class attribute → its classes, for the few class strings a page repeats (bounded).
_TOKENS: dict[str, frozenset[str]] = {}


def _tokens(node: LexborNode) -> frozenset[str]:
    cls = node.attrs.get("class") or ""
    tokens = _TOKENS.get(cls)
    if tokens is None:
        tokens = frozenset(cls.split())
        if len(_TOKENS) < 1024:
            _TOKENS[cls] = tokens
    return tokens


def _data_post(node: LexborNode) -> str | None:
    """The data-post of ``node`` or of the first element inside it that has one."""
    if "data-post" in node.attributes:
        return node.attributes["data-post"]
    inner = node.css_first("[data-post]")
    return inner.attrs.get("data-post") if inner is not None else None


def _scan(history: LexborNode) -> _Scan:
    """Walk the history's children (``web_layout``: wraps holding one message block,
    centered rows holding a paging link or "No posts found")."""
    found = _Scan()
    for child in history.iter():
        if child.is_comment_node:
            continue
        tokens = _tokens(child)
        if WRAP in tokens:
            child = _first_element(child) or child
            tokens = _tokens(child)
        if MESSAGE in tokens:
            found.blocks.append(child)
        elif CENTERED in tokens:
            inner = _first_element(child)
            inner_tokens = _tokens(inner) if inner else frozenset()
            if NO_POSTS in inner_tokens:
                found.no_posts += 1
            elif MORE in inner_tokens:
                found.more.append(inner)
            else:
                found.strays.append(child)
        elif MORE in tokens:  # 2020 pages: the link stood in the section itself
            found.more.append(child)
        else:
            found.strays.append(child)
    return found


class _Page:
    """One page being parsed: its URL and HTML, for errors that name and keep them."""

    def __init__(self, html: str, url: str | None, blocks: list[LexborNode]):
        self.html, self.url, self.blocks = html, url, blocks
        self._fresh: list[LexborNode] | None = None

    def error(
        self, problem: str, *, post: str | None = None, block: LexborNode | None = None
    ) -> PreviewLayoutError:
        return layout_error(problem, post=post, html=self._served(block), url=self.url)

    def _served(self, block: LexborNode | None) -> str:
        """``block``'s outer HTML as served (the parse rewrote its ``<br>``s): from a
        fresh parse of the page; the whole page for a page-level problem."""
        if block is None:
            return self.html
        index = next(i for i, b in enumerate(self.blocks) if b.mem_id == block.mem_id)
        if self._fresh is None:
            history = LexborHTMLParser(self.html).css_first(HISTORY)
            self._fresh = _scan(history).blocks if history is not None else []
        return self._fresh[index].html if index < len(self._fresh) else block.html


def _more_id(page: _Page, node: LexborNode, name: str) -> int | None:
    value = node.attrs.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise page.error(f"the paging link has {name}={value!r}")
    return int(value.strip())


def parse_channel_page(html: str, channel: str, url: str | None = None) -> WebPage:
    """Parse one ``/s/<channel>`` page; posts come back ascending, as on the page.

    ``url`` (the page's address) goes into error messages and ``WebPost.page_url``.
    Raises ``PreviewLayoutError`` for anything the parser cannot read: the error
    names the post (``post``) and carries the block's HTML (``html``)."""
    tree = LexborHTMLParser(html)
    history = tree.css_first(HISTORY)
    if history is None:
        raise layout_error(
            f"this is not a channel preview page: it has no message history ({HISTORY})",
            html=html,
            url=url,
        )
    found = _scan(history)
    page = _Page(html, url, found.blocks)
    if found.strays:
        # Name a post where one is: a renamed message div keeps its data-post.
        named = [(n, _data_post(n)) for n in found.strays]
        stray, data_post = next((pair for pair in named if pair[1]), named[0])
        what = f"data-post={data_post!r}, " if data_post else ""
        tag = f"<{stray.tag} class={stray.attrs.get('class')!r}>"
        more = len(found.strays) - 1
        raise layout_error(
            f"the message history holds {tag} ({what}not a message block of class "
            f"{MESSAGE!r}, a paging link or 'No posts found')"
            + (f" and {more} more such row(s)" if more else ""),
            post=data_post,
            html=stray.html,
            url=url,
        )
    before = after = None
    for node in found.more:
        older, newer = _more_id(page, node, "data-before"), _more_id(page, node, "data-after")
        if older is None and newer is None:
            raise page.error("a paging link has neither data-before nor data-after")
        before = before if older is None else older
        after = after if newer is None else newer
    breaks_to_newlines(history)
    posts: dict[int, WebPost] = {}
    unreadable: list[PreviewLayoutError] = []
    previous = None
    for index, block in enumerate(found.blocks, 1):
        try:
            post = read_post(block, index, previous, channel, page)
        except PreviewLayoutError as exc:  # go on: name every unreadable block at once
            unreadable.append(exc)
            previous = exc.post
            continue
        posts.setdefault(post.message_id, post)
        previous = f"{channel}/{post.message_id}"
    if unreadable:
        first, *others = unreadable
        raise layout_error(first.problem, post=first.post, html=first.html, url=url, others=others)
    if not posts:
        if before is not None or after is not None:
            which = f"before={before}" if before is not None else f"after={after}"
            raise page.error(f"the page links to more posts ({which}) but shows no message blocks")
        searching = "q=" in urlsplit(url or "").query or tree.css_first(SEARCH_WITH_QUERY)
        counted = [] if searching else _counted_posts(tree)
        if counted:
            raise page.error(
                f"the channel header counts {', '.join(counted)} but the page shows no "
                "message blocks" + (" ('No posts found')" if found.no_posts else "")
            )
    return WebPage(
        posts=[posts[k] for k in sorted(posts)],
        before=before,
        channel_title=plain(tree.css_first(CHANNEL_TITLE)),
        after=after,
        url=url,
    )
