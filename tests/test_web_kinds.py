"""Every kind of t.me/s message through the web parser into the shared content model.

Three layers:

* snippets: each kind's markup as the catalog of real t.me pages shows it (class
  lists, nesting, attribute order), wrapped in a real-shaped page;
* ``tests/fixtures/tme/kinds.html`` and its contract (every field of every kind),
  plus the drift fixtures (layout changed, not a preview, empty channel, bad block);
* cross-source: the same message built as Telethon TL objects and converted by
  ``telethon_convert`` agrees with the web on every field both can see.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from databox.telegram.message import MEDIA_FIELDS, TelegramMessage
from databox.telegram.web_parse import PREFIX, PreviewLayoutError, WebPost, parse_channel_page

UTC = timezone.utc
TME = Path(__file__).parent / "fixtures" / "tme"
CH = "examplechan"
T0 = datetime(2026, 4, 9, 7, 1, 44, tzinfo=UTC)

# -- real-shaped pages (catalog §1-§4) ---------------------------------------------------

_TAIL = """<i class="tgme_widget_message_bubble_tail">
      <svg class="bubble_icon" width="9px" height="20px" viewBox="0 0 9 20">
        <g fill="none">
          <path class="background" fill="#ffffff" d="M8,1 L9,1 L9,20 L8,20 Z"></path>
          <path class="border_1x" fill="#d7e3ec" d="M9,1 L2,1 L9,19"></path>
          <path class="border_2x" d="M9,1 L2,1 L9,19"></path>
          <path class="border_3x" d="M9,1 L2,1 L9,19"></path>
        </g>
      </svg>
    </i>"""


def block(
    mid: int,
    body: str,
    *,
    classes: str = "",
    views: str | None = "845",
    meta: str = "",
    voters: str | None = None,
    after_bubble: str = "",
    date: datetime | None = None,
    channel: str = CH,
) -> str:
    """One message wrap in the markup of catalog §3/§4; ``body`` sits after the author."""
    when = date or T0 + timedelta(minutes=mid)
    info = ""
    if voters is not None:
        info += (
            f'<span class="tgme_widget_message_voters">{voters}</span>'
            '<span class="copyonly"> voters</span>'
        )
    if views is not None:
        info += (
            f'<span class="tgme_widget_message_views">{views}</span>'
            '<span class="copyonly"> views</span>'
        )
    info += (
        f'<span class="tgme_widget_message_meta">{meta}<a class="tgme_widget_message_date" '
        f'href="https://t.me/{channel}/{mid}"><time datetime="{when.isoformat()}" '
        f'class="time">{when:%H:%M}</time></a></span>'
    )
    return f"""<div class="tgme_widget_message_wrap js-widget_message_wrap"><div class="tgme_widget_message text_not_supported_wrap {classes}js-widget_message" data-post="{channel}/{mid}" data-view="eyJjIjotMTAwNTY0MDg5MiwicCI6NDM2fQ">
  <div class="tgme_widget_message_user"><a href="https://t.me/{channel}"><i class="tgme_widget_message_user_photo bgcolor4" data-content="E"><img src="https://cdn1.telesco.pe/file/avatar.jpg"></i></a></div>
  <div class="tgme_widget_message_bubble">
{"    "}
        {_TAIL}
    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" href="https://t.me/{channel}"><span dir="auto">Example Channel</span></a></div>


{body}
<div class="tgme_widget_message_footer compact js-message_footer">
{"  "}
  <div class="tgme_widget_message_info short js-message_info">
    {info}
  </div>
</div>
  </div>
  {after_bubble}
</div></div>"""


def page(
    *blocks: str,
    before: int | None = None,
    counters: str = '<div class="tgme_channel_info_counter"><span class="counter_value">1.2K</span> <span class="counter_type">subscribers</span></div>',
    channel: str = CH,
) -> str:
    more = (
        '<div class="tgme_widget_message_centered js-messages_more_wrap">'
        f'<a href="/s/{channel}?before={before}" class="tme_messages_more js-messages_more" '
        f'data-before="{before}"></a></div>'
        if before is not None
        else ""
    )
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Example Channel – Telegram</title>
<meta property="og:title" content="Example Channel">
<link rel="canonical" href="/s/{channel}">
  </head>
  <body class="widget_frame_base tgme_webpreview emoji_image thin_box_shadow tme_mode no_transitions">
    <header class="tgme_header search_collapsed">
  <div class="tgme_container">
    <div class="tgme_header_search">
      <form class="tgme_header_search_form" action="/s/{channel}">
        <input class="tgme_header_search_form_input js-header_search" placeholder="Search" name="q" autocomplete="off" value="" />
      </form>
    </div>
    <div class="tgme_header_right_column">
      <section class="tgme_right_column">
        <div class="tgme_channel_info">
          <div class="tgme_channel_info_header">
            <i class="tgme_page_photo_image bgcolor2" data-content="EC"><img src="https://cdn4.telesco.pe/file/ch.jpg"></i>
            <div class="tgme_channel_info_header_title_wrap">
              <div class="tgme_channel_info_header_title"><span dir="auto">Example Channel</span></div>
            </div>
            <div class="tgme_channel_info_header_username"><a href="https://t.me/{channel}">@{channel}</a></div>
          </div>
          <div class="tgme_channel_info_counters">{counters}</div>
          <div class="tgme_channel_info_description">Test channel.</div>
        </div>
      </section>
    </div>
  </div>
</header>
<main class="tgme_main" data-url="/{channel}">
  <div class="tgme_container">
    <section class="tgme_channel_history js-message_history">
      {more}{"".join(blocks)}
    </section>
  </div>
</main>
    <script>TWeb.init();
</script>
  </body>
</html>
"""


def one(body: str, mid: int = 50, **kw) -> WebPost:
    (post,) = parse_channel_page(page(block(mid, body, **kw)), CH).posts
    return post


def message(post: WebPost, **kw) -> TelegramMessage:
    return post.to_message(
        source="web", image_paths=kw.get("image_paths", []), photo_status=None, photo_errors=[]
    )


def text_div(inner: str) -> str:
    return f'<div class="tgme_widget_message_text js-message_text" dir="auto">{inner}</div>'


def assert_media(post: WebPost, kind: str, **expected) -> None:
    assert post.media_kind == kind
    assert post.has_media
    assert set(post.media) == set(MEDIA_FIELDS[kind])
    assert post.media == {k: expected.get(k) for k in MEDIA_FIELDS[kind]}


# -- snippets: one kind each, markup as the catalog shows it -----------------------------

TEXT_WITH_LINKS = text_div(
    "<b>Bold title.</b> Line one<br/><br/>Line <i>three</i> "
    '<a href="https://example.com/page" target="_blank" rel="noopener" '
    "onclick=\"return confirm('Open this link?\\n\\n'+this.href);\">label differs</a> and "
    '<a href="https://example.com/" target="_blank" rel="noopener">https://example.com/</a>, '
    '<a href="https://t.me/otherchan" target="_blank">@otherchan</a>, '
    '<a href="?q=%23news">#news</a> &#33; mail <a href="mailto:info@example.org">info@example.org</a> '
    '<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/F09F918D.png\')"><b>👍</b></i>'
)


