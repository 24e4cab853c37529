"""The visual media of a t.me/s post in the real page's markup: single photos,
albums (grouped photos and videos), videos, GIFs and round videos, plus the helpers
every media block shares (``Ctx``, number and duration formats). The other kinds
are in ``telegram_html_cards``."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from databox.replica.telegram_html_text import attr
from databox.replica.telegram_model import Gif, Photo, RoundVideo, Video


@dataclass
class Ctx:
    """What a block needs: the post's permalink and how to turn file names into URLs."""

    username: str
    post_id: int
    base_url: str

    @property
    def permalink(self) -> str:
        return f"https://t.me/{self.username}/{self.post_id}"

    def url(self, name: str, *, token: bool = False) -> str:
        # Video and voice URLs carry a ?token= on the CDN; photos and stickers here don't.
        suffix = ""
        if token:
            digest = hashlib.sha256(f"{self.username}/{name}".encode()).digest()
            suffix = "?token=" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return attr(f"{self.base_url}/file/{name}{suffix}")


def php_float(value: float) -> str:
    """Numbers the way the preview's PHP prints them (14 significant digits)."""
    return f"{value:.14G}"


def duration(seconds: int) -> str:
    """``0:42``; ``1:02:03`` from an hour on."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_size(size: int) -> str:
    """``113.9 KB``, ``1.2 MB``, ``50 MB``: one decimal, dropped when whole (unverified
    on a real page; hand-written fixtures use this form)."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}"


def shape(name: str) -> tuple[int, int]:
    """A photo's width and height: not read from the file, but fixed per name."""
    return ((800, 600), (800, 800), (600, 800), (800, 533))[hashlib.sha256(name.encode()).digest()[0] % 4]  # fmt: skip


_NOT_SUPPORTED = (
    '<div class="message_media_not_supported_wrap">\n'
    '  <div class="message_media_not_supported">\n'
    '    <div class="message_media_not_supported_label">This media is not supported in your browser</div>\n'
    '    <span class="message_media_view_in_telegram">VIEW IN TELEGRAM</span>\n'
    "  </div>\n"
    "</div>"
)


def _box(label: str, href: str, extra_class: str = "", *, compact: bool = True) -> str:
    """The not-supported box with a real VIEW IN TELEGRAM link (stickers, round videos,
    whole unsupported posts)."""
    inner = (
        f'<div class="message_media_not_supported"><div class="message_media_not_supported_label">'
        f'{label}</div><a href="{href}" class="message_media_view_in_telegram">VIEW IN TELEGRAM</a></div>'
    )
    if not compact:  # §20: newline + 2/4-space indentation inside the wrap
        inner = (
            f'\n  <div class="message_media_not_supported">\n    <div class="message_media_not_supported_label">'
            f'{label}</div>\n    <a href="{href}" class="message_media_view_in_telegram">VIEW IN TELEGRAM</a>\n  </div>\n'
        )
    return f'<div class="message_media_not_supported_wrap{extra_class}">{inner}</div>'


