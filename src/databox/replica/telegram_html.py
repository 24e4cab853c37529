"""The t.me replica's HTML: one post, a channel page, the plain channel page, in the
markup of Telegram's real web preview."""

from __future__ import annotations

import base64
import re
from html import escape

from databox.replica.telegram_corpus import Channel, Post

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
