"""The t.me replica serves every kind of post in the markup real t.me/s pages use.

These test the replica (its HTML against the catalog of real markup, its fixture
pages, its demo corpus and that every URL it prints answers), not the parser.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from databox.replica.telegram_corpus import (
    Corpus,
    Forward,
    LinkPreview,
    Photo,
    Service,
    Sticker,
    TextLink,
    Video,
    build_demo_corpus,
)
from databox.replica.telegram_html import format_views, render_channel_page
from databox.replica.telegram_html_text import render_text
from databox.replica.telegram_web import TelegramWebReplica
from databox.samples import find_sample_photos

UTC = timezone.utc
FIXTURES = Path(__file__).parent / "fixtures" / "tme"
KINDS = FIXTURES / "kinds.html"
EXOTIC = {"poll", "sticker", "voice", "round_video", "location", "venue", "contact", "unsupported"}

BASE = "tgme_widget_message text_not_supported_wrap"
#: The message div's class list per kind (catalog §27), without a channel colour.
CLASSES = {
    "service": f"{BASE} service_message js-widget_message",
    "service_photo": f"{BASE} service_message service_message_photo js-widget_message",
    "sticker": f"{BASE} sticker_media no_bubble js-widget_message",
    "round_video": f"{BASE} roundvideo_media no_bubble js-widget_message",
    "other": f"{BASE} js-widget_message",
}


def _load_regenerate():
    spec = importlib.util.spec_from_file_location("tme_regenerate", FIXTURES / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kinds() -> dict[int, Node]:
    tree = HTMLParser(KINDS.read_text(encoding="utf-8"))
    return {
        int(node.attributes["data-post"].split("/")[1]): node
        for node in tree.css("div.tgme_widget_message[data-post]")
    }


def _cls(node: Node | None) -> str | None:
    return None if node is None else node.attributes.get("class")


def _text(node: Node, selector: str) -> str | None:
    found = node.css_first(selector)
    return None if found is None else found.text()


# -- the fixture files -------------------------------------------------------------------


def test_committed_fixtures_equal_the_renderer_output():
    pages = _load_regenerate().pages()
    assert sorted(pages) == sorted(
        [
            "kinds.html",
            "layout_changed.html",
            "not_a_preview.html",
            "empty_channel.html",
            "bad_block.html",
        ]
    )
    for name, html in pages.items():
        assert (FIXTURES / name).read_text(encoding="utf-8") == html, (
            f"{name} is stale: run `uv run python tests/fixtures/tme/regenerate.py`"
        )


def test_kinds_page_has_every_contract_post_in_order_with_its_date_and_views(kinds):
    ids = list(kinds)
    assert ids == [i for i in range(100, 128) if i not in (107, 108)]
    html = KINDS.read_text(encoding="utf-8")
    tree = HTMLParser(html)
    more = tree.css_first("section.tgme_channel_history").css_first("div").css_first("a")
    assert (
        _cls(more) == "tme_messages_more js-messages_more"
        and more.attributes["data-before"] == "100"
    )
    assert '<link rel="prev" href="/s/pharmakinds?before=100">' in html
    assert _text(tree.css_first(".tgme_channel_info_header_title"), "span") == "Pharma Kinds"
    assert tree.css_first(".tgme_channel_info_header_username a").text() == "@pharmakinds"
    for post_id, node in kinds.items():
        time = node.css_first(".tgme_widget_message_footer a.tgme_widget_message_date > time")
        when = datetime(2025, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=post_id - 100)
        assert time.attributes["datetime"] == when.isoformat()
        assert (
            node.css_first("a.tgme_widget_message_date").attributes["href"]
            == f"https://t.me/pharmakinds/{post_id}"
        )
        view = json.loads(base64.urlsafe_b64decode(node.attributes["data-view"] + "=="))
        assert set(view) == {"c", "p", "t", "h"} and view["c"] < 0 and len(view["h"]) == 18
        assert view["p"] == ("106g" if post_id == 106 else post_id)
        views = _text(node, ".tgme_widget_message_views")
        assert views == (None if post_id <= 103 else "1.2K" if post_id == 105 else "845")


#: Kind of message div per kinds.html post (the rest are "other").
SPECIAL = {100: "service", 101: "service", 102: "service_photo", 103: "service", 110: "round_video"}
SPECIAL |= dict.fromkeys((114, 115, 116), "sticker")


@pytest.mark.parametrize("post_id", [i for i in range(100, 128) if i not in (107, 108)])
def test_message_div_class_list_per_kind(kinds, post_id):
    assert _cls(kinds[post_id]) == CLASSES[SPECIAL.get(post_id, "other")]


def test_service_messages(kinds):
    texts = {i: _text(kinds[i], ".js-message_text") for i in (100, 101, 102, 103)}
    assert texts == {
        100: "Channel created",
        101: "Channel name was changed to «Pharma Kinds»",
        102: "Channel photo updated",
        103: "Pharma Kinds pinned «Price list»",
    }
    assert _text(kinds[101], ".tgme_widget_service_strong_text") == "Pharma Kinds"
    photo = kinds[102].css_first("a.tgme_widget_message_service_photo")
    assert photo.attributes["href"] == "https://t.me/pharmakinds/102" and photo.css_first("img")
    pinned = kinds[103].css_first(".js-message_text")
    assert _cls(pinned.css_first("a")) == "tgme_widget_message_author_name"
    assert not [
        a for a in pinned.css("a") if re.search(r"/\d+$", a.attributes.get("href", ""))
    ]  # no pinned id
    for i in (100, 101, 102, 103):
        info = kinds[i].css_first(".tgme_widget_message_info")
        assert info.css_first(".tgme_widget_message_views") is None
        assert [_cls(c) for c in info.iter()] == ["tgme_widget_message_meta"]


def test_text_entities_have_the_real_attributes(kinds):
    links = kinds[104].css_first(".js-message_text").css("a")
    attrs = [(a.text(), dict(a.attributes)) for a in links]
    confirm = "return confirm('Open this link?\\n\\n'+this.href);"
    assert attrs == [
        (
            "https://example.org/shop",
            {"href": "https://example.org/shop", "target": "_blank", "rel": "noopener"},
        ),
        (
            "our list",
            {
                "href": "https://example.org/list",
                "target": "_blank",
                "rel": "noopener",
                "onclick": confirm,
            },
        ),
        ("@pharmahelp", {"href": "https://t.me/pharmahelp", "target": "_blank"}),
        ("#vitamins", {"href": "?q=%23vitamins"}),
        ("info@example.org", {"href": "mailto:info@example.org"}),
    ]
    assert '#vitamins</a><br/>Mail <a href="mailto:' in KINDS.read_text(encoding="utf-8")


def test_photo_album_and_video_markup(kinds):
    single = kinds[105].css_first("a.tgme_widget_message_photo_wrap")
    assert single.attributes["href"] == "https://t.me/pharmakinds/105"
    assert (
        "background-image:url('https://cdn4.telesco.pe/file/kinds105.jpg')"
        in single.attributes["style"]
    )
    assert re.fullmatch(r"tgme_widget_message_photo_wrap (blured )?\d+ \d+_\d+", _cls(single))
    grouped = kinds[106].css_first(".tgme_widget_message_grouped_wrap.js-message_grouped_wrap")
    items = grouped.css(".tgme_widget_message_grouped_layer > a")
    assert [a.attributes["href"] for a in items] == [
        f"https://t.me/pharmakinds/{i}?single" for i in (106, 107, 108)
    ]
    assert [_cls(a) for a in items] == [
        "tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo",
        "tgme_widget_message_video_player grouped_media_wrap blured js-message_video_player",
        "tgme_widget_message_photo_wrap grouped_media_wrap blured js-message_photo",
    ]
    assert _text(items[1], "time.message_video_duration") == "0:15"
    assert (
        "kinds107thumb.jpg"
        in items[1].css_first("i.tgme_widget_message_video_thumb").attributes["style"]
    )
    outer = kinds[106].css_first(".tgme_widget_message_bubble > .js-message_text")
    assert (
        _cls(outer.css_first("div")) == "tgme_widget_message_text js-message_text"
    )  # nested twice
    player = kinds[109].css_first("a.tgme_widget_message_video_player")
    assert _cls(player) == "tgme_widget_message_video_player js-message_video_player"
    assert _text(player, "time.message_video_duration.js-message_video_duration") == "0:42"
    assert player.css_first("div.message_video_play.js-message_video_play")
    assert (
        _text(player, ".message_media_not_supported_label")
        == "This media is not supported in your browser"
    )
    gif = kinds[126].css_first("a.tgme_widget_message_video_player")
    assert gif.css_first(".message_video_play") is None and gif.css_first("time") is None
    assert {"autoplay", "loop", "muted"} <= set(gif.css_first("video").attributes)
    round_ = kinds[110].css_first(
        ".tgme_widget_message_roundvideo_player.js-message_roundvideo_player"
    )
    assert _text(round_, "time.tgme_widget_message_roundvideo_duration") == "0:07"
    assert (
        "kinds110thumb.jpg"
        in round_.css_first("i.tgme_widget_message_roundvideo_thumb").attributes["style"]
    )


def test_voice_audio_document_stickers(kinds):
    voice = kinds[111].css_first("a.tgme_widget_message_voice_player.js-message_voice_player")
    audio = voice.css_first("audio.tgme_widget_message_voice")
    assert (
        "data-ogg" in audio.attributes and len(audio.attributes["data-waveform"].split(",")) == 100
    )
    assert [len(bar.css("s")) for bar in voice.css(".bar")] == [60, 60]
    assert _text(voice, "time.tgme_widget_message_voice_duration") == "0:05"
    icon = kinds[112].css_first(".tgme_widget_message_document_icon")
    assert _cls(icon) == "tgme_widget_message_document_icon accent_bg audio"
    assert (
        _text(kinds[112], ".tgme_widget_message_document_title"),
        _text(kinds[112], ".tgme_widget_message_document_extra"),
    ) == ("Morning routine", "Dr. Selam")
    assert (
        _cls(kinds[113].css_first(".tgme_widget_message_document_icon"))
        == "tgme_widget_message_document_icon accent_bg"
    )
    assert _text(kinds[113], ".tgme_widget_message_document_extra") == "1.2 MB"
    webp = kinds[114].css_first(
        ".tgme_widget_message_sticker_wrap.media_supported_cont > i.tgme_widget_message_sticker"
    )
    assert webp.attributes["data-webp"] == "https://cdn4.telesco.pe/file/kinds114.webp"
    twin = kinds[114].css_first(
        ".tgme_widget_message_bubble > .message_media_not_supported_wrap.media_not_supported_cont"
    )
    assert twin is not None
    tgs = kinds[115].css_first(
        "picture.tgme_widget_message_tgsticker source[type='application/x-tgsticker']"
    )
    assert tgs.attributes["srcset"] == "https://cdn4.telesco.pe/file/kinds115.tgs"
    webm = kinds[116].css_first(
        ".tgme_widget_message_videosticker.js-videosticker video.js-videosticker_video"
    )
    assert webm.attributes["src"] == "https://cdn4.telesco.pe/file/kinds116.webm"


def test_polls(kinds):
    def poll(node):
        options = node.css(".tgme_widget_message_poll_options > .tgme_widget_message_poll_option")
        return (
            _text(node, ".tgme_widget_message_poll_question"),
            _text(node, ".tgme_widget_message_poll_type"),
            [
                (
                    _text(o, ".tgme_widget_message_poll_option_text"),
                    _text(o, ".tgme_widget_message_poll_option_percent"),
                )
                for o in options
            ],
            _text(node, ".tgme_widget_message_voters"),
            [_cls(o.css_first(".tgme_widget_message_poll_option_bar")) for o in options],
        )

    assert poll(kinds[117]) == (
        "Which vitamin do you take?",
        "Anonymous Poll",
        [("Vitamin C", "60%"), ("Vitamin D", "30%"), ("Zinc", "10%")],
        "120",
        ["tgme_widget_message_poll_option_bar accent_bg"] * 3,
    )
    question, kind, options, voters, _ = poll(kinds[118])
    assert (question, voters) == ("Paracetamol max daily dose for adults?", "10")
    assert "Quiz" in kind and "Final results" in kind
    assert options == [("2 g", "20%"), ("4 g", "70%"), ("8 g", "10%")]
    assert (
        _cls(kinds[117].css_first(".tgme_widget_message_poll"))
        == "tgme_widget_message_poll js-poll"
    )
    assert kinds[117].css_first(".js-message_text") is None
    info = kinds[117].css_first(".tgme_widget_message_info")
    assert [_cls(c) for c in info.iter()][:4] == [
        "tgme_widget_message_voters",
        "copyonly",
        "tgme_widget_message_views",
        "copyonly",
    ]
    assert (
        '<a class="tgme_widget_message_poll_options" href="https://t.me/pharmakinds/117">  <div class="tgme_widget_message_poll_option">'
        in kinds[117].html
    )


def test_location_venue_contact_unsupported(kinds):
    pin = kinds[119].css_first("a.tgme_widget_message_location_wrap")
    assert (
        pin.attributes["href"]
        == "https://maps.google.com/maps?q=9.0105,38.7613&ll=9.0105,38.7613&z=16"
    )
    assert "ll=38.7613,9.0105" in pin.css_first(".tgme_widget_message_location").attributes["style"]
    venue = kinds[120].css_first("a.tgme_widget_message_location_wrap")
    assert "pt=38.789,8.995" in venue.css_first(".tgme_widget_message_location").attributes["style"]
    assert (
        _text(venue, ".tgme_widget_message_location_info .tgme_widget_message_location_title")
        == "Bole Pharmacy"
    )
    assert _text(venue, ".tgme_widget_message_location_address") == "Bole Road, Addis Ababa"
    card = kinds[121].css_first("a.tgme_widget_message_contact_wrap")
    assert card.css_first("i.tgme_widget_message_user_photo > img") is not None
    assert (
        _text(card, ".tgme_widget_message_contact_name"),
        _text(card, ".tgme_widget_message_contact_phone"),
    ) == ("Hana Tesfaye", "+251 911 000 000")
    box = kinds[122].css_first(".tgme_widget_message_bubble > .message_media_not_supported_wrap")
    assert (
        _text(box, ".message_media_not_supported_label") == "Please open Telegram to view this post"
    )
    link = box.css_first("a.message_media_view_in_telegram")
    assert (link.text(), link.attributes["href"]) == (
        "VIEW IN TELEGRAM",
        "https://t.me/pharmakinds/122",
    )
    assert kinds[122].css_first(".js-message_text") is None


def test_reply_forward_preview_signed_edited(kinds):
    reply = kinds[123].css_first("a.tgme_widget_message_reply")
    assert reply.attributes["href"] == "https://t.me/pharmakinds/105"
    assert _text(reply, ".tgme_widget_message_author_name") == "Pharma Kinds"
    assert (
        _cls(reply.css_first(".js-message_reply_text"))
        == "tgme_widget_message_text js-message_reply_text"
    )
    assert _text(reply, ".js-message_reply_text") == "Vitamin C 1000mg"
    assert [n.text() for n in kinds[123].css(".js-message_text")] == ["Still in stock?"]
    fwd = kinds[124].css_first(".tgme_widget_message_forwarded_from.accent_color")
    assert fwd.html.startswith(
        '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from&nbsp;<a'
    )
    name = fwd.css_first("a.tgme_widget_message_forwarded_from_name")
    assert (name.attributes["href"], name.text()) == (
        "https://t.me/EFDAEthiopia/2211",
        "EFDA Ethiopia",
    )
    preview = kinds[125].css_first("a.tgme_widget_message_link_preview")
    assert preview.attributes["href"] == "https://www.who.int/malaria"
    assert [_cls(c) for c in preview.iter()] == [
        "link_preview_site_name accent_color",
        "link_preview_image",
        "link_preview_title",
        "link_preview_description",
    ]
    raw = '<div class="link_preview_description" dir="auto">Key facts<br/>Symptoms<br/>Treatment</div>'
    assert raw in KINDS.read_text(encoding="utf-8")
    assert "kinds125preview.jpg" in preview.css_first("i.link_preview_image").attributes["style"]
    meta = kinds[127].css_first(".tgme_widget_message_meta")
    assert meta.html.startswith(
        '<span class="tgme_widget_message_meta"><span class="tgme_widget_message_from_author" dir="auto">'
        "Dr. Selam T.</span>,&nbsp;edited &nbsp;<a "
    )


def test_text_divs_hold_no_padding_whitespace():
    html = KINDS.read_text(encoding="utf-8")
    for match in re.finditer(
        r'<div class="tgme_widget_message_text js-message_(?:reply_)?text" dir="auto">(.*?)</div>',
        html,
    ):
        assert match.group(1) == match.group(1).strip()
    assert '</div></div><div class="tgme_widget_message_wrap js-widget_message_wrap">' in html


def test_odd_pages():
    layout = (FIXTURES / "layout_changed.html").read_text(encoding="utf-8")
    assert "tgme_widget_message" not in layout and layout.count('data-post="examplepharma/') == 5
    tree = HTMLParser(layout)
    assert tree.css("div.tgme_widget_post_wrap") and not tree.css(".tgme_widget_message")
    portal = HTMLParser((FIXTURES / "not_a_preview.html").read_text(encoding="utf-8"))
    assert portal.css_first("title").text() == "Telegram: Contact @pharmakindz"
    assert (
        portal.css_first(".tgme_channel_history") is None
        and portal.css_first("[data-post]") is None
    )
    assert (
        "you can contact @pharmakindz right away"
        in portal.css_first(".tgme_page_description").text()
    )
    empty = HTMLParser((FIXTURES / "empty_channel.html").read_text(encoding="utf-8"))
    section = empty.css_first("section.tgme_channel_history")
    assert section.css_first(".tme_no_messages_found").text() == "No posts found"
    assert empty.css_first("[data-post]") is None and empty.css_first(".tme_messages_more") is None
    bad = HTMLParser((FIXTURES / "bad_block.html").read_text(encoding="utf-8"))
    messages = bad.css("div.tgme_widget_message_wrap > div.tgme_widget_message")
    assert len(messages) == 5
    assert [m.attributes.get("data-post") for m in messages] == [
        "examplepharma/1201", "examplepharma/1202", "examplepharma/1203", None, "examplepharma/1206"
    ]  # fmt: skip
    assert [m.css_first("time[datetime]") is None for m in messages] == [
        False,
        True,
        False,
        False,
        False,
    ]


# -- the model and renderer --------------------------------------------------------------


def test_views_are_abbreviated_like_real_pages():
    shown = [
        format_views(v)
        for v in (
            2,
            825,
            1_000,
            1_200,
            4_150,
            17_890,
            620_400,
            1_012_000,
            2_050_000,
            12_540_000,
            24_000_000,
        )
    ]
    assert shown == [
        "2",
        "825",
        "1K",
        "1.2K",
        "4.15K",
        "17.8K",
        "620K",
        "1.01M",
        "2.05M",
        "12.5M",
        "24M",
    ]


def test_text_rendering_entities_and_emoji():
    html = render_text("Don't pay $5! ⚠️ 🇪🇹\nhttps://x.org/a, ok", [])
    assert html == (
        "Don&#39;t pay &#036;5&#33; "
        '<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/E29AA0.png\')"><b>⚠️</b></i> '
        '<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/F09F87AAF09F87B9.png\')"><b>🇪🇹</b></i>'
        '<br/><a href="https://x.org/a" target="_blank" rel="noopener">https://x.org/a</a>, ok'
    )
    linked = render_text(
        "Order: our shop & more", [TextLink("our shop", "https://a.example/?x=1&y=2")]
    )
    assert (
        'href="https://a.example/?x=1&amp;y=2"' in linked and ">our shop</a> &amp; more" in linked
    )


def test_corpus_api(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    corpus = Corpus()
    channel = corpus.add_channel("ch", "Old name", first_id=10)
    first = corpus.add_post("ch", service="channel_created", views=99)
    assert (first.id, first.views, first.text, first.kind) == (
        10,
        None,
        "Channel created",
        "service",
    )
    album = corpus.add_post("ch", text="two", album=[Photo(photo), Video(photo, 75)])
    assert album.id == 11 and list(album.ids) == [11, 12] and channel.next_id == 13
    assert len(album.photos) == 1 and album.album[1].file.endswith(".mp4")
    assert album.album[1].file in corpus.files
    renamed = corpus.add_post("ch", service=Service("title_changed", title="New name"))
    assert channel.title == "New name" and renamed.text == "Channel name was changed to «New name»"
    pin = corpus.add_post("ch", service=Service("pinned", pinned_id=11))
    assert pin.text == "New name pinned «two»" and pin.service.pinned_id == 11
    reply = corpus.add_post("ch", text="re", reply_to=11, media=Sticker("tgs"), skip_ids=2)
    assert reply.id == 17 and reply.media.file.endswith(".tgs")
    with pytest.raises(KeyError):
        corpus.add_post("ch", text="x", reply_to=999)
    with pytest.raises(ValueError):
        corpus.add_post("ch", text="x", text_links=[TextLink("missing", "https://a.example")])
    with pytest.raises(ValueError):
        corpus.add_post("ch", photos=[photo], media=Sticker())
    html = render_channel_page(
        channel, channel.sorted_posts(), before=None, after=None, base_url="http://r"
    )
    assert html.count('class="tgme_widget_message_wrap js-widget_message_wrap"') == 5
    assert 'data-post="ch/17"' in html and "</a> pinned «<span" in html


# -- the demo corpus, served -------------------------------------------------------------


def _kinds_of(corpus: Corpus) -> Counter:
    seen: Counter = Counter()
    for channel in corpus.channels.values():
        for post in channel.posts.values():
            seen[post.kind] += 1
            if post.service:
                seen[f"service:{post.service.action}"] += 1
            if isinstance(post.media, Sticker):
                seen[f"sticker:{post.media.format}"] += 1
            if post.kind == "poll":
                seen["quiz" if post.media.quiz else "poll:regular"] += 1
                seen["poll:closed"] += post.media.closed
            seen["album:video"] += any(isinstance(i, Video) for i in post.album)
            seen["reply"] += post.reply_to is not None
            seen["text_link"] += bool(post.text_links)
            for key, pattern in (
                ("mention", r"@\w{5}"),
                ("hashtag", r"#\w"),
                ("email", r"\w@\w+\.\w"),
                ("url", r"https?://"),
            ):
                seen[key] += bool(re.search(pattern, post.text or "")) and not post.service
            lp = post.link_preview
            if lp:
                seen["preview:multiline"] += "\n" in (lp.description or "")
                seen["preview:large" if lp.large_image else "preview:right"] += lp.image is not None
            seen["signed"] += post.author is not None
            seen["edited"] += post.edited
            if post.forwarded_from:
                seen["forward:link" if post.forwarded_from.url else "forward:hidden"] += 1
    return seen


ALL_KINDS = {
    "photo", "album", "album:video", "text", "video", "gif", "round_video", "voice", "audio",
    "document", "sticker:webp", "sticker:tgs", "sticker:webm", "poll:regular", "quiz", "poll:closed",
    "location", "venue", "contact", "unsupported", "service:channel_created", "service:title_changed",
    "service:photo_changed", "service:photo_removed", "service:pinned", "reply", "text_link", "mention",
    "hashtag", "email", "url", "preview:multiline", "preview:large", "preview:right", "signed", "edited",
    "forward:link", "forward:hidden",
}  # fmt: skip


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return find_sample_photos(limit=4)


def test_demo_corpus_has_every_kind_and_the_real_mix(photos):
    now = datetime(2025, 3, 1, tzinfo=UTC)
    corpus = build_demo_corpus(photos, now=now)
    assert corpus == build_demo_corpus(photos, now=now)
    seen = _kinds_of(corpus)
    assert {k for k, n in seen.items() if n} >= ALL_KINDS, ALL_KINDS - set(seen)
    regular = sum(
        n
        for k, n in seen.items()
        if ":" not in k
        and k in {"photo", "album", "text", "video", "gif", "audio", "document"} | EXOTIC
    )
    assert 0.09 < sum(seen[k] for k in EXOTIC) / regular < 0.16  # about 1 in 8
    assert (
        sum(len(p.photos) for c in corpus.channels.values() for p in c.posts.values()) >= 542
    )  # as before
    for name, channel in corpus.channels.items():
        posts = channel.sorted_posts()
        if channel.has_preview:
            assert len(posts) == 240
            assert posts[0].service.action == "channel_created" and posts[0].id == min(
                channel.posts
            )
            assert all(a.date <= b.date for a, b in itertools.pairwise(posts)), name
            for post in posts:
                if post.reply_to:
                    assert post.reply_to < post.id and channel.posts[post.reply_to].text
    assert next(iter(corpus.files)).endswith(".jpg")  # callers take the first file as a photo


def _urls(html: str) -> set[str]:
    tree = HTMLParser(html)
    urls = set()
    for node in tree.css("[href], [src], [srcset], [data-webp], [style]"):
        for key in ("href", "src", "srcset", "data-webp"):
            if node.attributes.get(key):
                urls.add(node.attributes[key])
        urls.update(re.findall(r"url\('([^']+)'\)", node.attributes.get("style") or ""))
    return urls


@pytest.fixture(scope="module")
def served(photos):
    corpus = build_demo_corpus(
        photos, posts_per_channel=100, days=8, now=datetime(2025, 3, 1, tzinfo=UTC)
    )
    with TelegramWebReplica(corpus, page_size=20) as replica:
        yield replica


def test_every_url_on_every_demo_page_is_served(served):
    base = served.base_url
    checked = 0
    with httpx.Client(timeout=10) as client:
        for name, channel in served.corpus.channels.items():
            if not channel.has_preview:
                continue
            url, seen_ids, local = f"{base}/s/{name}", [], set()
            while url:
                page = client.get(url)
                assert page.status_code == 200
                tree = HTMLParser(page.text)
                seen_ids += [
                    int(n.attributes["data-post"].split("/")[1])
                    for n in tree.css("div.tgme_widget_message[data-post]")
                ]
                for found in _urls(page.text):
                    absolute = urljoin(url, found)
                    if absolute.startswith(base):
                        local.add(absolute)
                more = tree.css_first("a.tme_messages_more[data-before]")
                url = urljoin(url, more.attributes["href"]) if more else None
            assert sorted(seen_ids) == sorted(channel.posts)  # paging still walks every post
            for absolute in sorted(local):
                r = client.get(absolute)
                assert r.status_code == 200, absolute
                checked += 1
                if "/file/" in absolute:
                    assert r.content == served.corpus.photo_bytes(
                        urlsplit(absolute).path.rsplit("/", 1)[1]
                    )
    assert checked > 200


def test_demo_pages_use_only_real_class_lists_and_hide_views_of_service_messages(served):
    seen = Counter()
    for name, channel in served.corpus.channels.items():
        if not channel.has_preview:
            continue
        color = f" user-color-{channel.color}" if channel.color is not None else ""
        allowed = {
            k: v.replace(" js-widget_message", f"{color} js-widget_message")
            for k, v in CLASSES.items()
        }
        posts = channel.sorted_posts()
        html = render_channel_page(
            channel, posts, before=None, after=None, base_url=served.base_url
        )
        for node in HTMLParser(html).css("div.tgme_widget_message[data-post]"):
            post = channel.posts[int(node.attributes["data-post"].split("/")[1])]
            kind = post.kind
            if kind == "service":
                kind = "service_photo" if post.service.action == "photo_changed" else "service"
                assert node.css_first(".tgme_widget_message_views") is None
            elif kind not in ("sticker", "round_video"):
                kind = "other"
                assert _text(node, ".tgme_widget_message_views") == format_views(post.views)
            assert _cls(node) == allowed[kind]
            seen[kind] += 1
            if post.album:
                hrefs = [
                    a.attributes["href"] for a in node.css(".tgme_widget_message_grouped_layer > a")
                ]
                assert hrefs == [f"https://t.me/{name}/{i}?single" for i in post.ids]
    assert set(seen) == set(CLASSES)


def test_replica_add_post_takes_the_new_options(served, photos):
    post = served.corpus.add_post(
        "CheMed123",
        text="Ask @EFDAEthiopia",
        photos=[photos[0]],
        forwarded_from=Forward("Abebe K."),
        link_preview=LinkPreview(
            "https://a.example", "A", "B", "one\ntwo", photos[1], large_image=False
        ),
    )
    html = httpx.get(f"{served.base_url}/s/CheMed123").text
    node = HTMLParser(html).css(f'div[data-post="CheMed123/{post.id}"]')[0]
    assert node.css_first("i.link_preview_right_image") is not None
    assert (
        _cls(node.css_first("span.tgme_widget_message_forwarded_from_name"))
        == "tgme_widget_message_forwarded_from_name"
    )
    assert (
        httpx.get(
            urljoin(
                served.base_url,
                re.findall(
                    r"url\('([^']+)'\)",
                    node.css_first("i.link_preview_right_image").attributes["style"],
                )[0],
            )
        ).status_code
        == 200
    )
