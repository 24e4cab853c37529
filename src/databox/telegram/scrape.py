"""Scrape several channels into the lake, concurrently and bounded.

One channel failing (no preview, private, a FloodWait over the ceiling) never
stops the others: every channel runs to its end, the report records each outcome,
and the caller decides to fail loudly when any channel failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from databox.config import Settings
from databox.lake import DataLake
from databox.telegram.source import FetchContext, TelegramSource


@dataclass
class ChannelResult:
    channel: str
    messages: int = 0
    images: int = 0
    first_id: int | None = None
    last_id: int | None = None
    watermark_before: int | None = None
    watermark_after: int | None = None
    files_written: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ScrapeReport:
    source: str
    channels: list[ChannelResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.channels)

    @property
    def failed(self) -> list[ChannelResult]:
        return [c for c in self.channels if not c.ok]

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.channels)

    @property
    def images(self) -> int:
        return sum(c.images for c in self.channels)


async def scrape_channel(
    source: TelegramSource, lake: DataLake, channel: str, log: Callable[[str], None]
) -> ChannelResult:
    result = ChannelResult(channel=channel)
    started = time.perf_counter()
    try:
        # The lock keeps two runs from interleaving writes and watermarks of one channel.
        with lake.channel_lock(channel):
            result.watermark_before = lake.read_watermark(channel)
            ctx = FetchContext(
                image_path_for=lake.image_path,
                lake_root=lake.root,
                log=log,
                quarantine=lake.quarantine_bytes,
            )
            async for batch in source.fetch_since(channel, result.watermark_before, ctx):
                if not batch:
                    continue
                # Durably write the batch first; only then move the watermark past it.
                written = await asyncio.to_thread(lake.write_messages, channel, batch)
                last = max(m.message_id for m in batch)
                await asyncio.to_thread(lake.write_watermark, channel, last)
                result.files_written += len(written)
                result.messages += len(batch)
                result.images += sum(len(m.image_paths) for m in batch)
                result.first_id = result.first_id or min(m.message_id for m in batch)
                result.last_id = last
                log(f"{channel}: {result.messages} new messages so far (up to id {last})")
            result.watermark_after = lake.read_watermark(channel)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
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
) -> ScrapeReport:
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def bounded(channel: str) -> ChannelResult:
        async with semaphore:
            return await scrape_channel(source, lake, channel, log)

    try:
        results = await asyncio.gather(*(bounded(c) for c in channels))
    finally:
        await source.aclose()
    return ScrapeReport(
        source=source.name, channels=list(results), seconds=time.perf_counter() - started
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
    from databox.telegram.web import WebPreviewSource

    return WebPreviewSource(settings.telegram_web_base_url)


def scrape_channels(
    settings: Settings,
    lake: DataLake | None = None,
    *,
    source: TelegramSource | None = None,
    log: Callable[[str], None] = print,
) -> ScrapeReport:
    """Synchronous entry point used by the CLI and the Dagster asset."""
    lake = lake or DataLake(settings.data_lake_dir)
    source = source or make_source(settings, log)
    return asyncio.run(
        scrape_channels_async(
            source,
            lake,
            settings.telegram_channels,
            concurrency=settings.telegram_concurrency,
            log=log,
        )
    )
