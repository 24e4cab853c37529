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

Run ``python -m databox.replica.telegram_web --port 8081`` for a demo server and point
``TELEGRAM_WEB_BASE_URL`` at it.
"""

from __future__ import annotations

import argparse
import mimetypes
import threading
from collections.abc import Sequence
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
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


class TelegramWebReplica(LoopbackServer):
    """A real HTTP server replaying ``corpus`` as t.me's web preview.

    ``request_log`` lists every requested path (with query). ``fail(path, ...)``
    makes a path answer an error status, for retry and failure tests.
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
        self._failures: dict[str, list[int | None]] = {}

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

    def fail(self, path: str, status: int = 500, times: int | None = None) -> None:
        """Answer ``path`` (without query) with ``status``: ``times`` times, or always."""
        with self._lock:
            self._failures[path] = [status, times]

    def add_post(
        self,
        channel: str,
        *,
        text: str | None = None,
        photos: Sequence[Path | str] = (),
        date: datetime | None = None,
        views: int | None = 1,
        edited: bool = False,
        forwarded_from: Forward | None = None,
        link_preview: LinkPreview | None = None,
        author: str | None = None,
        skip_ids: int = 0,
    ) -> int:
        """Publish a post now (or at ``date``); returns its id."""
        with self._lock:
            return self.corpus.add_post(
                channel,
                text=text,
                photos=photos,
                date=date,
                views=views,
                edited=edited,
                forwarded_from=forwarded_from,
                link_preview=link_preview,
                author=author,
                skip_ids=skip_ids,
            ).id

    def edit_post(self, channel: str, post_id: int, text: str | None) -> None:
        with self._lock:
            ch = self.corpus.channel(channel)
            if ch is None or post_id not in ch.posts:
                raise KeyError(f"no post {channel}/{post_id}")
            ch.posts[post_id].text = text
            ch.posts[post_id].edited = True

    # -- request handling ----------------------------------------------------------------
    def _take_failure(self, path: str) -> int | None:
        with self._lock:
            entry = self._failures.get(path)
            if entry is None:
                return None
            status, remaining = entry
            if remaining is not None:
                if remaining <= 0:
                    del self._failures[path]
                    return None
                entry[1] = remaining - 1
            return status

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

    def _respond(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(handler.path)
        path = unquote(split.path)
        html = "text/html; charset=utf-8"
        status = self._take_failure(path)
        if status is not None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            return status, {"Content-Type": "text/plain"}, f"{status} {phrase}\n".encode()
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
                with replica._lock:
                    replica._log.append(self.path)
                    replica._user_agents.add(self.headers.get("User-Agent", ""))
                try:
                    status, headers, body = replica._respond(self)
                except Exception as exc:  # a replica bug must show up as a 500, not a hang
                    status, headers, body = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
