"""Read channel history through the Telegram API with a user session (Telethon).

Unlike the public web preview, this sees every post with exact counters, but it needs
a *user* login: ``messages.getHistory`` is a user-only method, so a bot token fails
with BOT_METHOD_INVALID. The session is a Telethon ``StringSession`` created once by
``databox telegram login`` and passed in as TELEGRAM_SESSION; a run never logs in
interactively.

Telethon is imported inside functions only: importing it costs ~1.5 s, and modules
that merely reference this class (the Dagster code server) must start fast.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from databox.errors import ChannelUnavailable, ConfigError
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext
from databox.telegram.telethon_convert import (
    complete_albums,
    has_photo,
    is_empty,
    is_service,
    to_message,
)

#: Messages per yielded batch (Telethon fetches history in chunks of 100 as well).
DEFAULT_BATCH_SIZE = 100
#: Consecutive FloodWaits without a single new message before we give the channel up;
#: guards against sleeping forever when Telegram keeps throttling the same request.
MAX_FLOOD_WAITS_WITHOUT_PROGRESS = 5

LOGIN_HINT = "run `databox telegram login` to create a new session string"


async def _maybe_await(value: Any) -> Any:
    # Telethon's disconnect()/start() return a coroutine or future only when the
    # event loop is running; fakes may be plain functions. Accept both.
    if inspect.isawaitable(value):
        return await value
    return value


class TelethonSource:
    """A ``TelegramSource`` backed by one Telethon client shared by all channels."""

    name = "telethon"

    def __init__(
        self,
        api_id: int,
        api_hash: str,
        session: str,
        *,
        max_flood_wait: int = 300,
        client_factory: Callable[[], Any] | None = None,
        log: Callable[[str], None] = print,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        self._api_id = api_id
        self._api_hash = api_hash
        self._session = session
        self.max_flood_wait = max_flood_wait
        self._client_factory = client_factory or self._default_client
        self.log = log
        self._sleep = sleep
        self.batch_size = max(1, batch_size)
        self._client: Any = None
        self._ready = False
        # A login problem is the same for every channel: remember it instead of
        # reconnecting (and failing the same way) once per channel.
        self._fatal: ConfigError | None = None
        # Channels are scraped concurrently; only one of them may connect the client.
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        # Never show the API hash or the session: both are credentials.
        return f"TelethonSource(api_id={self._api_id}, max_flood_wait={self.max_flood_wait})"

    # -- client -----------------------------------------------------------------------
    def _default_client(self) -> Any:
        from telethon import TelegramClient
        from telethon.sessions import StringSession

        try:
            session = StringSession(self._session)
        except Exception as exc:  # ValueError, binascii.Error, struct.error
            raise ConfigError(
                f"TELEGRAM_SESSION is not a valid Telethon session string ({type(exc).__name__}); "
                f"{LOGIN_HINT}"
            ) from None
        return TelegramClient(
            session,
            self._api_id,
            self._api_hash,
            # 0 turns Telethon's silent auto-sleep off so every FloodWait reaches us,
            # gets logged and is checked against TELEGRAM_MAX_FLOOD_WAIT.
            flood_sleep_threshold=0,
            # A scraper only makes requests; skip update processing in the background.
            receive_updates=False,
        )

    async def _connected_client(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._fatal is not None:
                raise self._fatal
            if self._ready:
                return self._client
            try:
                if self._client is None:
                    self._client = self._client_factory()
                await self._client.connect()
                await self._check_account(self._client)
            except ConfigError as exc:
                self._fatal = exc
                await self._disconnect()
                raise
            self._ready = True
            return self._client

    async def _check_account(self, client: Any) -> None:
        # Deliberately no client.start(): it would prompt for a phone number and a
        # login code, which hangs an unattended run.
        if not await client.is_user_authorized():
            raise ConfigError(
                "TELEGRAM_SESSION is missing, expired or revoked (Telegram does not accept it as "
                f"a logged-in user); {LOGIN_HINT} and put it in TELEGRAM_SESSION"
            )
        me = await client.get_me()
        if me is None:
            raise ConfigError(f"TELEGRAM_SESSION is not logged in; {LOGIN_HINT}")
        if getattr(me, "bot", False):
            raise ConfigError(
                "TELEGRAM_SESSION belongs to a bot account, and a bot token cannot read channel "
                "history: messages.getHistory is a user-only method (Telegram answers "
                "BOT_METHOD_INVALID). A user session is needed: "
                f"{LOGIN_HINT} with a phone number, not a bot token"
            )
        who = f"@{me.username}" if getattr(me, "username", None) else f"user id {me.id}"
        self.log(f"Telethon: connected as {who}")

    async def _disconnect(self) -> None:
        client, self._client, self._ready = self._client, None, False
        if client is not None:
            await _maybe_await(client.disconnect())

    async def aclose(self) -> None:
        await self._disconnect()
        self._fatal = None
        self._lock = None

    # -- fetching ---------------------------------------------------------------------
    async def fetch_since(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> AsyncIterator[list[TelegramMessage]]:
        from telethon import errors

        client = await self._connected_client()
        flood_errors = tuple(
            e for e in (errors.FloodWaitError, getattr(errors, "FloodPremiumWaitError", None)) if e
        )
        gone_errors = (
            errors.UsernameNotOccupiedError,
            errors.UsernameInvalidError,
            errors.ChannelPrivateError,
            errors.ChannelInvalidError,
        )

        # Highest id taken from the iterator so far (messages buffered or yielded, and
        # skipped deleted ones). A FloodWait resumes strictly after it, so no message
        # is fetched twice and none is skipped.
        last_seen = after_id or 0
        waits_without_progress = 0
        progress_mark = last_seen
        entity = None
        batch: list[TelegramMessage] = []

        while True:
            try:
                if entity is None:
                    entity = await self._resolve(client, channel)
                # reverse=True: oldest first; min_id is exclusive.
                async for msg in client.iter_messages(entity, min_id=last_seen, reverse=True):
                    # Telethon notes duplicated ids on bad connections; keep ids increasing.
                    if msg is None or msg.id <= last_seen:
                        continue
                    if is_empty(msg):
                        last_seen = msg.id  # deleted: nothing to keep
                        continue
                    # Service messages ("channel created", pinned, ...) are kept too,
                    # with message_type "service".
                    record = await self._convert(client, channel, msg, ctx, flood_errors)
                    # Close the batch only between albums, never inside one: the
                    # scraper's watermark moves to a batch's last id, so a split album
                    # could lose its tail after a crash.
                    if len(batch) >= self.batch_size and not _same_album(batch[-1], record):
                        complete_albums(batch)
                        yield batch
                        batch = []
                    batch.append(record)
                    last_seen = msg.id
                break
            except flood_errors as exc:
                if last_seen != progress_mark:
                    waits_without_progress, progress_mark = 0, last_seen
                waits_without_progress += 1
                await self._flood_wait(channel, exc.seconds, waits_without_progress, ctx)
            except gone_errors as exc:
                raise ChannelUnavailable(channel, _gone_reason(exc)) from exc
            except ValueError as exc:
                # get_entity raises a bare ValueError ('No user has "x" as username',
                # 'Cannot find any entity corresponding to "x"').
                if entity is not None:
                    raise
                raise ChannelUnavailable(channel, f"Telegram cannot resolve it: {exc}") from exc
        if batch:
            complete_albums(batch)
            yield batch

    async def _resolve(self, client: Any, channel: str) -> Any:
        from telethon.tl import types

        entity = await client.get_entity(channel)
        if isinstance(entity, (types.User, types.UserEmpty)):
            # Reading a person's private chat is not what this pipeline is for.
            raise ChannelUnavailable(channel, "this username belongs to a user, not a channel")
        return entity

    async def _flood_wait(
        self, channel: str, seconds: int, attempt: int, ctx: FetchContext
    ) -> None:
        if seconds > self.max_flood_wait:
            raise ChannelUnavailable(
                channel,
                f"Telegram asks to wait {seconds} s (> TELEGRAM_MAX_FLOOD_WAIT={self.max_flood_wait}); "
                "try again later",
            )
        if attempt > MAX_FLOOD_WAITS_WITHOUT_PROGRESS:
            raise ChannelUnavailable(
                channel,
                f"Telegram kept asking to wait ({attempt - 1} FloodWaits in a row without a new "
                "message); try again later",
            )
        ctx.log(f"FloodWait: sleeping {seconds} s for channel {channel}")
        await self._sleep(seconds)

    async def _convert(
        self, client: Any, channel: str, msg: Any, ctx: FetchContext, flood_errors: tuple
    ) -> TelegramMessage:
        image_paths: list[str] = []
        photo_status: str | None = None
        photo_errors: list[dict[str, Any]] = []
        # Only the post's own photo: videos and files are recorded without an image, a
        # link preview's picture is not the post's, and service messages have none.
        if not is_service(msg) and has_photo(msg):
            try:
                path = await self._download_photo(client, channel, msg, ctx)
            except (*flood_errors, OutsideLake):
                raise  # a FloodWait is retried by fetch_since; a path outside the lake is a bug
            except Exception as exc:
                path, error = None, f"{type(exc).__name__}: {exc}"
            else:
                error = None if path else "Telegram returned no downloadable photo size"
            if path is not None:
                image_paths.append(path)
                photo_status = "ok"
            else:
                ctx.log(f"channel {channel}: photo of message {msg.id} not downloaded: {error}")
                photo_status = "failed"
                photo_errors.append({"index": 0, "url": None, "error": error})
        return to_message(
            msg,
            channel,
            source=self.name,
            image_paths=image_paths,
            photo_status=photo_status,
            photo_errors=photo_errors,
        )

    async def _download_photo(
        self, client: Any, channel: str, msg: Any, ctx: FetchContext
    ) -> str | None:
        if msg.photo is None:  # PhotoEmpty: Telegram no longer serves it
            return None
        target = ctx.image_path_for(channel, msg.id, 0, ".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)  # Telethon opens the file as is
        # Telethon may return a different path (it adds an extension when the name has
        # none); an existing file at the exact path is overwritten, which makes a
        # re-fetch after a crash idempotent.
        try:
            result = await client.download_media(msg, file=str(target))
        except BaseException:
            target.unlink(missing_ok=True)  # no half-written photo is left in the lake
            raise
        if not result:
            return None
        try:
            return Path(result).resolve().relative_to(Path(ctx.lake_root).resolve()).as_posix()
        except ValueError:
            raise OutsideLake(
                f"photo of message {msg.id} was written to {result}, outside the lake {ctx.lake_root}"
            ) from None


class OutsideLake(ValueError):
    """A download landed outside the lake: a configuration error, not a failed photo."""


# -- helpers ------------------------------------------------------------------------------
def _same_album(previous: TelegramMessage, current: TelegramMessage) -> bool:
    return current.grouped_id is not None and current.grouped_id == previous.grouped_id


def _gone_reason(exc: Exception) -> str:
    reasons = {
        "UsernameNotOccupiedError": "no channel uses this username",
        "UsernameInvalidError": "not a valid Telegram username",
        "ChannelPrivateError": "the channel is private or this account was banned from it",
        "ChannelInvalidError": "Telegram reports the channel as invalid",
    }
    return reasons.get(type(exc).__name__, str(exc))
