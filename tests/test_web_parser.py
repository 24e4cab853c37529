"""The t.me/s parser, on stored pages and on pages served by the local replica."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from databox.replica.telegram_web import (
    Forward,
    LinkPreview,
    TelegramWebReplica,
    build_demo_corpus,
    format_views,
)
from databox.samples import find_sample_photos
from databox.telegram.web import parse_channel_page, parse_views
from databox.telegram.web_parse import PreviewLayoutError

FIXTURES = Path(__file__).parent / "fixtures"
UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("401", 401),
        ("0", 0),
        ("1.2K", 1200),
        ("12.7K", 12700),
        ("127K", 127000),
        ("4.35K", 4350),  # float would give 4349
        ("1.1M", 1100000),
        ("1.01M", 1010000),
        ("12.5M", 12500000),
        ("9.77M", 9770000),
        ("620K", 620000),
        ("²", None),
        ("2M", 2000000),
        ("1.5k", 1500),
        (" 845 ", 845),
        ("1,204", 1204),
        ("", None),
        ("   ", None),
        (None, None),
        ("views", None),
    ],
)
def test_parse_views(text, expected):
    assert parse_views(text) == expected


@pytest.mark.parametrize(
    ("views", "shown", "parsed"),
    [
        (0, "0", 0),
        (999, "999", 999),
        (1000, "1K", 1000),
        (1299, "1.29K", 1290),
        (12_750, "12.7K", 12_700),
        (620_400, "620K", 620_000),
        (999_999, "999K", 999_000),
        (1_000_000, "1M", 1_000_000),
        (1_019_999, "1.01M", 1_010_000),
        (1_149_999, "1.14M", 1_140_000),
        (24_000_000, "24M", 24_000_000),
    ],
)
def test_replica_abbreviates_views_like_the_preview(views, shown, parsed):
    # At most three significant digits, truncated (catalog §4: 1.2K, 17.8K, 620K,
    # 1.01M, 24M), so parsing the page gives the truncated number back.
    assert format_views(views) == shown
    assert parse_views(shown) == parsed


def test_sources_md_example_page():
    page = parse_channel_page((FIXTURES / "tme_s_example.html").read_text(), "examplepharma")
    assert page.before == 1201
    first, second = page.posts
    assert [first.message_id, second.message_id] == [1201, 1202]
    assert first.date == datetime(2025, 1, 15, 8, 30, tzinfo=UTC)
    assert second.date == datetime(2025, 1, 15, 11, 5, 42, tzinfo=UTC)
    assert first.text == "Paracetamol 500mg, 10 tablets\nPrice: 120 ETB\nCall 0911000000"
    assert second.text == "Open today 8:00–20:00. Vitamin C 1000mg back in stock."
    assert (first.views, first.views_text, second.views) == (1200, "1.2K", 845)
    assert first.photo_urls == ["https://cdn4.telesco.pe/file/exampleA1b2C3.jpg"]
    assert second.photo_urls == []
    assert (first.edited, second.edited) == (False, True)
    assert first.author == second.author == "Example Pharma"
    assert first.url == "https://t.me/examplepharma/1201"
    assert first.forwarded_from is None and first.link_preview is None
    assert first.has_media and not second.has_media


def _variety_parts() -> tuple[str, dict[str, str]]:
    """The variety page without its damaged blocks, and each damaged block alone
    (split at the fixture's comments)."""
    html = (FIXTURES / "tme_s_variety.html").read_text()
    marks = {
        "damaged": "<!-- a damaged post:",
        "orphan": "<!-- no data-post: skipped -->",
        "others": "<!-- a malformed id and another channel's post: skipped -->",
        "duplicate": "<!-- the same post twice: kept once -->",
    }
    at = {name: html.index(mark) for name, mark in marks.items()}
    bad = {
        "damaged": html[at["damaged"] : at["orphan"]],
        "orphan": html[at["orphan"] : at["others"]],
        "others": html[at["others"] : at["duplicate"]],
    }
    # The fixture's second copy of 1320 has no date: give it one, and keep the
    # undated copy as a damaged block of its own.
    undated = '<div class="tgme_widget_message_text js-message_text" dir="auto">duplicate</div>'
    dated = undated + (
        '<a class="tgme_widget_message_date" href="https://t.me/examplepharma/1320">'
        '<time datetime="2025-01-17T00:00:00+00:00"></time></a>'
    )
    end = html.rindex("</section>")
    bad["undated duplicate"] = html[html.rindex("<div", 0, html.index(undated)) : end]
    good = html[: at["damaged"]] + html[at["duplicate"] :].replace(undated, dated)
    return good, bad


def test_variety_page_albums_forwards_and_previews():
    good, _ = _variety_parts()
    page = parse_channel_page(good, "examplepharma")
    # The "after" link comes first in the page; data-before is the older one.
    assert page.before == 1300 and page.after == 1320
    assert page.channel_title == "Example Pharma"
    # A duplicate is kept once (the first); case of the channel name does not matter.
    posts = {p.message_id: p for p in page.posts}
    assert list(posts) == [1300, 1305, 1310, 1320]
    assert posts[1320].text == "last"

    album = posts[1300]
    assert album.photo_urls == [
        "https://cdn4.telesco.pe/file/albumA.jpg",
        "https://cdn4.telesco.pe/file/albumB.png",  # double-quoted url("…")
        "https://cdn4.telesco.pe/file/albumC.jpg",  # unquoted url(…)
    ]
    assert (album.media_kind, album.album_ids) == ("album", [1300, 1301, 1302])
    assert album.media == {"items": [{"kind": "photo", "thumb_url": None, "duration": None}] * 3}
    assert album.text == "⚠️ Recall & refund\n\nBatch A12 — see efda.gov.et/r"
    assert album.links == [
        {"type": "url", "label": "efda.gov.et/r", "url": "https://efda.gov.et/r"}
    ]
    assert album.date == datetime(2025, 1, 16, 3, 0, tzinfo=UTC)  # +03:00 → UTC
    assert album.views == 1_100_000
    assert album.edited and album.signed_author == "Dr. Selam"
    assert album.author == "Example Pharma"

    fwd = posts[1305]
    assert fwd.forwarded_from == {"name": "Abebe K.", "url": None}
    assert fwd.link_preview == {
        "site_name": "World Health Organization",
        "title": "Malaria",
        "description": "Key facts & treatment.",
        "url": "https://www.who.int/malaria",
        "image_url": "https://cdn4.telesco.pe/file/who.jpg",
    }
    # The quoted reply's author, text and thumbnail are not this post's.
    assert fwd.text == "More info 👇\nhttps://www.who.int/malaria"
    assert fwd.reply_to_message_id == 1201
    assert fwd.author == "Example Pharma"
    assert fwd.photo_urls == [] and fwd.media_kind == "none" and not fwd.has_media
    assert fwd.views == 12_700

    video = posts[1310]
    assert video.has_video and video.has_media and video.text is None
    assert video.media_kind == "video" and video.media["duration"] is None
    assert video.video_thumb_urls == ["https://cdn4.telesco.pe/file/thumb1310.jpg"]
    assert video.media["thumb_url"] == "https://cdn4.telesco.pe/file/thumb1310.jpg"
    assert video.forwarded_from == {
        "name": "EFDA Ethiopia",
        "url": "https://t.me/EFDAEthiopia/2211",
    }
    assert video.date == datetime(2025, 1, 16, 10, 0, tzinfo=UTC)  # "Z" suffix
    assert video.author is None

    assert posts[1320].text == "last"


@pytest.mark.parametrize(
    ("part", "post", "problem"),
    [
        # No date, a photo without its URL: unreadable, so the page fails.
        ("damaged", "examplepharma/1312", "photo without a background-image URL"),
        ("orphan", "#2 (after examplepharma/1300)", "no usable id (no data-post"),
        ("others", "examplepharma/abc", "no usable id (data-post='examplepharma/abc'"),
        ("undated duplicate", "examplepharma/1320", "has no <time datetime>"),
    ],
)
def test_variety_page_damaged_blocks_fail_the_page(part, post, problem):
    good, bad = _variety_parts()
    first_post_end = good.index("<!-- forwarded from a hidden user")
    html = good[:first_post_end] + bad[part] + good[first_post_end:]
    with pytest.raises(PreviewLayoutError) as caught:
        parse_channel_page(html, "examplepharma", "https://t.me/s/examplepharma")
    err = caught.value
    assert str(err).startswith("the t.me preview layout changed: ")
    assert err.post == post and problem in str(err)
    assert "https://t.me/s/examplepharma" in str(err)
    if part == "others":  # another channel's post is not this channel's either
        assert [o.post for o in err.others] == ["otherchannel/99999"]


def test_page_without_a_message_history_is_not_a_channel_preview():
    with pytest.raises(PreviewLayoutError, match="not a channel preview page"):
        parse_channel_page("<html><body><p>nothing</p></body></html>", "examplepharma")


# -- pages served by the replica -----------------------------------------------------------


@pytest.fixture(scope="module")
def replica():
    photos = find_sample_photos(limit=4)
    corpus = build_demo_corpus(
        photos, posts_per_channel=60, days=6, now=datetime(2025, 3, 1, tzinfo=UTC)
    )
    with TelegramWebReplica(corpus, page_size=20) as server:
        yield server


def _all_pages(replica: TelegramWebReplica, channel: str):
    """Every page of a channel, newest first, following data-before like a client."""
    url, pages = f"{replica.base_url}/s/{channel}", []
    while True:
        page = parse_channel_page(httpx.get(url).text, channel)
        pages.append(page)
        if page.before is None:
            return pages
        url = f"{replica.base_url}/s/{channel}?before={page.before}"


@pytest.mark.parametrize("channel", ["CheMed123", "lobelia4cosmetics", "tikvahpharma"])
def test_replica_pages_match_the_corpus(replica, channel):
    pages = _all_pages(replica, channel)
    expected = replica.corpus.channels[channel].sorted_posts()
    assert len(pages) == 3  # 60 posts, 20 per page
    for page in pages:
        ids = [p.message_id for p in page.posts]
        assert ids == sorted(ids) and len(ids) == 20
    parsed = [p for page in reversed(pages) for p in page.posts]
    assert [p.message_id for p in parsed] == [p.id for p in expected]

    for got, want in zip(parsed, expected, strict=True):
        assert got.date == want.date and got.date.tzinfo == UTC
        assert got.text == want.text
        want_views = None if want.views is None else parse_views(format_views(want.views))
        assert got.views == want_views
        assert got.photo_urls == [replica.file_url(name) for name in want.photos]
        assert got.edited == want.edited
        assert got.signed_author == want.author
        assert got.author == replica.corpus.channels[channel].title
        assert got.reply_to_message_id == want.reply_to
        if want.kind == "service":
            assert (got.message_type, got.action) == ("service", want.service.action)
            assert got.media_kind == "none" and not got.has_media
        else:
            assert got.message_type == "post"
            assert got.media_kind == ("none" if want.kind == "text" else want.kind)
            assert got.album_ids == (list(want.ids) if want.album else [])
        if want.forwarded_from:
            assert got.forwarded_from == {
                "name": want.forwarded_from.name,
                "url": want.forwarded_from.url,
            }
        else:
            assert got.forwarded_from is None
        if want.link_preview:
            assert got.link_preview is not None
            assert got.link_preview["url"] == want.link_preview.url
            assert got.link_preview["title"] == want.link_preview.title
            assert got.link_preview["description"] == want.link_preview.description
        else:
            assert got.link_preview is None


def test_demo_corpus_has_every_kind_of_post(replica):
    posts = [
        p
        for name in ("CheMed123", "lobelia4cosmetics", "tikvahpharma")
        for p in replica.corpus.channels[name].sorted_posts()
    ]
    assert any(len(p.photos) == 1 for p in posts)
    assert any(len(p.photos) >= 2 for p in posts)
    assert any(not p.photos and p.text for p in posts)
    assert any(p.edited for p in posts)
    assert any(p.forwarded_from for p in posts)
    assert any(p.link_preview for p in posts)
    assert any(p.author for p in posts)
    assert any((p.views or 0) >= 1_000_000 for p in posts)
    assert any(1_000 <= (p.views or 0) < 1_000_000 for p in posts)
    assert any("\n" in (p.text or "") for p in posts)
    # Ids grow with time, and albums and deleted posts leave gaps.
    for name in ("CheMed123", "lobelia4cosmetics", "tikvahpharma"):
        chan = replica.corpus.channels[name].sorted_posts()
        assert all(a.date <= b.date for a, b in itertools.pairwise(chan))
        assert any(b.id - a.id > 1 for a, b in itertools.pairwise(chan))


def test_demo_corpus_is_deterministic():
    photos = find_sample_photos(limit=3)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    a = build_demo_corpus(photos, seed=3, posts_per_channel=30, now=now)
    b = build_demo_corpus(photos, seed=3, posts_per_channel=30, now=now)
    assert a == b
    assert a != build_demo_corpus(photos, seed=4, posts_per_channel=30, now=now)


def test_replica_escapes_text_and_keeps_emoji_and_line_breaks(replica):
    text = 'Buy 2 & get 1 <free> "now" 💊✅\nline two\n\nhttps://example.com/a?b=1&c=2'
    new_id = replica.add_post(
        "CheMed123",
        text=text,
        views=1_234_567,
        edited=True,
        author="Hana <admin>",
        forwarded_from=Forward("A & B", None),
        link_preview=LinkPreview("https://example.com/a?b=1&c=2", "Ex & Co", "T <1>", None),
        date=datetime(2025, 3, 1, 12, tzinfo=UTC),
    )
    post = parse_channel_page(httpx.get(f"{replica.base_url}/s/CheMed123").text, "CheMed123").posts[
        -1
    ]
    assert post.message_id == new_id
    assert post.text == text
    assert post.views == 1_230_000 and post.views_text == "1.23M"
    assert post.edited and post.signed_author == "Hana <admin>"
    assert post.forwarded_from == {"name": "A & B", "url": None}
    assert post.link_preview["site_name"] == "Ex & Co"
    assert post.link_preview["title"] == "T <1>"
    assert post.link_preview["description"] is None
    assert post.date == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_replica_routes(replica):
    base = replica.base_url
    # No preview, and unknown channels, redirect to the plain page like t.me.
    for name in ("privatepharma", "nosuchchannel"):
        r = httpx.get(f"{base}/s/{name}")
        assert r.status_code == 302 and r.headers["location"].endswith(f"/{name}")
        followed = httpx.get(f"{base}/s/{name}", follow_redirects=True)
        assert followed.status_code == 200 and "/s/" not in followed.url.path
    plain = httpx.get(f"{base}/CheMed123")
    assert "tgme_page_extra" in plain.text and "subscribers" in plain.text
    # Usernames are case-insensitive, data-post keeps the channel's own spelling.
    page = parse_channel_page(httpx.get(f"{base}/s/chemed123").text, "CheMed123")
    assert page.posts
    # before is exclusive; past the start there are no posts and no link, while the
    # header counts the channel's photos: a page that shows posts in its header but
    # yields none is a failure, never "0 new posts".
    first_id = replica.corpus.channels["CheMed123"].sorted_posts()[0].id
    url = f"{base}/s/CheMed123?before={first_id}"
    with pytest.raises(PreviewLayoutError, match=r"counts .* photos.* but the page shows no"):
        parse_channel_page(httpx.get(url).text, "CheMed123", url)
    # Photos are served byte for byte.
    name = next(iter(replica.corpus.files))
    r = httpx.get(replica.file_url(name))
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content == replica.corpus.photo_bytes(name)
    assert httpx.get(f"{base}/file/nope.jpg").status_code == 404
    assert any(p.startswith("/s/chemed123") for p in replica.request_log)


def test_replica_after_paging(replica):
    posts = replica.corpus.channels["lobelia4cosmetics"].sorted_posts()
    html = httpx.get(f"{replica.base_url}/s/lobelia4cosmetics?after={posts[4].id}").text
    page = parse_channel_page(html, "lobelia4cosmetics")
    assert [p.message_id for p in page.posts] == [p.id for p in posts[5:25]]
    assert page.before == posts[5].id
    assert f'data-after="{posts[24].id}"' in html


def test_add_post_default_date_is_not_older_than_the_last_post(replica):
    chan = replica.corpus.channels["tikvahpharma"]
    last = chan.sorted_posts()[-1]
    new_id = replica.add_post("tikvahpharma", text="now")
    new = chan.posts[new_id]
    assert new_id > last.id and new.date >= last.date
    assert new.date <= datetime.now(UTC) + timedelta(seconds=1) or new.date == last.date


KINDS_PAGE = FIXTURES / "tme" / "kinds.html"


def test_class_order_and_repeated_pages_read_the_same():
    """The parser resolves each class string once per process: reading a page again, or
    a page whose elements list the same classes in another order, gives the same posts."""
    html = KINDS_PAGE.read_text()
    first = parse_channel_page(html, "pharmakinds")
    again = parse_channel_page(html, "pharmakinds")
    assert again.posts == first.posts and len(first.posts) == 26
    text = 'class="tgme_widget_message_text js-message_text"'
    swapped = html.replace(text, 'class="js-message_text  tgme_widget_message_text"')
    assert swapped != html
    for _ in range(2):
        assert parse_channel_page(swapped, "pharmakinds").posts == first.posts


def test_an_unknown_class_fails_every_page_that_shows_it():
    """An unknown tgme_widget_message* class is never remembered as harmless: the second
    page showing it fails like the first, and a clean page still parses after them."""
    html = KINDS_PAGE.read_text()
    unknown = html.replace(
        'class="tgme_widget_message_footer', 'class="tgme_widget_message_footer_v2', 1
    )
    assert unknown != html
    for _ in range(2):
        with pytest.raises(
            PreviewLayoutError, match="unknown class 'tgme_widget_message_footer_v2'"
        ):
            parse_channel_page(unknown, "pharmakinds")
    assert len(parse_channel_page(html, "pharmakinds").posts) == 26
