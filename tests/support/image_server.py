"""A real HTTP server on 127.0.0.1 for the tests: images, errors, slow answers and custom faults.

Routes are registered per path; an unregistered path answers 404. A route may instead be a function that
writes the whole response itself (for faults such as a connection reset mid-body); the factories below
(``sequence``, ``reset_mid_body``, ``slow_body``, ``trickle``, ``trickle_headers``, ``chunked``,
``raw_response`` for hostile bytes) build the usual ones, and
``unresponsive_port`` gives a port whose connections never complete (a connect timeout), and
``tls_handshake_trickler`` one whose TLS handshake never ends.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from local_runner.sample_images import flag_gif

RawHandler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "image/gif"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.hits[path] += 1
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
            route = self.server.routes.get(path)
        try:
            if callable(route):
                route(self)
            else:
                self.send_route(route or Route(status=404, body=b"not found", content_type="text/plain"))
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def send_route(self, route: Route) -> None:
        if route.delay:
            time.sleep(route.delay)
        self.wfile.write(self.head(route, len(route.body)) + route.body)

    def head(self, route: Route, length: int | None) -> bytes:
        """Status line and headers of ``route``; no ``Content-Length`` when ``length`` is None."""
        head = [f"HTTP/1.1 {route.status} {self.responses.get(route.status, ('',))[0]}"]
        if route.content_type:
            head.append(f"Content-Type: {route.content_type}")
        if length is not None:
            head.append(f"Content-Length: {length}")
        head.extend(f"{name}: {value}" for name, value in route.headers.items())
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: when more clients connect at once than the accepting
    # thread takes in, the kernel drops their SYNs and each retries a second later, past a short connect
    # timeout. A web server's backlog is in the hundreds.
    request_queue_size = 128

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.routes: dict[str, Route | RawHandler] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gives up on a body resets the connection; that is a test scenario, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class ImageServer:
    """``with ImageServer() as server: url = server.add_image("a/x.gif")``; HTTPS with ``tls=context``;
    ``host`` another loopback address (``127.0.0.2``) for a second, distinct host."""

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._server = _Server(host)
        self._scheme = "http" if tls is None else "https"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval makes ``shutdown`` (every test's teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}/"

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def add(self, path: str, route: Route | RawHandler) -> str:
        with self._server.lock:
            self._server.routes["/" + path.lstrip("/")] = route
        return self.url(path)

    def add_image(self, path: str, body: bytes | None = None, content_type: str = "image/gif") -> str:
        return self.add(path, Route(body=flag_gif(path) if body is None else body, content_type=content_type))

    def hits(self, path: str) -> int:
        with self._server.lock:
            return self._server.hits["/" + path.lstrip("/")]

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuses one for many requests)."""
        with self._server.lock:
            return self._server.connections

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was answering at the same time."""
        with self._server.lock:
            return self._server.max_in_flight


def sequence(*routes: Route | RawHandler) -> RawHandler:
    """Answer the first request with ``routes[0]``, the next with ``routes[1]``...; the last repeats."""
    served = 0
    lock = threading.Lock()

    def handle(handler: BaseHTTPRequestHandler) -> None:
        nonlocal served
        with lock:
            route = routes[min(served, len(routes) - 1)]
            served += 1
        if callable(route):
            route(handler)
        else:
            handler.send_route(route)  # type: ignore[attr-defined]

    return handle


def reset_mid_body(body: bytes, after: int, content_type: str = "image/gif") -> RawHandler:
    """Promise ``len(body)`` bytes, send ``after`` of them, then reset the connection (TCP RST)."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        head = handler.head(Route(content_type=content_type), len(body))  # type: ignore[attr-defined]
        handler.wfile.write(head + body[:after])
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # the socket closes (with RST) only when no file object refers to it
        handler.connection.close()

    return handle


def slow_body(body: bytes, first: int, pause: float, content_type: str = "image/gif") -> RawHandler:
    """Send the headers and ``first`` bytes at once, the rest only after ``pause`` seconds."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        head = handler.head(Route(content_type=content_type), len(body))  # type: ignore[attr-defined]
        handler.wfile.write(head + body[:first])
        time.sleep(pause)
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(body[first:])

    return handle


def trickle(
    body: bytes, declared: int, first: int, every: float = 1.0, content_type: str = "image/gif"
) -> RawHandler:
    """Promise ``declared`` bytes, send the headers and ``first`` bytes, then one byte every ``every``
    seconds until the client goes away: each byte comes well within any read timeout."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        head = handler.head(Route(content_type=content_type), declared)  # type: ignore[attr-defined]
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(head + body[:first])
            for index in range(first, declared):
                time.sleep(every)
                handler.wfile.write(body[index : index + 1] or b"\x00")

    return handle


def trickle_headers(every: float = 0.2) -> RawHandler:
    """Send a status line, then one byte of an endless header every ``every`` seconds."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while True:
                time.sleep(every)
                handler.wfile.write(b"a")

    return handle


def chunked(body: bytes, content_type: str = "image/gif", chunk: int = 4096) -> RawHandler:
    """Send ``body`` with ``Transfer-Encoding: chunked``: the size is known only at the end."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        route = Route(content_type=content_type, headers={"Transfer-Encoding": "chunked"})
        handler.wfile.write(handler.head(route, None))  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            for start in range(0, len(body), chunk):
                piece = body[start : start + chunk]
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")

    return handle


def raw_response(data: bytes) -> RawHandler:
    """Send ``data`` as it is (a hostile status line or header block, say), then close the connection."""

    def handle(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(data)

    return handle


@contextlib.contextmanager
def unresponsive_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: a new connection hangs until its timeout."""
    listener = socket.socket()
    filler = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))
        yield port
    finally:
        filler.close()
        listener.close()


@contextlib.contextmanager
def tls_handshake_trickler(every: float = 0.2) -> Iterator[int]:
    """A port on 127.0.0.1 that answers a TLS ClientHello with the header of a 16 KiB handshake record,
    then sends its body one byte every ``every`` seconds: the handshake waits, but never for long."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"\x16\x03\x03\x40\x00")
            while not stop.wait(every):
                connection.sendall(b"\x00")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
