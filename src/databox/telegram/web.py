"""Scrape a channel from Telegram's public web preview, ``https://t.me/s/<channel>``.

No login is needed, but only channels whose owners enabled the preview have one, and
the page is HTML meant for browsers: the newest ~20 posts in ascending order with a
``tme_messages_more[data-before]`` link to older ones. ``web_parse`` reads a page;
this module fetches pages and photos and implements ``TelegramSource``:
``WebPreviewSource`` pages back from the newest post to the caller's watermark,
downloads the photos and yields ascending batches.

Faults are bounded and isolated:

* every request (page or photo) has an overall deadline covering connecting and
  reading the whole body (httpx's read timeout is per chunk, so a trickling server
  would defeat it), a separate connect timeout, and a bounded number of retries
  (timeouts, connection errors, 429/5xx), never sleeping more than
  ``MAX_RETRY_SLEEP`` at a time;
* a page the parser cannot read (an unreadable post block, a page that is not a
  channel preview) fails the channel with ``WebLayoutError`` naming the page and
  the post, after keeping the HTML in the lake's quarantine, so nothing is yielded
  and the watermark cannot move past it;
* a photo that cannot be downloaded (an error status, a timeout, a body that is not
  an image, too large) never fails the channel: the message lands with
  ``photo_status`` ``partial``/``failed`` and ``photo_errors``, and the scraper
  retries it on later runs (``fetch_photos``). Only bytes that sniff as JPEG, PNG,
  WebP or GIF are written, under the extension of their real type.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from databox.errors import ChannelUnavailable
from databox.lake import atomic_write_bytes, validate_channel
from databox.telegram.message import TelegramMessage
from databox.telegram.source import FetchContext
from databox.telegram.web_http import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_PHOTO_BYTES,
    DEFAULT_RETRIES,
    USER_AGENT,
    DeadlineHttp,
    WebFetchError,
    check_photo,
    sniff_image,
)
from databox.telegram.web_parse import (
    PreviewLayoutError,
    WebPage,
    WebPost,
    parse_channel_page,
    parse_views,
)

__all__ = [
    "BATCH_SIZE",
    "PhotoResult",
    "WebFetchError",
    "WebLayoutError",
    "WebPreviewSource",
    "parse_channel_page",
    "parse_views",
    "sniff_image",
]

#: A batch holds at most this many messages (the Telethon source uses the same size).
BATCH_SIZE = 100


class WebLayoutError(WebFetchError):
    """A page of the preview could not be read: its layout changed, a post block is
    unreadable, or it is not a channel preview at all. The message names the page
    URL, the post (where known) and the quarantine file holding the HTML."""

    def __init__(self, message: str, *, url: str, post: str | None, quarantined: Path | None):
        super().__init__(message, url=url)
        self.post = post
        self.quarantined = quarantined


@dataclass(frozen=True)
class PhotoResult:
    """One photo download: ``path`` (lake-relative) when it landed, else ``error``."""

    message_id: int
    index: int
    url: str
    path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.path is not None


# -- helpers ---------------------------------------------------------------------------


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # outside the lake root: still store a relative path
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


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


def photo_outcome(
    n_photos: int, results: Sequence[PhotoResult]
) -> tuple[list[str], str | None, list[dict]]:
    """``(image_paths, photo_status, photo_errors)`` of a post from its downloads."""
    paths = [r.path for r in results if r.path is not None]
    errors = [{"index": r.index, "url": r.url, "error": r.error} for r in results if r.path is None]
    if n_photos == 0:
        return paths, None, errors
    status = "ok" if not errors else ("failed" if not paths else "partial")
    return paths, status, errors


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
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 0.5,
        max_photo_bytes: int = DEFAULT_MAX_PHOTO_BYTES,
    ):
        """``max_pages`` caps how far one run pages back (None: to the watermark or the
        start of the channel); meant for a shallow first backfill, since with a
        watermark the posts beyond the cap are skipped for good (logged as a WARNING).
        ``connect_timeout``, ``deadline``, ``retries`` and ``backoff`` bound every
        request (``DeadlineHttp``). A photo above ``max_photo_bytes`` is not kept."""
        if download_concurrency < 1:
            raise ValueError("download_concurrency must be at least 1")
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1 or None")
        if max_photo_bytes < 1:
            raise ValueError("max_photo_bytes must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.max_pages = max_pages
        self.download_concurrency = download_concurrency
        self.max_photo_bytes = max_photo_bytes
        self.http = DeadlineHttp(
            headers={"User-Agent": USER_AGENT, "Accept-Language": "en-US,en;q=0.9"},
            client=client,
            connect_timeout=connect_timeout,
            deadline=deadline,
            retries=retries,
            backoff=backoff,
        )
        self._active_fetches = 0

    @property
    def connect_timeout(self) -> float:
        return self.http.connect_timeout

    @property
    def deadline(self) -> float:
        return self.http.deadline

    @property
    def retries(self) -> int:
        return self.http.retries

    @contextlib.asynccontextmanager
    async def _in_use(self) -> AsyncIterator[None]:
        """Channels fetched concurrently share one client; the last user closes it."""
        self._active_fetches += 1
        try:
            yield
        finally:
            self._active_fetches -= 1
            if self._active_fetches == 0:
                await self.aclose()

    # -- pages ---------------------------------------------------------------------------
    def _layout_error(
        self, ctx: FetchContext, channel: str, url: str, exc: PreviewLayoutError
    ) -> WebLayoutError:
        """Keep every unreadable block (or the page) in quarantine, named by its digest
        so the same bytes are kept once across runs, and build the error that fails
        the channel: the parser's message (it names the page and the posts) plus where
        the HTML is kept."""
        kept: list[Path] = []
        for error in [exc, *exc.others]:
            data = (error.html or "").encode("utf-8", errors="replace")
            if not data or ctx.quarantine is None:
                continue
            name = f"telegram_web/{channel}/{hashlib.sha256(data).hexdigest()}.html"
            kept.append(ctx.quarantine(name, data))
        where = f"; the HTML is kept at {', '.join(map(str, kept))}" if kept else ""
        return WebLayoutError(
            f"{exc}{where}", url=url, post=exc.post, quarantined=kept[0] if kept else None
        )

    async def _fetch_page(self, channel: str, url: str, ctx: FetchContext) -> WebPage:
        answer = await self.http.get(url, "page")
        # t.me answers a channel without a preview (private, unknown, preview off) with
        # a redirect to the plain /<channel> page: snscrape's `'/s/' not in r.url` test.
        if "/s/" not in urlsplit(answer.url).path:
            raise ChannelUnavailable(
                channel,
                f"has no public web preview at {self.base_url}/s/{channel} (redirected to "
                f"{answer.url}); set TELEGRAM_API_ID, TELEGRAM_API_HASH and TELEGRAM_SESSION "
                "to use Telethon",
            )
        if answer.status == 404:
            raise ChannelUnavailable(channel, f"GET {url} answered HTTP 404 Not Found")
        if answer.status != 200:
            raise WebFetchError(
                f"page {url} answered HTTP {answer.status} {answer.reason}",
                url=url,
                status=answer.status,
            )
        try:
            return parse_channel_page(answer.text, channel, url)
        except PreviewLayoutError as exc:
            raise self._layout_error(ctx, channel, url, exc) from exc

    async def _collect(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> list[WebPost]:
        """Page back from the newest post until ``after_id`` is reached; ascending."""
        found: dict[int, WebPost] = {}
        url = f"{self.base_url}/s/{channel}"
        pages = 0
        prev_before: int | None = None
        while True:
            page = await self._fetch_page(channel, url, ctx)
            pages += 1
            new_ids = [p.message_id for p in page.posts if p.message_id not in found]
            for post in page.posts:
                found.setdefault(post.message_id, post)
            if not page.posts or page.before is None:
                break  # the start of the channel (an empty page has no older link)
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
        self,
        sem: asyncio.Semaphore,
        channel: str,
        message_id: int,
        index: int,
        url: str,
        ctx: FetchContext,
    ) -> PhotoResult:
        """Download one photo; an HTTP-side failure is returned, never raised (only
        the lake's own failures, such as a full disk, raise)."""
        what = f"photo {index} of {channel}/{message_id}:"
        error: str | None = None
        try:
            async with sem:
                answer = await self.http.get(
                    url,
                    what,
                    max_bytes=self.max_photo_bytes,
                    limit_name="TELEGRAM_MAX_PHOTO_BYTES",
                )
        except WebFetchError as exc:
            error = exc.reason
        else:
            error, ext = check_photo(answer)
        if error is not None:
            ctx.log(f"web: {channel}: WARNING {what} {url}: {error}; the message is kept")
            return PhotoResult(message_id, index, url, error=error)
        path = Path(ctx.image_path_for(channel, message_id, index, ext))
        # fsync is blocking; keep it off the event loop so other downloads proceed.
        await asyncio.to_thread(atomic_write_bytes, path, answer.body)
        return PhotoResult(message_id, index, url, path=_relative_to(path, Path(ctx.lake_root)))

    async def _download_all(
        self, channel: str, jobs: Sequence[tuple[int, int, str]], ctx: FetchContext
    ) -> list[PhotoResult]:
        sem = asyncio.Semaphore(self.download_concurrency)
        return await _gather_or_cancel(
            self._download(sem, channel, mid, index, url, ctx) for mid, index, url in jobs
        )

    async def fetch_photos(
        self, channel: str, jobs: Sequence[tuple[int, int, str]], ctx: FetchContext
    ) -> list[PhotoResult]:
        """Download ``(message_id, index, url)`` photos into the lake (the scraper's
        retry of photos that failed on earlier runs); one result per job, in order."""
        channel = validate_channel(channel)
        async with self._in_use():
            return await self._download_all(channel, jobs, ctx)

    async def _build_batch(
        self, channel: str, posts: list[WebPost], ctx: FetchContext
    ) -> list[TelegramMessage]:
        jobs = [
            (post.message_id, index, url)
            for post in posts
            for index, url in enumerate(post.photo_urls)
        ]
        results = iter(await self._download_all(channel, jobs, ctx))
        messages = []
        for post in posts:
            mine = [next(results) for _ in post.photo_urls]
            paths, status, errors = photo_outcome(len(post.photo_urls), mine)
            messages.append(
                post.to_message(
                    source=self.name, image_paths=paths, photo_status=status, photo_errors=errors
                )
            )
        return messages

    # -- TelegramSource ------------------------------------------------------------------
    async def fetch_since(
        self, channel: str, after_id: int | None, ctx: FetchContext
    ) -> AsyncIterator[list[TelegramMessage]]:
        channel = validate_channel(channel)
        async with self._in_use():
            posts = await self._collect(channel, after_id, ctx)
            for chunk in _batches(posts, BATCH_SIZE):
                batch = await self._build_batch(channel, chunk, ctx)
                if batch:
                    yield batch

    async def aclose(self) -> None:
        await self.http.aclose()
