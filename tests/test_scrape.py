"""The scraper over the real web source and the local t.me replica: incremental runs,
no gaps, no duplicates, one failing channel does not stop the others."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from databox.config import Settings
from databox.lake import DataLake
from databox.telegram.message import TelegramMessage
from databox.telegram.scrape import scrape_channels
from databox.telegram.web import WebPreviewSource


@pytest.fixture
def replica(coco_photos):
    from databox.replica.telegram_web import TelegramWebReplica, build_demo_corpus

    corpus = build_demo_corpus(coco_photos[:10], posts_per_channel=50, days=8)
    with TelegramWebReplica(corpus) as server:
        yield server


def settings_for(replica, tmp_path, channels: str = "CheMed123,lobelia4cosmetics") -> Settings:
    return Settings.from_env(
        {
            "TELEGRAM_WEB_BASE_URL": replica.base_url,
            "TELEGRAM_CHANNELS": channels,
            "DATA_LAKE_DIR": str(tmp_path / "lake"),
            "DATABASE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
        }
    )


def scrape(settings: Settings, lake: DataLake):
    return scrape_channels(
        settings, lake, source=WebPreviewSource(settings.telegram_web_base_url), log=lambda m: None
    )


def test_incremental_scrape_has_no_gap_and_no_duplicate(replica, tmp_path):
    settings = settings_for(replica, tmp_path)
    lake = DataLake(settings.data_lake_dir)
    first = scrape(settings, lake)
    assert first.ok, first.failed
    served = {ch: sorted(replica.corpus.channels[ch].posts) for ch in settings.telegram_channels}
    for ch in settings.telegram_channels:
        assert [r["message_id"] for r in lake.read_messages(ch)] == served[ch]
        assert lake.read_watermark(ch) == served[ch][-1]

    # More than a page of new posts in one channel, one in the other, between runs.
    added = [replica.add_post("CheMed123", text=f"new post {i}") for i in range(45)]
    added_other = replica.add_post(
        "lobelia4cosmetics",
        text="serum restock",
        photos=[replica.corpus.files[next(iter(replica.corpus.files))]],
    )
    second = scrape(settings, lake)
    assert second.ok
    by_channel = {c.channel: c for c in second.channels}
    assert by_channel["CheMed123"].messages == 45
    assert by_channel["lobelia4cosmetics"].messages == 1
    ids = [r["message_id"] for r in lake.read_messages("CheMed123")]
    assert ids == served["CheMed123"] + added  # every id once, in order
    other = lake.read_messages("lobelia4cosmetics")
    assert other[-1]["message_id"] == added_other and len(other[-1]["image_paths"]) == 1
    assert (lake.root / other[-1]["image_paths"][0]).is_file()

    # Nothing new: nothing fetched, lake unchanged.
    before = {p: p.read_bytes() for p in lake.message_files()}
    third = scrape(settings, lake)
    assert third.ok and third.messages == 0
    assert {p: p.read_bytes() for p in lake.message_files()} == before


def test_a_channel_without_preview_fails_alone(replica, tmp_path):
    settings = settings_for(replica, tmp_path, "CheMed123,privatepharma")
    lake = DataLake(settings.data_lake_dir)
    report = scrape(settings, lake)
    assert not report.ok
    [failed] = report.failed
    assert failed.channel == "privatepharma"
    assert "no public web preview" in failed.error
    ok = next(c for c in report.channels if c.channel == "CheMed123")
    assert ok.messages == len(replica.corpus.channels["CheMed123"].posts)
    assert lake.read_watermark("privatepharma") is None
    # The summary says what did land; the source was reachable, so no offline hint.
    summary = report.failure_summary()
    assert summary.startswith("1 of 2 channels failed: privatepharma (")
    assert summary.endswith("The other channels (CheMed123) were scraped into the lake.")
    assert not report.unreachable and report.hint is None


def _photo_post(replica, text: str = "with photo") -> tuple[int, str]:
    photo = next(iter(replica.corpus.files.values()))
    new_id = replica.add_post("CheMed123", text=text, photos=[photo])
    return new_id, replica.corpus.channels["CheMed123"].posts[new_id].photos[0]


def test_a_failing_photo_lands_its_message_and_is_retried_next_run(replica, tmp_path):
    settings = settings_for(replica, tmp_path, "CheMed123")
    lake = DataLake(settings.data_lake_dir)
    assert scrape(settings, lake).ok

    new_id, name = _photo_post(replica)
    after = replica.add_post("CheMed123", text="after the photo post")
    replica.fail(f"/file/{name}", status=404)
    report = scrape(settings, lake)
    # The channel did not fail: the message and the one after it landed.
    assert report.ok, report.failed
    [result] = report.channels
    assert (result.messages, result.posts, result.photos_failed) == (2, 2, 1)
    assert result.photos_pending == 1 and report.photos_failed == 1
    assert lake.read_watermark("CheMed123") == after
    record = next(r for r in lake.read_messages("CheMed123") if r["message_id"] == new_id)
    assert record["photo_status"] == "failed" and record["image_paths"] == []
    assert record["photo_errors"] == [
        {"index": 0, "url": replica.file_url(name), "error": "HTTP 404 Not Found"}
    ]
    [pending] = lake.read_photos_pending("CheMed123")
    assert (pending["message_id"], pending["index"], pending["attempts"]) == (new_id, 0, 1)

    replica.fail(f"/file/{name}", status=404, times=0)  # the CDN recovers
    replica.clear_log()
    report = scrape(settings, lake)
    assert report.ok, report.failed
    [result] = report.channels
    assert (result.messages, result.photos_retried, result.photos_recovered) == (0, 1, 1)
    assert result.photos_pending == 0 and not lake.photos_pending_file("CheMed123").exists()
    assert replica.request_log.count(f"/file/{name}") == 1
    record = next(r for r in lake.read_messages("CheMed123") if r["message_id"] == new_id)
    assert record["photo_status"] == "ok" and record["photo_errors"] == []
    assert record["image_paths"] == [lake.relative(lake.image_path("CheMed123", new_id, 0))]
    path = lake.root / record["image_paths"][0]
    assert path.read_bytes() == replica.corpus.photo_bytes(name)
    assert lake.read_watermark("CheMed123") == after

    # Nothing pending any more: a third run asks for nothing.
    replica.clear_log()
    assert scrape(settings, lake).ok
    assert replica.request_log == ["/s/CheMed123"]


def test_a_photo_that_keeps_failing_is_given_up_after_the_attempts(replica, tmp_path):
    from databox.telegram.scrape import scrape_channels_async

    settings = settings_for(replica, tmp_path, "CheMed123")
    lake = DataLake(settings.data_lake_dir)
    assert scrape(settings, lake).ok
    new_id, name = _photo_post(replica)
    replica.fail(f"/file/{name}", status=404)

    def run():
        source = WebPreviewSource(settings.telegram_web_base_url)
        return asyncio.run(
            scrape_channels_async(
                source, lake, ["CheMed123"], log=lambda m: None, photo_max_attempts=3
            )
        ).channels[0]

    assert run().photos_failed == 1  # attempt 1
    second = run()  # attempt 2: still pending
    assert (second.photos_retried, second.photos_pending) == (1, 1)
    assert lake.read_photos_pending("CheMed123")[0]["attempts"] == 2
    third = run()  # attempt 3: given up
    assert (third.photos_retried, third.photos_given_up, third.photos_pending) == (1, 1, 0)
    record = next(r for r in lake.read_messages("CheMed123") if r["message_id"] == new_id)
    assert record["photo_status"] == "failed"
    assert record["photo_errors"][0]["error"] == "HTTP 404 Not Found; gave up after 3 attempts"
    replica.clear_log()
    assert run().photos_retried == 0
    assert f"/file/{name}" not in replica.request_log


def test_stale_temp_files_are_removed_under_the_lock(replica, tmp_path):
    settings = settings_for(replica, tmp_path, "CheMed123")
    lake = DataLake(settings.data_lake_dir)
    assert scrape(settings, lake).ok
    day_file = lake.message_files()[0]
    stale = [
        lake.images_dir / "CheMed123" / ".7.jpg.k1ll3d.tmp",
        day_file.parent / ".CheMed123.json.k1ll3d.tmp",
        lake.state_dir / ".CheMed123.json.k1ll3d.tmp",
        lake.state_dir / ".CheMed123.photos_pending.json.k1ll3d.tmp",
    ]
    others = [  # another channel's, and files that only look alike
        day_file.parent / ".lobelia4cosmetics.json.k1ll3d.tmp",
        lake.state_dir / ".CheMed1234.json.k1ll3d.tmp",
        lake.images_dir / "CheMed123" / "7.jpg.tmp",
    ]
    for path in stale + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a write")
    assert lake.stale_temp_files("CheMed123") == sorted(stale)
    report = scrape(settings, lake)
    assert report.ok and report.channels[0].temp_files_removed == len(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in others)
    assert (lake.state_dir / ".CheMed123.lock").exists()  # the lock file is not a temp file


class ListSource:
    """A source that yields given batches (no HTTP): for what the web preview
    cannot show, such as service messages and Telethon's photo failures."""

    name = "list"

    def __init__(self, batches: list[list[TelegramMessage]]):
        self.batches = batches

    async def fetch_since(self, channel, after_id, ctx):
        for batch in self.batches:
            yield [m for m in batch if after_id is None or m.message_id > after_id]

    async def aclose(self) -> None:
        pass


