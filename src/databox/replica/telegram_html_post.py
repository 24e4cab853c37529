"""One t.me/s post in the real preview's markup: the message div and its class list,
the bubble (tail, author, forward, reply, media, text, link preview) and the footer,
with the nesting and whitespace of the saved real pages (media blocks in
``telegram_html_media``)."""

from __future__ import annotations

import base64
import hashlib
import json

from databox.replica.telegram_corpus import Channel, Post, snippet
from databox.replica.telegram_html_cards import media_block
from databox.replica.telegram_html_media import Ctx, album, photo
from databox.replica.telegram_html_text import attr, esc, render_text, rich
from databox.replica.telegram_model import Gif, RoundVideo, Sticker, Video, Voice

__all__ = ["format_views", "render_post", "render_text"]


def format_views(views: int) -> str:
    """The preview's abbreviation: 845, 1.2K, 17.8K, 620K, 1.01M, 24M: at most three
    significant digits (truncated), trailing zeros dropped."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if views >= limit:
            whole = views // limit
            decimals = max(0, 3 - len(str(whole)))
            scaled = views * 10**decimals // limit
            text = (
                f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"
                if decimals
                else str(scaled)
            )
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return str(views)


def _channel_id(username: str) -> int:
    return -(
        1_000_000_000 + int(hashlib.sha256(username.lower().encode()).hexdigest()[:8], 16) % 10**9
    )


def _data_view(channel: Channel, post: Post, rendered_at: int) -> str:
    """base64url (no padding) of {"c":<channel id>,"p":<id or "<id>g">,"t":<page time>,"h":<18 hex>}."""
    view = {
        "c": _channel_id(channel.username),
        "p": f"{post.id}g" if post.album else post.id,
        "t": rendered_at,
        "h": hashlib.sha256(f"{channel.username}/{post.id}/{rendered_at}".encode()).hexdigest()[
            :18
        ],
    }
    return (
        base64.urlsafe_b64encode(json.dumps(view, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def _bgcolor(channel: Channel) -> int:
    return hashlib.sha256(channel.username.encode()).digest()[0] % 7


def _avatar(channel: Channel, base_url: str) -> str:
    return f'<img src="{attr(f"{base_url}/file/{channel.photo}")}">' if channel.photo else ""


_TAIL = """        <i class="tgme_widget_message_bubble_tail">
      <svg class="bubble_icon" width="9px" height="20px" viewBox="0 0 9 20">
        <g fill="none">
          <path class="background" fill="#ffffff" d="M8,1 L9,1 L9,20 L8,20 L8,18 C7.807,15.161 7.124,12.233 5.950,9.218 C5.046,6.893 3.504,4.733 1.325,2.738 L1.325,2.738 C0.917,2.365 0.89,1.732 1.263,1.325 C1.452,1.118 1.72,1 2,1 L8,1 Z"></path>
          <path class="border_1x" fill="#d7e3ec" d="M9,1 L2,1 C1.72,1 1.452,1.118 1.263,1.325 C0.89,1.732 0.917,2.365 1.325,2.738 C3.504,4.733 5.046,6.893 5.95,9.218 C7.124,12.233 7.807,15.161 8,18 L8,20 L9,20 L9,1 Z M2,0 L9,0 L9,20 L7,20 L7,20 L7.002,18.068 C6.816,15.333 6.156,12.504 5.018,9.58 C4.172,7.406 2.72,5.371 0.649,3.475 C-0.165,2.729 -0.221,1.464 0.525,0.649 C0.904,0.236 1.439,0 2,0 Z"></path>
          <path class="border_2x" d="M9,1 L2,1 C1.72,1 1.452,1.118 1.263,1.325 C0.89,1.732 0.917,2.365 1.325,2.738 C3.504,4.733 5.046,6.893 5.95,9.218 C7.124,12.233 7.807,15.161 8,18 L8,20 L9,20 L9,1 Z M2,0.5 L9,0.5 L9,20 L7.5,20 L7.5,20 L7.501,18.034 C7.312,15.247 6.64,12.369 5.484,9.399 C4.609,7.15 3.112,5.052 0.987,3.106 C0.376,2.547 0.334,1.598 0.894,0.987 C1.178,0.677 1.579,0.5 2,0.5 Z"></path>
          <path class="border_3x" d="M9,1 L2,1 C1.72,1 1.452,1.118 1.263,1.325 C0.89,1.732 0.917,2.365 1.325,2.738 C3.504,4.733 5.046,6.893 5.95,9.218 C7.124,12.233 7.807,15.161 8,18 L8,20 L9,20 L9,1 Z M2,0.667 L9,0.667 L9,20 L7.667,20 L7.667,20 L7.668,18.023 C7.477,15.218 6.802,12.324 5.64,9.338 C4.755,7.064 3.243,4.946 1.1,2.983 C0.557,2.486 0.52,1.643 1.017,1.1 C1.269,0.824 1.626,0.667 2,0.667 Z"></path>
        </g>
      </svg>
    </i>"""


def message_classes(channel: Channel, post: Post) -> str:
    """The message div's class list (catalog §27)."""
    classes = ["tgme_widget_message", "text_not_supported_wrap"]
    if post.service is not None:
        classes.append("service_message")
        if post.service.action == "photo_changed":
            classes.append("service_message_photo")
    elif isinstance(post.media, Sticker):  # tgs/webm: inferred to match static stickers
        classes += ["sticker_media", "no_bubble"]
    elif isinstance(post.media, RoundVideo):
        classes += ["roundvideo_media", "no_bubble"]
    if channel.color is not None:
        classes.append(f"user-color-{channel.color}")
    return " ".join([*classes, "js-widget_message"])


