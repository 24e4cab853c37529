"""Faults of t.me and its CDN are bounded and isolated: the web source against the
replica's fault modes over real loopback HTTP (trickling, silent, oversized, wrong
content, layout drift), the photo failures on the message records and in the
warehouse, and the HTTP settings."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from databox.config import Settings
from databox.errors import ConfigError
from databox.lake import DataLake
from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus
from databox.samples import find_sample_photos
from databox.telegram import web_http
from databox.telegram.message import TelegramMessage
from databox.telegram.scrape import make_source, scrape_channels
from databox.telegram.web import WebFetchError, WebLayoutError, WebPreviewSource, sniff_image
from tests.telegram_helpers import fetch_batches

UTC = timezone.utc
CHANNEL = "CheMed123"
PAGE = f"/s/{CHANNEL}"
FAST = {"deadline": 0.5, "connect_timeout": 0.5, "retries": 1, "backoff": 0.01}


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return find_sample_photos(limit=4)


@pytest.fixture
def replica(photos):
    # 30 posts: two pages of 20.
    corpus = build_demo_corpus(
        photos, posts_per_channel=30, days=3, now=datetime(2025, 3, 1, tzinfo=UTC)
    )
    with TelegramWebReplica(corpus, page_size=20) as server:
        yield server


@pytest.fixture
def lake(tmp_path) -> DataLake:
    return DataLake(tmp_path / "lake")


def fetch(source, lake, after_id=None, logs=None) -> list[TelegramMessage]:
    return [m for batch in fetch_batches(source, lake, CHANNEL, after_id, logs) for m in batch]


def photo_post(replica, photos, n: int = 1) -> tuple[int, list[str]]:
    post_id = replica.add_post(CHANNEL, text="photo post", photos=photos[:n])
    return post_id, replica.corpus.channels[CHANNEL].posts[post_id].photos


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def landed_files(lake: DataLake) -> list[Path]:
    folder = lake.images_dir / CHANNEL
    return (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []
    )


# -- deadlines ---------------------------------------------------------------------------


def test_a_trickling_page_fails_within_the_deadline(replica, lake):
    # 64 bytes every 50 ms: each read is quick, so a per-read timeout never fires.
    replica.trickle(PAGE, chunk_bytes=64, interval=0.05)
    started = time.monotonic()
    with pytest.raises(WebFetchError) as info:
        fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0  # 2 attempts x 0.5 s, plus slack for a busy machine
    message = str(info.value)
    assert f"{replica.base_url}{PAGE}" in message and "0.5 s deadline" in message
    assert "TELEGRAM_HTTP_DEADLINE" in message and "2 attempts" in message
    assert replica.request_log.count(PAGE) == 2
    assert 0 < replica.body_bytes_sent(PAGE) < 20_000  # it was reading, slowly
    assert lake.read_messages(CHANNEL) == []


@pytest.mark.parametrize("headers_first", [False, True])
def test_a_silent_page_fails_within_the_deadline(replica, lake, headers_first):
    replica.stall(PAGE, headers_first=headers_first)
    started = time.monotonic()
    with pytest.raises(WebFetchError, match=r"0\.5 s deadline") as info:
        fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    assert time.monotonic() - started < 3.0
    assert info.value.url == f"{replica.base_url}{PAGE}"


def test_a_page_that_recovers_within_the_retries_lands(replica, lake):
    replica.stall(PAGE, times=1)
    messages = fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    assert len(messages) == 30
    assert replica.request_log.count(PAGE) == 2


def test_retry_sleeps_never_exceed_the_cap(replica, lake, monkeypatch):
    monkeypatch.setattr(web_http, "MAX_RETRY_SLEEP", 0.05)
    replica.serve_as(PAGE, "text/plain", "slow down", status=429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(WebFetchError, match="HTTP 429"):
        fetch(WebPreviewSource(replica.base_url, **{**FAST, "retries": 2}), lake)
    assert time.monotonic() - started < 2.0
    assert replica.request_log.count(PAGE) == 3


def test_a_trickling_photo_fails_alone(replica, lake, photos):
    post_id, [name] = photo_post(replica, photos)
    replica.trickle(f"/file/{name}", chunk_bytes=256, interval=0.05)
    started = time.monotonic()
    messages = fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    assert time.monotonic() - started < 5.0
    assert len(messages) == 31  # the channel landed
    msg = messages[-1]
    assert msg.message_id == post_id and msg.photo_status == "failed"
    assert "0.5 s deadline" in msg.photo_errors[0]["error"]
    assert msg.photo_errors[0]["url"] == replica.file_url(name)


# -- photos that are not photos ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("text/html; charset=utf-8", "<html><body>Access denied</body></html>", "Content-Type"),
        ("image/jpeg", b"<html>an error page said to be a JPEG</html>", "not a JPEG, PNG"),
        ("image/jpeg", b"", "empty body"),
    ],
)
def test_a_photo_that_is_not_an_image_is_never_written(
    replica, lake, photos, content_type, body, error
):
    post_id, [name] = photo_post(replica, photos)
    replica.serve_as(f"/file/{name}", content_type, body)
    messages = fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    msg = messages[-1]
    assert msg.message_id == post_id and msg.photo_status == "failed" and msg.image_paths == []
    assert error in msg.photo_errors[0]["error"]
    assert replica.request_log.count(f"/file/{name}") == 1  # not retried within the run
    assert not any(p.name.startswith(f"{post_id}.") for p in landed_files(lake))
    # Everything that did land is a real image under its real extension.
    for path in landed_files(lake):
        assert sniff_image(path.read_bytes()) == path.suffix


def test_a_photo_keeps_its_real_type(replica, lake, photos):
    post_id, [name] = photo_post(replica, photos)
    assert name.endswith(".jpg")
    replica.serve_as(f"/file/{name}", "image/jpeg", png_bytes())
    msg = fetch(WebPreviewSource(replica.base_url, **FAST), lake)[-1]
    assert msg.photo_status == "ok"
    assert msg.image_paths == [lake.relative(lake.image_path(CHANNEL, post_id, 0, ".png"))]
    assert (lake.root / msg.image_paths[0]).read_bytes() == png_bytes()


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_photo_is_not_read_to_the_end(replica, lake, photos, declare_length):
    post_id, [name] = photo_post(replica, photos)
    path = f"/file/{name}"
    assert replica.corpus.channels[CHANNEL].posts[post_id].photos == [name]
    replica.oversize(path, 200 * 1024 * 1024, declare_length=declare_length)
    limit = max(p.stat().st_size for p in replica.corpus.files.values())  # real photos fit
    source = WebPreviewSource(replica.base_url, **FAST, max_photo_bytes=limit)
    messages = fetch(source, lake)
    msg = messages[-1]
    assert msg.photo_status == "failed"
    assert (
        f"over the limit of {limit} bytes (TELEGRAM_MAX_PHOTO_BYTES)"
        in msg.photo_errors[0]["error"]
    )
    # The client hung up early: a small part of the 200 MB went out (socket buffers).
    time.sleep(0.2)
    assert replica.body_bytes_sent(path) < 40 * 1024 * 1024
    assert replica.request_log.count(path) == 1
    # The other photo posts still landed.
    others = [m for m in messages[:-1] if m.raw["photo_urls"]]
    assert others and all(m.photo_status == "ok" for m in others)


def test_an_album_with_one_failing_photo_is_partial(replica, lake, photos):
    post_id, names = photo_post(replica, photos, n=3)
    replica.fail(f"/file/{names[1]}", 404)
    msg = fetch(WebPreviewSource(replica.base_url, **FAST), lake)[-1]
    assert msg.message_id == post_id and msg.photo_status == "partial"
    assert msg.image_paths == [
        lake.relative(lake.image_path(CHANNEL, post_id, i, ".jpg")) for i in (0, 2)
    ]
    assert msg.photo_errors == [
        {"index": 1, "url": replica.file_url(names[1]), "error": "HTTP 404 Not Found"}
    ]


# -- the replica itself ------------------------------------------------------------------


def test_the_replica_stops_promptly_with_stalled_and_trickling_connections(photos):
    before = set(threading.enumerate())
    corpus = build_demo_corpus(photos, posts_per_channel=5)
    replica = TelegramWebReplica(corpus).start()
    replica.stall(PAGE, limit=60)
    replica.trickle("/s/lobelia4cosmetics", chunk_bytes=1, interval=1.0)
    clients = []
    for path in (PAGE, "/s/lobelia4cosmetics", PAGE):
        sock = socket.create_connection((replica.host, replica.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        clients.append(sock)
    idle = socket.create_connection((replica.host, replica.port))  # sends nothing at all
    clients.append(idle)
    deadline = time.monotonic() + 2
    while len(replica.request_log) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(replica.request_log) == 3
    started = time.monotonic()
    replica.stop()
    assert time.monotonic() - started < 2.0
    for sock in clients:
        sock.close()
    assert set(threading.enumerate()) <= before  # no handler thread outlives the replica


# -- layout drift ------------------------------------------------------------------------


def _undate(post_id: int):
    """Drop the ``datetime`` of one post's ``<time>``: a block the parser cannot read."""

    def rewrite(html: str) -> str:
        pattern = rf'(data-post="{CHANNEL}/{post_id}".*?<time)\s+datetime="[^"]*"'
        out, n = re.subn(pattern, r"\1", html, count=1, flags=re.S)
        return out if n else html

    return rewrite