def test_posts_service_messages_and_photo_failures_are_counted_apart(tmp_path):
    from databox.telegram.scrape import scrape_channels_async

    day = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    batch = [
        TelegramMessage("CheMed123", 1, day, message_type="service", action="channel_created"),
        TelegramMessage("CheMed123", 2, day, text="first post"),
        TelegramMessage(
            "CheMed123",
            3,
            day,
            has_media=True,
            media_kind="photo",
            source="telethon",
            photo_status="failed",
            photo_errors=[{"index": 0, "url": None, "error": "FileReferenceExpiredError"}],
        ),
        TelegramMessage("CheMed123", 4, day, message_type="service", action="pinned"),
    ]
    lake = DataLake(tmp_path / "lake")
    logs: list[str] = []
    report = asyncio.run(
        scrape_channels_async(ListSource([batch]), lake, ["CheMed123"], log=logs.append)
    )
    [result] = report.channels
    assert result.ok, result.error
    assert (result.messages, result.posts, result.service_messages) == (4, 2, 2)
    assert (report.posts, report.service_messages) == (2, 2)
    # A failure without a URL cannot be retried by URL: logged, kept on the record only.
    assert result.photos_failed == 1 and result.photos_pending == 0
    assert lake.read_photos_pending("CheMed123") == []
    assert any("message 3" in line and "no URL" in line for line in logs)
    record = lake.read_messages("CheMed123")[2]
    assert record["photo_errors"][0]["error"] == "FileReferenceExpiredError"


