"""What a t.me replica post can be: every kind Telegram's web preview shows.

Files are named by what ``Corpus.files`` serves at ``/file/<name>``; before a post is
added, any file field may also be a ``Path`` (registered under a new CDN-like name).
A media field left ``None`` where the page needs a URL (a video's ``file``, a
sticker's ``file``) gets a tiny generated file (``telegram_assets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

FileRef = Path | str


@dataclass
class Forward:
    """``Forwarded from <name>``; ``url`` is None for a sender who hides their account
    (the page then shows the name without a link). ``author`` is the original post's
    signature, shown in brackets after the channel's name."""

    name: str
    url: str | None = None
    author: str | None = None


@dataclass
class LinkPreview:
    """The card under a post's text. ``description`` keeps its line breaks (the page
    shows them as ``<br/>``); ``image`` is a file, shown large under the site name or,
    with ``large_image=False``, small at the right."""

    url: str
    site_name: str | None = None
    title: str | None = None
    description: str | None = None
    image: FileRef | None = None
    large_image: bool = True

    file_fields: ClassVar[tuple[str, ...]] = ("image",)


@dataclass
class TextLink:
    """Link text that is not the URL itself (``label`` must occur in the post text)."""

    label: str
    url: str


SERVICE_ACTIONS = ("channel_created", "title_changed", "photo_changed", "photo_removed", "pinned")


@dataclass
class Service:
    """A service message: ``channel_created``; ``title_changed`` to ``title``;
    ``photo_changed`` to ``photo``; ``photo_removed``; ``pinned`` (``pinned_id``, the
    pinned post, is known to the corpus but never shown; ``pinned_text`` is)."""

    action: str
    title: str | None = None
    photo: FileRef | None = None
    pinned_id: int | None = None
    pinned_text: str | None = None

    file_fields: ClassVar[tuple[str, ...]] = ("photo",)


# -- media -------------------------------------------------------------------------------


@dataclass
class Photo:
    """An album item (single-photo posts use ``Post.photos``)."""

    file: FileRef
    kind: ClassVar[str] = "photo"
    file_fields: ClassVar[tuple[str, ...]] = ("file",)


@dataclass
class Video:
    thumb: FileRef
    duration: int
    file: FileRef | None = None
    width: int = 1280
    height: int = 720
    kind: ClassVar[str] = "video"
    file_fields: ClassVar[tuple[str, ...]] = ("thumb", "file")
    generated: ClassVar[dict[str, str]] = {"file": ".mp4"}


@dataclass
class Gif:
    """An animation: a muted, looping video without play button or duration."""

    thumb: FileRef
    file: FileRef | None = None
    width: int = 480
    height: int = 480
    kind: ClassVar[str] = "gif"
    file_fields: ClassVar[tuple[str, ...]] = ("thumb", "file")
    generated: ClassVar[dict[str, str]] = {"file": ".mp4"}


@dataclass
class RoundVideo:
    thumb: FileRef
    duration: int
    file: FileRef | None = None
    kind: ClassVar[str] = "round_video"
    file_fields: ClassVar[tuple[str, ...]] = ("thumb", "file")
    generated: ClassVar[dict[str, str]] = {"file": ".mp4"}


@dataclass
class Voice:
    duration: int
    file: FileRef | None = None
    kind: ClassVar[str] = "voice"
    file_fields: ClassVar[tuple[str, ...]] = ("file",)
    generated: ClassVar[dict[str, str]] = {"file": ".ogg"}


@dataclass
class Audio:
    """A music file. The preview shows title and performer only: ``duration`` is known
    to the corpus but, as on the real page, not rendered."""

    title: str
    performer: str | None = None
    duration: int = 0
    kind: ClassVar[str] = "audio"


@dataclass
class Document:
    """A file; the page shows its name and the rounded size (``1.2 MB``)."""

    file_name: str
    size: int
    kind: ClassVar[str] = "document"


STICKER_FORMATS = {"webp": ".webp", "tgs": ".tgs", "webm": ".webm"}


@dataclass
class Sticker:
    """``format``: ``webp`` (static), ``tgs`` (animated) or ``webm`` (video)."""

    format: str = "webp"
    file: FileRef | None = None
    width: int = 512
    height: int = 512
    kind: ClassVar[str] = "sticker"
    file_fields: ClassVar[tuple[str, ...]] = ("file",)

    @property
    def generated(self) -> dict[str, str]:
        return {"file": STICKER_FORMATS[self.format]}


@dataclass
class PollOption:
    text: str
    percent: int


@dataclass
class Poll:
    question: str
    options: list[PollOption]
    voters: int = 0
    quiz: bool = False
    closed: bool = False
    #: Voters are shown to everyone (not anonymous).
    public: bool = False
    kind: ClassVar[str] = "poll"


@dataclass
class Location:
    latitude: float
    longitude: float
    kind: ClassVar[str] = "location"


@dataclass
class Venue:
    latitude: float
    longitude: float
    title: str
    address: str
    foursquare_id: str | None = None
    kind: ClassVar[str] = "venue"


@dataclass
class Contact:
    name: str
    phone: str
    photo: FileRef | None = None
    kind: ClassVar[str] = "contact"
    file_fields: ClassVar[tuple[str, ...]] = ("photo",)


@dataclass
class Unsupported:
    """Media the preview cannot show (games, invoices, giveaways, stories, …)."""

    kind: ClassVar[str] = "unsupported"


Media = (
    Video | Gif | RoundVideo | Voice | Audio | Document | Sticker | Poll | Location | Venue
) | (Contact | Unsupported)


# -- posts and channels ------------------------------------------------------------------


@dataclass
class Post:
    """One post as the preview shows it. An album is one post whose ``album`` holds
    several items (``photos`` lists its photo files); on Telegram each album member
    has its own id, so an album of n items uses ids ``id .. id+n-1`` and the preview
    shows it under the first."""

    id: int
    date: datetime
    #: The text the page shows (for a service message: its plain service text).
    text: str | None = None
    views: int | None = None
    #: Names of the photo files in ``Corpus.files`` (served at ``/file/<name>``).
    photos: list[str] = field(default_factory=list)
    edited: bool = False
    forwarded_from: Forward | None = None
    link_preview: LinkPreview | None = None
    #: Signature of a channel that signs its posts.
    author: str | None = None
    text_links: list[TextLink] = field(default_factory=list)
    #: Id of an earlier post of the same channel this one replies to.
    reply_to: int | None = None
    media: Media | None = None
    album: list[Photo | Video] = field(default_factory=list)
    service: Service | None = None

    @property
    def kind(self) -> str:
        if self.service is not None:
            return "service"
        if self.album:
            return "album"
        if self.photos:
            return "photo"
        if self.media is not None:
            return self.media.kind
        return "text"

    @property
    def ids(self) -> range:
        """Every id the post occupies (album members)."""
        return range(self.id, self.id + max(1, len(self.album)))


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
    #: The channel photo (a file name), or None for initials only.
    photo: str | None = None
    #: Telegram's accent colour class ``user-color-N`` on every post, if the channel has one.
    color: int | None = None

    def sorted_posts(self) -> list[Post]:
        return [self.posts[k] for k in sorted(self.posts)]
