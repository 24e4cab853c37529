"""HTTP for the web source: GETs bounded by an overall deadline and a body limit,
with bounded retries; and what makes a downloaded body a photo."""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

import httpx

from databox.errors import DataboxError

#: snscrape sends a desktop Chrome User-Agent; t.me serves the same markup to it.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
#: Statuses worth retrying: rate limiting and server-side trouble.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Never sleep longer than this on one retry, whatever Retry-After says.
MAX_RETRY_SLEEP = 60.0
#: Defaults of ``TELEGRAM_HTTP_CONNECT_TIMEOUT``, ``TELEGRAM_HTTP_DEADLINE``,
#: ``TELEGRAM_HTTP_RETRIES`` and ``TELEGRAM_MAX_PHOTO_BYTES``.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_DEADLINE = 30.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_PHOTO_BYTES = 20 * 1024 * 1024
#: Retries after a failure to reach the server at all (``unreachable_reason``): the
#: name does not resolve, nothing listens, no route. That does not heal within seconds,
#: so one quick retry (a blip, a server restarting) and no backoff ladder.
UNREACHABLE_RETRIES = 1
#: A channel page is ~100 KB; anything near this is not one.
MAX_PAGE_BYTES = 10 * 1024 * 1024
#: Content types a photo may be served as (the bytes are sniffed in any case).
_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})