def _reply(channel: Channel, post: Post, ctx: Ctx) -> str:
    """The quoted post a reply points at (§22, S1): its author and a one-line snippet
    of its text, or a media label when it has none (labels other than ``Video`` are
    from third-party parsers). The 2026 ``user-color-default`` class and stray quote
    seen only in hand-written fixtures are not reproduced; S1 (REAL) has neither."""
    quoted = channel.posts.get(post.reply_to)
    if quoted is None:
        return ""
    thumb = None
    if quoted.photos:
        thumb = quoted.photos[0]
    elif isinstance(quoted.media, (Video, Gif, RoundVideo)):
        thumb = quoted.media.thumb
    thumb_html = (
        f'<i class="tgme_widget_message_reply_thumb" style="background-image:url(\'{ctx.url(thumb)}\')"></i>'
        if thumb
        else ""
    )
    if quoted.text:
        body = f'<div class="tgme_widget_message_text js-message_reply_text" dir="auto">{rich(snippet(quoted.text), breaks=False)}</div>'
    else:
        labels = {
            Video: "Video",
            Gif: "GIF",
            RoundVideo: "Video message",
            Voice: "Voice message",
            Sticker: "Sticker",
        }
        label = "Photo" if quoted.photos else labels.get(type(quoted.media), "Message")
        body = f'<div class="tgme_widget_message_metatext js-message_reply_text" dir="auto">{label}</div>'
    return (
        f'<a class="tgme_widget_message_reply" href="https://t.me/{attr(channel.username)}/{quoted.id}">{thumb_html}'
        f'<div class="tgme_widget_message_author accent_color"><span class="tgme_widget_message_author_name" dir="auto">{rich(channel.title)}</span></div>'
        f"{body}</a>"
    )


def _forwarded(post: Post) -> str:
    """§23: a linked name (channel or public user), or a bare name for a hidden user."""
    fwd = post.forwarded_from
    if fwd is None:
        return ""
    if fwd.url:
        name = f'<a class="tgme_widget_message_forwarded_from_name" href="{attr(fwd.url)}"><span dir="auto">{rich(fwd.name)}</span></a>'
    else:
        name = f'<span class="tgme_widget_message_forwarded_from_name">{rich(fwd.name)}</span>'
    if fwd.author:
        name += (
            f' (<span class="tgme_widget_message_forwarded_from_author">{rich(fwd.author)}</span>)'
        )
    return f'<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from&nbsp;{name}</div>'


def _link_preview(post: Post, ctx: Ctx) -> str:
    """§24: one slot per line (right image, site, large image, title, description);
    an empty slot stays as an indented blank line, as on the real page."""
    lp = post.link_preview
    if lp is None:
        return ""
    image_url = ctx.url(lp.image) if lp.image else None
    right = (
        f'<i class="link_preview_right_image" style="background-image:url(\'{image_url}\')"></i>'
        if image_url and not lp.large_image
        else ""
    )
    large = (
        f'<i class="link_preview_image" style="background-image:url(\'{image_url}\');padding-top:52.5%"></i>'
        if image_url and lp.large_image
        else ""
    )
    slots = [
        right,
        f'<div class="link_preview_site_name accent_color" dir="auto">{rich(lp.site_name)}</div>'
        if lp.site_name
        else "",
        large,
        f'<div class="link_preview_title" dir="auto">{rich(lp.title)}</div>' if lp.title else "",
        f'<div class="link_preview_description" dir="auto">{rich(lp.description)}</div>'
        if lp.description
        else "",
    ]
    return (
        f'<a class="tgme_widget_message_link_preview" href="{attr(lp.url)}">\n'
        + "".join(f"  {s}\n" for s in slots)
        + "</a>"
    )