def test_text_post_links_in_order_with_labels_and_urls():
    post = one(TEXT_WITH_LINKS, views="1.59M")
    assert post.text == (
        "Bold title. Line one\n\nLine three label differs and https://example.com/, "
        "@otherchan, #news ! mail info@example.org 👍"
    )
    assert post.links == [
        {"type": "text_url", "label": "label differs", "url": "https://example.com/page"},
        {"type": "url", "label": "https://example.com/", "url": "https://example.com/"},
        {"type": "mention", "label": "@otherchan", "url": "https://t.me/otherchan"},
        {"type": "hashtag", "label": "#news", "url": None},
        {"type": "email", "label": "info@example.org", "url": "mailto:info@example.org"},
    ]
    assert post.media_kind == "none" and post.media is None and not post.has_media
    assert post.views == 1_590_000 and post.author == "Example Channel"
    msg = message(post)
    assert msg.message_type == "post" and msg.action is None and msg.links == post.links
    assert msg.date == T0 + timedelta(minutes=50)


def test_cashtags_commands_and_phone_links_are_not_links():
    post = one(
        text_div(
            '<a href="?q=%24BTC">$BTC</a> <a href="tel:+251911">+251911</a> '
            '<a href="https://t.me/x" target="_blank"></a>'
        )
    )
    assert post.links == []


def test_photo():
    post = one(
        '<a class="tgme_widget_message_photo_wrap 5429460311875460150 1264144739_460004406" '
        'href="https://t.me/examplechan/50" style="width:800px;background-image:'
        "url('https://cdn4.telesco.pe/file/PHOTO.jpg')\">\n"
        '  <div class="tgme_widget_message_photo" style="padding-top:65.5%"></div>\n'
        "</a>" + text_div("caption")
    )
    assert_media(post, "photo")
    assert post.photo_urls == ["https://cdn4.telesco.pe/file/PHOTO.jpg"]
    assert post.text == "caption" and post.album_ids == []


ALBUM = (
    '<div class="tgme_widget_message_grouped_wrap js-message_grouped_wrap" data-margin-w="2" '
    'data-margin-h="2" style="width:453px;"><div class="tgme_widget_message_grouped '
    'js-message_grouped" style="padding-top:93.819%"><div class="tgme_widget_message_grouped_layer '
    'js-message_grouped_layer" style="width:453px;height:425px">'
    '<a class="tgme_widget_message_video_player grouped_media_wrap blured js-message_video_player" '
    'style="left:0px;top:0px;width:453px;height:254px;margin-right:0px;margin-bottom:2px;" '
    'data-ratio="1.7777777777778" href="https://t.me/examplechan/84?single">'
    '<i class="tgme_widget_message_video_thumb" style="background-image:'
    "url('https://cdn1.telesco.pe/file/THUMB84')\"></i>"
    '<div class="tgme_widget_message_video_wrap grouped_media js-message_video_wrap" '
    'style="left:0;right:0;top:-1px;bottom:0px;"><video src="https://cdn1.telesco.pe/file/1a2b.mp4?token=x" '
    'class="tgme_widget_message_video js-message_video" width="100%" height="100%"></video></div>'
    '<div class="message_video_play js-message_video_play"></div>'
    '<time class="message_video_duration js-message_video_duration">0:27</time>'
    '<div class="message_media_not_supported_wrap"><div class="message_media_not_supported">'
    '<div class="message_media_not_supported_label">This media is not supported in your browser</div>'
    '<span class="message_media_view_in_telegram">VIEW IN TELEGRAM</span></div></div></a>'
    '<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" '
    'style="left:0px;top:256px;width:127px;height:169px;margin-right:2px;margin-bottom:0px;'
    'background-image:url(\'https://cdn1.telesco.pe/file/P85.jpg\')" data-ratio="0.75" '
    'href="https://t.me/examplechan/85?single"><div class="grouped_media_helper" '
    'style="top:0;bottom:0;left:67px;right:67px;"><div class="tgme_widget_message_photo grouped_media" '
    'style="left:0;right:0;top:-1px;bottom:0px;"></div></div></a>'
    '<a class="tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo" '
    "style=\"left:129px;top:256px;width:324px;height:169px;background-image:url('https://cdn1.telesco.pe/file/P86.jpg')\" "
    'data-ratio="1.3333333333333" href="https://t.me/examplechan/86?single">'
    '<div class="grouped_media_helper"><div class="tgme_widget_message_photo grouped_media"></div>'
    "</div></a></div></div></div>" + text_div(text_div("Album caption"))
)


def test_album_mixed_photo_and_video():
    post = one(ALBUM, mid=84)
    assert_media(
        post,
        "album",
        items=[
            {"kind": "video", "thumb_url": "https://cdn1.telesco.pe/file/THUMB84", "duration": 27},
            {"kind": "photo", "thumb_url": None, "duration": None},
            {"kind": "photo", "thumb_url": None, "duration": None},
        ],
    )
    assert post.album_ids == [84, 85, 86]
    assert post.photo_urls == [
        "https://cdn1.telesco.pe/file/P85.jpg",
        "https://cdn1.telesco.pe/file/P86.jpg",
    ]
    assert post.text == "Album caption"  # the doubly nested caption, once
    msg = message(post)
    assert (msg.media_kind, msg.album_ids, msg.grouped_id) == ("album", [84, 85, 86], None)


VIDEO = (
    '<a class="tgme_widget_message_video_player js-message_video_player" '
    'href="https://t.me/examplechan/50"><i class="tgme_widget_message_video_thumb" '
    "style=\"background-image:url('https://cdn1.telesco.pe/file/THUMB')\"></i>\n\n"
    '<div class="tgme_widget_message_video_wrap" style="width:1920px;padding-top:100%">\n'
    '  <video src="https://cdn1.telesco.pe/file/fed01155c6.mp4?token=T" '
    'class="tgme_widget_message_video js-message_video" width="100%" height="100%"></video>\n'
    "</div>\n"
    '<div class="message_video_play js-message_video_play"></div>\n'
    '<time class="message_video_duration js-message_video_duration">{duration}</time>\n'
    '<div class="message_media_not_supported_wrap">\n'
    '  <div class="message_media_not_supported">\n'
    '    <div class="message_media_not_supported_label">This media is not supported in your browser</div>\n'
    '    <span class="message_media_view_in_telegram">VIEW IN TELEGRAM</span>\n'
    "  </div>\n"
    "</div></a>"
)


@pytest.mark.parametrize(("shown", "seconds"), [("0:42", 42), ("1:02:03", 3723), ("12:05", 725)])
def test_video(shown, seconds):
    post = one(VIDEO.replace("{duration}", shown) + text_div("How to"))
    assert_media(post, "video", thumb_url="https://cdn1.telesco.pe/file/THUMB", duration=seconds)
    assert post.text == "How to" and post.has_video and post.photo_urls == []


def test_gif_has_no_play_button_and_no_duration():
    gif = (
        '<a class="tgme_widget_message_video_player js-message_video_player" '
        'href="https://t.me/examplechan/50"><i class="tgme_widget_message_video_thumb" '
        "style=\"background-image:url('https://cdn4.telesco.pe/file/GIFTHUMB')\"></i>\n\n"
        '<div class="tgme_widget_message_video_wrap" style="width:1920px;padding-top:100%">\n'
        '  <video src="https://cdn4.telesco.pe/file/3d8e.mp4?token=x" class="tgme_widget_message_video '
        'js-message_video" width="100%" height="100%" preload muted autoplay loop playsinline></video>\n'
        "</div>\n\n"
        '<div class="message_media_not_supported_wrap">\n  <div class="message_media_not_supported">\n'
        '    <div class="message_media_not_supported_label">This media is not supported in your browser</div>\n'
        '    <span class="message_media_view_in_telegram">VIEW IN TELEGRAM</span>\n  </div>\n</div></a>'
    )
    assert_media(one(gif), "gif", thumb_url="https://cdn4.telesco.pe/file/GIFTHUMB")