def _settings(replica, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "TELEGRAM_WEB_BASE_URL": replica.base_url,
            "TELEGRAM_CHANNELS": CHANNEL,
            "DATA_LAKE_DIR": str(tmp_path / "lake"),
            "TELEGRAM_HTTP_DEADLINE": "1",
            "TELEGRAM_HTTP_CONNECT_TIMEOUT": "1",
            "TELEGRAM_HTTP_RETRIES": "1",
        }
    )


def test_an_unreadable_post_fails_the_channel_and_the_watermark_waits(replica, tmp_path):
    settings = _settings(replica, tmp_path)
    lake = DataLake(settings.data_lake_dir)
    assert scrape_channels(settings, lake, log=lambda m: None).ok
    mark = lake.read_watermark(CHANNEL)
    new = [replica.add_post(CHANNEL, text=f"new {i}") for i in range(3)]
    replica.rewrite(PAGE, _undate(new[1]))

    report = scrape_channels(settings, lake, log=lambda m: None)
    assert not report.ok
    error = report.failed[0].error
    assert "WebLayoutError" in error and f"{replica.base_url}{PAGE}" in error
    assert f"{CHANNEL}/{new[1]}" in error
    kept = list((lake.quarantine_dir / "telegram_web" / CHANNEL).glob("*.html"))
    assert len(kept) == 1 and str(kept[0]) in error
    assert f'data-post="{CHANNEL}/{new[1]}"' in kept[0].read_text()
    # Nothing past the watermark landed: not the posts before the bad block either.
    assert lake.read_watermark(CHANNEL) == mark
    assert max(r["message_id"] for r in lake.read_messages(CHANNEL)) == mark

    # The same bad block again: the same quarantine file, not a new one.
    assert not scrape_channels(settings, lake, log=lambda m: None).ok
    assert list((lake.quarantine_dir / "telegram_web" / CHANNEL).glob("*.html")) == kept

    replica.clear_faults()  # the parser (or the page) is fixed
    report = scrape_channels(settings, lake, log=lambda m: None)
    assert report.ok, report.failed
    assert report.channels[0].posts == 3
    assert lake.read_watermark(CHANNEL) == new[-1]
    assert [r["message_id"] for r in lake.read_messages(CHANNEL)][-3:] == new


