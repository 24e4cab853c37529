"""A local replica of Telegram's public web preview (``https://t.me/s/<channel>``).

It serves HTML in the structure documented in ``shared/docs/sources.md`` section 2b,
so the web source's parser and pager are tested against real sockets and real
markup, never against mocks:

* ``/s/<channel>``: the newest ``page_size`` posts, ascending, with a
  ``tme_messages_more[data-before]`` link when older posts exist;
* ``/s/<channel>?before=N`` / ``?after=N``: the posts just older / newer than N;
* ``/<channel>``: the plain channel page. A channel without a preview (and an
  unknown one) answers ``/s/<channel>`` with a 302 to it, as t.me does;
* ``/file/<name>``: the photo bytes the posts' ``background-image`` URLs point at.

Faults, per path (without query), for tests of the client's deadlines and
isolation; each may be limited to ``times`` requests (None: until cleared):

* ``fail(path, status)``: answer an error status;
* ``trickle(path, chunk_bytes, interval)``: the real answer, its body sent a few
  bytes at a time (defeats a per-read timeout);
* ``stall(path)``: read the request and send nothing (or only the headers);
* ``serve_as(path, content_type, body)``: answer 200 with other bytes (HTML or
  garbage where a photo should be);
* ``oversize(path, size)``: a JPEG-looking body of ``size`` bytes, streamed;
* ``rewrite(path, fn)``: the real HTML page passed through ``fn`` (layout drift).

Every waiting fault ends when the client goes away, after ``limit`` seconds, or when
the replica stops, so a test never leaves a thread behind.

Run ``python -m databox.replica.telegram_web --port 8081`` for a demo server and point
``TELEGRAM_WEB_BASE_URL`` at it.
"""

from __future__ import annotations

import argparse
import mimetypes
import select
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from databox.replica.server import LoopbackServer
from databox.replica.telegram_corpus import (  # noqa: F401 - re-exported
    DEMO_CHANNELS,
    NO_PREVIEW_CHANNEL,
    Channel,
    Corpus,
    Forward,
    LinkPreview,
    Post,
    build_demo_corpus,
)
from databox.replica.telegram_html import (  # noqa: F401 - re-exported
    _document,
    format_views,
    render_channel_page,
    render_plain_page,
    render_post,
    render_text,
)

# -- server ----------------------------------------------------------------------------