def test_round_video():
    body = (
        '<div class="tgme_widget_message_roundvideo_player js-message_roundvideo_player">'
        '<div class="tgme_widget_message_roundvideo_wrap"><i class="tgme_widget_message_roundvideo_thumb" '
        "style=\"background-image:url('https://cdn1.telesco.pe/file/ROUND')\"></i>"
        '<video class="tgme_widget_message_roundvideo js-message_roundvideo" '
        'src="https://cdn1.telesco.pe/file/68145c80a1.mp4?token=x" width="100%" height="100%" '
        "preload muted autoplay loop playsinline></video>"
        '<div class="tgme_widget_message_roundvideo_muted"></div>'
        '<div class="tgme_widget_message_roundvideo_border"></div></div>'
        '<div class="message_media_not_supported_wrap js-message_roundvideo_not_supported">'
        '<div class="message_media_not_supported"><div class="message_media_not_supported_label">'
        "This media is not supported in your browser</div>"
        '<a href="https://t.me/examplechan/50" class="message_media_view_in_telegram">VIEW IN TELEGRAM</a>'
        "</div></div>"
        '<svg class="tgme_widget_message_roundvideo_progress_wrap" viewPort="0 0 256 256">'
        '<circle class="tgme_widget_message_roundvideo_progress js-message_roundvideo_progress" '
        'r="126.5" cx="50%" cy="50%" fill="transparent" stroke-dasharray="794.8" '
        'stroke-dashoffset="0" data-rd="3"></circle></svg>'
        '<div class="tgme_widget_message_roundvideo_play js-message_roundvideo_play"></div>'
        '<time class="tgme_widget_message_roundvideo_duration js-message_roundvideo_duration">0:05</time></div>'
    )
    post = one(body, classes="roundvideo_media no_bubble ")
    assert_media(post, "round_video", thumb_url="https://cdn1.telesco.pe/file/ROUND", duration=5)
    assert post.text is None and post.has_video


def test_voice():
    bars = "".join(f'<s style="height:{i}%;"></s>' for i in range(60))
    body = (
        '<a class="tgme_widget_message_voice_player js-message_voice_player" '
        'href="https://t.me/examplechan/13"><audio class="tgme_widget_message_voice js-message_voice" '
        'src="https://cdn1.telesco.pe/file/29881a3f30.ogg?token=x" data-ogg width="100%" '
        'data-waveform="0,0,1,2,15"></audio><div class="tgme_widget_message_voice_play accent_bghover">'
        '</div><div class="tgme_widget_message_voice_wrap"><div class="tgme_widget_message_voice_progress_wrap '
        'js-message_voice_progress_wrap"><div class="tgme_widget_message_voice_progress_bg">'
        f'<div class="bar">{bars}</div></div><div class="tgme_widget_message_voice_progress '
        f'js-message_voice_progress"><div class="bar">{bars}</div></div></div>'
        '<time class="tgme_widget_message_voice_duration js-message_voice_duration">1:01</time></div></a>'
    )
    post = one(body)
    assert_media(post, "voice", duration=61)
    assert post.text is None


def _document(title: str, extra: str, icon: str = "") -> str:
    return (
        '<a class="tgme_widget_message_document_wrap" href="https://t.me/examplechan/12">'
        f'<div class="tgme_widget_message_document_icon accent_bg{icon}"></div>'
        '<div class="tgme_widget_message_document"><div class="tgme_widget_message_document_title '
        f'accent_color" dir="auto">{title}</div><div class="tgme_widget_message_document_extra" '
        f'dir="auto">{extra}</div></div></a>'
    )


def test_audio_is_a_document_with_the_audio_icon():
    post = one(_document("Track Title", "Performer Name", " audio") + text_div("caption"))
    assert_media(post, "audio", title="Track Title", performer="Performer Name")
    assert post.text == "caption" and post.has_document


def test_document_keeps_the_size_as_shown():
    post = one(_document("report.pdf", "113.9 KB"))
    assert_media(post, "document", file_name="report.pdf", size_text="113.9 KB")
    assert post.has_document and post.photo_urls == []


def test_static_sticker():
    body = (
        '<div class="message_media_not_supported_wrap media_not_supported_cont"><div '
        'class="message_media_not_supported"><div class="message_media_not_supported_label">This '
        'media is not supported in your browser</div><a href="https://t.me/examplechan/9" '
        'class="message_media_view_in_telegram">VIEW IN TELEGRAM</a></div></div>'
        '<div class="tgme_widget_message_sticker_wrap media_supported_cont"><i '
        'class="tgme_widget_message_sticker js-sticker_image" style="background-image:url('
        "'data:image/svg+xml;base64,PHN2ZyB4bWxucz0i');width:256px;\" "
        'data-webp="https://cdn1.telesco.pe/file/5b5c6e1325.webp?token=x"><div '
        'style="padding-top:63.28125%"></div></i></div>'
    )
    post = one(body, classes="sticker_media no_bubble ")
    assert_media(
        post, "sticker", url="https://cdn1.telesco.pe/file/5b5c6e1325.webp?token=x", format="webp"
    )


def test_animated_and_video_stickers():
    tgs = (
        '<div class="tgme_widget_message_sticker_wrap media_supported_cont"><picture '
        'class="tgme_widget_message_tgsticker js-tgsticker_image" style="width:256px;"><div '
        'style="padding-top:100%"></div><source type="application/x-tgsticker" '
        'srcset="https://cdn4.telesco.pe/file/AB.tgs?token=x"><source type="image/webp" '
        'srcset="https://cdn4.telesco.pe/file/AB.webp?token=x"><img src="data:image/gif;base64,R0lG">'
        "</picture></div>"
    )
    webm = (
        '<div class="tgme_widget_message_sticker_wrap media_supported_cont"><div '
        'class="tgme_widget_message_videosticker js-videosticker" style="width:256px;"><div '
        'style="padding-top:100%"></div><video class="js-videosticker_video" '
        'src="https://cdn4.telesco.pe/file/AB.webm?token=x" width="100%" height="100%" preload muted '
        "autoplay loop playsinline disablepictureinpicture><img "
        'src="https://cdn4.telesco.pe/file/AB.webp?token=x"></video></div></div>'
    )
    assert_media(
        one(tgs, classes="sticker_media no_bubble "),
        "sticker",
        url="https://cdn4.telesco.pe/file/AB.tgs?token=x",
        format="tgs",
    )
    assert_media(
        one(webm, classes="sticker_media no_bubble "),
        "sticker",
        url="https://cdn4.telesco.pe/file/AB.webm?token=x",
        format="webm",
    )


def _poll(question: str, kind: str, options: list[tuple[str, int]]) -> str:
    opts = "".join(
        '<div class="tgme_widget_message_poll_option"><div class="tgme_widget_message_poll_option_percent">'
        f'{pct}%</div><div class="tgme_widget_message_poll_option_value"><div '
        f'class="tgme_widget_message_poll_option_text">{text}</div><div '
        f'class="tgme_widget_message_poll_option_bar accent_bg" style="width:{pct}%"></div></div></div>'
        for text, pct in options
    )
    return (
        f'<div class="tgme_widget_message_poll js-poll"><div class="tgme_widget_message_poll_question">'
        f'{question}</div><div class="tgme_widget_message_poll_type">{kind}</div><a '
        f'class="tgme_widget_message_poll_options" href="https://t.me/examplechan/11">  {opts}</a></div>'
    )


