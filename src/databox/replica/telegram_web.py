"""A local replica of Telegram's public web preview (``https://t.me/s/<channel>``).

It serves HTML in the structure documented in ``shared/docs/sources.md`` section 2b,
so the web source's parser and pager are tested against real sockets and real
markup, never against mocks:

* ``/s/<channel>``: the newest ``page_size`` posts, ascending, with a
  ``tme_messages_more[data-before]`` link when older posts exist;
* ``/s/<channel>?before=N`` / ``?after=N``: the posts just older / newer than N;
* ``/<channel>``: the plain channel page. A channel without a preview (and an
  unknown one) answers ``/s/<channel>`` with a 302 to it, as t.me does;
* ``/file/<name>``: the photo bytes the posts' ``background-image`` URLs point at.

Run ``python -m databox.replica.telegram_web --port 8081`` for a demo server and point
``TELEGRAM_WEB_BASE_URL`` at it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import mimetypes
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from databox.replica.server import LoopbackServer

# -- corpus ----------------------------------------------------------------------------


@dataclass
class Forward:
    """``Forwarded from <name>``; ``url`` is None for a sender who hides their account."""

    name: str
    url: str | None = None


@dataclass
class LinkPreview:
    url: str
    site_name: str | None = None
    title: str | None = None
    description: str | None = None


@dataclass
class Post:
    """One post as the preview shows it. An album is one post whose ``photos`` hold
    several files; on Telegram each album member has its own id, so an album of n
    photos uses ids ``id .. id+n-1`` and the preview shows it under the first."""

    id: int
    date: datetime
    text: str | None = None
    views: int | None = None
    #: Names of files in ``Corpus.files`` (served at ``/file/<name>``).
    photos: list[str] = field(default_factory=list)
    edited: bool = False
    forwarded_from: Forward | None = None
    link_preview: LinkPreview | None = None
    #: Signature of a channel that signs its posts.
    author: str | None = None


@dataclass
class Channel:
    username: str
    title: str
    description: str = ""
    subscribers: int = 0
    #: False: ``/s/<username>`` redirects to ``/<username>`` (preview turned off).
    has_preview: bool = True
    posts: dict[int, Post] = field(default_factory=dict)
    #: Id the next post takes; ids only grow, like Telegram's.
    next_id: int = 1

    def sorted_posts(self) -> list[Post]:
        return [self.posts[k] for k in sorted(self.posts)]


def _as_utc(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


@dataclass
class Corpus:
    """Channels, their posts, and the photo files the posts show. Not thread-safe on
    its own: ``TelegramWebReplica`` guards it with a lock."""

    channels: dict[str, Channel] = field(default_factory=dict)
    #: Served file name → file on disk.
    files: dict[str, Path] = field(default_factory=dict)

    def channel(self, username: str) -> Channel | None:
        """Look a channel up case-insensitively, as t.me resolves usernames."""
        found = self.channels.get(username)
        if found is None:
            lowered = username.lower()
            found = next((c for k, c in self.channels.items() if k.lower() == lowered), None)
        return found

    def add_channel(self, username: str, title: str, *, first_id: int = 1, **kwargs) -> Channel:
        channel = Channel(username=username, title=title, next_id=first_id, **kwargs)
        self.channels[username] = channel
        return channel

    def photo_bytes(self, name: str) -> bytes:
        return self.files[name].read_bytes()

    def _register_photo(self, channel: str, post_id: int, index: int, photo: Path | str) -> str:
        if isinstance(photo, str):
            if photo not in self.files:
                raise KeyError(f"unknown photo file {photo!r}; pass a Path to add a new one")
            return photo
        # Like the CDN: one opaque, unique name per photo of a post.
        token = hashlib.sha256(f"{channel}/{post_id}/{index}/{photo.name}".encode()).hexdigest()
        name = f"{token[:40]}{photo.suffix.lower() or '.jpg'}"
        self.files[name] = photo
        return name

    def add_post(
        self,
        channel: str,
        *,
        text: str | None = None,
        photos: Sequence[Path | str] = (),
        date: datetime | None = None,
        views: int | None = 1,
        edited: bool = False,
        forwarded_from: Forward | None = None,
        link_preview: LinkPreview | None = None,
        author: str | None = None,
        skip_ids: int = 0,
    ) -> Post:
        """Append a post; ``skip_ids`` leaves a gap first (deleted posts, service
        messages). ``photos`` are new files (Path) or names already in ``files``."""
        ch = self.channel(channel)
        if ch is None:
            raise KeyError(f"unknown channel {channel!r}")
        post_id = ch.next_id + skip_ids
        last = max(ch.posts) if ch.posts else None
        if date is None:
            date = datetime.now(timezone.utc).replace(microsecond=0)
            if last is not None:  # ids increase with time, even within one second
                date = max(date, ch.posts[last].date)
        post = Post(
            id=post_id,
            date=_as_utc(date),
            text=text,
            views=views,
            photos=[self._register_photo(ch.username, post_id, i, p) for i, p in enumerate(photos)],
            edited=edited,
            forwarded_from=forwarded_from,
            link_preview=link_preview,
            author=author,
        )
        ch.posts[post_id] = post
        ch.next_id = post_id + max(1, len(post.photos))  # album members use ids too
        return post


# -- demo corpus -----------------------------------------------------------------------

DEMO_CHANNELS = (
    # username, title, first id, subscribers
    ("CheMed123", "CheMed Telegram Channel", 31_540, 48_200),
    ("lobelia4cosmetics", "Lobelia pharmacy and cosmetics", 14_020, 21_900),
    ("tikvahpharma", "Tikvah | Pharma", 120_300, 1_284_000),
)
NO_PREVIEW_CHANNEL = "privatepharma"

_PRODUCTS = (
    "Paracetamol 500mg (10 tablets)",
    "Amoxicillin 250mg capsules",
    "Vitamin C 1000mg effervescent",
    "Omeprazole 20mg",
    "Ibuprofen 400mg",
    "ORS sachets (box of 20)",
    "Zinc 20mg dispersible",
    "Omron M2 blood pressure monitor",
    "Accu-Chek glucometer + 50 strips",
    "N95 masks (box of 20)",
    "CeraVe Hydrating Cleanser 236ml",
    "Cetaphil Moisturising Cream 453g",
    "La Roche-Posay Effaclar Duo 40ml",
    "Neutrogena Sunscreen SPF 50+",
    "The Ordinary Niacinamide 10% + Zinc 1%",
    "Hyaluronic acid serum 30ml",
    "Nivea Soft cream 200ml",
    "Shea butter body lotion 400ml",
)
_EMOJI = ("💊", "🔥", "✅", "🧴", "💉", "🌿", "✨", "🩺", "⚠️", "💯")
_ADDRESSES = (
    "Bole, Addis Ababa / ቦሌ, አዲስ አበባ",
    "Piassa, near St. George church",
    "Megenagna, 2nd floor of Zefmesh mall",
    "CMC road / ሲኤምሲ",
)
_SIGNERS = ("Dr. Selam T.", "Pharm. Dawit", "Hana (admin)")
_FORWARDS = (
    Forward("EFDA Ethiopia", "https://t.me/EFDAEthiopia/2211"),
    Forward("Ministry of Health, Ethiopia", "https://t.me/MoHEthiopia/874"),
    Forward("Tikvah-Ethiopia", "https://t.me/tikvahethiopia/90412"),
    Forward("Abebe K."),  # a user who hides their account: name, no link
)
_PREVIEWS = (
    LinkPreview(
        "https://www.who.int/news-room/fact-sheets/detail/malaria",
        "World Health Organization",
        "Malaria",
        "Key facts, symptoms, who is at risk, diagnosis and treatment.",
    ),
    LinkPreview(
        "https://www.efda.gov.et/recall-notice",
        "EFDA",
        "Product recall notice",
        "The Ethiopian Food and Drug Authority recalls two batches of an antibiotic syrup.",
    ),
    LinkPreview(
        "https://www.youtube.com/watch?v=skincare101",
        "YouTube",
        "Skin care 101: building a routine",
        None,
    ),
)


def _phone(rng: random.Random) -> str:
    return (
        f"09{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    )


def _demo_text(rng: random.Random, kind: str, username: str) -> str | None:
    product = rng.choice(_PRODUCTS)
    price = rng.choice((45, 120, 250, 380, 650, 1200, 2450, 3900))
    emoji = rng.choice(_EMOJI)
    if kind == "photo" and rng.random() < 0.15:
        return None  # a photo without caption
    if kind in ("photo", "album"):
        return (
            f"{emoji} {product}\n"
            f"ዋጋ / Price: {price:,} ETB\n"
            f"📞 {_phone(rng)}\n"
            f"📍 {rng.choice(_ADDRESSES)}"
        )
    if kind == "list":
        lines = [
            f"- {p} — {rng.choice((90, 150, 320, 560, 980))} ETB" for p in rng.sample(_PRODUCTS, 3)
        ]
        return "አዲስ እቃ ገብቷል / New stock arrived 🔥\n" + "\n".join(lines) + f"\n\nOrder: @{username}"
    if kind == "link":
        return "ለበለጠ መረጃ / More info 👇"  # the caller appends the previewed URL
    if kind == "forward":
        return f"⚠️ Notice: {product} batch recall. Return it to the pharmacy & keep the receipt."
    return rng.choice(
        (
            f"Open today 8:00–20:00 ✅\nይደውሉልን: {_phone(rng)}",
            "Tip: keep insulin between 2–8 °C. Don't freeze it!\nQ&A every Friday <live>",
            f"Buy 2 & get 1 free on {product} 🎁\nOffer ends Sunday.",
            f'"Original" products only. Price < {price} ETB\nDelivery in Addis 🚚',
        )
    )


def build_demo_corpus(
    photos: list[Path],
    *,
    seed: int = 7,
    posts_per_channel: int = 240,
    days: int = 30,
    now: datetime | None = None,
) -> Corpus:
    """Three pharmacy/cosmetics channels plus ``privatepharma`` (no preview).

    Deterministic for a given seed, photo list and ``now``; ``now`` defaults to
    today's midnight UTC, so the corpus is the same all day. Every kind of post
    occurs in each channel: single photos, albums of 2-4, text only, lists, link
    previews, forwards, edited and signed posts, views past 1K and past 1M, and id
    gaps (albums and deleted posts).
    """
    if not photos:
        raise ValueError("build_demo_corpus needs at least one photo")
    rng = random.Random(seed)
    now = (
        _as_utc(now)
        if now
        else datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    start = now - timedelta(days=days)
    span = int((now - start).total_seconds()) - 60
    corpus = Corpus()
    for username, title, first_id, subscribers in DEMO_CHANNELS:
        corpus.add_channel(
            username,
            title,
            first_id=first_id,
            subscribers=subscribers,
            description=f"{title}: medicines, cosmetics and health tips. 📞 {_phone(rng)}",
        )
        # Every kind at least once, then a realistic mix, in a seeded order.
        kinds = ["photo", "album", "text", "list", "link", "forward"]
        weights = {"photo": 38, "album": 14, "text": 20, "list": 8, "link": 10, "forward": 10}
        kinds += rng.choices(
            list(weights), weights=list(weights.values()), k=max(0, posts_per_channel - len(kinds))
        )
        kinds = kinds[:posts_per_channel]
        rng.shuffle(kinds)
        times = sorted(start + timedelta(seconds=rng.randint(0, span)) for _ in kinds)
        # A few posts went viral (views ≥ 1M); the rest spread from hundreds to tens of K.
        viral = set(rng.sample(range(len(kinds)), k=min(2, len(kinds))))
        for i, (kind, when) in enumerate(zip(kinds, times, strict=True)):
            n_photos = {"photo": 1, "album": rng.randint(2, 4)}.get(kind, 0)
            text = _demo_text(rng, kind, username)
            preview = rng.choice(_PREVIEWS) if kind == "link" else None
            if preview is not None:
                text = f"{text}\n{preview.url}"
            if i in viral:
                views = rng.randint(1_000_000, 2_400_000)
            elif rng.random() < 0.6:
                views = rng.randint(120, 999)
            else:
                views = rng.randint(1_000, 48_000)
            corpus.add_post(
                username,
                text=text,
                photos=[rng.choice(photos) for _ in range(n_photos)],
                date=when,
                views=views,
                edited=rng.random() < 0.12,
                forwarded_from=rng.choice(_FORWARDS) if kind == "forward" else None,
                link_preview=preview,
                author=rng.choice(_SIGNERS)
                if username == "tikvahpharma" and rng.random() < 0.3
                else None,
                skip_ids=rng.choice((1, 2, 3)) if rng.random() < 0.08 else 0,
            )
    private = corpus.add_channel(
        NO_PREVIEW_CHANNEL, "Private Pharma", first_id=500, subscribers=312, has_preview=False
    )
    corpus.add_post(private.username, text="Members only price list", date=start, views=40)
    return corpus


# -- HTML ------------------------------------------------------------------------------


def format_views(views: int) -> str:
    """The preview's abbreviation: 845, 1.2K, 12.7K, 1.1M (truncated, ``.0`` dropped)."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if views >= limit:
            tenths = views * 10 // limit
            whole, frac = divmod(tenths, 10)
            return f"{whole}{suffix}" if frac == 0 else f"{whole}.{frac}{suffix}"
    return str(views)


