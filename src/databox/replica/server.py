"""The loopback HTTP server both replicas run on: start in a daemon thread, stop fast."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

_Self = TypeVar("_Self", bound="LoopbackServer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung keep-alive connection never blocks shutdown
    allow_reuse_address = True


class LoopbackServer:
    """Lifecycle of a replica: ``start()``/``stop()`` or a ``with`` block. Subclasses
    give ``_handler_class()``, ``thread_name`` and ``url_path`` (the base URL's path)."""

    thread_name = "replica"
    url_path = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self: _Self) -> _Self:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self._handler_class())
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() (and so every test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_until_stopped(self) -> None:
        """Block until Ctrl-C or SIGTERM (``kill``, ``docker stop``), then stop cleanly."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping")

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the replica is not running; call start() first")
        return f"http://{self.host}:{self.port}{self.url_path}"