def test_poll_and_quiz():
    post = one(_poll("Which one?", "Anonymous Poll", [("A", 60), ("B", 40)]), voters="120")
    assert_media(
        post,
        "poll",
        question="Which one?",
        options=[
            {"text": "A", "percent": 60, "voters": None},
            {"text": "B", "percent": 40, "voters": None},
        ],
        quiz=False,
        closed=False,
        voters=120,
    )
    assert post.text is None
    quiz = one(_poll("Q&#39;s?", "Anonymous Quiz", [("x", 0)]), voters="0")
    assert quiz.media["question"] == "Q's?" and quiz.media["quiz"] is True
    assert quiz.media["voters"] == 0 and quiz.media["options"][0]["percent"] == 0


LOCATION = (
    '<a class="tgme_widget_message_location_wrap" href="https://maps.google.com/maps?'
    'q=-23.930587176407,-44.086305367818&ll=-23.930587176407,-44.086305367818&z=16">'
    '<div class="tgme_widget_message_location" style="background-image:url('
    "'https://static-maps.yandex.ru/1.x/?l=map&ll=-44.086305367818,-23.930587176407&z=15"
    "&size=600,300&scale=1.5&pt=-44.086305367818,-23.930587176407,comma&lang=en_US')\"></div></a>"
)


def test_location_from_the_maps_link():
    assert_media(one(LOCATION), "location", latitude=-23.930587176407, longitude=-44.086305367818)


def test_venue_coordinates_from_the_map_image():
    body = (
        '<a class="tgme_widget_message_location_wrap" href="https://foursquare.com/v/5abc">'
        '<div class="tgme_widget_message_location" style="background-image:url('
        "'https://static-maps.yandex.ru/1.x/?l=map&ll=38.789,8.995&z=15&pt=38.789,8.995,comma')\">"
        '</div><div class="tgme_widget_message_location_info"><div '
        'class="tgme_widget_message_location_title" dir="auto">Bole Pharmacy</div><div '
        'class="tgme_widget_message_location_address" dir="auto">Bole Road, Addis Ababa</div></div></a>'
    )
    assert_media(
        one(body),
        "venue",
        latitude=8.995,
        longitude=38.789,
        title="Bole Pharmacy",
        address="Bole Road, Addis Ababa",
    )


def test_contact():
    body = (
        '<a class="tgme_widget_message_contact_wrap" href="https://t.me/examplechan/77"><i '
        'class="tgme_widget_message_user_photo bgcolor3" data-content="JD"><img '
        'src="https://cdn4.telesco.pe/file/c.jpg"></i><div class="tgme_widget_message_contact"><div '
        'class="tgme_widget_message_contact_name" dir="auto">John Doe</div><div '
        'class="tgme_widget_message_contact_phone">+1 555 0100</div></div></a>'
    )
    assert_media(one(body), "contact", name="John Doe", phone="+15550100")


UNSUPPORTED = (
    '<div class="message_media_not_supported_wrap">\n  <div class="message_media_not_supported">\n'
    '    <div class="message_media_not_supported_label">Please open Telegram to view this post</div>\n'
    '    <a href="https://t.me/examplechan/50" class="message_media_view_in_telegram">VIEW IN TELEGRAM</a>\n'
    "  </div>\n</div>"
)


def test_unsupported_media():
    post = one(UNSUPPORTED)
    assert_media(post, "unsupported")
    assert post.text is None


def test_custom_emoji_twin_is_not_unsupported_media():
    body = (
        '<div class="media_supported_cont">'
        + text_div(
            'Hi <tg-emoji emoji-id="5389"><i class="emoji" style="background-image:url('
            "'//telegram.org/img/emoji/40/E28C9A.png')\"><b>⌚️</b></i></tg-emoji>"
        )
        + '</div><div class="media_not_supported_cont">'
        + UNSUPPORTED
        + "</div>"
    )
    post = one(body)
    assert post.text == "Hi ⌚️" and post.media_kind == "none" and not post.has_media


def test_reply_keeps_its_target_and_not_the_quote():
    reply = (
        '<a class="tgme_widget_message_reply user-color-default" href="https://t.me/examplechan/19" ">'
        '<i class="tgme_widget_message_reply_thumb" style="background-image:url('
        "'https://cdn1.telesco.pe/file/THUMBTOKEN')\"></i><div class=\"tgme_widget_message_author "
        'accent_color"><span class="tgme_widget_message_author_name" dir="auto">Example Channel</span>'
        '</div><div class="tgme_widget_message_text js-message_reply_text" dir="auto">the quote</div></a>'
    )
    post = one(reply + text_div("Still in stock?"))
    assert post.reply_to_message_id == 19
    assert post.text == "Still in stock?" and post.links == []
    assert post.media_kind == "none" and post.photo_urls == []
    other = one(reply.replace("t.me/examplechan/19", "t.me/otherchan/7") + text_div("x"))
    assert other.reply_to_message_id is None  # another chat's id means nothing here
    assert other.extra["reply_to_url"] == "https://t.me/otherchan/7"


def test_forward_and_link_preview_with_line_breaks():
    body = (
        '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from&nbsp;<a '
        'class="tgme_widget_message_forwarded_from_name" href="https://t.me/sourcechan/1428"><span '
        'dir="auto">Source Channel</span></a></div>'
        + text_div(
            'Read <a href="https://example.com/article" target="_blank" rel="noopener">https://example.com/article</a>'
        )
        + '\n<a class="tgme_widget_message_link_preview" href="https://example.com/article">\n  \n'
        '  <div class="link_preview_site_name accent_color" dir="auto">Example Site</div>\n'
        '  <i class="link_preview_image" style="background-image:url('
        "'https://cdn4.telesco.pe/file/IMG.jpg');padding-top:68.375%\"></i>\n"
        '  <div class="link_preview_title" dir="auto">Article title</div>\n'
        '  <div class="link_preview_description" dir="auto">First line<br/><br/>Second &#036;5</div>\n'
        "</a>"
    )
    post = one(body)
    assert post.forwarded_from == {"name": "Source Channel", "url": "https://t.me/sourcechan/1428"}
    assert post.link_preview == {
        "url": "https://example.com/article",
        "site_name": "Example Site",
        "title": "Article title",
        "description": "First line\n\nSecond $5",
        "image_url": "https://cdn4.telesco.pe/file/IMG.jpg",
    }
    assert post.media_kind == "none" and not post.has_media and post.photo_urls == []


def test_signed_and_edited():
    post = one(
        text_div("Weekend hours"),
        meta='<span class="tgme_widget_message_from_author" dir="auto">Edited Name</span>,&nbsp;',
    )
    assert post.signed_author == "Edited Name" and not post.edited
    post = one(
        text_div("Weekend hours"),
        meta='<span class="tgme_widget_message_from_author" dir="auto">Dr. Selam</span>,&nbsp;edited &nbsp;',
    )
    assert post.signed_author == "Dr. Selam" and post.edited
    assert message(post).post_author == "Dr. Selam"


def test_inline_buttons_are_kept_in_raw():
    keyboard = (
        '<div class="tgme_widget_message_inline_keyboard"><div class="tgme_widget_message_inline_row">'
        '<a class="tgme_widget_message_inline_button url_button" href="https://example.com/job/" '
        'target="_blank" rel="noopener"><span class="tgme_widget_message_inline_button_text" '
        'dir="auto">Apply</span></a></div></div>'
    )
    post = one(text_div("Job"), after_bubble=keyboard)
    assert message(post).raw["buttons"] == [{"text": "Apply", "url": "https://example.com/job/"}]


# -- service messages -----------------------------------------------------------------

SERVICE = "service_message "