# URLs become links and emoji get Telegram's image wrapper, as on the real page.
_EMOJI_CHARS = "\U0001f000-\U0001faff\u2600-\u27bf\u2300-\u23ff\u2b00-\u2bff"
_TOKEN_RE = re.compile(
    rf"(?P<url>https?://[^\s<>\"']+)|(?P<emoji>[{_EMOJI_CHARS}]\ufe0f?)|(?P<nl>\n)"
)


def render_text(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        out.append(escape(text[pos : match.start()]))
        if match["url"]:
            url = escape(match["url"])
            out.append(f'<a href="{url}" target="_blank" rel="noopener">{url}</a>')
        elif match["emoji"]:
            code = match["emoji"].encode().hex().upper()
            out.append(
                f'<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/'
                f"{code}.png')\"><b>{match['emoji']}</b></i>"
            )
        else:
            out.append("<br/>")
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def _photo_html(channel: Channel, post: Post, base_url: str) -> str:
    urls = [escape(f"{base_url}/file/{name}") for name in post.photos]
    permalink = f"https://t.me/{channel.username}/{post.id}"
    if len(urls) == 1:
        return (
            f'<a class="tgme_widget_message_photo_wrap blured js-message_photo" '
            f'style="width:800px;background-image:url(\'{urls[0]}\')" href="{permalink}">'
            f'<div class="tgme_widget_message_photo" style="padding-top:75%"></div></a>'
        )
    # Albums: a grid of grouped_media_wrap items, each linking to its own id "?single".
    items = []
    for index, url in enumerate(urls):
        left = 0 if index % 2 == 0 else 401
        top = (index // 2) * 401
        items.append(
            f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" '
            f'style="left:{left}px;top:{top}px;width:399px;height:399px;margin-right:2px;'
            f'margin-bottom:2px;background-image:url(\'{url}\')" data-ratio="1.3333" '
            f'href="https://t.me/{channel.username}/{post.id + index}?single">'
            f'<div class="grouped_media_helper" style="left:0;top:0;width:399px;height:399px"></div></a>'
        )
    height = ((len(urls) + 1) // 2) * 401
    return (
        '<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap" '
        'data-margin-w="2" data-margin-h="2" style="width:800px;">'
        '<div class="tgme_widget_message_grouped js-message_grouped" style="padding-top:100%">'
        f'<div class="tgme_widget_message_grouped_layer js-message_grouped_layer" '
        f'style="width:800px;height:{height}px">{"".join(items)}</div></div></div>'
    )


def render_post(channel: Channel, post: Post, base_url: str) -> str:
    ch = escape(channel.username)
    permalink = f"https://t.me/{ch}/{post.id}"
    data_view = (
        base64.urlsafe_b64encode(f'{{"c":-{post.id},"t":{int(post.date.timestamp())}}}'.encode())
        .decode()
        .rstrip("=")
    )
    parts = [
        '<div class="tgme_widget_message_wrap js-widget_message_wrap">',
        f'<div class="tgme_widget_message text_not_supported_wrap js-widget_message" '
        f'data-post="{ch}/{post.id}" data-view="{data_view}">',
        f'<div class="tgme_widget_message_user"><a href="https://t.me/{ch}">'
        f'<i class="tgme_widget_message_user_photo bgcolor1" data-content="{escape(channel.title[:1])}"></i></a></div>',
        '<div class="tgme_widget_message_bubble">',
        '<i class="tgme_widget_message_bubble_tail"></i>',
        '<div class="tgme_widget_message_author accent_color">'
        f'<a class="tgme_widget_message_owner_name" href="https://t.me/{ch}">'
        f'<span dir="auto">{escape(channel.title)}</span></a></div>',
    ]
    if post.forwarded_from is not None:
        fwd = post.forwarded_from
        name = f'<span dir="auto">{escape(fwd.name)}</span>'
        if fwd.url:
            name = f'<a class="tgme_widget_message_forwarded_from_name" href="{escape(fwd.url)}">{name}</a>'
        else:
            name = f'<span class="tgme_widget_message_forwarded_from_name" dir="auto">{escape(fwd.name)}</span>'
        parts.append(
            f'<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from {name}</div>'
        )
    if post.photos:
        parts.append(_photo_html(channel, post, base_url))
    if post.text:
        parts.append(
            f'<div class="tgme_widget_message_text js-message_text" dir="auto">{render_text(post.text)}</div>'
        )
    if post.link_preview is not None:
        lp = post.link_preview
        inner = "".join(
            f'<div class="{cls}" dir="auto">{escape(value)}</div>'
            for cls, value in (
                ("link_preview_site_name accent_color", lp.site_name),
                ("link_preview_title", lp.title),
                ("link_preview_description", lp.description),
            )
            if value
        )
        parts.append(
            f'<a class="tgme_widget_message_link_preview" href="{escape(lp.url)}">{inner}</a>'
        )
    info = []
    if post.views is not None:
        info.append(
            f'<span class="tgme_widget_message_views">{format_views(post.views)}</span>'
            '<span class="copyonly"> views</span>'
        )
    if post.author:
        info.append(
            f'<span class="tgme_widget_message_from_author" dir="auto">{escape(post.author)}</span>,&nbsp;'
        )
    info.append(
        '<span class="tgme_widget_message_meta">'
        + ("edited &nbsp;" if post.edited else "")
        + f'<a class="tgme_widget_message_date" href="{permalink}">'
        f'<time datetime="{post.date.isoformat()}" class="time">{post.date:%H:%M}</time></a></span>'
    )
    parts.append(
        '<div class="tgme_widget_message_footer compact js-message_footer">'
        f'<div class="tgme_widget_message_info short js-message_info">{"".join(info)}</div></div>'
    )
    parts.append("</div></div></div>")
    return "\n".join(parts)


def _more_link(username: str, key: str, value: int) -> str:
    return (
        '<div class="tgme_widget_message_centered js-messages_more_wrap">'
        f'<a href="/s/{escape(username)}?{key}={value}" class="tme_messages_more js-messages_more" '
        f'data-{key}="{value}"></a></div>'
    )


def _document(title: str, head: str, body_class: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"{head}</head>\n"
        f'<body class="{body_class}">\n{body}\n</body>\n</html>\n'
    )


def render_channel_page(
    channel: Channel, posts: list[Post], *, before: int | None, after: int | None, base_url: str
) -> str:
    ch = escape(channel.username)
    title = escape(channel.title)
    all_posts = channel.posts.values()
    counters = [
        (format_views(channel.subscribers), "subscribers"),
        (format_views(sum(len(p.photos) for p in all_posts)), "photos"),
        (format_views(sum(1 for p in all_posts if p.link_preview)), "links"),
    ]
    head = (
        f'<meta property="og:title" content="{title}">\n'
        f'<meta property="og:description" content="{escape(channel.description)}">\n'
        f'<link rel="canonical" href="https://t.me/s/{ch}">\n'
        + (f'<link rel="prev" href="/s/{ch}?before={before}">\n' if before is not None else "")
        + (f'<link rel="next" href="/s/{ch}?after={after}">\n' if after is not None else "")
    )
    header = (
        '<header class="tgme_header search_collapsed"><div class="tgme_header_left_column">'
        f'<a class="tgme_header_link" href="https://t.me/{ch}"><div class="tgme_header_title">'
        f'<span dir="auto">{title}</span></div></a></div></header>'
    )
    info = (
        '<section class="tgme_right_column"><div class="tgme_channel_info">'
        '<div class="tgme_channel_info_header">'
        f'<i class="tgme_page_photo_image bgcolor1" data-content="{escape(channel.title[:1])}"></i>'
        f'<div class="tgme_channel_info_header_title"><span dir="auto">{title}</span></div>'
        f'<div class="tgme_channel_info_header_username"><a href="https://t.me/{ch}">@{ch}</a></div>'
        "</div>"
        '<div class="tgme_channel_info_counters">'
        + "".join(
            f'<div class="tgme_channel_info_counter"><span class="counter_value">{value}</span> '
            f'<span class="counter_type">{kind}</span></div>'
            for value, kind in counters
        )
        + "</div>"
        f'<div class="tgme_channel_info_description">{render_text(channel.description)}</div>'
        "</div></section>"
    )
    history = ['<section class="tgme_channel_history js-message_history">']
    if before is not None:
        history.append(_more_link(channel.username, "before", before))
    history.extend(render_post(channel, post, base_url) for post in posts)
    if after is not None:
        history.append(_more_link(channel.username, "after", after))
    history.append("</section>")
    body = (
        f'{header}\n<main class="tgme_main"><div class="tgme_container">\n{info}\n'
        + "\n".join(history)
        + "\n</div></main>"
    )
    return _document(
        f"{channel.title} – Telegram", head, "widget_frame_base tgme_webpage tme_preview", body
    )


def render_plain_page(username: str, channel: Channel | None) -> str:
    """``https://t.me/<channel>``: title and subscriber count, no posts."""
    if channel is None:  # t.me's page for a username nobody uses
        title, extra, preview = f"Telegram: Contact @{username}", "", ""
        body_title = f"If you have Telegram, you can contact @{escape(username)} right away."
    else:
        title = f"{channel.title} – Telegram"
        extra = f'<div class="tgme_page_extra">{channel.subscribers:,} subscribers</div>'.replace(
            ",", " "
        )
        body_title = escape(channel.title)
        preview = (
            '<div class="tgme_page_context_link_wrap">'
            f'<a class="tgme_page_context_link" href="/s/{escape(channel.username)}">Preview channel</a></div>'
            if channel.has_preview
            else ""
        )
    body = (
        '<div class="tgme_page_wrap"><div class="tgme_body_wrap"><div class="tgme_page">'
        f'<div class="tgme_page_title"><span dir="auto">{body_title}</span></div>{extra}'
        '<div class="tgme_page_action"><a class="tgme_action_button_new" '
        f'href="tg://resolve?domain={escape(username)}">View in Telegram</a></div>{preview}'
        "</div></div></div>"
    )
    return _document(title, "", "tgme_page_body", body)


# -- server ----------------------------------------------------------------------------


class TelegramWebReplica(LoopbackServer):
    """A real HTTP server replaying ``corpus`` as t.me's web preview.

    ``request_log`` lists every requested path (with query). ``fail(path, ...)``
    makes a path answer an error status, for retry and failure tests.
    """

    thread_name = "telegram-web-replica"

    def __init__(self, corpus: Corpus, host: str = "127.0.0.1", port: int = 0, page_size: int = 20):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.corpus = corpus
        super().__init__(host, port)
        self.page_size = page_size
        self._lock = threading.RLock()
        self._log: list[str] = []
        self._user_agents: set[str] = set()
        self._failures: dict[str, list[int | None]] = {}

    # -- test controls -------------------------------------------------------------------
    @property
    def request_log(self) -> list[str]:
        with self._lock:
            return list(self._log)

    @property
    def user_agents(self) -> set[str]:
        """Every User-Agent seen (clients should send a browser's, as t.me expects)."""
        with self._lock:
            return set(self._user_agents)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def file_url(self, name: str) -> str:
        return f"{self.base_url}/file/{name}"

    def fail(self, path: str, status: int = 500, times: int | None = None) -> None:
        """Answer ``path`` (without query) with ``status``: ``times`` times, or always."""
        with self._lock:
            self._failures[path] = [status, times]

    def add_post(
        self,
        channel: str,
        *,
        text: str | None = None,
        photos: Sequence[Path | str] = (),
        date: datetime | None = None,
        views: int | None = 1,
        edited: bool = False,
        forwarded_from: Forward | None = None,
        link_preview: LinkPreview | None = None,
        author: str | None = None,
        skip_ids: int = 0,
    ) -> int:
        """Publish a post now (or at ``date``); returns its id."""
        with self._lock:
            return self.corpus.add_post(
                channel,
                text=text,
                photos=photos,
                date=date,
                views=views,
                edited=edited,
                forwarded_from=forwarded_from,
                link_preview=link_preview,
                author=author,
                skip_ids=skip_ids,
            ).id

    def edit_post(self, channel: str, post_id: int, text: str | None) -> None:
        with self._lock:
            ch = self.corpus.channel(channel)
            if ch is None or post_id not in ch.posts:
                raise KeyError(f"no post {channel}/{post_id}")
            ch.posts[post_id].text = text
            ch.posts[post_id].edited = True

    # -- request handling ----------------------------------------------------------------
    def _take_failure(self, path: str) -> int | None:
        with self._lock:
            entry = self._failures.get(path)
            if entry is None:
                return None
            status, remaining = entry
            if remaining is not None:
                if remaining <= 0:
                    del self._failures[path]
                    return None
                entry[1] = remaining - 1
            return status

    def _page(self, channel: Channel, query: dict[str, list[str]]) -> str:
        posts = channel.sorted_posts()

        def number(key: str) -> int | None:
            value = (query.get(key) or [""])[0]
            return int(value) if value.isdigit() else None

        before, after = number("before"), number("after")
        if before is not None:  # exclusive, like t.me
            page = [p for p in posts if p.id < before][-self.page_size :]
        elif after is not None:
            page = [p for p in posts if p.id > after][: self.page_size]
        else:
            page = posts[-self.page_size :]
        older = bool(page) and posts[0].id < page[0].id
        newer = bool(page) and posts[-1].id > page[-1].id
        return render_channel_page(
            channel,
            page,
            before=page[0].id if older else None,
            # The newest page carries no "after" link, as on t.me.
            after=page[-1].id if newer and (before is not None or after is not None) else None,
            base_url=self.base_url,
        )

    def _respond(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(handler.path)
        path = unquote(split.path)
        html = "text/html; charset=utf-8"
        status = self._take_failure(path)
        if status is not None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            return status, {"Content-Type": "text/plain"}, f"{status} {phrase}\n".encode()
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if len(parts) == 2 and parts[0] == "file":
                name = parts[1]
                if name not in self.corpus.files:
                    return 404, {"Content-Type": "text/plain"}, b"not found\n"
                body = self.corpus.photo_bytes(name)
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return 200, {"Content-Type": ctype, "Cache-Control": "max-age=2592000"}, body
            if len(parts) == 2 and parts[0] == "s":
                channel = self.corpus.channel(parts[1])
                if channel is None or not channel.has_preview:
                    # t.me sends no-preview and unknown channels to the plain page.
                    return 302, {"Location": f"{self.base_url}/{parts[1]}"}, b""
                return (
                    200,
                    {"Content-Type": html},
                    self._page(channel, parse_qs(split.query)).encode(),
                )
            if len(parts) == 1 and parts[0] != "s":
                page = render_plain_page(parts[0], self.corpus.channel(parts[0]))
                return 200, {"Content-Type": html}, page.encode()
            if not parts:
                return (
                    200,
                    {"Content-Type": html},
                    _document("Telegram", "", "", "<p>t.me replica</p>").encode(),
                )
        return 404, {"Content-Type": "text/plain"}, b"not found\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real site
            timeout = 10  # drop idle keep-alive connections
            server_version = "nginx"
            sys_version = ""

            def do_GET(self) -> None:
                with replica._lock:
                    replica._log.append(self.path)
                    replica._user_agents.add(self.headers.get("User-Agent", ""))
                try:
                    status, headers, body = replica._respond(self)
                except Exception as exc:  # a replica bug must show up as a 500, not a hang
                    status, headers, body = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # quiet in tests
                pass

        return Handler


# -- command line ----------------------------------------------------------------------


def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    page_size: int = 20,
    *,
    seed: int = 7,
    posts_per_channel: int = 240,
) -> None:
    """Serve the demo corpus until Ctrl-C."""
    from databox.samples import find_sample_photos

    photos = find_sample_photos()
    corpus = build_demo_corpus(photos, seed=seed, posts_per_channel=posts_per_channel)
    with TelegramWebReplica(corpus, host=host, port=port, page_size=page_size) as replica:
        print(f"t.me replica on {replica.base_url} ({len(photos)} sample photos)")
        for name, channel in corpus.channels.items():
            kind = "preview" if channel.has_preview else "no preview"
            print(f"  {replica.base_url}/s/{name}  ({len(channel.posts)} posts, {kind})")
        print(f"Use it with: TELEGRAM_WEB_BASE_URL={replica.base_url}   (Ctrl-C stops)")
        replica.serve_until_stopped()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local replica of Telegram's t.me/s web preview")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--posts-per-channel", type=int, default=240)
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        args.page_size,
        seed=args.seed,
        posts_per_channel=args.posts_per_channel,
    )


if __name__ == "__main__":
    main()
