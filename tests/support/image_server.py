"""A real HTTP server on 127.0.0.1 for the tests: images, errors, slow answers and custom faults.

Routes are registered per path; an unregistered path answers 404. A route may instead be a function that
writes the whole response itself (for faults such as a connection reset mid-body).
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable
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

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.hits[path] += 1
            route = self.server.routes.get(path)
        if callable(route):
            route(self)
            return
        if route is None:
            route = Route(status=404, body=b"not found", content_type="text/plain")
        if route.delay:
            time.sleep(route.delay)
        head = [f"HTTP/1.1 {route.status} {self.responses.get(route.status, ('',))[0]}"]
        if route.content_type:
            head.append(f"Content-Type: {route.content_type}")
        head.append(f"Content-Length: {len(route.body)}")
        head.extend(f"{name}: {value}" for name, value in route.headers.items())
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + route.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route | RawHandler] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class ImageServer:
    """``with ImageServer() as server: url = server.add_image("a/x.gif")``."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

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