def _footer(post: Post, permalink: str) -> str:
    """§4: [voters] [views] meta(signature, "edited", date link). No views on service messages."""
    info = ""
    if post.service is None and getattr(post.media, "kind", None) == "poll":
        voters = post.media.voters
        # " voter" for 0 is REAL (S1); the plural " votes" was observed (S15).
        info += f'<span class="tgme_widget_message_voters">{format_views(voters)}</span><span class="copyonly"> {"votes" if voters > 1 else "voter"}</span>'
    if post.service is None and post.views is not None:
        word = "view" if post.views == 1 else "views"
        info += f'<span class="tgme_widget_message_views">{format_views(post.views)}</span><span class="copyonly"> {word}</span>'
    meta = (
        f'<span class="tgme_widget_message_from_author" dir="auto">{rich(post.author)}</span>,&nbsp;'
        if post.author
        else ""
    )
    meta += "edited &nbsp;" if post.edited else ""
    meta += f'<a class="tgme_widget_message_date" href="{permalink}"><time datetime="{post.date.isoformat()}" class="time">{post.date:%H:%M}</time></a>'
    return (
        '<div class="tgme_widget_message_footer compact js-message_footer">\n  \n'
        f'  <div class="tgme_widget_message_info short js-message_info">\n    {info}<span class="tgme_widget_message_meta">{meta}</span>\n  </div>\n</div>'
    )


def _text_div(html: str) -> str:
    return f'<div class="tgme_widget_message_text js-message_text" dir="auto">{html}</div>'


def _service_body(channel: Channel, post: Post, ctx: Ctx) -> str:
    """§21 (S1): the service text; a photo change shows the new photo above it."""
    service = post.service
    strong = '«<span class="tgme_widget_service_strong_text" dir="auto">{}</span>»'
    if service.action == "title_changed":
        return _text_div("Channel name was changed to " + strong.format(rich(service.title)))
    if service.action == "pinned":
        who = f'<a class="tgme_widget_message_author_name" href="https://t.me/{attr(channel.username)}"><span dir="auto">{rich(channel.title)}</span></a>'
        return _text_div(
            f"{who} pinned " + strong.format(rich(snippet(service.pinned_text or ""), breaks=False))
        )
    if service.action == "photo_changed":
        return (
            f'<a class="tgme_widget_message_service_photo" href="{ctx.permalink}"><img src="{ctx.url(service.photo)}"></a>\n'
            + _text_div("Channel photo updated")
        )
    return _text_div(esc(post.text or ""))


def render_post(
    channel: Channel, post: Post, base_url: str, *, rendered_at: int | None = None
) -> str:
    """One ``tgme_widget_message_wrap``; ``rendered_at`` is the page's time (data-view)."""
    ch = attr(channel.username)
    ctx = Ctx(channel.username, post.id, base_url)
    stamp = rendered_at if rendered_at is not None else int(post.date.timestamp())
    if post.service is not None:
        body = _service_body(channel, post, ctx)
    else:
        media = ""
        if post.album:
            media = album(ctx, post.album)
        elif post.photos:
            media = photo(ctx, post.photos[0])
        elif post.media is not None:
            media = media_block(ctx, post.media)
        text = _text_div(render_text(post.text, post.text_links)) if post.text else ""
        if post.album and text:
            text = _text_div(text)  # album captions are nested twice (§7)
        body = media + text
        if post.link_preview is not None:
            body += "\n" + _link_preview(post, ctx)
    return (
        f'<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="{message_classes(channel, post)}" '
        f'data-post="{ch}/{post.id}" data-view="{_data_view(channel, post, stamp)}">\n'
        f'  <div class="tgme_widget_message_user"><a href="https://t.me/{ch}"><i class="tgme_widget_message_user_photo bgcolor{_bgcolor(channel)}" '
        f'data-content="{esc(channel.title[:1])}">{_avatar(channel, base_url)}</i></a></div>\n'
        '  <div class="tgme_widget_message_bubble">\n    \n'
        f"{_TAIL}\n"
        f'    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="https://t.me/{ch}"><span dir="auto">{rich(channel.title)}</span></a></div>\n'
        f"{_forwarded(post)}\n{_reply(channel, post, ctx) if post.reply_to else ''}\n{body}\n"
        f"{_footer(post, ctx.permalink)}\n  </div>\n  \n</div></div>"
    )