@pytest.mark.parametrize(
    ("inner", "action", "new_title", "text"),
    [
        ("Channel created", "channel_created", None, "Channel created"),
        (
            'Channel name was changed to «<span class="tgme_widget_service_strong_text" '
            'dir="auto">New Name</span>»',
            "title_changed",
            "New Name",
            "Channel name was changed to «New Name»",
        ),
        ("Channel photo updated", "photo_changed", None, "Channel photo updated"),
        ("Channel photo removed", "photo_removed", None, "Channel photo removed"),
        (
            '<a class="tgme_widget_message_author_name" href="https://t.me/examplechan"><span '
            'dir="auto">Example Channel</span></a> pinned «<span class="tgme_widget_service_strong_text" '
            'dir="auto">Price list</span>»',
            "pinned",
            None,
            "Example Channel pinned «Price list»",
        ),
        ("Something new happened", "other", None, "Something new happened"),
    ],
)
def test_service_messages(inner, action, new_title, text):
    photo = (
        '<a class="tgme_widget_message_service_photo" href="https://t.me/examplechan/50"><img '
        'src="https://cdn1.telesco.pe/file/NEWPHOTO.jpg"></a>\n'
        if action == "photo_changed"
        else ""
    )
    post = one(photo + text_div(inner), classes=SERVICE, views=None)
    msg = message(post)
    assert (msg.message_type, msg.action, msg.new_title, msg.text) == (
        "service",
        action,
        new_title,
        text,
    )
    assert msg.pinned_message_id is None  # the page shows no link to it
    assert (msg.media_kind, msg.media, msg.has_media, msg.links) == ("none", None, False, [])
    assert msg.views is None and msg.reply_to_message_id is None and not msg.is_post
    assert post.photo_urls == []  # a new channel photo is not the post's photo
    if photo:
        assert msg.raw["service_photo_url"] == "https://cdn1.telesco.pe/file/NEWPHOTO.jpg"
    assert TelegramMessage.from_record(msg.to_record()).to_record() == msg.to_record()


def test_pinned_message_id_when_the_page_links_it():
    inner = (
        '<a class="tgme_widget_message_author_name" href="https://t.me/examplechan"><span '
        'dir="auto">Example Channel</span></a> pinned «<a href="https://t.me/examplechan/41">Price</a>»'
    )
    post = one(text_div(inner), classes=SERVICE, views=None)
    assert (post.action, post.pinned_message_id) == ("pinned", 41)


# -- drift: fail loudly, naming the post ------------------------------------------------

URL = f"https://t.me/s/{CH}?before=60"


def _raises(html: str, *, url: str | None = URL) -> PreviewLayoutError:
    with pytest.raises(PreviewLayoutError) as caught:
        parse_channel_page(html, CH, url)
    err = caught.value
    assert str(err).startswith(PREFIX) and PREFIX == "the t.me preview layout changed: "
    if url:
        assert url in str(err)
    return err


def test_block_without_a_date_names_the_post_and_keeps_its_html():
    bad = block(51, text_div("no date")).replace('datetime="', 'data-x="')
    err = _raises(page(block(50, text_div("ok")), bad, block(52, text_div("ok"))))
    assert err.post == f"{CH}/51" and f"post {CH}/51 " in str(err)
    assert "<time datetime>" in str(err)
    assert err.html.startswith('<div class="tgme_widget_message ') and "no date" in err.html
    assert "data-post" in err.html and f"{CH}/50" not in err.html


def test_unreadable_date():
    bad = block(51, text_div("x")).replace(T0.replace(minute=52).isoformat(), "not-a-date")
    assert "unreadable date 'not-a-date'" in str(_raises(page(bad)))


@pytest.mark.parametrize(
    ("data_post", "shown"),
    [
        (None, "no data-post"),
        ("examplechan/abc", "data-post='examplechan/abc'"),
        ("otherchan/9", "otherchan/9"),
    ],
)
def test_block_without_a_usable_id(data_post, shown):
    bad = block(51, text_div("?"))
    bad = bad.replace(f'data-post="{CH}/51"', f'data-post="{data_post}"' if data_post else "")
    err = _raises(page(block(50, text_div("ok")), bad))
    assert "message block #2 (after examplechan/50) has no usable id" in str(err)
    assert shown in str(err)
    assert err.post == (data_post or "#2 (after examplechan/50)")
    assert "?" in err.html


def test_unknown_element_class_is_unknown_structure():
    body = '<div class="tgme_widget_message_checklist"><div>item</div></div>'
    err = _raises(page(block(50, body)))
    assert err.post == f"{CH}/50"
    assert "unknown class 'tgme_widget_message_checklist'" in str(err)


def test_photo_without_its_url_is_not_stored_as_an_empty_photo():
    body = '<a class="tgme_widget_message_photo_wrap" href="https://t.me/examplechan/50" style="width:800px"></a>'
    assert "photo without a background-image URL" in str(_raises(page(block(50, body))))


def test_not_a_channel_preview():
    landing = (
        '<html><head><title>Telegram: Contact @x</title></head><body><div class="tgme_page">'
        '<div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact '
        '<a class="tgme_username_link" href="tg://resolve?domain=x">@x</a> right away.</div></div>'
        "</body></html>"
    )
    err = _raises(landing)
    assert "not a channel preview page" in str(err) and err.post is None
    assert err.html == landing


def test_renamed_classes_fail_naming_a_post():
    html = page(block(50, text_div("x")), before=50)
    err = _raises(html.replace("tgme_widget_message", "tgme_widget_msg"))
    assert err.post == f"{CH}/50"
    assert "holds <div class='tgme_widget_msg_centered js-messages_more_wrap'>" not in str(err)
    assert f"data-post='{CH}/50', not a message block" in str(err)
    assert "and 1 more such row(s)" in str(err)  # the renamed "load older" row


def test_renamed_message_div_inside_a_known_wrap_fails():
    renamed = block(50, text_div("x")).replace(
        'class="tgme_widget_message text_not_supported_wrap', 'class="tgme_widget_post'
    )
    err = _raises(page(renamed))
    assert "holds <div class='tgme_widget_post js-widget_message'>" in str(err)
    assert err.post == f"{CH}/50" and err.html.startswith('<div class="tgme_widget_post ')


def test_a_more_link_without_message_blocks_fails():
    err = _raises(page(before=50))
    assert "links to more posts (before=50) but shows no message blocks" in str(err)


def test_unexpected_row_in_the_history_fails():
    err = _raises(page('<div class="tgme_widget_date_row">March 3</div>', block(50, text_div("x"))))
    assert "holds <div class='tgme_widget_date_row'>" in str(err)


def test_every_unreadable_block_is_named():
    no_date = block(51, text_div("a<br/>z")).replace('datetime="', 'data-x="')
    no_id = block(53, text_div("b")).replace(f'data-post="{CH}/53"', "")
    err = _raises(page(block(50, text_div("ok")), no_date, block(52, text_div("ok")), no_id))
    assert err.post == f"{CH}/51" and [o.post for o in err.others] == [f"#4 (after {CH}/52)"]
    assert f"post {CH}/51 has no <time datetime>" in str(err)
    assert f"; also message block #4 (after {CH}/52) has no usable id" in str(err)
    # Each error keeps its own block as served (the parse turned <br/> into newlines).
    assert ">a<br>z<" in err.html and ">b<" in err.others[0].html


def test_header_counts_posts_but_the_page_has_none():
    counters = (
        '<div class="tgme_channel_info_counter"><span class="counter_value">1.2K</span> '
        '<span class="counter_type">subscribers</span></div><div class="tgme_channel_info_counter">'
        '<span class="counter_value">102</span> <span class="counter_type">photos</span></div>'
    )
    no_posts = (
        '<div class="tgme_widget_message_wrap js-widget_message_wrap"><div '
        'class="tgme_widget_message_centered"><div class="tme_no_messages_found">No posts found</div>'
        "</div></div>"
    )
    err = _raises(page(no_posts, counters=counters))
    assert "counts 102 photos but the page shows no message blocks ('No posts found')" in str(err)
    # A search without hits says the same and is an answer, not a failure.
    html = page(no_posts, counters=counters)
    assert parse_channel_page(html, CH, f"https://t.me/s/{CH}?q=nothing").posts == []


