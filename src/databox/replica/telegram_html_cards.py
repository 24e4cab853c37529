"""The non-visual media blocks of a t.me/s post in the real page's markup: voice
notes, audio, documents, stickers, polls, locations, venues, contacts and the
"Please open Telegram" box; ``media_block`` picks the block for ``Post.media``."""

from __future__ import annotations

import base64
import hashlib

from databox.replica.telegram_html_media import (
    Ctx,
    _box,
    duration,
    gif,
    human_size,
    php_float,
    round_video,
    video,
)
from databox.replica.telegram_html_text import attr, esc, rich
from databox.replica.telegram_model import (
    Audio,
    Contact,
    Document,
    Gif,
    Location,
    Poll,
    RoundVideo,
    Sticker,
    Unsupported,
    Venue,
    Video,
    Voice,
)


def voice(ctx: Ctx, media: Voice) -> str:
    """Voice note (§11): 100-value waveform, 60 bars drawn twice, ``data-ogg`` valueless."""
    digest = hashlib.shake_256(f"{ctx.username}/{ctx.post_id}".encode()).digest(80)
    wave = [0] * 10 + [b % 32 for b in digest] + [0] * 10
    bars = "".join(
        f'<s style="height:{php_float(round(wave[i * 100 // 60] / 31 * 100, 3))}%;"></s>'
        for i in range(60)
    )
    return (
        f'<a class="tgme_widget_message_voice_player js-message_voice_player" href="{ctx.permalink}">'
        f'<audio class="tgme_widget_message_voice js-message_voice" src="{ctx.url(media.file, token=True)}" data-ogg width="100%" data-waveform="{",".join(map(str, wave))}"></audio>'
        '<div class="tgme_widget_message_voice_play accent_bghover"></div><div class="tgme_widget_message_voice_wrap">'
        '<div class="tgme_widget_message_voice_progress_wrap js-message_voice_progress_wrap">'
        f'<div class="tgme_widget_message_voice_progress_bg"><div class="bar">{bars}</div></div>'
        f'<div class="tgme_widget_message_voice_progress js-message_voice_progress"><div class="bar">{bars}</div></div></div>'
        f'<time class="tgme_widget_message_voice_duration js-message_voice_duration">{duration(media.duration)}</time></div></a>'
    )


def _document(ctx: Ctx, icon: str, title: str, extra: str | None) -> str:
    extra_div = (
        f'<div class="tgme_widget_message_document_extra" dir="auto">{rich(extra)}</div>'
        if extra
        else ""
    )
    return (
        f'<a class="tgme_widget_message_document_wrap" href="{ctx.permalink}"><div class="{icon}"></div>'
        f'<div class="tgme_widget_message_document"><div class="tgme_widget_message_document_title accent_color" dir="auto">'
        f"{rich(title)}</div>{extra_div}</div></a>"
    )


# The sticker's placeholder outline (JS swaps in the real image) and TGS's blank <img>.
_OUTLINE = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512"><path fill="rgba(0,0,0,0.08)" '
    b'd="M256 32a224 224 0 1 0 0.1 0z"/></svg>'
).decode()
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def sticker(ctx: Ctx, media: Sticker) -> str:
    """Stickers (§14): the not-supported twin first, then the sticker. Static WEBP is
    REAL (S1); the TGS ``<picture>`` and WEBM ``js-videosticker`` are inferred from
    Telegram's CSS/JS; no saved page seen (and so is the twin for those two; the
    reconstruction's extra ``image/webp`` ``<source>`` is left out)."""
    pad = php_float(media.height / media.width * 100)
    url = ctx.url(media.file)
    if media.format == "webp":
        inner = (
            f'<i class="tgme_widget_message_sticker js-sticker_image" style="background-image:url(\'data:image/svg+xml;base64,{_OUTLINE}\');width:256px;" '
            f'data-webp="{url}"><div style="padding-top:{pad}%"></div></i>'
        )
    elif media.format == "tgs":
        inner = (
            '<picture class="tgme_widget_message_tgsticker js-tgsticker_image" style="width:256px;">'
            f'<div style="padding-top:{pad}%"></div><source type="application/x-tgsticker" srcset="{url}">'
            f'<img src="{_BLANK_GIF}"></picture>'
        )
    else:
        inner = (
            '<div class="tgme_widget_message_videosticker js-videosticker" style="width:256px;">'
            f'<div style="padding-top:{pad}%"></div><video class="js-videosticker_video" src="{url}" '
            'width="100%" height="100%" preload muted autoplay loop playsinline disablepictureinpicture></video></div>'
        )
    return (
        _box(
            "This media is not supported in your browser",
            ctx.permalink,
            " media_not_supported_cont",
        )
        + f'<div class="tgme_widget_message_sticker_wrap media_supported_cont">{inner}</div>'
    )


def poll_type(poll: Poll) -> str:
    """``Anonymous Quiz`` is REAL (S1), ``Anonymous Poll`` observed (S15). ``Quiz``,
    ``Public Poll`` and the closed ``· Final results`` suffix are inferred from
    Telegram's client wording; no saved page shows them."""
    kind = ("Quiz" if poll.public else "Anonymous Quiz") if poll.quiz else None
    kind = kind or ("Public Poll" if poll.public else "Anonymous Poll")
    return f"{kind} · Final results" if poll.closed else kind


