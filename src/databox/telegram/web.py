"""Scrape a channel from Telegram's public web preview, ``https://t.me/s/<channel>``.

No login is needed, but only channels whose owners enabled the preview have one, and
the page is HTML meant for browsers: the newest ~20 posts in ascending order with a
``tme_messages_more[data-before]`` link to older ones. The selectors below follow
``shared/docs/sources.md`` section 2b (snscrape's telegram module and recorded pages).

Two parts:

* ``parse_channel_page`` turns one page into ``WebPost`` objects. It never raises on
  a malformed post: a missing field becomes ``None`` so one odd post cannot stop a
  channel, and a post without ``data-post`` (no id) is skipped.
* ``WebPreviewSource`` implements ``TelegramSource``: it pages back from the newest
  post to the caller's watermark, downloads the photos and yields ascending batches.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from databox.errors import ChannelUnavailable, DataboxError
from databox.lake import atomic_write_bytes, validate_channel
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext
from databox.telegram.web_parse import WebPage, WebPost, parse_channel_page, parse_views

__all__ = ["BATCH_SIZE", "WebFetchError", "WebPreviewSource", "parse_channel_page", "parse_views"]

#: snscrape sends a desktop Chrome User-Agent; t.me serves the same markup to it.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
#: A batch holds at most this many messages (the Telethon source uses the same size).
BATCH_SIZE = 100
#: Statuses worth retrying: rate limiting and server-side trouble.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Never sleep longer than this on one retry, whatever Retry-After says.
MAX_RETRY_SLEEP = 60.0

_EXT_RE = re.compile(r"\.[A-Za-z0-9]{1,5}")


class WebFetchError(DataboxError):
    """An HTTP request of the web source failed for good; the message names the URL."""

    def __init__(self, message: str, *, url: str, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


# -- fetching --------------------------------------------------------------------------


def _photo_ext(url: str) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix
    return suffix.lower() if _EXT_RE.fullmatch(suffix) else ".jpg"


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # outside the lake root: still store a relative path
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _batches(items: list[WebPost], size: int) -> Iterable[list[WebPost]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _gather_or_cancel(aws: Iterable[Awaitable[Any]]) -> list[Any]:
    """``asyncio.gather`` that cancels the siblings when one fails (a TaskGroup on 3.10)."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class WebPreviewSource:
    """``TelegramSource`` over ``https://t.me/s/<channel>`` (or a replica at ``base_url``)."""

    name = "web"

    def __init__(
        self,
        base_url: str = "https://t.me",
        *,
        client: httpx.AsyncClient | None = None,
        max_pages: int | None = None,
        download_concurrency: int = 4,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
    ):
        """``max_pages`` caps how far one run pages back (None: to the watermark or the
        start of the channel); meant for a shallow first backfill, since with a
        watermark the posts beyond the cap are skipped for good (logged as a WARNING).
        ``retries`` extra attempts are made for 429/5xx and connection errors, sleeping
        ``backoff * 2**attempt`` seconds (or Retry-After, at most 60 s)."""
        if download_concurrency < 1:
            raise ValueError("download_concurrency must be at least 1")
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1 or None")
        self.base_url = base_url.rstrip("/")
        self.max_pages = max_pages
        self.download_concurrency = download_concurrency
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._headers = {"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"}
        self._given_client = client
        self._own_client: httpx.AsyncClient | None = None
        self._own_client_loop: asyncio.AbstractEventLoop | None = None
        self._active_fetches = 0

    # -- HTTP ----------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        # An AsyncClient's pooled connections belong to the event loop that opened them.
        # fetch_since closes our client when its last fetch ends, so a caller running
        # each channel under its own asyncio.run() gets a fresh one; the loop check is a
        # fallback for a fetch abandoned without being closed.
        loop = asyncio.get_running_loop()
        if self._own_client is None or self._own_client_loop is not loop:
            self._own_client = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=True, headers=self._headers
            )
            self._own_client_loop = loop
        return self._own_client

    async def _get(self, url: str, what: str) -> httpx.Response:
        """GET with retries on transient failures; returns the final response (which
        may still be a non-transient error status for the caller to judge)."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._client().get(
                    url, headers=self._headers, follow_redirects=True
                )
            except httpx.TransportError as exc:  # connect/read errors, timeouts
                if last:
                    raise WebFetchError(
                        f"{what} {url} failed after {attempts} attempts: "
                        f"{type(exc).__name__}: {exc}",
                        url=url,
                    ) from exc
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            if response.status_code not in TRANSIENT_STATUSES:
                return response
            if last:
                raise WebFetchError(
                    f"{what} {url} failed after {attempts} attempts: "
                    f"HTTP {response.status_code} {response.reason_phrase}",
                    url=url,
                    status=response.status_code,
                )
            delay = _retry_after(response)
            await asyncio.sleep(
                min(MAX_RETRY_SLEEP, delay if delay is not None else self.backoff * 2**attempt)
            )
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _fetch_page(self, channel: str, url: str) -> WebPage:
        response = await self._get(url, "page")
        final_url = str(response.url)
        # t.me answers a channel without a preview (private, unknown, preview off) with
        # a redirect to the plain /<channel> page: snscrape's `'/s/' not in r.url` test.
        if "/s/" not in urlsplit(final_url).path:
            raise ChannelUnavailable(
                channel,
                f"has no public web preview at {self.base_url}/s/{channel} (redirected to "
                f"{final_url}); set TELEGRAM_API_ID, TELEGRAM_API_HASH and TELEGRAM_SESSION "
                "to use Telethon",
            )
        if response.status_code == 404:
            raise ChannelUnavailable(channel, f"GET {url} answered HTTP 404 Not Found")
        if response.status_code != 200:
            raise WebFetchError(
                f"page {url} answered HTTP {response.status_code} {response.reason_phrase}",
                url=url,
                status=response.status_code,
            )
        return parse_channel_page(response.text, channel)

    async def _collect(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> list[WebPost]:
        """Page back from the newest post until ``after_id`` is reached; ascending."""
        found: dict[int, WebPost] = {}
        url = f"{self.base_url}/s/{channel}"
        pages = 0
        prev_before: int | None = None
        while True:
            page = await self._fetch_page(channel, url)
            pages += 1
            new_ids = [p.message_id for p in page.posts if p.message_id not in found]
            for post in page.posts:
                found.setdefault(post.message_id, post)
            if not page.posts or page.before is None:
                break  # the start of the channel
            if after_id is not None and page.posts[0].message_id <= after_id:
                break  # this page already overlaps what we have
            if not new_ids or (prev_before is not None and page.before >= prev_before):
                # Paging that does not move back would loop forever, and stopping quietly
                # would let the watermark jump over the posts not reached: fail instead.
                raise WebFetchError(
                    f"page {url} links back to before={page.before} but shows nothing older; "
                    "the preview's paging looks broken",
                    url=url,
                )
            if self.max_pages is not None and pages >= self.max_pages:
                if after_id is not None:
                    # Loud: ids between the watermark and this page are not fetched.
                    ctx.log(
                        f"web: {channel}: WARNING stopped after max_pages={self.max_pages}; "
                        f"posts {after_id + 1}..{page.posts[0].message_id - 1} were not fetched"
                    )
                break
            prev_before = page.before
            url = f"{self.base_url}/s/{channel}?before={page.before}"
        posts = [found[k] for k in sorted(found) if after_id is None or k > after_id]
        ctx.log(f"web: {channel}: {len(posts)} new post(s) from {pages} page(s)")
        return posts

    # -- photos --------------------------------------------------------------------------
    async def _download(
        self, sem: asyncio.Semaphore, channel: str, post: WebPost, index: int, url: str, path: Path
    ) -> None:
        async with sem:
            response = await self._get(url, f"photo {index} of {channel}/{post.message_id}:")
        if response.status_code != 200:
            raise WebFetchError(
                f"photo {index} of {channel}/{post.message_id}: {url} answered HTTP "
                f"{response.status_code} {response.reason_phrase}",
                url=url,
                status=response.status_code,
            )
        if not response.content:
            raise WebFetchError(
                f"photo {index} of {channel}/{post.message_id}: {url} returned an empty body",
                url=url,
                status=response.status_code,
            )
        # fsync is blocking; keep it off the event loop so other downloads proceed.
        await asyncio.to_thread(atomic_write_bytes, path, response.content)

    async def _build_batch(
        self, channel: str, posts: list[WebPost], ctx: FetchContext
    ) -> list[TelegramMessage]:
        sem = asyncio.Semaphore(self.download_concurrency)
        jobs = []
        messages = []
        for post in posts:
            if post.date is None:
                # Without a date the message has no place in the lake (day files).
                ctx.log(
                    f"web: {channel}: WARNING post {post.message_id} has no <time datetime>; "
                    "skipped (has the page layout changed?)"
                )
                continue
            paths = []
            for index, url in enumerate(post.photo_urls):
                path = Path(ctx.image_path_for(channel, post.message_id, index, _photo_ext(url)))
                jobs.append(self._download(sem, channel, post, index, url, path))
                paths.append(_relative_to(path, Path(ctx.lake_root)))
            messages.append(
                post.to_message(
                    source=self.name, image_paths=paths, photo_status=None, photo_errors=[]
                )
            )
        await _gather_or_cancel(jobs)
        return messages

    # -- TelegramSource ------------------------------------------------------------------
    async def fetch_since(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> AsyncIterator[list[TelegramMessage]]:
        channel = validate_channel(channel)
        self._active_fetches += 1
        try:
            posts = await self._collect(channel, after_id, ctx)
            for chunk in _batches(posts, BATCH_SIZE):
                batch = await self._build_batch(channel, chunk, ctx)
                if batch:
                    yield batch
        finally:
            # Channels fetched concurrently share one client; the last one closes it.
            self._active_fetches -= 1
            if self._active_fetches == 0:
                await self.aclose()

    async def aclose(self) -> None:
        client, loop = self._own_client, self._own_client_loop
        self._own_client = self._own_client_loop = None
        # A client opened under an event loop that has since finished cannot be closed
        # from another one; its sockets already went with that loop.
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()