def test_empty_channel_is_zero_posts():
    got = parse_channel_page(page(), CH, f"https://t.me/s/{CH}")
    assert got.posts == [] and got.before is None and got.channel_title == "Example Channel"


def test_bad_paging_link():
    html = page(block(50, text_div("x")), before=50).replace('data-before="50"', 'data-before="x"')
    assert "paging link has data-before='x'" in str(_raises(html))


def test_page_url_goes_into_the_posts():
    post = parse_channel_page(page(block(50, text_div("x"))), CH, URL).posts[0]
    assert post.page_url == URL and message(post).raw["page_url"] == URL
    assert post.url == f"https://t.me/{CH}/50"


# -- tests/fixtures/tme/kinds.html: every field of every kind (tests/fixtures/tme/CONTRACT.md) ---

KINDS = "pharmakinds"
KINDS_URL = f"https://t.me/s/{KINDS}"
CDN = "https://cdn4.telesco.pe/file"
#: The content-model fields a web record is compared on (all but bookkeeping).
CONTENT = (
    "channel",
    "message_id",
    "date",
    "text",
    "views",
    "forwards",
    "replies",
    "has_media",
    "grouped_id",
    "edit_date",
    "post_author",
    "message_type",
    "action",
    "pinned_message_id",
    "new_title",
    "media_kind",
    "media",
    "reply_to_message_id",
    "links",
    "link_preview",
    "album_ids",
)


def _media(kind: str, **values) -> dict:
    return {k: values.get(k) for k in MEDIA_FIELDS[kind]}


def _service(action: str, text: str, **kw) -> dict:
    return {"message_type": "service", "action": action, "text": text, "views": None, **kw}


def _post(kind: str, **kw) -> dict:
    values = {k: v for k, v in kw.items() if k not in CONTENT}
    fields = {k: v for k, v in kw.items() if k in CONTENT}
    return {"media_kind": kind, "media": _media(kind, **values), "has_media": True, **fields}


def _opts(*pairs) -> list[dict]:
    return [{"text": t, "percent": p, "voters": None} for t, p in pairs]


KIND_EXPECTED: dict[int, dict] = {
    100: _service("channel_created", "Channel created"),
    101: _service(
        "title_changed", "Channel name was changed to «Pharma Kinds»", new_title="Pharma Kinds"
    ),
    102: _service("photo_changed", "Channel photo updated"),
    # The page shows no link to the pinned message: its id is None, not guessed.
    103: _service("pinned", "Pharma Kinds pinned «Price list»", pinned_message_id=None),
    104: {
        "text": "Order at https://example.org/shop or see our list and ask @pharmahelp "
        "#vitamins\nMail info@example.org",
        "links": [
            {"type": "url", "label": "https://example.org/shop", "url": "https://example.org/shop"},
            {"type": "text_url", "label": "our list", "url": "https://example.org/list"},
            {"type": "mention", "label": "@pharmahelp", "url": "https://t.me/pharmahelp"},
            {"type": "hashtag", "label": "#vitamins", "url": None},
            {"type": "email", "label": "info@example.org", "url": "mailto:info@example.org"},
        ],
    },
    105: _post("photo", text="Vitamin C 1000mg", views=1200),
    106: _post(
        "album",
        text="New stock",
        album_ids=[106, 107, 108],
        items=[
            {"kind": "photo", "thumb_url": None, "duration": None},
            {"kind": "video", "thumb_url": f"{CDN}/kinds107thumb.jpg", "duration": 15},
            {"kind": "photo", "thumb_url": None, "duration": None},
        ],
    ),
    109: _post(
        "video", text="How to use an inhaler", thumb_url=f"{CDN}/kinds109thumb.jpg", duration=42
    ),
    110: _post("round_video", thumb_url=f"{CDN}/kinds110thumb.jpg", duration=7),
    111: _post("voice", duration=5),
    # The contract asks for duration 192 ("3:12"), but the page shows none: a music
    # file is a document row with title and performer only (catalog §12), so the web
    # stores None rather than a made-up value.
    112: _post("audio", title="Morning routine", performer="Dr. Selam", duration=None),
    113: _post(
        "document", text="Our March price list", file_name="price_list.pdf", size_text="1.2 MB"
    ),
    114: _post("sticker", url=f"{CDN}/kinds114.webp", format="webp"),
    115: _post("sticker", url=f"{CDN}/kinds115.tgs", format="tgs"),
    116: _post("sticker", url=f"{CDN}/kinds116.webm", format="webm"),
    117: _post(
        "poll",
        question="Which vitamin do you take?",
        options=_opts(("Vitamin C", 60), ("Vitamin D", 30), ("Zinc", 10)),
        quiz=False,
        closed=False,
        voters=120,
    ),
    118: _post(
        "poll",
        question="Paracetamol max daily dose for adults?",
        options=_opts(("2 g", 20), ("4 g", 70), ("8 g", 10)),
        quiz=True,
        closed=True,
        voters=10,
    ),
    119: _post("location", latitude=9.0105, longitude=38.7613),
    120: _post(
        "venue",
        latitude=8.9950,
        longitude=38.7890,
        title="Bole Pharmacy",
        address="Bole Road, Addis Ababa",
    ),
    121: _post("contact", name="Hana Tesfaye", phone="+251911000000"),
    122: _post("unsupported", text=None),
    123: {"text": "Still in stock?", "reply_to_message_id": 105},
    124: {"text": "Recall notice"},
    125: {
        "text": "Malaria facts https://www.who.int/malaria",
        "links": [
            {
                "type": "url",
                "label": "https://www.who.int/malaria",
                "url": "https://www.who.int/malaria",
            }
        ],
        "link_preview": {
            "url": "https://www.who.int/malaria",
            "site_name": "World Health Organization",
            "title": "Malaria",
            "description": "Key facts\nSymptoms\nTreatment",
            "image_url": f"{CDN}/kinds125preview.jpg",
        },
    },
    126: _post("gif", thumb_url=f"{CDN}/kinds126thumb.jpg"),
    127: _post("photo", text="Weekend hours", post_author="Dr. Selam T."),
}
KIND_PHOTOS = {
    105: [f"{CDN}/kinds105.jpg"],
    106: [f"{CDN}/kinds106.jpg", f"{CDN}/kinds108.jpg"],
    127: [f"{CDN}/kinds127.jpg"],
}

needs_kinds = pytest.mark.skipif(
    not (TME / "kinds.html").is_file(), reason="tests/fixtures/tme/kinds.html not generated yet"
)


@pytest.fixture(scope="module")
def kinds_page():
    return parse_channel_page((TME / "kinds.html").read_text(encoding="utf-8"), KINDS, KINDS_URL)


@needs_kinds
def test_kinds_page_shape(kinds_page):
    assert [p.message_id for p in kinds_page.posts] == sorted(KIND_EXPECTED)
    assert kinds_page.before == 100 and kinds_page.after is None
    assert kinds_page.channel_title == "Pharma Kinds" and kinds_page.url == KINDS_URL


