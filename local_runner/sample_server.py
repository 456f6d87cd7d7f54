"""Serve the bundled sample images on 127.0.0.1, so ``make run`` works with no network."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from local_runner.sample_images import flag_gif

GENERATED_PREFIX = "generated/"
# The port the samples are served on when it is free: one URL per sample, run after run, so that the
# records a persisted local deployment keeps (skipExisting, retryFailuresOf) name the same URLs.
SAMPLE_PORT = 47291


class _SampleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SampleServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.lstrip("/")
        body = self.server.files.get(path)
        if body is None and path.startswith(GENERATED_PREFIX) and path.endswith(".gif"):
            body = flag_gif(path)
        status, content_type = (200, "image/gif") if body is not None else (404, "text/plain")
        body = body if body is not None else b"not found"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SampleServer(ThreadingHTTPServer):
    """``with SampleServer(files) as server: server.base_url``; any ``generated/….gif`` answers a GIF made
    from its path (for large requests, ``python -m local_runner.big_input``); other unknown paths 404."""

    daemon_threads = True
    # socketserver's default listen backlog is 5: at 50 requests in flight on a loaded machine, some
    # connections time out before they are accepted (1 of 20,000 in the README's recipe).
    request_queue_size = 128

    def __init__(self, files: Mapping[str, bytes], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _SampleHandler)
        self.files = dict(files)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> SampleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    @classmethod
    def on_the_usual_port(cls, files: Mapping[str, bytes]) -> SampleServer:
        try:
            return cls(files, SAMPLE_PORT)
        except OSError:  # taken (another run at the same time): any free port
            return cls(files)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"