#: The first bytes of a baseline JPEG (SOI + APP0 "JFIF"): what ``oversize`` streams.
_JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@dataclass
class _Fault:
    kind: str  # status | trickle | stall | serve | oversize | rewrite
    times: int | None = None
    status: int = 200
    content_type: str | None = None
    body: bytes = b""
    chunk_bytes: int = 1
    interval: float = 0.1
    size: int = 0
    declare_length: bool = True
    headers_first: bool = False
    limit: float = 60.0
    rewrite: Callable[[str], str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _peer_closed(sock) -> bool:
    """Has the client closed (or reset) its side? Never blocks."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, 2) == b""  # 2 = MSG_PEEK: leave any pipelined bytes
    except OSError:
        return True


class TelegramWebReplica(LoopbackServer):
    """A real HTTP server replaying ``corpus`` as t.me's web preview.

    ``request_log`` lists every requested path (with query). ``fail``, ``trickle``,
    ``stall``, ``serve_as``, ``oversize`` and ``rewrite`` inject faults per path (see
    the module docstring); ``body_bytes_sent(path)`` tells how much of a body went out.
    """

    thread_name = "telegram-web-replica"

    def __init__(self, corpus: Corpus, host: str = "127.0.0.1", port: int = 0, page_size: int = 20):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.corpus = corpus
        super().__init__(host, port)
        self.page_size = page_size
        self._lock = threading.RLock()
        self._log: list[str] = []
        self._user_agents: set[str] = set()
        self._faults: dict[str, _Fault] = {}
        self._sent: Counter[str] = Counter()

    # -- test controls -------------------------------------------------------------------
    @property
    def request_log(self) -> list[str]:
        with self._lock:
            return list(self._log)

    @property
    def user_agents(self) -> set[str]:
        """Every User-Agent seen (clients should send a browser's, as t.me expects)."""
        with self._lock:
            return set(self._user_agents)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def file_url(self, name: str) -> str:
        return f"{self.base_url}/file/{name}"

    def _set_fault(self, path: str, fault: _Fault) -> None:
        with self._lock:
            self._faults[path] = fault

    def fail(self, path: str, status: int = 500, times: int | None = None) -> None:
        """Answer ``path`` (without query) with ``status``: ``times`` times, or always."""
        self._set_fault(path, _Fault("status", times, status=status))

    def trickle(
        self,
        path: str,
        *,
        chunk_bytes: int = 1,
        interval: float = 0.1,
        times: int | None = None,
    ) -> None:
        """Send ``path``'s real answer with its headers at once and its body
        ``chunk_bytes`` at a time, one chunk every ``interval`` seconds."""
        if chunk_bytes < 1 or interval < 0:
            raise ValueError("chunk_bytes must be at least 1 and interval not negative")
        self._set_fault(path, _Fault("trickle", times, chunk_bytes=chunk_bytes, interval=interval))

    def stall(
        self,
        path: str,
        *,
        headers_first: bool = False,
        limit: float = 60.0,
        times: int | None = None,
    ) -> None:
        """Accept a request for ``path`` and send nothing (with ``headers_first``, the
        status line and headers, then nothing), until the client gives up, ``limit``
        seconds pass or the replica stops."""
        self._set_fault(path, _Fault("stall", times, headers_first=headers_first, limit=limit))

    def serve_as(
        self,
        path: str,
        content_type: str,
        body: bytes | str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``path`` with ``status`` and ``body`` as ``content_type`` (e.g. HTML
        for a photo), plus ``headers`` (e.g. a Retry-After)."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        fault = _Fault("serve", times, status=status, content_type=content_type, body=data)
        fault.headers = dict(headers or {})
        self._set_fault(path, fault)

    def oversize(
        self,
        path: str,
        size: int,
        *,
        declare_length: bool = True,
        content_type: str = "image/jpeg",
        times: int | None = None,
    ) -> None:
        """Answer ``path`` with a JPEG-looking body of ``size`` bytes, streamed in 64 KB
        chunks; without ``declare_length`` no Content-Length is sent (the body ends
        when the connection closes), so only counting the bytes can stop a client."""
        self._set_fault(
            path,
            _Fault(
                "oversize",
                times,
                size=size,
                declare_length=declare_length,
                content_type=content_type,
            ),
        )

    def rewrite(self, path: str, fn: Callable[[str], str], *, times: int | None = None) -> None:
        """Pass the HTML ``path`` answers through ``fn`` (layout drift, broken blocks)."""
        self._set_fault(path, _Fault("rewrite", times, rewrite=fn))

    def clear_faults(self, path: str | None = None) -> None:
        """Remove the fault of ``path``, or every fault."""
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def body_bytes_sent(self, path: str) -> int:
        """Body bytes written for ``path`` (without query) so far, over all requests."""
        with self._lock:
            return self._sent[path]

    def add_post(self, channel: str, **post: Any) -> int:
        """Publish a post now (or at ``date=``); returns its id. Takes the keyword
        arguments of ``Corpus.add_post`` (text, photos, views, media kinds, ...)."""
        with self._lock:
            return self.corpus.add_post(channel, **post).id

    def edit_post(self, channel: str, post_id: int, text: str | None) -> None:
        with self._lock:
            ch = self.corpus.channel(channel)
            if ch is None or post_id not in ch.posts:
                raise KeyError(f"no post {channel}/{post_id}")
            ch.posts[post_id].text = text
            ch.posts[post_id].edited = True

    # -- request handling ----------------------------------------------------------------
    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            fault = self._faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                if fault.times <= 0:
                    del self._faults[path]
                    return None
                fault.times -= 1
            return fault

    def _page(self, channel: Channel, query: dict[str, list[str]]) -> str:
        posts = channel.sorted_posts()

        def number(key: str) -> int | None:
            value = (query.get(key) or [""])[0]
            return int(value) if value.isdigit() else None

        before, after = number("before"), number("after")
        if before is not None:  # exclusive, like t.me
            page = [p for p in posts if p.id < before][-self.page_size :]
        elif after is not None:
            page = [p for p in posts if p.id > after][: self.page_size]
        else:
            page = posts[-self.page_size :]
        older = bool(page) and posts[0].id < page[0].id
        newer = bool(page) and posts[-1].id > page[-1].id
        return render_channel_page(
            channel,
            page,
            before=page[0].id if older else None,
            # The newest page carries no "after" link, as on t.me.
            after=page[-1].id if newer and (before is not None or after is not None) else None,
            base_url=self.base_url,
        )

    def _respond(
        self, handler: BaseHTTPRequestHandler, fault: _Fault | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self._answer(handler, fault)
        if (
            fault is not None
            and fault.rewrite is not None
            and headers.get("Content-Type", "").startswith("text/html")
        ):
            body = fault.rewrite(body.decode()).encode()
        return status, headers, body

    def _answer(
        self, handler: BaseHTTPRequestHandler, fault: _Fault | None
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(handler.path)
        path = unquote(split.path)
        html = "text/html; charset=utf-8"
        if fault is not None and fault.kind == "status":
            status = fault.status
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            return status, {"Content-Type": "text/plain"}, f"{status} {phrase}\n".encode()
        if fault is not None and fault.kind == "serve":
            headers = {"Content-Type": fault.content_type or html, **fault.headers}
            return fault.status, headers, fault.body
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if len(parts) == 2 and parts[0] == "file":
                name = parts[1]
                if name not in self.corpus.files:
                    return 404, {"Content-Type": "text/plain"}, b"not found\n"
                body = self.corpus.photo_bytes(name)
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return 200, {"Content-Type": ctype, "Cache-Control": "max-age=2592000"}, body
            if len(parts) == 2 and parts[0] == "s":
                channel = self.corpus.channel(parts[1])
                if channel is None or not channel.has_preview:
                    # t.me sends no-preview and unknown channels to the plain page.
                    return 302, {"Location": f"{self.base_url}/{parts[1]}"}, b""
                return (
                    200,
                    {"Content-Type": html},
                    self._page(channel, parse_qs(split.query)).encode(),
                )
            if len(parts) == 1 and parts[0] != "s":
                page = render_plain_page(parts[0], self.corpus.channel(parts[0]))
                return 200, {"Content-Type": html}, page.encode()
            if not parts:
                return (
                    200,
                    {"Content-Type": html},
                    _document("Telegram", "", "", "<p>t.me replica</p>").encode(),
                )
        return 404, {"Content-Type": "text/plain"}, b"not found\n"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real site
            timeout = 10  # drop idle keep-alive connections
            server_version = "nginx"
            sys_version = ""

            def do_GET(self) -> None:
                path = unquote(urlsplit(self.path).path)
                with replica._lock:
                    replica._log.append(self.path)
                    replica._user_agents.add(self.headers.get("User-Agent", ""))
                fault = replica._take_fault(path)
                try:
                    if fault is not None and fault.kind == "stall":
                        self._stall(fault)
                    elif fault is not None and fault.kind == "oversize":
                        self._oversize(path, fault)
                    else:
                        self._reply(path, fault)
                except OSError:
                    # The client went away mid-answer (its deadline or size limit).
                    self.close_connection = True

            def _reply(self, path: str, fault: _Fault | None) -> None:
                try:
                    status, headers, body = replica._respond(self, fault)
                except Exception as exc:  # a replica bug must show up as a 500, not a hang
                    status, headers, body = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
                self._head(status, headers, len(body))
                if fault is None or fault.kind != "trickle":
                    self._send(path, body)
                    return
                for start in range(0, len(body), fault.chunk_bytes):
                    if start and (
                        replica.stopping.wait(fault.interval) or _peer_closed(self.connection)
                    ):
                        self.close_connection = True  # the answer stays incomplete
                        return
                    self._send(path, body[start : start + fault.chunk_bytes])

            def _stall(self, fault: _Fault) -> None:
                self.close_connection = True
                if fault.headers_first:
                    self._head(200, {"Content-Type": "text/html; charset=utf-8"}, 1 << 20)
                ends = time.monotonic() + fault.limit
                while time.monotonic() < ends and not _peer_closed(self.connection):
                    if replica.stopping.wait(0.02):
                        return

            def _oversize(self, path: str, fault: _Fault) -> None:
                headers = {"Content-Type": fault.content_type or "image/jpeg"}
                if not fault.declare_length:
                    self.close_connection = True  # the body ends with the connection
                    headers["Connection"] = "close"
                self._head(200, headers, fault.size if fault.declare_length else None)
                chunk = _JPEG_HEAD + bytes((64 << 10) - len(_JPEG_HEAD))
                left = fault.size
                while left > 0 and not replica.stopping.is_set():
                    piece = chunk[: min(left, len(chunk))]
                    self._send(path, piece)
                    left -= len(piece)
                    chunk = bytes(len(chunk))  # only the first chunk carries the JPEG head

            def _head(self, status: int, headers: dict[str, str], length: int | None) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def _send(self, path: str, data: bytes) -> None:
                self.wfile.write(data)
                with replica._lock:
                    replica._sent[path] += len(data)

            def log_message(self, format: str, *args) -> None:  # quiet in tests
                pass

        return Handler


# -- command line ----------------------------------------------------------------------


def serve(
    host: str = "127.0.0.1",
    port: int = 8081,
    page_size: int = 20,
    *,
    seed: int = 7,
    posts_per_channel: int = 240,
) -> None:
    """Serve the demo corpus until Ctrl-C."""
    from databox.samples import find_sample_photos

    photos = find_sample_photos()
    corpus = build_demo_corpus(photos, seed=seed, posts_per_channel=posts_per_channel)
    with TelegramWebReplica(corpus, host=host, port=port, page_size=page_size) as replica:
        print(f"t.me replica on {replica.base_url} ({len(photos)} sample photos)")
        for name, channel in corpus.channels.items():
            kind = "preview" if channel.has_preview else "no preview"
            print(f"  {replica.base_url}/s/{name}  ({len(channel.posts)} posts, {kind})")
        print(f"Use it with: TELEGRAM_WEB_BASE_URL={replica.base_url}   (Ctrl-C stops)")
        replica.serve_until_stopped()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local replica of Telegram's t.me/s web preview")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--posts-per-channel", type=int, default=240)
    args = parser.parse_args(argv)
    serve(
        args.host,
        args.port,
        args.page_size,
        seed=args.seed,
        posts_per_channel=args.posts_per_channel,
    )


if __name__ == "__main__":
    main()