@needs_kinds
@pytest.mark.parametrize("mid", sorted(KIND_EXPECTED))
def test_kinds_every_field(kinds_page, mid):
    post = next(p for p in kinds_page.posts if p.message_id == mid)
    msg = message(post)
    record = msg.to_record()
    expected = {
        "channel": KINDS,
        "message_id": mid,
        "date": (datetime(2025, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=mid - 100)).isoformat(),
        "text": None,
        "views": 845,
        "forwards": None,  # the preview shows no forward or reply counts
        "replies": None,
        "has_media": False,
        "grouped_id": None,  # an album is one block; its members' ids are album_ids
        "edit_date": None,  # "edited" says that, not when
        "post_author": None,
        "message_type": "post",
        "action": None,
        "pinned_message_id": None,
        "new_title": None,
        "media_kind": "none",
        "media": None,
        "reply_to_message_id": None,
        "links": [],
        "link_preview": None,
        "album_ids": [],
        **KIND_EXPECTED[mid],
    }
    assert {k: record[k] for k in CONTENT} == expected
    assert msg.source == "web" and msg.is_post == (mid > 103)
    assert TelegramMessage.from_record(record).to_record() == record
    # What the web shows beyond the content model.
    assert post.photo_urls == KIND_PHOTOS.get(mid, [])
    assert post.url == f"https://t.me/{KINDS}/{mid}"
    assert post.author == "Pharma Kinds"
    assert post.edited == (mid == 127)
    assert post.signed_author == expected["post_author"]
    assert post.forwarded_from == (
        {"name": "EFDA Ethiopia", "url": "https://t.me/EFDAEthiopia/2211"} if mid == 124 else None
    )
    assert msg.raw["page_url"] == KINDS_URL and msg.raw["url"] == post.url
    assert post.has_video == (mid in (106, 109, 110, 126))
    assert post.has_document == (mid in (112, 113))
    if mid == 102:
        assert msg.raw["service_photo_url"] == f"{CDN}/kinds102.jpg"
    if mid == 123:  # the quoted text of 105 stays out of the reply's text
        assert "Vitamin" not in (msg.text or "") and msg.links == []


# -- the drift fixtures ---------------------------------------------------------------


def _fixture_error(name: str, channel: str) -> PreviewLayoutError:
    url = f"https://t.me/s/{channel}"
    with pytest.raises(PreviewLayoutError) as caught:
        parse_channel_page((TME / name).read_text(encoding="utf-8"), channel, url)
    err = caught.value
    assert str(err).startswith("the t.me preview layout changed: ")
    assert str(err).endswith(f"(page {url})")
    return err


needs_drift = pytest.mark.skipif(
    not (TME / "bad_block.html").is_file(), reason="tests/fixtures/tme drift pages not generated"
)


@needs_drift
def test_fixture_bad_block_names_both_damaged_posts():
    err = _fixture_error("bad_block.html", "examplepharma")
    assert err.post == "examplepharma/1202"
    assert "post examplepharma/1202 has no <time datetime>" in str(err)
    (other,) = err.others
    assert other.post == "#4 (after examplepharma/1203)"
    assert "message block #4 (after examplepharma/1203) has no usable id (no data-post" in str(err)
    # Each keeps its own block's HTML, as served.
    assert 'data-post="examplepharma/1202"' in err.html and err.html.count("data-post=") == 1
    assert "data-post=" not in other.html and "tgme_widget_message " in other.html


@needs_drift
def test_fixture_layout_changed_is_one_clear_error():
    err = _fixture_error("layout_changed.html", "examplepharma")
    assert err.post == "examplepharma/1201"
    assert "not a message block of class 'tgme_widget_message'" in str(err)
    assert 'data-post="examplepharma/1201"' in err.html


@needs_drift
def test_fixture_not_a_preview():
    err = _fixture_error("not_a_preview.html", "pharmakindz")
    assert "this is not a channel preview page" in str(err) and err.post is None
    assert err.html == (TME / "not_a_preview.html").read_text(encoding="utf-8")


@needs_drift
def test_fixture_empty_channel_is_zero_posts_not_an_error():
    got = parse_channel_page(
        (TME / "empty_channel.html").read_text(encoding="utf-8"),
        "pharmaempty",
        "https://t.me/s/pharmaempty",
    )
    assert got.posts == [] and got.before is None and got.after is None


# -- cross-source: the web and Telethon agree wherever both can see ---------------------

#: Never on the web page: counts of forwards/replies, the album id, when it was edited.
WEB_NEVER_SEES = ("forwards", "replies", "grouped_id", "edit_date")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entity(text: str, label: str, kind, **kw):
    start = text.index(label)
    return kind(offset=_utf16(text[:start]), length=_utf16(label), **kw)


def _tl_post(mid: int, text: str = "", **kw):
    from telethon.tl import types

    return types.Message(
        id=mid,
        peer_id=types.PeerChannel(channel_id=777),
        date=T0 + timedelta(minutes=mid),
        message=text,
        views=845,
        forwards=3,
        edit_date=T0 + timedelta(days=1),
        post=True,
        **kw,
    )


def _tl_message(msg) -> TelegramMessage:
    from databox.telegram.telethon_convert import to_message

    return to_message(
        msg, CH, source="telethon", image_paths=[], photo_status=None, photo_errors=[]
    )


def assert_agree(
    web: TelegramMessage,
    tl: TelegramMessage,
    *,
    web_blind: tuple[str, ...] = (),
    telethon_blind: tuple[str, ...] = (),
) -> None:
    """Every content field (and every key of ``media``/``link_preview``) is equal,
    except those one source cannot see: None there, whatever the other shows.
    Dotted names (``media.size``) are keys of a dict field."""
    w, t = web.to_record(), tl.to_record()
    for name in CONTENT:
        if name in ("media", "link_preview") and (w[name] is not None or t[name] is not None):
            assert w[name] is not None and t[name] is not None, name
            assert set(w[name]) == set(t[name]), name
            for key in w[name]:
                dotted = f"{name}.{key}"
                if dotted in web_blind:
                    assert w[name][key] is None, dotted
                elif dotted in telethon_blind:
                    assert t[name][key] is None, dotted
                elif key == "options":
                    for wo, to in zip(w[name][key], t[name][key], strict=True):
                        assert wo["text"] == to["text"]
                        assert wo["voters"] is None and to["percent"] is None  # one each
                else:
                    assert w[name][key] == t[name][key], dotted
        elif name in WEB_NEVER_SEES or name in web_blind:
            assert w[name] is None, name
        elif name in telethon_blind:
            assert t[name] is None, name
        else:
            assert w[name] == t[name], name


def test_same_text_and_links_from_both_sources():
    from telethon.tl import types

    text = (
        "👍🏽 Read https://example.org/a and our list, ask @pharmahelp #vitamins\n"
        "Mail info@example.org"
    )
    html = text_div(
        '<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/F09F918DF09F8FBD.png\')">'
        "<b>👍🏽</b></i> Read "
        '<a href="https://example.org/a" target="_blank" rel="noopener">https://example.org/a</a> and '
        '<a href="https://example.org/list" target="_blank" rel="noopener" '
        "onclick=\"return confirm('Open this link?\\n\\n'+this.href);\">our list</a>, ask "
        '<a href="https://t.me/pharmahelp" target="_blank">@pharmahelp</a> '
        '<a href="?q=%23vitamins">#vitamins</a><br/>Mail '
        '<a href="mailto:info@example.org">info@example.org</a>'
    )
    web = message(one(html, mid=60))
    entities = [
        _entity(text, "Read", types.MessageEntityBold),  # formatting is not a link
        _entity(text, "https://example.org/a", types.MessageEntityUrl),
        _entity(text, "our list", types.MessageEntityTextUrl, url="https://example.org/list"),
        _entity(text, "@pharmahelp", types.MessageEntityMention),
        _entity(text, "#vitamins", types.MessageEntityHashtag),
        _entity(text, "info@example.org", types.MessageEntityEmail),
    ]
    tl = _tl_message(_tl_post(60, text, entities=entities))
    assert web.text == text and len(web.links) == 5
    assert_agree(web, tl)