# -- a source that cannot be reached -----------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _offline_settings(tmp_path, base_url: str) -> Settings:
    # The default HTTP limits (3 retries with 0.5/1/2 s backoff), as a fresh user has them.
    return Settings.from_env(
        {
            "TELEGRAM_WEB_BASE_URL": base_url,
            "TELEGRAM_CHANNELS": "CheMed123,lobelia4cosmetics,tikvahpharma",
            "DATA_LAKE_DIR": str(tmp_path / "lake"),
        }
    )


def _assert_offline_report(report, base_url: str, reason: str) -> None:
    assert report.all_failed and report.unreachable
    assert all(c.unreachable == reason for c in report.channels)
    summary = report.failure_summary()
    assert summary.startswith("3 of 3 channels failed: CheMed123 (WebFetchError: page ")
    assert summary.endswith("Nothing was scraped.")
    assert "other channels" not in summary
    assert report.hint == (
        f"{base_url} could not be reached ({reason}). To run offline: `uv run databox demo` "
        "runs the whole pipeline against local replicas; or serve the t.me replica with "
        "`uv run databox replica telegram --port 8081` and set "
        "TELEGRAM_WEB_BASE_URL=http://127.0.0.1:8081."
    )


def test_a_refused_connection_fails_fast_truthfully_and_says_how_to_run_offline(tmp_path):
    import time

    base_url = f"http://127.0.0.1:{_closed_port()}"
    settings = _offline_settings(tmp_path, base_url)
    started = time.monotonic()
    report = scrape_channels(settings, log=lambda m: None)
    # One quick retry (0.5 s) instead of the 0.5 + 1 + 2 s ladder of transient errors.
    assert time.monotonic() - started < 3.0
    _assert_offline_report(report, base_url, "connection refused")
    error = report.channels[0].error
    assert f"{base_url}/s/CheMed123 failed after 2 attempts" in error
    assert "(connection refused)" in error  # httpx itself says "All connection attempts failed"


