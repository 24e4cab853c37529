"""The scraper over the real web source and the local t.me replica: incremental runs,
no gaps, no duplicates, one failing channel does not stop the others."""

from __future__ import annotations

from dataclasses import replace

import pytest

from databox.config import Settings
from databox.lake import DataLake
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


def test_a_failing_photo_keeps_the_watermark_before_it(replica, tmp_path):
    settings = settings_for(replica, tmp_path, "CheMed123")
    settings = replace(settings, telegram_channels=("CheMed123",))
    lake = DataLake(settings.data_lake_dir)
    assert scrape(settings, lake).ok
    mark = lake.read_watermark("CheMed123")

    photo = next(iter(replica.corpus.files.values()))
    new_id = replica.add_post("CheMed123", text="with photo", photos=[photo])
    name = replica.corpus.channels["CheMed123"].posts[new_id].photos[0]
    replica.fail(f"/file/{name}", status=500)
    report = scrape(settings, lake)
    assert not report.ok and name in report.failed[0].error
    assert lake.read_watermark("CheMed123") == mark  # not moved past the lost photo

    replica.fail(f"/file/{name}", status=500, times=0)  # the CDN recovers
    report = scrape(settings, lake)
    assert report.ok, report.failed
    assert lake.read_watermark("CheMed123") == new_id
    assert lake.read_messages("CheMed123")[-1]["message_id"] == new_id
