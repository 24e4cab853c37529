"""The t.me replica's content: channels, their posts, the photo files they show, and
the seeded demo corpus. ``telegram_html`` renders it; ``telegram_web`` serves it."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