def photo(ctx: Ctx, name: str) -> str:
    """Single photo (§6): two opaque numeric classes; ``blured`` for portrait photos."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    ids = f"{int(digest[:16], 16) % 10**19} {int(digest[16:24], 16) % 10**10}_{int(digest[24:32], 16) % 10**9}"
    width, height = shape(name)
    if height > width:
        outer, inner = (
            f"width:{width * 600 // height}px",
            f"width:{php_float(width / height * 100)}%;",
        )
        ids = f"blured {ids}"
    else:
        outer, inner = "width:800px", ""
    return (
        f'<a class="tgme_widget_message_photo_wrap {ids}" href="{ctx.permalink}" '
        f"style=\"{outer};background-image:url('{ctx.url(name)}')\">\n"
        f'  <div class="tgme_widget_message_photo" style="{inner}padding-top:{php_float(height / width * 100)}%"></div>\n'
        "</a>"
    )


def _video_src(ctx: Ctx, video: Video) -> str:
    return (
        f'<video src="{ctx.url(video.file, token=True)}" class="tgme_widget_message_video js-message_video" '
        'width="100%" height="100%"></video>'
    )


def video(ctx: Ctx, media: Video) -> str:
    """Video player (§8, S3 2026 whitespace); portrait videos add a blurred backdrop."""
    portrait = media.height > media.width
    backdrop = (
        f'<video src="{ctx.url(media.file, token=True)}" class="tgme_widget_message_video blured '
        'js-message_video_blured" width="100%" height="100%" muted></video>\n'
        if portrait
        else ""
    )
    return (
        f'<a class="tgme_widget_message_video_player{" blured" if portrait else ""} js-message_video_player" '
        f'href="{ctx.permalink}"><i class="tgme_widget_message_video_thumb" style="background-image:url(\'{ctx.url(media.thumb)}\')"></i>\n'
        f"\n{backdrop}"
        f'<div class="tgme_widget_message_video_wrap" style="width:{media.width}px;padding-top:{php_float(media.height / media.width * 100)}%">\n'
        f"  {_video_src(ctx, media)}\n"
        "</div>\n"
        '<div class="message_video_play js-message_video_play"></div>\n'
        f'<time class="message_video_duration js-message_video_duration">{duration(media.duration)}</time>\n'
        f"{_NOT_SUPPORTED}</a>"
    )


def gif(ctx: Ctx, media: Gif) -> str:
    """Animation (§9): the video player without play button and duration, autoplaying."""
    return (
        f'<a class="tgme_widget_message_video_player js-message_video_player" href="{ctx.permalink}"><i class="tgme_widget_message_video_thumb" style="background-image:url(\'{ctx.url(media.thumb)}\')"></i>\n'
        "\n"
        f'<div class="tgme_widget_message_video_wrap" style="width:{media.width}px;padding-top:{php_float(media.height / media.width * 100)}%">\n'
        f'  <video src="{ctx.url(media.file, token=True)}" class="tgme_widget_message_video js-message_video" width="100%" height="100%" preload muted autoplay loop playsinline></video>\n'
        "</div>\n"
        "\n"
        f"{_NOT_SUPPORTED}</a>"
    )


def round_video(ctx: Ctx, media: RoundVideo) -> str:
    """Video note (§10); the message div gets ``roundvideo_media no_bubble``."""
    return (
        '<div class="tgme_widget_message_roundvideo_player js-message_roundvideo_player"><div class="tgme_widget_message_roundvideo_wrap">'
        f'<i class="tgme_widget_message_roundvideo_thumb" style="background-image:url(\'{ctx.url(media.thumb)}\')"></i>'
        f'<video class="tgme_widget_message_roundvideo js-message_roundvideo" src="{ctx.url(media.file, token=True)}" width="100%" height="100%" preload muted autoplay loop playsinline></video>'
        '<div class="tgme_widget_message_roundvideo_muted"></div><div class="tgme_widget_message_roundvideo_border"></div></div>'
        + _box(
            "This media is not supported in your browser",
            ctx.permalink,
            " js-message_roundvideo_not_supported",
        )
        + '<svg class="tgme_widget_message_roundvideo_progress_wrap" viewPort="0 0 256 256"><circle class="tgme_widget_message_roundvideo_progress js-message_roundvideo_progress" r="126.5" cx="50%" cy="50%" fill="transparent" stroke-dasharray="794.82294135822" stroke-dashoffset="0" data-rd="3"></circle></svg>'
        '<div class="tgme_widget_message_roundvideo_play js-message_roundvideo_play"></div>'
        f'<time class="tgme_widget_message_roundvideo_duration js-message_roundvideo_duration">{duration(media.duration)}</time></div>'
    )


def album_item(
    ctx: Ctx, item: Photo | Video, index: int, box: tuple[int, int, int, int, int, int]
) -> str:
    """One grouped item (§7): its own ``?single`` link to id + index."""
    left, top, width, height, right, bottom = box
    place = f"left:{left}px;top:{top}px;width:{width}px;height:{height}px;margin-right:{right}px;margin-bottom:{bottom}px;"
    href = f"https://t.me/{ctx.username}/{ctx.post_id + index}?single"
    if isinstance(item, Photo):
        w, h = shape(item.file)
        return (
            f'<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" style="{place}background-image:url(\'{ctx.url(item.file)}\')" '
            f'data-ratio="{php_float(w / h)}" href="{href}"><div class="grouped_media_helper" style="top:0;bottom:0;left:0px;right:0px;">'
            '<div class="tgme_widget_message_photo grouped_media" style="left:0;right:0;top:0px;bottom:0px;"></div></div></a>'
        )
    return (
        f'<a class="tgme_widget_message_video_player grouped_media_wrap blured js-message_video_player" style="{place}" '
        f'data-ratio="{php_float(item.width / item.height)}" href="{href}"><i class="tgme_widget_message_video_thumb" style="background-image:url(\'{ctx.url(item.thumb)}\')"></i>'
        f'<div class="tgme_widget_message_video_wrap grouped_media js-message_video_wrap" style="left:0;right:0;top:0px;bottom:0px;">{_video_src(ctx, item)}</div>'
        '<div class="message_video_play js-message_video_play"></div>'
        f'<time class="message_video_duration js-message_video_duration">{duration(item.duration)}</time>'
        f"{_NOT_SUPPORTED.replace(chr(10), '').replace('  ', '')}</a>"
    )


def album(ctx: Ctx, items: list[Photo | Video]) -> str:
    """Grouped media (§7): an odd item first across the whole width, then pairs."""
    width, gap, boxes, top = 453, 2, [], 0
    rows = [items[:1]] if len(items) % 2 else []
    rows += [items[i : i + 2] for i in range(len(items) % 2, len(items), 2)]
    for r, row in enumerate(rows):
        height = 254 if len(row) == 1 else 220
        cell = (width - gap * (len(row) - 1)) // len(row)
        for c in range(len(row)):
            right = gap if c < len(row) - 1 else 0
            bottom = gap if r < len(rows) - 1 else 0
            boxes.append((c * (cell + gap), top, cell, height, right, bottom))
        top += height + gap
    total = top - gap
    inner = "".join(
        album_item(ctx, item, i, box)
        for i, (item, box) in enumerate(zip(items, boxes, strict=True))
    )
    return (
        f'<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap" data-margin-w="2" data-margin-h="2" style="width:{width}px;">'
        f'<div class="tgme_widget_message_grouped js-message_grouped" style="padding-top:{total / width * 100:.3f}%">'
        f'<div class="tgme_widget_message_grouped_layer js-message_grouped_layer" style="width:{width}px;height:{total}px">{inner}</div></div></div>'
    )