@pytest.mark.parametrize(
    "page",
    [
        # A captcha / "wait" page with status 200: not a channel preview at all.
        "<html><head><title>Just a moment</title></head><body>Checking</body></html>",
        # The history section with a "load older" link but no posts.
        None,
    ],
)
def test_a_page_that_is_not_a_channel_preview_is_a_failure(replica, lake, page):
    def rewrite(html: str) -> str:
        if page is not None:
            return page
        more = re.search(r'<div class="tgme_widget_message_centered.*?</div>', html, re.S)
        assert more is not None
        return re.sub(
            r'(<section class="tgme_channel_history[^>]*>).*(</section>)',
            lambda m: m.group(1) + more.group(0) + m.group(2),
            html,
            flags=re.S,
        )

    replica.rewrite(PAGE, rewrite)
    with pytest.raises(WebLayoutError) as info:
        fetch(WebPreviewSource(replica.base_url, **FAST), lake)
    assert f"{replica.base_url}{PAGE}" in str(info.value)
    assert info.value.quarantined is not None and info.value.quarantined.is_file()
    assert lake.read_messages(CHANNEL) == []


# -- the warehouse -----------------------------------------------------------------------


def test_a_failed_photo_and_its_retry_reach_the_warehouse(replica, tmp_path, warehouse_url, photos):
    from databox.telegram.load import load_raw_messages
    from databox.warehouse import connect

    settings = _settings(replica, tmp_path)
    lake = DataLake(settings.data_lake_dir)
    post_id, [name] = photo_post(replica, photos)
    replica.serve_as(f"/file/{name}", "text/html", "<html>not a photo</html>")
    assert scrape_channels(settings, lake, log=lambda m: None).ok
    warehouse = connect(warehouse_url)

    def row() -> tuple[str, list, list]:
        assert load_raw_messages(warehouse, lake, log=lambda m: None).ok
        with warehouse.session() as s:
            got = s.fetchone(
                "SELECT photo_status, photo_errors, image_paths FROM raw.telegram_messages "
                "WHERE channel = %s AND message_id = %s",
                (CHANNEL, post_id),
            )
        assert got is not None
        status, errors, paths = got
        decode = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731
        return status, decode(errors), decode(paths)

    status, errors, paths = row()
    assert status == "failed" and paths == []
    assert errors == [
        {
            "index": 0,
            "url": replica.file_url(name),
            "error": "Content-Type text/html is not an image",
        }
    ]

    replica.clear_faults()
    assert scrape_channels(settings, lake, log=lambda m: None).channels[0].photos_recovered == 1
    assert row() == ("ok", [], [lake.relative(lake.image_path(CHANNEL, post_id, 0, ".jpg"))])