def poll(ctx: Ctx, media: Poll) -> str:
    """Poll (§15, S1): two spaces before each option inside the options link."""
    options = "".join(
        '  <div class="tgme_widget_message_poll_option">'
        f'<div class="tgme_widget_message_poll_option_percent">{o.percent}%</div>'
        f'<div class="tgme_widget_message_poll_option_value"><div class="tgme_widget_message_poll_option_text">{rich(o.text)}</div>'
        f'<div class="tgme_widget_message_poll_option_bar accent_bg" style="width:{o.percent}%"></div></div></div>'
        for o in media.options
    )
    return (
        f'<div class="tgme_widget_message_poll js-poll"><div class="tgme_widget_message_poll_question">{rich(media.question)}</div>'
        f'<div class="tgme_widget_message_poll_type">{poll_type(media)}</div>'
        f'<a class="tgme_widget_message_poll_options" href="{ctx.permalink}">{options}</a></div>'
    )


def _map(latitude: float, longitude: float) -> tuple[str, str]:
    """Google Maps link (lat,lon) and Yandex static map (lon,lat), as on S1's pages."""
    lat, lon = php_float(latitude), php_float(longitude)
    link = f"https://maps.google.com/maps?q={lat},{lon}&ll={lat},{lon}&z=16"
    image = (
        f"https://static-maps.yandex.ru/1.x/?l=map&ll={lon},{lat}&z=15&size=600,300&scale=1.5"
        f"&pt={lon},{lat},comma&lang=en_US"
    )
    return attr(link), attr(image)


def location(ctx: Ctx, media: Location | Venue) -> str:
    """Map pin (§16, REAL); a venue adds title and address (§17: class names from
    Telegram's CSS; nesting and the Foursquare href inferred from Telegram's CSS/JS
    and a hand-written fixture; no saved page seen). Google/Yandex URLs carry ``&amp;``
    (S1's copy shows a raw ``&``; both parse to the same URL)."""
    link, image = _map(media.latitude, media.longitude)
    info = ""
    if isinstance(media, Venue):
        if media.foursquare_id:
            link = f"https://foursquare.com/v/{attr(media.foursquare_id)}"
        info = (
            f'<div class="tgme_widget_message_location_info"><div class="tgme_widget_message_location_title" dir="auto">'
            f'{rich(media.title)}</div><div class="tgme_widget_message_location_address" dir="auto">{rich(media.address)}</div></div>'
        )
    return (
        f'<a class="tgme_widget_message_location_wrap" href="{link}"><div class="tgme_widget_message_location" '
        f"style=\"background-image:url('{image}')\"></div>{info}</a>"
    )


def contact(ctx: Ctx, media: Contact) -> str:
    """Contact card: inferred from Telegram's CSS/JS; no saved page seen (§19)."""
    initials = "".join(word[0] for word in media.name.split()[:2]).upper()
    img = f'<img src="{ctx.url(media.photo)}">' if media.photo else ""
    color = hashlib.sha256(media.name.encode()).digest()[0] % 7
    return (
        f'<a class="tgme_widget_message_contact_wrap" href="{ctx.permalink}"><i class="tgme_widget_message_user_photo bgcolor{color}" '
        f'data-content="{esc(initials)}">{img}</i><div class="tgme_widget_message_contact">'
        f'<div class="tgme_widget_message_contact_name" dir="auto">{rich(media.name)}</div>'
        f'<div class="tgme_widget_message_contact_phone">{esc(media.phone)}</div></div></a>'
    )


def unsupported(ctx: Ctx) -> str:
    """A post the preview cannot show at all (§20.3): inferred from Telegram's CSS/JS;
    no saved page seen (hand-written fixtures and RSSHub agree on this box)."""
    return _box("Please open Telegram to view this post", ctx.permalink, compact=False)


def media_block(ctx: Ctx, media) -> str:
    """The block for ``Post.media``."""
    if isinstance(media, Video):
        return video(ctx, media)
    if isinstance(media, Gif):
        return gif(ctx, media)
    if isinstance(media, RoundVideo):
        return round_video(ctx, media)
    if isinstance(media, Voice):
        return voice(ctx, media)
    if isinstance(media, Audio):  # §12: a document with the ``audio`` icon, no duration
        return _document(
            ctx, "tgme_widget_message_document_icon accent_bg audio", media.title, media.performer
        )
    if isinstance(media, Document):
        return _document(
            ctx,
            "tgme_widget_message_document_icon accent_bg",
            media.file_name,
            human_size(media.size),
        )
    if isinstance(media, Sticker):
        return sticker(ctx, media)
    if isinstance(media, Poll):
        return poll(ctx, media)
    if isinstance(media, (Location, Venue)):
        return location(ctx, media)
    if isinstance(media, Contact):
        return contact(ctx, media)
    if isinstance(media, Unsupported):
        return unsupported(ctx)
    raise TypeError(f"no markup for {type(media).__name__}")