def test_a_name_that_does_not_resolve_fails_fast_with_the_offline_hint(tmp_path, monkeypatch):
    """The resolver answers "Name or service not known" (no lookup leaves the machine:
    getaddrinfo is replaced), and httpx, httpcore and asyncio wrap it as they do offline."""
    import socket

    lookups: list[str] = []

    def no_such_name(host, *args, **kwargs):
        lookups.append(host.decode() if isinstance(host, bytes) else host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    base_url = "http://t.me.invalid"
    report = scrape_channels(_offline_settings(tmp_path, base_url), log=lambda m: None)
    # Two attempts per channel: the first and the one quick retry, not four.
    assert sorted(lookups) == ["t.me.invalid"] * 6
    _assert_offline_report(report, base_url, "name resolution failed")
    assert "[Errno -2] Name or service not known" in report.channels[0].error


@pytest.mark.parametrize(
    ("os_error", "expected"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "connection refused"),
        (OSError(101, "Network is unreachable"), "network unreachable"),
        (TimeoutError(), None),  # a slow server may answer the next attempt
        (ConnectionResetError(104, "Connection reset by peer"), None),
    ],
)
def test_only_failures_to_reach_the_server_count_as_unreachable(os_error, expected):
    import httpcore
    import httpx

    from databox.telegram.web_http import unreachable_reason

    # httpx → httpcore → the OS error, chained with `raise … from`, as httpx does.
    core = httpcore.ConnectError(str(os_error))
    core.__cause__ = os_error
    outer = httpx.ConnectError(str(os_error))
    outer.__cause__ = core
    assert unreachable_reason(outer) == expected


def test_the_scrape_asset_fails_once_and_truthfully_when_telegram_is_unreachable(tmp_path):
    """No Dagster retry either: TRANSIENT_RETRY would wait 10 s + 20 s and fail the same way."""
    import time

    import dagster as dg

    from orchestration.resources import DataLakeResource, TelegramResource
    from orchestration.telegram_assets import scrape_telegram

    base_url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = dg.materialize(
        [scrape_telegram],
        resources={
            "telegram": TelegramResource(
                web_base_url=base_url, channels="CheMed123,lobelia4cosmetics,tikvahpharma"
            ),
            "lake": DataLakeResource(path=str(tmp_path / "lake")),
        },
        raise_on_error=False,
    )
    assert time.monotonic() - started < 8.0
    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("3 of 3 channels failed: CheMed123 (WebFetchError: ")
    assert "Nothing was scraped." in description
    assert "load on the next run" not in description and "other channels" not in description
    assert description.endswith(
        f"{base_url} could not be reached (connection refused). To run offline: "
        "`uv run databox demo` runs the whole pipeline against local replicas; or serve the "
        "t.me replica with `uv run databox replica telegram --port 8081` and set "
        "TELEGRAM_WEB_BASE_URL=http://127.0.0.1:8081."
    )