# -- settings ----------------------------------------------------------------------------


def test_http_settings_have_defaults_and_reach_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABOX_HOME", str(tmp_path))
    s = Settings.from_env({})
    assert (s.telegram_http_connect_timeout, s.telegram_http_deadline) == (10.0, 30.0)
    assert s.telegram_http_retries == 3 and s.telegram_max_photo_bytes == 20 * 1024 * 1024
    s = Settings.from_env(
        {
            "TELEGRAM_HTTP_CONNECT_TIMEOUT": "2.5",
            "TELEGRAM_HTTP_DEADLINE": "7",
            "TELEGRAM_HTTP_RETRIES": "0",
            "TELEGRAM_MAX_PHOTO_BYTES": "1000",
        }
    )
    source = make_source(s)
    assert isinstance(source, WebPreviewSource)
    assert (source.connect_timeout, source.deadline, source.retries) == (2.5, 7.0, 0)
    assert source.max_photo_bytes == 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEGRAM_HTTP_DEADLINE", "0"),
        ("TELEGRAM_HTTP_DEADLINE", "soon"),
        ("TELEGRAM_HTTP_DEADLINE", "nan"),
        ("TELEGRAM_HTTP_CONNECT_TIMEOUT", "-1"),
        ("TELEGRAM_HTTP_RETRIES", "-1"),
        ("TELEGRAM_HTTP_RETRIES", "2.5"),
        ("TELEGRAM_MAX_PHOTO_BYTES", "0"),
        ("TELEGRAM_MAX_PHOTO_BYTES", "20MB"),
    ],
)
def test_http_settings_are_validated_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
