"""Scrape several channels into the lake, concurrently and bounded.

One channel failing (no preview, private, a FloodWait over the ceiling) never
stops the others: every channel runs to its end, the report records each outcome,
and the caller decides to fail loudly when any channel failed.

Per channel, under its lock: temp files a killed run left are removed; photos that
failed on earlier runs are downloaded again (``retry_pending_photos``); then the new
messages are fetched, each batch written before the watermark moves past it. A
photo that fails never fails its channel: the message lands with ``photo_status``
and ``photo_errors``, and the photo goes on the channel's pending list
(``state/telegram/<channel>.photos_pending.json``) until it lands or
``PHOTO_MAX_ATTEMPTS`` runs have tried it. The list is derived from the message
records (``photo_errors`` entries with a URL), so it works for either source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from databox.config import Settings
from databox.lake import DataLake
from databox.telegram.photo_retry import (
    PHOTO_MAX_ATTEMPTS,
    PhotoFetcher,
    queue_photo_failures,
    read_pending,
    retry_pending_photos,
)
from databox.telegram.source import FetchContext, TelegramSource
from databox.telegram.web_http import unreachable_reason

#: How to run without network, for a report whose source could not be reached at all.
OFFLINE_HINT = (
    "To run offline: `uv run databox demo` runs the whole pipeline against local "
    "replicas; or serve the t.me replica with `uv run databox replica telegram --port 8081` "
    "and set TELEGRAM_WEB_BASE_URL=http://127.0.0.1:8081."
)


@dataclass
class ChannelResult:
    channel: str
    #: Every message written this run: posts and service messages.
    messages: int = 0
    posts: int = 0
    service_messages: int = 0
    images: int = 0
    #: Photos of this run's messages that did not land (recorded on the message).
    photos_failed: int = 0
    #: Pending photos of earlier runs tried again, and how many of them landed.
    photos_retried: int = 0
    photos_recovered: int = 0
    #: Pending photos dropped after ``PHOTO_MAX_ATTEMPTS`` tries.
    photos_given_up: int = 0
    #: Photos on the pending list when the run ended.
    photos_pending: int = 0
    temp_files_removed: int = 0
    first_id: int | None = None
    last_id: int | None = None
    watermark_before: int | None = None
    watermark_after: int | None = None
    files_written: int = 0
    seconds: float = 0.0
    error: str | None = None
    #: Set when the error is that the source could not be reached at all (e.g. "name
    #: resolution failed", "connection refused"): waiting and retrying will not help.
    unreachable: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ScrapeReport:
    source: str
    channels: list[ChannelResult] = field(default_factory=list)
    seconds: float = 0.0
    #: Where the web source reads from (None for Telethon); named in ``unreachable_summary``.
    base_url: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.channels)

    @property
    def failed(self) -> list[ChannelResult]:
        return [c for c in self.channels if not c.ok]

    @property
    def all_failed(self) -> bool:
        return bool(self.channels) and not any(c.ok for c in self.channels)

    @property
    def unreachable(self) -> bool:
        """True when every failed channel failed because the source could not be
        reached at all: a retry in seconds or minutes fails the same way."""
        failed = self.failed
        return bool(failed) and all(c.unreachable for c in failed)

    @property
    def unreachable_summary(self) -> str | None:
        """``https://t.me could not be reached (name resolution failed)``, or None."""
        reasons = sorted({c.unreachable for c in self.failed if c.unreachable})
        if not reasons:
            return None
        where = self.base_url or f"the {self.source} source"
        return f"{where} could not be reached ({', '.join(reasons)})"

    @property
    def hint(self) -> str | None:
        """What to do about the failures, for the CLI and the Dagster failure to print:
        how to run offline when the web source could not be reached; else None."""
        summary = self.unreachable_summary
        if summary is None or self.source != "web":
            return None
        return f"{summary}. {OFFLINE_HINT}"

    def failure_summary(self) -> str:
        """What failed, truthfully (empty when nothing did): the failed channels with
        their errors, then whether anything was scraped at all. ``hint`` is separate."""
        if self.ok:
            return ""
        failed = ", ".join(f"{c.channel} ({c.error})" for c in self.failed)
        text = f"{len(self.failed)} of {len(self.channels)} channels failed: {failed}."
        if self.all_failed:
            return f"{text} Nothing was scraped."
        ok = ", ".join(c.channel for c in self.channels if c.ok)
        return f"{text} The other channels ({ok}) were scraped into the lake."

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.channels)

    @property
    def posts(self) -> int:
        return sum(c.posts for c in self.channels)

    @property
    def service_messages(self) -> int:
        return sum(c.service_messages for c in self.channels)

    @property
    def images(self) -> int:
        return sum(c.images for c in self.channels)

    @property
    def photos_failed(self) -> int:
        return sum(c.photos_failed for c in self.channels)

    @property
    def photos_pending(self) -> int:
        return sum(c.photos_pending for c in self.channels)


# -- one channel, many channels ----------------------------------------------------------


