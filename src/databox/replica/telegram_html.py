"""The t.me replica's HTML: a channel page (``/s/<channel>``), the plain channel page
(``/<channel>``) and t.me's "Contact @x" landing, in the markup of Telegram's real
web preview. Posts are rendered by ``telegram_html_post``."""

from __future__ import annotations

import hashlib

from databox.replica.telegram_corpus import Channel, Post
from databox.replica.telegram_html_post import _bgcolor, format_views, render_post
from databox.replica.telegram_html_text import attr, esc, render_text, rich
from databox.replica.telegram_model import Document, Gif, Video

__all__ = [
    "_document",
    "format_views",
    "render_channel_page",
    "render_plain_page",
    "render_post",
    "render_text",
]


def _more_link(username: str, key: str, value: int) -> str:
    return (
        '<div class="tgme_widget_message_centered js-messages_more_wrap">'
        f'<a href="/s/{attr(username)}?{key}={value}" class="tme_messages_more js-messages_more" '
        f'data-{key}="{value}"></a></div>'
    )


def _document(title: str, head: str, body_class: str, body: str, *, footer: str = "") -> str:
    body_attr = f' class="{body_class}"' if body_class else ""
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta charset="utf-8">\n'
        f"    <title>{esc(title)}</title>\n"
        '    <meta name="viewport" content="width=device-width, initial-scale=1.0, minimum-scale=1.0, '
        'maximum-scale=1.0, user-scalable=no" />\n'
        f"{head}  </head>\n"
        f"  <body{body_attr}>\n{body}\n{footer}  </body>\n</html>\n"
    )


def _initials(title: str) -> str:
    return "".join(word[0] for word in title.split()[:2] if word[0].isalnum()).upper() or title[:1]


def _og(channel: Channel, base_url: str) -> str:
    image = (
        f"{base_url}/file/{channel.photo}"
        if channel.photo
        else "https://telegram.org/img/t_logo.png"
    )
    return (
        f'<meta property="og:title" content="{attr(channel.title)}">\n'
        f'<meta property="og:image" content="{attr(image)}">\n'
        '<meta property="og:site_name" content="Telegram">\n'
        f'<meta property="og:description" content="{attr(channel.description)}">\n'
        f'<meta property="twitter:title" content="{attr(channel.title)}">\n'
        f'<meta property="al:ios:url" content="tg://resolve?domain={attr(channel.username)}" />\n'
        f'<meta property="al:android:url" content="tg://resolve?domain={attr(channel.username)}" />\n'
    )


def _counters(channel: Channel) -> str:
    """Counter values in the views format; zero counters are left out. The ``files``
    counter and what ``links`` counts are inferred (real pages show subscribers,
    photos, videos, links)."""
    posts = list(channel.posts.values())
    videos = sum(isinstance(p.media, (Video, Gif)) for p in posts)
    videos += sum(isinstance(i, Video) for p in posts for i in p.album)
    counts = (
        (channel.subscribers, "subscriber"),
        (sum(len(p.photos) for p in posts), "photo"),
        (videos, "video"),
        (sum(isinstance(p.media, Document) for p in posts), "file"),
        (
            sum(bool(p.link_preview or p.text_links or "http" in (p.text or "")) for p in posts),
            "link",
        ),
    )
    return "".join(
        f'<div class="tgme_channel_info_counter"><span class="counter_value">{format_views(n)}</span> '
        f'<span class="counter_type">{kind}{"" if n == 1 else "s"}</span></div>'
        for n, kind in counts
        if n
    )


