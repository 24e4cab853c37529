"""The interface both Telegram sources implement.

A source yields *complete batches* in ascending ``message_id`` order: every photo
of a batch is already in the lake and an album (``grouped_id``) is never split
across two batches. The scraper writes each batch durably and only then moves the
channel's watermark to the batch's highest id, so a crash mid-run re-fetches at
most one batch and never skips a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from databox.telegram.message import TelegramMessage

#: ``(channel, message_id, index, extension) -> absolute path`` where a photo must be written.
ImagePathFor = Callable[[str, int, int, str], Path]


@dataclass(frozen=True)
class FetchContext:
    """What a source needs from the lake without depending on it."""

    image_path_for: ImagePathFor
    #: Paths stored in messages are relative to this directory (the lake root).
    lake_root: Path
    log: Callable[[str], None] = print
    #: ``(name, data) -> path``: keep bytes the source could not read (an unreadable
    #: page or post block) under the lake's quarantine; ``name`` is a relative path.
    quarantine: Callable[[str, bytes], Path] | None = None


class TelegramSource(Protocol):
    #: Short name stored in each message's ``source`` field ("web" or "telethon").
    name: str

    def fetch_since(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> AsyncIterator[list[TelegramMessage]]:
        """Yield batches of messages with ``message_id > after_id`` (all when None),
        ascending, photos downloaded. Raise ``ChannelUnavailable`` for a channel that
        cannot be read."""
        ...

    async def aclose(self) -> None: ...
