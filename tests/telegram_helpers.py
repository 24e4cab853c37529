"""Shared helpers of the Telegram source tests."""

from __future__ import annotations

import asyncio

from databox.lake import DataLake
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext, TelegramSource


def fetch_batches(
    source: TelegramSource,
    lake: DataLake,
    channel: str,
    after_id: int | None = None,
    logs: list[str] | None = None,
) -> list[list[TelegramMessage]]:
    """Run one fetch to the end, writing each batch to the lake as the scraper does."""
    ctx = FetchContext(
        image_path_for=lake.image_path,
        lake_root=lake.root,
        log=(logs.append if logs is not None else lambda _msg: None),
        quarantine=lake.quarantine_bytes,
    )

    async def run() -> list[list[TelegramMessage]]:
        batches = []
        try:
            async for batch in source.fetch_since(channel, after_id, ctx):
                lake.write_messages(channel, batch)
                batches.append(batch)
        finally:
            await source.aclose()
        return batches

    return asyncio.run(run())
