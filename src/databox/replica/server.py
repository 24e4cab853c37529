"""The loopback HTTP server both replicas run on: start in a daemon thread, stop fast.

``stop()`` returns promptly even while a handler is stalled or trickling on purpose
(fault injection) or a keep-alive connection sits idle: it sets ``stopping`` (which
fault handlers wait on), shuts every open connection down and joins the handler
threads, so no thread of a stopped replica keeps running.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

_Self = TypeVar("_Self", bound="LoopbackServer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung keep-alive connection never blocks shutdown
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request_thread(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down (unblocking its handler) and join them."""
        with self._connections_lock:
            open_now = list(self._connections.items())
        for sock, _thread in open_now:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)
        for _sock, thread in open_now:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def handle_error(self, request, client_address) -> None:
        # A client that gives up (a deadline, a size limit) resets its connection:
        # that is expected under fault injection, not a replica bug worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


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
        #: Set while the server stops: handlers that wait on purpose wait on this.
        self.stopping = threading.Event()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self: _Self) -> _Self:
        if self._server is not None:
            return self
        self.stopping.clear()
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
        self.stopping.set()
        if server is not None:
            server.shutdown()
            server.close_connections(timeout=5)
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