class WebFetchError(DataboxError):
    """An HTTP request of the web source failed for good; the message names the URL.

    ``reason`` is the failure alone ("HTTP 404 Not Found", "no complete answer
    within the 30 s deadline"), for records that already carry the URL."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        reason: str | None = None,
        unreachable: str | None = None,
    ):
        super().__init__(message)
        self.url = url
        self.status = status
        self.reason = reason or message
        #: ``unreachable_reason`` of the last attempt: the server could not be reached.
        self.unreachable = unreachable


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the server could not be reached at all ("name resolution failed",
    "connection refused", "network unreachable"), read from the OS error httpx wraps in
    its ``ConnectError`` (httpx → httpcore → ``socket.gaierror`` / ``ConnectionRefusedError``);
    None for anything else: timeouts, resets, HTTP statuses may well heal on a retry."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "name resolution failed"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, OSError) and current.errno in (
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
        ):
            return "network unreachable"
        current = current.__cause__ or current.__context__
    return None


@dataclass
class Answer:
    """A finished response: status and the whole body, read within the deadline."""

    status: int
    reason: str
    url: str
    headers: httpx.Headers
    body: bytes = b""
    charset: str | None = None

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")


class _TooLarge(Exception):
    def __init__(self, size: int, declared: bool):
        super().__init__(size)
        self.size = size
        self.declared = declared


def sniff_image(data: bytes) -> str | None:
    """The extension of ``data``'s real image type (``.jpg``, ``.png``, ``.webp``,
    ``.gif``) from its magic bytes; None when it is none of them."""
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    return None


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def check_photo(answer: Answer) -> tuple[str | None, str]:
    """``(error, extension)``: why ``answer`` is not a photo, or its real extension."""
    if answer.status != 200:
        return f"HTTP {answer.status} {answer.reason}", ""
    ctype = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype and not ctype.startswith("image/") and ctype not in _BINARY_TYPES:
        return f"Content-Type {ctype} is not an image", ""
    if not answer.body:
        return "empty body", ""
    ext = sniff_image(answer.body)
    if ext is None:
        return (
            f"the body ({len(answer.body)} bytes, starting {answer.body[:8]!r}) is not "
            "a JPEG, PNG, WebP or GIF image",
            "",
        )
    return None, ext


class DeadlineHttp:
    """GETs for the web source, each attempt bounded by an overall deadline.

    httpx's read timeout is per chunk, so a server that trickles bytes would defeat
    it: every attempt (connect, headers, the whole body) must finish within
    ``deadline`` seconds, connecting within ``connect_timeout``. ``retries`` extra
    attempts follow a timeout, a connection error or 429/5xx, sleeping
    ``backoff * 2**attempt`` seconds (or Retry-After), at most ``MAX_RETRY_SLEEP``.
    A server that cannot be reached at all (``unreachable_reason``) gets at most
    ``UNREACHABLE_RETRIES`` quick retry (``backoff`` seconds), so an offline run
    fails in about a second instead of walking the whole ladder for every channel.
    """

    def __init__(
        self,
        *,
        headers: dict[str, str],
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 0.5,
    ):
        if not deadline > 0 or not connect_timeout > 0:
            raise ValueError("deadline and connect_timeout must be positive")
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.retries = max(0, retries)
        self.backoff = backoff
        self._headers = headers
        self._given_client = client
        self._own_client: httpx.AsyncClient | None = None
        self._own_client_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        # An AsyncClient's pooled connections belong to the event loop that opened them.
        # The last fetch to end closes our client, so a caller running each channel
        # under its own asyncio.run() gets a fresh one; the loop check is a fallback
        # for a fetch abandoned without being closed.
        loop = asyncio.get_running_loop()
        if self._own_client is None or self._own_client_loop is not loop:
            self._own_client = httpx.AsyncClient(
                # httpx's read timeout is per chunk: the overall deadline (_get) bounds
                # reading, writing and waiting for the pool; connecting has its own.
                timeout=httpx.Timeout(None, connect=self.connect_timeout),
                follow_redirects=True,
                headers=self._headers,
            )
            self._own_client_loop = loop
        return self._own_client

    async def aclose(self) -> None:
        client, loop = self._own_client, self._own_client_loop
        self._own_client = self._own_client_loop = None
        # A client opened under an event loop that has since finished cannot be closed
        # from another one; its sockets already went with that loop.
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    def _sleep_for(self, attempt: int, retry_after: float | None) -> float:
        delay = retry_after if retry_after is not None else self.backoff * 2**attempt
        return max(0.0, min(MAX_RETRY_SLEEP, delay))

    async def _attempt(self, url: str, max_bytes: int) -> Answer:
        """One GET, reading the whole body of a 200 (stopping past ``max_bytes``)."""
        async with self._client().stream(
            "GET", url, headers=self._headers, follow_redirects=True
        ) as response:
            answer = Answer(
                status=response.status_code,
                reason=response.reason_phrase,
                url=str(response.url),
                headers=response.headers,
                charset=response.charset_encoding,
            )
            if response.status_code != 200:
                return answer  # the caller judges the status; the body is not needed
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _TooLarge(int(declared), declared=True)
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise _TooLarge(size, declared=False)  # closes the connection
                chunks.append(chunk)
            answer.body = b"".join(chunks)
            return answer

    async def get(
        self, url: str, what: str, *, max_bytes: int = MAX_PAGE_BYTES, limit_name: str = ""
    ) -> Answer:
        """GET with an overall deadline per attempt and bounded retries on timeouts,
        connection errors and transient statuses; returns the final answer (which
        may still be a non-transient error status for the caller to judge). Raises
        ``WebFetchError`` when the attempts are used up or the body is too large."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            status: int | None = None
            retry_after: float | None = None
            unreachable: str | None = None
            try:
                answer = await asyncio.wait_for(self._attempt(url, max_bytes), self.deadline)
            except asyncio.TimeoutError:
                problem = (
                    f"no complete answer within the {self.deadline:g} s deadline "
                    "(TELEGRAM_HTTP_DEADLINE)"
                )
            except httpx.TransportError as exc:  # connect/read errors, httpx timeouts
                problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                unreachable = unreachable_reason(exc)
                if unreachable and unreachable not in problem:
                    # httpx says "All connection attempts failed" for a refused port.
                    problem = f"{problem} ({unreachable})"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # redirect loop, bad URL
                reason = f"{type(exc).__name__}: {exc}"  # not transient: not retried
                raise WebFetchError(f"{what} {url}: {reason}", url=url, reason=reason) from exc
            except _TooLarge as exc:  # not transient: the same bytes come back
                at_least = "" if exc.declared else "more than "
                reason = (
                    f"body of {at_least}{exc.size} bytes is over the limit of {max_bytes} bytes"
                    + (f" ({limit_name})" if limit_name else "")
                )
                raise WebFetchError(f"{what} {url}: {reason}", url=url, reason=reason) from None
            else:
                if answer.status not in TRANSIENT_STATUSES:
                    return answer
                status = answer.status
                problem = f"HTTP {answer.status} {answer.reason}"
                retry_after = _retry_after(answer.headers)
            last = attempt == attempts - 1 or (
                unreachable is not None and attempt >= min(self.retries, UNREACHABLE_RETRIES)
            )
            if last:
                tried = f"{attempt + 1} attempt{'s' if attempt else ''}"
                raise WebFetchError(
                    f"{what} {url} failed after {tried}: {problem}",
                    url=url,
                    status=status,
                    reason=f"{problem} (after {tried})",
                    unreachable=unreachable,
                )
            # Unreachable: one short pause, not the growing backoff of transient errors.
            await asyncio.sleep(self._sleep_for(0 if unreachable else attempt, retry_after))
        raise AssertionError("unreachable")  # the loop always returns or raises
