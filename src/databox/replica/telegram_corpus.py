"""The t.me replica's content: channels, their posts, the files they show, and the
seeded demo corpus (``telegram_demo``). ``telegram_html`` renders it;
``telegram_web`` serves it. The post model lives in ``telegram_model``."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from databox.replica.telegram_assets import asset_path
from databox.replica.telegram_model import (  # noqa: F401 - re-exported
    SERVICE_ACTIONS,
    STICKER_FORMATS,
    Audio,
    Channel,
    Contact,
    Document,
    FileRef,
    Forward,
    Gif,
    LinkPreview,
    Location,
    Media,
    Photo,
    Poll,
    PollOption,
    Post,
    RoundVideo,
    Service,
    Sticker,
    TextLink,
    Unsupported,
    Venue,
    Video,
    Voice,
)

DEMO_CHANNELS = (
    # username, title, first id, subscribers
    ("CheMed123", "CheMed Telegram Channel", 31_540, 48_200),
    ("lobelia4cosmetics", "Lobelia pharmacy and cosmetics", 14_020, 21_900),
    ("tikvahpharma", "Tikvah | Pharma", 120_300, 1_284_000),
)
NO_PREVIEW_CHANNEL = "privatepharma"

#: How long the quoted text of a pin (and of a reply) may get before "…".
SNIPPET_CHARS = 256


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line of ``text`` (line breaks become spaces), cut with "…" past ``limit``."""
    line = " ".join(text.split("\n"))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def service_text(channel_title: str, service: Service) -> str:
    """The plain text of a service message, as its text div reads."""
    if service.action == "channel_created":
        return "Channel created"
    if service.action == "title_changed":
        return f"Channel name was changed to «{service.title}»"
    if service.action == "photo_changed":
        return "Channel photo updated"
    if service.action == "photo_removed":
        # Inferred from Telegram's client strings; no saved t.me page shows it.
        return "Channel photo removed"
    return f"{channel_title} pinned «{snippet(service.pinned_text or '')}»"


