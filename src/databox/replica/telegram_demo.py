"""The seeded demo corpus: three pharmacy/cosmetics channels as varied as real ones."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from databox.replica.telegram_corpus import (
    DEMO_CHANNELS,
    NO_PREVIEW_CHANNEL,
    Audio,
    Contact,
    Corpus,
    Document,
    Gif,
    LinkPreview,
    Location,
    Photo,
    Poll,
    PollOption,
    RoundVideo,
    Service,
    Sticker,
    TextLink,
    Unsupported,
    Venue,
    Video,
    Voice,
    _as_utc,
)
from databox.replica.telegram_demo_text import (
    FORMER_TITLES,
    FORWARDS,
    PREVIEWS,
    SIGNERS,
    demo_text,
    phone,
)

#: Kinds every channel gets at least once, then kinds spread over the three channels
#: (so the corpus as a whole has each), then the weights of the rest.
_CORE = ("photo", "album", "text", "list", "link", "forward")
_SHARED = ("album_mixed", "video", "gif", "audio", "document")
_EXOTIC = (
    "poll", "quiz", "sticker_webp", "sticker_tgs", "sticker_webm", "voice",
    "round_video", "location", "venue", "contact", "unsupported",
)  # fmt: skip
_REGULAR_WEIGHTS = {
    "photo": 45, "album": 21, "album_mixed": 3, "text": 10, "list": 6, "link": 7,
    "forward": 5, "video": 2, "gif": 1, "audio": 1, "document": 1,
}  # fmt: skip
_EXOTIC_WEIGHTS = (3, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1)
#: Service messages after "Channel created", in the order a channel has them.
_SERVICE_PLAN = (
    "pinned", "title_changed", "photo_changed", "pinned", "title_changed",
    "photo_removed", "photo_changed", "pinned", "title_changed", "pinned",
)  # fmt: skip


def _plan(rng: random.Random, index: int, n_regular: int) -> list[str]:
    """``n_regular`` post kinds: about 1 in 8 exotic (poll, sticker, voice, round
    video, location/venue, contact, unsupported), the rest photos, albums and text."""
    base = list(_CORE) + list(_SHARED[index::3])
    exotic = list(_EXOTIC[index::3])
    more_exotic = max(0, round(n_regular / 8) - len(exotic))
    exotic += rng.choices(_EXOTIC, weights=_EXOTIC_WEIGHTS, k=more_exotic)
    rest = max(0, n_regular - len(base) - len(exotic))
    kinds = (base + exotic + rng.choices(list(_REGULAR_WEIGHTS), list(_REGULAR_WEIGHTS.values()), k=rest))[:n_regular]  # fmt: skip
    rng.shuffle(kinds)
    return kinds


def _percents(rng: random.Random, n: int) -> list[int]:
    cuts = sorted(rng.sample(range(1, 100), n - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]


def _media_kwargs(rng: random.Random, kind: str, photos: list[Path]) -> dict:
    """``add_post`` arguments for the media of a post of ``kind``."""
    pick = rng.choice
    if kind == "photo":
        return {"photos": [pick(photos)]}
    if kind == "album":
        return {"photos": [pick(photos) for _ in range(rng.randint(2, 4))]}
    if kind == "album_mixed":
        items: list[Photo | Video] = [Photo(pick(photos)) for _ in range(rng.randint(2, 4))]
        items[rng.randrange(1, len(items))] = Video(pick(photos), rng.randint(4, 95))
        return {"album": items}
    if kind == "video":
        size = pick(((1280, 720), (720, 1280), (1080, 1080)))
        return {"media": Video(pick(photos), rng.randint(6, 420), None, *size)}
    if kind == "gif":
        return {"media": Gif(pick(photos))}
    if kind == "round_video":
        return {"media": RoundVideo(pick(photos), rng.randint(3, 59))}
    if kind == "voice":
        return {"media": Voice(rng.randint(2, 180))}
    if kind == "audio":
        track = pick((("Morning routine", "Dr. Selam"), ("Pharmacy jingle", None)))
        return {"media": Audio(*track, rng.randint(60, 400))}
    if kind == "document":
        name = pick(("price_list.pdf", "stock_march.xlsx", "EFDA_recall_notice.pdf"))
        return {"media": Document(name, rng.randint(20_000, 9_000_000))}
    if kind.startswith("sticker_"):
        return {"media": Sticker(kind.removeprefix("sticker_"))}
    if kind in ("poll", "quiz"):
        question, options = pick(
            (
                ("Which vitamin do you take?", ["Vitamin C", "Vitamin D", "Zinc", "None"]),
                ("When should we open on Sundays?", ["9:00", "10:00", "Closed"]),
                ("Paracetamol max daily dose for adults?", ["2 g", "4 g", "8 g"]),
            )
        )
        percents = _percents(rng, len(options))
        return {
            "media": Poll(
                question,
                [PollOption(o, p) for o, p in zip(options, percents, strict=True)],
                voters=rng.randint(0, 3000),
                quiz=kind == "quiz",
                closed=rng.random() < 0.3,
                public=rng.random() < 0.2,
            )
        }
    if kind == "contact":
        return {"media": Contact(pick(("Hana Tesfaye", "Dawit Bekele")), "+251 9" + phone(rng)[2:])}
    if kind == "unsupported":
        return {"media": Unsupported()}
    if kind not in ("location", "venue"):
        return {}  # text, list, link, forward: no media
    lat, lon = 9.0 + rng.uniform(-0.06, 0.06), 38.76 + rng.uniform(-0.06, 0.06)
    if kind == "location":
        return {"media": Location(round(lat, 6), round(lon, 6))}
    fsq = f"{rng.getrandbits(96):024x}" if rng.random() < 0.5 else None
    title = pick(("Bole Pharmacy", "Lobelia cosmetics shop", "Kenema Pharmacy No. 4"))
    return {"media": Venue(round(lat, 6), round(lon, 6), title, "Bole Road, Addis Ababa", fsq)}


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
    today's midnight UTC, so the corpus is the same all day. Each channel has exactly
    ``posts_per_channel`` posts, ids growing with time:

    * the first is the "Channel created" service message (the channel's first id);
      then one service message per 30 posts: pins of earlier posts, title changes
      (ending at the channel's current title), photo changes, one photo removal;
    * about 1 post in 8 of the rest is a poll or quiz (some closed or public), a
      sticker (webp, tgs or webm), a voice note, a round video, a location or venue,
      a contact or an unsupported post;
    * the rest: single photos (some without caption), albums of 2-4 photos (a few
      mixing in a video; member ids id..id+n-1), text and price lists, link
      previews (multi-line descriptions, large or right images), forwards (from
      channels with a link, some signed, from a hidden user without), videos, GIFs,
      audio and documents. Every kind occurs in the corpus when each channel has
      at least 20 posts; core kinds (photo, album, text, list, link, forward) in
      every channel;
    * texts carry bare URLs, text links, @mentions, #hashtags and e-mails; about 1
      in 10 text or photo posts replies to an earlier post; 12% are edited,
      ``tikvahpharma`` signs 30%; views from hundreds to tens of K, two viral (≥ 1M)
      per channel; 8% leave an id gap (deleted posts).
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
    for index, (username, title, first_id, subscribers) in enumerate(DEMO_CHANNELS):
        services = list(_SERVICE_PLAN[: max(0, posts_per_channel - 1) // 30])
        titles = (*FORMER_TITLES[username], title)
        corpus.add_channel(
            username,
            titles[-1 - services.count("title_changed")],
            first_id=first_id,
            subscribers=subscribers,
            description=f"{title}: medicines, cosmetics and health tips. 📞 {phone(rng)}",
            photo=rng.choice(photos),
            color=(None, 5, 12)[index],
        )
        regular = _plan(rng, index, max(0, posts_per_channel - 1 - len(services)))
        kinds = list(regular)
        at = sorted(rng.sample(range(3, len(kinds) + 1), len(services)))
        for shift, (position, action) in enumerate(zip(at, services, strict=True)):
            kinds.insert(position + shift, action)  # in the plan's order
        times = sorted(start + timedelta(seconds=rng.randint(60, span)) for _ in kinds)
        regular_at = [i for i, kind in enumerate(kinds) if kind not in _SERVICE_PLAN]
        viral = set(rng.sample(regular_at, k=min(2, len(regular_at))))
        corpus.add_post(username, service="channel_created", date=start)
        titles_left = list(titles[len(titles) - services.count("title_changed") :])
        texted: list[int] = []  # ids of posts with text, for pins and replies
        for i, (kind, when) in enumerate(zip(kinds, times, strict=True)):
            if kind in _SERVICE_PLAN:
                service = Service(kind)
                if kind == "title_changed":
                    service.title = titles_left.pop(0)
                elif kind == "photo_changed":
                    service.photo = rng.choice(photos)
                elif kind == "pinned":
                    service.pinned_id = rng.choice(texted) if texted else None
                    service.pinned_text = None if texted else "Welcome! Price list below 👇"
                corpus.add_post(username, service=service, date=when)
                continue
            text, links = demo_text(rng, kind, username)
            preview = None
            if kind == "link":
                url, site, headline, description = rng.choice(PREVIEWS)
                image = rng.choice(photos) if rng.random() < 0.7 else None
                preview = LinkPreview(url, site, headline, description, image, rng.random() < 0.5)
                text = f"{text}\n{url}"
            if i in viral:
                views = rng.randint(1_000_000, 2_400_000)
            elif rng.random() < 0.6:
                views = rng.randint(120, 999)
            else:
                views = rng.randint(1_000, 48_000)
            replies = kind in ("text", "list", "photo") and len(texted) > 3 and rng.random() < 0.1
            post = corpus.add_post(
                username,
                text=text,
                date=when,
                views=views,
                edited=rng.random() < 0.12,
                forwarded_from=rng.choice(FORWARDS) if kind == "forward" else None,
                link_preview=preview,
                author=rng.choice(SIGNERS)
                if username == "tikvahpharma" and rng.random() < 0.3
                else None,
                skip_ids=rng.choice((1, 2, 3)) if rng.random() < 0.08 else 0,
                text_links=[TextLink(label, url) for label, url in links],
                reply_to=rng.choice(texted[-15:]) if replies else None,
                **_media_kwargs(rng, kind, photos),
            )
            if post.text:
                texted.append(post.id)
    private = corpus.add_channel(
        NO_PREVIEW_CHANNEL, "Private Pharma", first_id=500, subscribers=312, has_preview=False
    )
    corpus.add_post(private.username, text="Members only price list", date=start, views=40)
    # Photos first, as the CDN's oldest files: callers take ``next(iter(files))`` as a photo.
    corpus.files = dict(
        sorted(corpus.files.items(), key=lambda kv: kv[1].suffix.lower() not in (".jpg", ".jpeg"))
    )
    return corpus