async def scrape_channel(
    source: TelegramSource,
    lake: DataLake,
    channel: str,
    log: Callable[[str], None],
    *,
    photo_fetcher: PhotoFetcher | None = None,
    photo_max_attempts: int = PHOTO_MAX_ATTEMPTS,
) -> ChannelResult:
    result = ChannelResult(channel=channel)
    started = time.perf_counter()
    try:
        # The lock keeps two runs from interleaving writes and watermarks of one channel.
        with lake.channel_lock(channel):
            removed = await asyncio.to_thread(lake.remove_stale_temp_files, channel)
            result.temp_files_removed = len(removed)
            if removed:
                log(f"{channel}: removed {len(removed)} temp file(s) left by a killed run")
            result.watermark_before = lake.read_watermark(channel)
            ctx = FetchContext(
                image_path_for=lake.image_path,
                lake_root=lake.root,
                log=log,
                quarantine=lake.quarantine_bytes,
            )
            await retry_pending_photos(
                photo_fetcher, lake, channel, ctx, result, max_attempts=photo_max_attempts
            )
            async for batch in source.fetch_since(channel, result.watermark_before, ctx):
                if not batch:
                    continue
                # Durably write the batch first; only then move the watermark past it.
                # Failed photos go on the pending list before their records land: after a
                # crash in between, the batch is fetched again and the stale entries
                # (no record holds their error) are dropped by the next retry.
                failed = await asyncio.to_thread(queue_photo_failures, lake, channel, batch, log)
                written = await asyncio.to_thread(lake.write_messages, channel, batch)
                last = max(m.message_id for m in batch)
                await asyncio.to_thread(lake.write_watermark, channel, last)
                result.files_written += len(written)
                result.messages += len(batch)
                result.posts += sum(1 for m in batch if m.is_post)
                result.service_messages += sum(1 for m in batch if not m.is_post)
                result.images += sum(len(m.image_paths) for m in batch)
                result.photos_failed += failed
                result.first_id = result.first_id or min(m.message_id for m in batch)
                result.last_id = last
                log(f"{channel}: {result.messages} new messages so far (up to id {last})")
            result.watermark_after = lake.read_watermark(channel)
            result.photos_pending = len(read_pending(lake, channel, log))
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.unreachable = getattr(exc, "unreachable", None) or unreachable_reason(exc)
        log(f"{channel}: FAILED after {result.messages} messages: {result.error}")
    result.seconds = time.perf_counter() - started
    return result


async def scrape_channels_async(
    source: TelegramSource,
    lake: DataLake,
    channels: Sequence[str],
    *,
    concurrency: int = 3,
    log: Callable[[str], None] = print,
    photo_fetcher: PhotoFetcher | None = None,
    photo_max_attempts: int = PHOTO_MAX_ATTEMPTS,
) -> ScrapeReport:
    """``photo_fetcher`` retries pending photos; by default the source itself when it
    can download by URL (the web source), else none (they stay pending)."""
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(max(1, concurrency))
    if photo_fetcher is None and hasattr(source, "fetch_photos"):
        photo_fetcher = source  # type: ignore[assignment]

    async def bounded(channel: str) -> ChannelResult:
        async with semaphore:
            return await scrape_channel(
                source,
                lake,
                channel,
                log,
                photo_fetcher=photo_fetcher,
                photo_max_attempts=photo_max_attempts,
            )

    try:
        results = await asyncio.gather(*(bounded(c) for c in channels))
    finally:
        await source.aclose()
        if photo_fetcher is not None and photo_fetcher is not source:
            await photo_fetcher.aclose()
    return ScrapeReport(
        source=source.name,
        channels=list(results),
        seconds=time.perf_counter() - started,
        base_url=getattr(source, "base_url", None),
    )


def make_web_source(settings: Settings):
    """The public web preview source with the configured HTTP limits."""
    from databox.telegram.web import WebPreviewSource

    return WebPreviewSource(
        settings.telegram_web_base_url,
        connect_timeout=settings.telegram_http_connect_timeout,
        deadline=settings.telegram_http_deadline,
        retries=settings.telegram_http_retries,
        max_photo_bytes=settings.telegram_max_photo_bytes,
    )


def make_source(settings: Settings, log: Callable[[str], None] = print) -> TelegramSource:
    """Telethon when a user session is configured, the public web preview otherwise."""
    if settings.telethon_configured:
        from databox.telegram.telethon_source import TelethonSource

        return TelethonSource(
            settings.telegram_api_id,  # type: ignore[arg-type]
            settings.telegram_api_hash,  # type: ignore[arg-type]
            settings.telegram_session,  # type: ignore[arg-type]
            max_flood_wait=settings.telegram_max_flood_wait,
            log=log,
        )
    return make_web_source(settings)


def scrape_channels(
    settings: Settings,
    lake: DataLake | None = None,
    *,
    source: TelegramSource | None = None,
    channels: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> ScrapeReport:
    """Synchronous entry point used by the CLI and the Dagster asset. ``channels`` (by
    default every configured one) lets Dagster run one step per channel."""
    # Recoveries from a damaged watermark or pending file are announced in the scrape log.
    lake = lake or DataLake(settings.data_lake_dir, warn=log)
    source = source or make_source(settings, log)
    # Photos that failed under the web source are retried by URL whichever source runs.
    fetcher = None if hasattr(source, "fetch_photos") else make_web_source(settings)
    return asyncio.run(
        scrape_channels_async(
            source,
            lake,
            settings.telegram_channels if channels is None else channels,
            concurrency=settings.telegram_concurrency,
            log=log,
            photo_fetcher=fetcher,
        )
    )


def merge_reports(
    reports: Sequence[ScrapeReport], *, source: str, base_url: str | None, seconds: float
) -> ScrapeReport:
    """The per-channel reports of one scrape (steps run apart) as one report, with the
    same failure summary and hint as a scrape of all channels in one call."""
    return ScrapeReport(
        source=reports[0].source if reports else source,
        channels=[c for r in reports for c in r.channels],
        seconds=seconds,
        base_url=reports[0].base_url if reports else base_url,
    )