def _as_utc(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


@dataclass
class Corpus:
    """Channels, their posts, and the files the posts show. Not thread-safe on its
    own: ``TelegramWebReplica`` guards it with a lock."""

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

    def add_channel(
        self,
        username: str,
        title: str,
        *,
        first_id: int = 1,
        photo: FileRef | None = None,
        **kwargs,
    ) -> Channel:
        channel = Channel(username=username, title=title, next_id=first_id, **kwargs)
        if photo is not None:
            channel.photo = self._register(photo, f"{username}/photo")
        self.channels[username] = channel
        return channel

    def add_file(self, name: str, path: Path) -> str:
        """Serve ``path`` at ``/file/<name>`` (for pages that need exact file names)."""
        self.files[name] = path
        return name

    def photo_bytes(self, name: str) -> bytes:
        return self.files[name].read_bytes()

    def _register(self, ref: FileRef, key: str) -> str:
        if isinstance(ref, str):
            if ref not in self.files:
                raise KeyError(f"unknown file {ref!r}; pass a Path to add a new one")
            return ref
        # Like the CDN: one opaque, unique name per file of a post.
        token = hashlib.sha256(f"{key}/{ref.name}".encode()).hexdigest()
        name = f"{token[:40]}{ref.suffix.lower() or '.jpg'}"
        self.files[name] = ref
        return name

    def _generate(self, suffix: str, key: str) -> str:
        token = hashlib.sha256(key.encode()).hexdigest()
        # Video and voice files have short names on the CDN (``fed01155c6.mp4``).
        name = f"{token[:10] if suffix in ('.mp4', '.ogg') else token[:40]}{suffix}"
        self.files[name] = asset_path(suffix)
        return name

    def _resolve(self, obj, key: str):
        """``obj`` with its file fields registered (Paths) or generated (None)."""
        changes = {}
        generated = getattr(obj, "generated", {})
        for name in getattr(obj, "file_fields", ()):
            value = getattr(obj, name)
            if value is not None:
                changes[name] = self._register(value, f"{key}/{name}")
            elif name in generated:
                changes[name] = self._generate(generated[name], f"{key}/{name}")
        return dataclasses.replace(obj, **changes) if changes else obj

    def add_post(
        self,
        channel: str,
        *,
        text: str | None = None,
        photos: Sequence[FileRef] = (),
        date: datetime | None = None,
        views: int | None = 1,
        edited: bool = False,
        forwarded_from: Forward | None = None,
        link_preview: LinkPreview | None = None,
        author: str | None = None,
        skip_ids: int = 0,
        text_links: Sequence[TextLink] = (),
        reply_to: int | None = None,
        media: Media | None = None,
        album: Sequence[Photo | Video] = (),
        service: Service | str | None = None,
    ) -> Post:
        """Append a post; ``skip_ids`` leaves a gap first (deleted posts).

        ``photos`` are new files (Path) or names already in ``files``: one is a photo
        post, several an album. ``album`` mixes photos and videos instead; ``media``
        is any other kind (video, sticker, poll, …); ``service`` (an action name or a
        ``Service``) makes a service message, which has no views. A ``title_changed``
        or ``photo_changed``/``photo_removed`` also changes the channel, as on
        Telegram; a ``pinned`` with ``pinned_id`` quotes that post's text.
        """
        ch = self.channel(channel)
        if ch is None:
            raise KeyError(f"unknown channel {channel!r}")
        if sum(bool(x) for x in (photos, album, media, service)) > 1:
            raise ValueError("a post has one of photos, album, media or service")
        if reply_to is not None and reply_to not in ch.posts:
            raise KeyError(f"no post {ch.username}/{reply_to} to reply to")
        for link in text_links:
            if link.label not in (text or ""):
                raise ValueError(f"text link label {link.label!r} is not in the text")
        post_id = ch.next_id + skip_ids
        last = max(ch.posts) if ch.posts else None
        if date is None:
            date = datetime.now(timezone.utc).replace(microsecond=0)
            if last is not None:  # ids increase with time, even within one second
                date = max(date, ch.posts[last].date)
        key = f"{ch.username}/{post_id}"
        if len(photos) > 1:
            album, photos = [Photo(p) for p in photos], ()
        items = [self._resolve(item, f"{key}/{i}") for i, item in enumerate(album)]
        post = Post(
            id=post_id,
            date=_as_utc(date),
            text=text,
            views=views,
            photos=[self._register(p, f"{key}/0") for p in photos]
            or [item.file for item in items if isinstance(item, Photo)],
            edited=edited,
            forwarded_from=forwarded_from,
            link_preview=self._resolve(link_preview, f"{key}/preview") if link_preview else None,
            author=author,
            text_links=list(text_links),
            reply_to=reply_to,
            media=self._resolve(media, f"{key}/media") if media is not None else None,
            album=items,
        )
        if service is not None:
            self._apply_service(ch, post, service)
        ch.posts[post_id] = post
        ch.next_id = post_id + max(1, len(items))  # album members use ids too
        return post

    def _apply_service(self, ch: Channel, post: Post, service: Service | str) -> None:
        service = Service(service) if isinstance(service, str) else service
        if service.action not in SERVICE_ACTIONS:
            raise ValueError(f"unknown service action {service.action!r}")
        if service.action == "title_changed":
            if not service.title:
                raise ValueError("title_changed needs the new title")
            ch.title = service.title
            for earlier in ch.posts.values():  # pins name the channel as it is called now
                if earlier.service is not None and earlier.service.action == "pinned":
                    earlier.text = service_text(ch.title, earlier.service)
        elif service.action == "photo_changed":
            if service.photo is None:
                raise ValueError("photo_changed needs the new photo")
            service = self._resolve(service, f"{ch.username}/{post.id}/service")
            ch.photo = service.photo
        elif service.action == "photo_removed":
            ch.photo = None
        elif service.action == "pinned" and service.pinned_text is None:
            pinned = ch.posts.get(service.pinned_id) if service.pinned_id else None
            if pinned is None or not pinned.text:
                raise ValueError("pinned needs pinned_text or the id of a post with text")
            service = dataclasses.replace(service, pinned_text=pinned.text)
        post.service = service
        post.views = None  # service messages show no views
        post.text = service_text(ch.title, service)


def build_demo_corpus(
    photos: list[Path],
    *,
    seed: int = 7,
    posts_per_channel: int = 240,
    days: int = 30,
    now: datetime | None = None,
) -> Corpus:
    """The seeded demo corpus; see ``telegram_demo.build_demo_corpus``."""
    from databox.replica.telegram_demo import build_demo_corpus as build

    return build(photos, seed=seed, posts_per_channel=posts_per_channel, days=days, now=now)