def _header(channel: Channel, base_url: str) -> str:
    ch, title = attr(channel.username), rich(channel.title)
    photo = f'<img src="{attr(f"{base_url}/file/{channel.photo}")}">' if channel.photo else ""
    avatar = f'<i class="tgme_page_photo_image bgcolor{_bgcolor(channel)}" data-content="{esc(_initials(channel.title))}">{photo}</i>'
    subscribers = (
        f"{format_views(channel.subscribers)} subscriber{'' if channel.subscribers == 1 else 's'}"
    )
    footer = "".join(
        f'            <div class="tgme_footer_column">\n              <h5><a href="{href}">{name}</a></h5>\n            </div>\n'
        for name, href in (
            ("About", "//telegram.org/faq"),
            ("Blog", "//telegram.org/blog"),
            ("Apps", "//telegram.org/apps"),
            ("Platform", "//core.telegram.org/"),
        )
    )
    info = (
        '        <div class="tgme_channel_info">\n'
        '          <div class="tgme_channel_info_header">\n'
        f"            {avatar}\n"
        '            <div class="tgme_channel_info_header_title_wrap">\n'
        f'              <div class="tgme_channel_info_header_title"><span dir="auto">{title}</span></div>\n'
        '              <div class="tgme_channel_info_header_labels"></div>\n'
        "            </div>\n"
        f'            <div class="tgme_channel_info_header_username"><a href="https://t.me/{ch}">@{esc(channel.username)}</a></div>\n'
        "          </div>\n"
        f'          <div class="tgme_channel_info_counters">{_counters(channel)}</div>\n'
        f'          <div class="tgme_channel_info_description">{render_text(channel.description)}</div>\n'
        f'          <a class="tgme_channel_download_telegram" href="//telegram.org/dl?tme={ch}">\n'
        '            <svg class="tgme_channel_download_telegram_icon" viewBox="0 0 19 24"></svg>Download Telegram\n'
        "          </a>\n"
        f'          <div class="tgme_footer">\n{footer}          </div>\n'
        "        </div>\n"
    )
    return (
        '    <header class="tgme_header search_collapsed">\n  <div class="tgme_container">\n'
        f'    <div class="tgme_header_search">\n      <form class="tgme_header_search_form" action="/s/{ch}">\n'
        '        <svg class="tgme_header_search_form_icon" width="20px" height="20px" viewBox="0 0 20 20"><g fill="none" stroke="#7D7F81" stroke-width="1.4"><circle cx="9" cy="9" r="6"></circle><path d="M13.5,13.5 L17,17" stroke-linecap="round"></path></g></svg>\n'
        '        <input class="tgme_header_search_form_input js-header_search" placeholder="Search" name="q" autocomplete="off" value="" />\n'
        f'        <a href="/s/{ch}" class="tgme_header_search_form_clear"><svg class="tgme_action_button_icon" height="24" viewBox="0 0 24 24" width="24"></svg></a>\n'
        "      </form>\n    </div>\n"
        f'    <div class="tgme_header_right_column">\n      <section class="tgme_right_column">\n{info}      </section>\n    </div>\n'
        '    <div class="tgme_header_info">\n'
        f'      <a class="tgme_channel_join_telegram" href="//telegram.org/dl?tme={ch}">Join</a>\n'
        f'      <a class="tgme_header_link" href="https://t.me/{ch}">\n        {avatar}\n'
        '        <div class="tgme_header_title_wrap">\n'
        f'          <div class="tgme_header_title"><span dir="auto">{title}</span></div>\n'
        '          <div class="tgme_header_labels"></div>\n        </div>\n'
        f'        <div class="tgme_header_counter">{subscribers}</div>\n      </a>\n    </div>\n'
        "  </div>\n</header>\n"
    )


_SCRIPTS = (
    '    <script src="//telegram.org/js/jquery.min.js"></script>\n'
    '    <script src="//telegram.org/js/jquery-ui.min.js"></script>\n'
    '    <script src="//telegram.org/js/tgwallpaper.min.js?3"></script>\n'
    '<script src="//telegram.org/js/tgsticker.js?32"></script>\n\n'
    '    <script src="//telegram.org/js/widget-frame.js?68"></script>\n'
    '    <script src="//telegram.org/js/telegram-web.js?14"></script>\n'
    "    <script>TWeb.init();\n</script>\n"
)