def test_same_poll_from_both_sources():
    from telethon.tl import types

    def twe(s):
        return types.TextWithEntities(text=s, entities=[])

    poll = types.Poll(
        id=1,
        question=twe("Which vitamin?"),
        answers=[
            types.PollAnswer(text=twe("Vitamin C"), option=b"0"),
            types.PollAnswer(text=twe("Zinc"), option=b"1"),
        ],
        hash=0,
        closed=True,
        quiz=True,
    )
    results = types.PollResults(
        results=[
            types.PollAnswerVoters(option=b"0", voters=90),
            types.PollAnswerVoters(option=b"1", voters=30),
        ],
        total_voters=120,
    )
    tl = _tl_message(_tl_post(61, media=types.MessageMediaPoll(poll=poll, results=results)))
    web = message(
        one(
            _poll(
                "Which vitamin?",
                "Anonymous Quiz · Final results",
                [("Vitamin C", 75), ("Zinc", 25)],
            ),
            mid=61,
            voters="120",
        )
    )
    # The web shows percentages, Telethon per-option counts (checked in assert_agree);
    # multiple choice is not on the page.
    assert_agree(web, tl, web_blind=("media.multiple_choice",))
    assert tl.media["multiple_choice"] is False and web.media["quiz"] is True


def test_same_venue_from_both_sources():
    from telethon.tl import types

    venue = types.MessageMediaVenue(
        geo=types.GeoPoint(long=38.789, lat=8.995, access_hash=1),
        title="Bole Pharmacy",
        address="Bole Road, Addis Ababa",
        provider="foursquare",
        venue_id="4f1d",
        venue_type="",
    )
    tl = _tl_message(_tl_post(62, media=venue))
    web = message(
        one(
            '<a class="tgme_widget_message_location_wrap" href="https://foursquare.com/v/4f1d">'
            '<div class="tgme_widget_message_location" style="background-image:url('
            "'https://static-maps.yandex.ru/1.x/?l=map&ll=38.789,8.995&z=15&pt=38.789,8.995,comma')\">"
            '</div><div class="tgme_widget_message_location_info"><div '
            'class="tgme_widget_message_location_title" dir="auto">Bole Pharmacy</div><div '
            'class="tgme_widget_message_location_address" dir="auto">Bole Road, Addis Ababa</div>'
            "</div></a>",
            mid=62,
        )
    )
    assert_agree(web, tl)
    assert (web.text, tl.text) == (None, None)


def test_same_reply_from_both_sources():
    from telethon.tl import types

    tl = _tl_message(
        _tl_post(63, "Still in stock?", reply_to=types.MessageReplyHeader(reply_to_msg_id=19))
    )
    reply = (
        '<a class="tgme_widget_message_reply" href="https://t.me/examplechan/19"><div '
        'class="tgme_widget_message_author accent_color"><span class="tgme_widget_message_author_name" '
        'dir="auto">Example Channel</span></div><div class="tgme_widget_message_text '
        'js-message_reply_text" dir="auto">Vitamin C 1000mg</div></a>'
    )
    web = message(one(reply + text_div("Still in stock?"), mid=63))
    assert_agree(web, tl)
    assert web.reply_to_message_id == tl.reply_to_message_id == 19


def test_same_pinned_service_message_from_both_sources():
    from telethon.tl import types

    tl = _tl_message(
        types.MessageService(
            id=64,
            peer_id=types.PeerChannel(channel_id=777),
            date=T0 + timedelta(minutes=64),
            action=types.MessageActionPinMessage(),
            reply_to=types.MessageReplyHeader(reply_to_msg_id=41),
        )
    )
    inner = (
        '<a class="tgme_widget_message_author_name" href="https://t.me/examplechan"><span '
        'dir="auto">Example Channel</span></a> pinned «<span class="tgme_widget_service_strong_text" '
        'dir="auto">Price list</span>»'
    )
    web = message(one(text_div(inner), mid=64, classes=SERVICE, views=None))
    # The web shows the wording but no link to the pinned message; Telethon the id but
    # no wording.
    assert_agree(web, tl, web_blind=("pinned_message_id",), telethon_blind=("text",))
    assert (tl.pinned_message_id, web.text) == (41, "Example Channel pinned «Price list»")
    assert not web.is_post and not tl.is_post


def test_same_document_from_both_sources():
    from telethon.tl import types

    doc = types.Document(
        id=5,
        access_hash=1,
        file_reference=b"",
        date=T0,
        mime_type="application/pdf",
        size=1_258_291,
        dc_id=2,
        attributes=[types.DocumentAttributeFilename(file_name="price_list.pdf")],
    )
    tl = _tl_message(
        _tl_post(65, "Our March price list", media=types.MessageMediaDocument(document=doc))
    )
    web = message(
        one(_document("price_list.pdf", "1.2 MB") + text_div("Our March price list"), mid=65)
    )
    # Telethon knows the bytes and the type; the page shows the rounded size only.
    assert_agree(
        web,
        tl,
        web_blind=("media.size", "media.mime_type"),
        telethon_blind=("media.size_text",),
    )
    assert (web.media["size_text"], tl.media["size"]) == ("1.2 MB", 1_258_291)


def test_same_link_preview_from_both_sources():
    from telethon.tl import types

    page = types.WebPage(
        id=1,
        url="https://www.who.int/malaria",
        display_url="who.int/malaria",
        hash=0,
        site_name="World Health Organization",
        title="Malaria",
        description="Key facts\nSymptoms",
    )
    text = "Malaria facts https://www.who.int/malaria"
    tl = _tl_message(
        _tl_post(
            66,
            text,
            media=types.MessageMediaWebPage(webpage=page),
            entities=[_entity(text, "https://www.who.int/malaria", types.MessageEntityUrl)],
        )
    )
    web = message(
        one(
            text_div(
                'Malaria facts <a href="https://www.who.int/malaria" target="_blank" '
                'rel="noopener">https://www.who.int/malaria</a>'
            )
            + '\n<a class="tgme_widget_message_link_preview" href="https://www.who.int/malaria">'
            '<div class="link_preview_site_name accent_color" dir="auto">World Health Organization</div>'
            '<div class="link_preview_title" dir="auto">Malaria</div>'
            '<div class="link_preview_description" dir="auto">Key facts<br/>Symptoms</div></a>',
            mid=66,
        )
    )
    assert_agree(web, tl)  # no preview image on either side here


# -- small parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "seconds"),
    [("0:05", 5), ("0:42", 42), ("3:12", 192), ("1:02:03", 3723), ("", None), ("soon", None)],
)
def test_durations(shown, seconds):
    from databox.telegram.web_media import parse_duration

    assert parse_duration(shown) == seconds


@pytest.mark.parametrize(
    ("href", "image", "expected"),
    [
        (
            "https://maps.google.com/maps?q=9.0105,38.7613&ll=9.0105,38.7613&z=16",
            None,
            (9.0105, 38.7613),
        ),
        (
            None,
            "https://static-maps.yandex.ru/1.x/?l=map&ll=38.7613,9.0105&z=15",
            (9.0105, 38.7613),
        ),
        (
            "https://foursquare.com/v/4f",
            "https://static-maps.yandex.ru/1.x/?pt=-44.08,-23.93,comma",
            (-23.93, -44.08),
        ),
        ("https://foursquare.com/v/4f", None, (None, None)),
    ],
)
def test_coordinates(href, image, expected):
    from databox.telegram.web_media import coordinates

    assert coordinates(href, image) == expected
