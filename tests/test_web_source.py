"""WebPreviewSource end to end against the local t.me replica (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import pytest

from databox.errors import ChannelUnavailable
from databox.lake import DataLake
from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus
from databox.samples import find_sample_photos
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext
from databox.telegram.web import BATCH_SIZE, WebFetchError, WebPreviewSource
from tests.telegram_helpers import fetch_batches

UTC = timezone.utc
CHANNEL = "CheMed123"


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return find_sample_photos(limit=4)


@pytest.fixture
def replica(photos):
    # 50 posts a channel: three pages of 20, so paging is exercised.
    corpus = build_demo_corpus(
        photos, posts_per_channel=50, days=5, now=datetime(2025, 3, 1, tzinfo=UTC)
    )
    with TelegramWebReplica(corpus, page_size=20) as server:
        yield server


@pytest.fixture
def lake(tmp_path) -> DataLake:
    return DataLake(tmp_path / "lake")


def fetch(
    source: WebPreviewSource,
    lake: DataLake,
    after_id: int | None,
    channel: str = CHANNEL,
    logs: list[str] | None = None,
) -> list[list[TelegramMessage]]:
    return fetch_batches(source, lake, channel, after_id, logs)


def ids(batches: list[list[TelegramMessage]]) -> list[int]:
    return [m.message_id for batch in batches for m in batch]


def page_requests(replica: TelegramWebReplica, channel: str = CHANNEL) -> list[str]:
    return [p for p in replica.request_log if p.startswith(f"/s/{channel}")]


def test_full_scrape_writes_every_post_and_identical_photos(replica, lake):
    logs: list[str] = []
    batches = fetch(WebPreviewSource(replica.base_url), lake, None, logs=logs)
    expected = replica.corpus.channels[CHANNEL].sorted_posts()

    assert ids(batches) == [p.id for p in expected]
    assert len(page_requests(replica)) == 3
    assert any("50 new post(s) from 3 page(s)" in line for line in logs)

    messages = [m for batch in batches for m in batch]
    n_photos = 0
    for msg, post in zip(messages, expected, strict=True):
        assert msg.channel == CHANNEL and msg.source == "web"
        assert msg.date == post.date
        assert msg.text == post.text
        assert msg.grouped_id is None and msg.edit_date is None
        assert msg.post_author == post.author
        # The parser's kind agrees with what the (independently written) replica rendered.
        kind = {"service": "none", "text": "none"}.get(post.kind, post.kind)
        assert msg.media_kind == kind, (post.id, post.kind)
        assert msg.message_type == ("service" if post.kind == "service" else "post")
        assert msg.has_media == (kind != "none")
        assert msg.photo_status == ("ok" if post.photos else None) and msg.photo_errors == []
        assert msg.raw["edited"] == post.edited
        assert msg.raw["url"] == f"https://t.me/{CHANNEL}/{post.id}"
        assert msg.raw["photo_urls"] == [replica.file_url(name) for name in post.photos]
        # One file per photo, in album order, byte for byte what the replica served.
        assert len(msg.image_paths) == len(post.photos)
        for index, (rel, name) in enumerate(zip(msg.image_paths, post.photos, strict=True)):
            ext = {".jpeg": ".jpg"}.get(Path(name).suffix, Path(name).suffix)  # the real type
            assert rel == lake.relative(lake.image_path(CHANNEL, post.id, index, ext))
            assert (lake.root / rel).read_bytes() == replica.corpus.photo_bytes(name)
            n_photos += 1
        # raw is plain JSON and the record survives the lake's validation.
        orjson.dumps(msg.raw)
        assert TelegramMessage.from_record(msg.to_record()).to_record() == msg.to_record()
    assert n_photos > 0 and any(len(p.photos) > 1 for p in expected)
    assert len(list((lake.images_dir / CHANNEL).iterdir())) == n_photos
    assert [r["message_id"] for r in lake.read_messages(CHANNEL)] == [p.id for p in expected]


def test_incremental_fetch_has_no_gap_and_no_duplicate(replica, lake, photos):
    first = ids(fetch(WebPreviewSource(replica.base_url), lake, None))
    watermark = max(first)

    # A few new posts, one of them an album (which uses several ids).
    added = [
        replica.add_post(CHANNEL, text="new 1"),
        replica.add_post(CHANNEL, text="album", photos=photos[:3]),
        replica.add_post(CHANNEL, photos=photos[3:4], skip_ids=2),
    ]
    replica.clear_log()
    second = fetch(WebPreviewSource(replica.base_url), lake, watermark)
    assert ids(second) == added
    assert len(page_requests(replica)) == 1  # the first page already reaches the watermark
    album = second[0][1]
    assert len(album.image_paths) == 3 and all((lake.root / p).exists() for p in album.image_paths)
    watermark = max(ids(second))

    # More new posts than two pages hold: paging must continue down to the watermark.
    added = [
        replica.add_post(CHANNEL, text=f"burst {i}", skip_ids=1 if i % 3 == 0 else 0)
        for i in range(47)
    ]
    replica.clear_log()
    third = fetch(WebPreviewSource(replica.base_url), lake, watermark)
    assert ids(third) == added
    assert len(page_requests(replica)) == 3

    # Nothing new: nothing yielded.
    assert fetch(WebPreviewSource(replica.base_url), lake, max(added)) == []
    all_ids = [r["message_id"] for r in lake.read_messages(CHANNEL)]
    assert all_ids == sorted(set(first) | set(ids(second)) | set(added))


def test_watermark_inside_an_album_gap(replica, lake, photos):
    base = replica.add_post(CHANNEL, text="album", photos=photos[:3])  # uses base..base+2
    after = replica.add_post(CHANNEL, text="after the album")
    assert after == base + 3
    assert ids(fetch(WebPreviewSource(replica.base_url), lake, base + 1)) == [after]


def test_batches_are_ascending_and_at_most_100(replica, lake):
    added = [replica.add_post(CHANNEL, text=f"post {i}") for i in range(130)]
    batches = fetch(WebPreviewSource(replica.base_url), lake, added[0] - 1)
    assert [len(b) for b in batches] == [BATCH_SIZE, 30]
    assert ids(batches) == added


def test_max_pages_limits_a_first_backfill(replica, lake):
    batches = fetch(WebPreviewSource(replica.base_url, max_pages=1), lake, None)
    newest = [p.id for p in replica.corpus.channels[CHANNEL].sorted_posts()[-20:]]
    assert ids(batches) == newest
    assert len(page_requests(replica)) == 1


@pytest.mark.parametrize("channel", ["privatepharma", "nosuchchannel"])
def test_channel_without_preview_is_unavailable(replica, lake, channel):
    with pytest.raises(ChannelUnavailable) as info:
        fetch(WebPreviewSource(replica.base_url), lake, None, channel=channel)
    assert info.value.channel == channel
    message = str(info.value)
    assert "no public web preview" in message
    assert f"{replica.base_url}/s/{channel}" in message
    assert "TELEGRAM_API_ID" in message


def _first_photo(replica: TelegramWebReplica) -> tuple[int, str]:
    post = next(p for p in replica.corpus.channels[CHANNEL].sorted_posts() if p.photos)
    return post.id, post.photos[0]


def test_photo_failing_persistently_keeps_the_message_and_the_channel(replica, lake):
    post_id, name = _first_photo(replica)
    replica.fail(f"/file/{name}", 500)
    logs: list[str] = []
    source = WebPreviewSource(replica.base_url, retries=2, backoff=0.01)
    batches = fetch(source, lake, None, logs=logs)
    url = replica.file_url(name)
    assert replica.request_log.count(f"/file/{name}") == 3  # 1 try + 2 retries
    # The rest of the channel landed, and so did the message, its failure recorded.
    assert len(ids(batches)) == 50
    msg = next(m for b in batches for m in b if m.message_id == post_id)
    assert msg.image_paths == [] and msg.photo_status == "failed"
    [error] = msg.photo_errors
    assert error["index"] == 0 and error["url"] == url
    assert "HTTP 500" in error["error"] and "3 attempts" in error["error"]
    assert any(f"{CHANNEL}/{post_id}" in line and url in line for line in logs)
    record = next(r for r in lake.read_messages(CHANNEL) if r["message_id"] == post_id)
    assert record["photo_status"] == "failed" and record["photo_errors"] == [error]
    assert not any(p.name.startswith(f"{post_id}.") for p in (lake.images_dir / CHANNEL).iterdir())
    # Every other photo post is "ok"; posts without photos have no status.
    for m in (m for b in batches for m in b if m.message_id != post_id):
        assert m.photo_status == ("ok" if m.raw["photo_urls"] else None) and not m.photo_errors


def test_photo_not_found_is_recorded_without_retrying(replica, lake):
    post_id, name = _first_photo(replica)
    replica.fail(f"/file/{name}", 404)
    batches = fetch(WebPreviewSource(replica.base_url, backoff=0.01), lake, None)
    assert replica.request_log.count(f"/file/{name}") == 1
    msg = next(m for b in batches for m in b if m.message_id == post_id)
    assert msg.photo_status == "failed"
    assert msg.photo_errors[0]["error"] == "HTTP 404 Not Found"


def test_transient_errors_are_retried(replica, lake):
    _, name = _first_photo(replica)
    replica.fail(f"/s/{CHANNEL}", 503, times=2)
    replica.fail(f"/file/{name}", 429, times=1)
    batches = fetch(WebPreviewSource(replica.base_url, retries=3, backoff=0.01), lake, None)
    assert len(ids(batches)) == 50
    assert replica.request_log.count(f"/s/{CHANNEL}") == 3
    assert replica.request_log.count(f"/file/{name}") == 2


def test_unreachable_server_names_the_url(lake):
    # A port nothing listens on (bound then released): connection refused, retried, reported.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = WebPreviewSource(f"http://127.0.0.1:{port}", retries=1, backoff=0.01)
    with pytest.raises(WebFetchError, match=rf"http://127.0.0.1:{port}/s/{CHANNEL}.*2 attempts"):
        fetch(source, lake, None)


def test_source_survives_several_event_loops_and_leaves_a_given_client_open(replica, lake):
    source = WebPreviewSource(replica.base_url)
    ctx = FetchContext(image_path_for=lake.image_path, lake_root=lake.root, log=lambda _m: None)

    async def count() -> int:
        return sum([len(b) async for b in source.fetch_since(CHANNEL, None, ctx)])

    # The scraper may run each channel under its own asyncio.run().
    assert asyncio.run(count()) == asyncio.run(count()) == 50
    asyncio.run(source.aclose())

    async def with_given_client() -> bool:
        async with httpx.AsyncClient() as client:
            given = WebPreviewSource(replica.base_url, client=client)
            assert sum([len(b) async for b in given.fetch_since(CHANNEL, None, ctx)]) == 50
            await given.aclose()
            return client.is_closed

    assert asyncio.run(with_given_client()) is False


def test_channels_fetched_concurrently_share_one_source(replica, lake):
    source = WebPreviewSource(replica.base_url, download_concurrency=2)
    ctx = FetchContext(image_path_for=lake.image_path, lake_root=lake.root, log=lambda _m: None)
    channels = ["CheMed123", "lobelia4cosmetics", "tikvahpharma"]

    async def one(channel: str) -> list[int]:
        return [m.message_id async for b in source.fetch_since(channel, None, ctx) for m in b]

    async def run() -> list[list[int]]:
        try:
            return await asyncio.gather(*(one(c) for c in channels))
        finally:
            await source.aclose()

    results = asyncio.run(run())
    for channel, got in zip(channels, results, strict=True):
        assert got == [p.id for p in replica.corpus.channels[channel].sorted_posts()]
    # Every request looked like a desktop browser's.
    (agent,) = replica.user_agents
    assert agent.startswith("Mozilla/5.0") and "Chrome/" in agent