def render_channel_page(
    channel: Channel, posts: list[Post], *, before: int | None, after: int | None, base_url: str
) -> str:
    """``/s/<channel>``: ``posts`` ascending, the "load older" link (``before``) first
    and the newer one (``after``) last; a page without posts shows "No posts found"
    (REAL on a zero-hit search page; for a channel without posts it is inferred)."""
    ch = attr(channel.username)
    newest = max((p.date for p in channel.posts.values()), default=None)
    rendered_at = int(newest.timestamp()) if newest else 0  # data-view "t": the page's time
    head = _og(channel, base_url)
    if before is not None:
        head += f'    <link rel="prev" href="/s/{ch}?before={before}">\n'
    if posts:
        head += f'<link rel="canonical" href="/s/{ch}?before={posts[-1].ids[-1] + 1}">\n'
    if after is not None:  # no real page with rel=next was seen
        head += f'<link rel="next" href="/s/{ch}?after={after}">\n'
    head += (
        '    <link href="//telegram.org/css/widget-frame.css?75" rel="stylesheet" media="screen">\n'
        '    <link href="//telegram.org/css/telegram-web.css?39" rel="stylesheet" media="screen">\n'
        "    <script>TBaseUrl='/';</script>\n"
    )
    if channel.color is not None:
        head += (
            f"    <style>        .user-color-{channel.color} {{ --user-accent-color: #3391d4; "
            "--user-background: #3391d41f; }</style>\n"
        )
    history = [_more_link(channel.username, "before", before)] if before is not None else []
    history += [render_post(channel, post, base_url, rendered_at=rendered_at) for post in posts]
    if not posts:
        history.append(
            '<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message_centered">'
            '<div class="tme_no_messages_found">No posts found</div></div></div>'
        )
    if after is not None:
        history.append(_more_link(channel.username, "after", after))
    body = (
        '    <div class="tgme_background_wrap">\n      <canvas id="tgme_background" class="tgme_background" '
        'width="50" height="50" data-colors="dbddbb,6ba587,d5d88d,88b884"></canvas>\n'
        '      <div class="tgme_background_pattern"></div>\n    </div>\n'
        f"{_header(channel, base_url)}"
        f'<main class="tgme_main" data-url="/{ch}">\n  <div class="tgme_container">\n'
        '    <section class="tgme_channel_history js-message_history">\n'
        f"      {''.join(history)}\n    </section>\n  </div>\n</main>"
    )
    millis = (
        int(hashlib.sha256(f"{channel.username}/{before}/{after}".encode()).hexdigest()[:4], 16)
        % 9000
    )
    return (
        _document(
            f"{channel.title} – Telegram",
            head,
            "widget_frame_base tgme_webpreview emoji_image thin_box_shadow tme_mode no_transitions",
            body,
            footer=_SCRIPTS,
        )
        + f"<!-- page generated in {millis / 100 + 10:.2f}ms -->\n"
    )


def render_plain_page(username: str, channel: Channel | None, *, base_url: str = "") -> str:
    """``https://t.me/<channel>``: title, exact subscriber count and a "Preview
    channel" link; for an unknown username, t.me's "Contact @x" landing (§26)."""
    name = attr(username)
    if channel is None:
        head = (
            '<meta property="og:title" content="Telegram: Contact @' + name + '">\n'
            '<meta property="og:image" content="https://telegram.org/img/t_logo_2x.png">\n'
            '<meta property="og:site_name" content="Telegram">\n'
            '<meta property="og:description" content="">\n'
            '<meta name="robots" content="noindex, nofollow">\n'
        )
        page = (
            '  <div class="tgme_page">\n    <div class="tgme_page_icon">\n  <i class="tgme_icon_user"></i>\n</div>\n'
            '<div class="tgme_page_description">\n'
            f'  If you have <strong>Telegram</strong>, you can contact <a class="tgme_username_link" href="tg://resolve?domain={name}">@{esc(username)}</a> right away.\n'
            "</div>\n"
            f'<div class="tgme_page_action">\n  <a class="tgme_action_button_new" href="tg://resolve?domain={name}">Send Message</a>\n</div>\n'
            "  </div>"
        )
        title = f"Telegram: Contact @{username}"
    else:
        ch = attr(channel.username)
        head = _og(channel, base_url)
        photo = (
            f'<div class="tgme_page_photo"><a href="tg://resolve?domain={ch}"><img class="tgme_page_photo_image" '
            f'src="{attr(f"{base_url}/file/{channel.photo}")}"></a></div>\n'
            if channel.photo
            else ""
        )
        preview = (
            '<div class="tgme_page_context_link_wrap">'
            f'<a class="tgme_page_context_link" href="/s/{ch}">Preview channel</a></div>\n'
            if channel.has_preview
            else ""
        )
        page = (
            f'  <div class="tgme_page">\n{photo}'
            f'<div class="tgme_page_title"><span dir="auto">{rich(channel.title)}</span></div>\n'
            f'<div class="tgme_page_extra">{f"{channel.subscribers:,}".replace(",", " ")} subscribers</div>\n'
            f'<div class="tgme_page_description" dir="auto">{render_text(channel.description)}</div>\n'
            f'<div class="tgme_page_action">\n  <a class="tgme_action_button_new shine" href="tg://resolve?domain={ch}">View in Telegram</a>\n</div>\n'
            f"{preview}  </div>"
        )
        title = f"Telegram: View @{channel.username}"
    body = (
        '<div class="tgme_page_wrap">\n  <div class="tgme_head_wrap">\n    <div class="tgme_head">\n'
        '      <a href="//telegram.org/" class="tgme_head_brand"></a>\n    </div>\n  </div>\n'
        f'  <div class="tgme_body_wrap">\n{page}\n  </div>\n</div>'
    )
    return _document(title, head, "", body)
