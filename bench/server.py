"""A local image server for the benchmark: every answer after a fixed delay, keep-alive, one write each.

Run as its own process (``python -m bench.server --delay 0.1``) so it does not compete with the client
for the GIL; it prints its port on the first line of stdout. asyncio keeps its own cost per request low
and the delay precise: a response is queued with ``call_later`` and written with a single ``write`` on a
``TCP_NODELAY`` socket, so the client sees ``delay`` plus the loopback round trip and nothing else.

Paths: ``/small/<i>.gif`` for ``i`` below ``--small-count`` (a small real GIF, distinct per ``i``, whole
responses built at start), ``/large/<anything>`` (a real BMP of ``--large-bytes``, the same bytes for
every path); anything else is a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys

from local_runner.sample_images import flag_gif


def small_responses(count: int) -> dict[bytes, bytes]:
    """Every small image's whole response, built before the first request so none costs time later."""
    paths = [f"/small/{index}.gif" for index in range(count)] + [
        f"/small/warm-{index}.gif" for index in range(8)
    ]
    return {path.encode(): _response(flag_gif(path), b"image/gif") for path in paths}


def bmp(size: int) -> bytes:
    """A valid 24-bit BMP of about ``size`` bytes (rows of 4096 pixels)."""
    width = 4096
    row = width * 3
    height = max(1, (size - 54) // row)
    header = b"BM" + struct.pack("<IHHI", 54 + row * height, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, row * height, 2835, 2835, 0, 0)
    return header + info + bytes(row * height)


def _response(body: bytes, content_type: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        status,
        content_type,
        len(body),
    )
    return head + body


NOT_FOUND = _response(b"not found", b"text/plain", b"404 Not Found")


class ImageProtocol(asyncio.Protocol):
    def __init__(self, delay: float, responses: dict[bytes, bytes], large: tuple[bytes, bytes]) -> None:
        self.delay = delay
        self.responses = responses
        self.large_head, self.large_body = large
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            request, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = request.split(b" ", 2)[1]
            if path.startswith(b"/large/"):
                self.loop.call_later(self.delay, self.answer, self.large_head, self.large_body)
            else:
                self.loop.call_later(self.delay, self.answer, self.responses.get(path, NOT_FOUND))

    def answer(self, *parts: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            for part in parts:
                self.transport.write(part)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(delay: float, small_count: int, large_bytes: int) -> None:
    responses = small_responses(small_count)
    body = bmp(large_bytes)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/bmp\r\nContent-Length: %d\r\n\r\n" % len(body)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ImageProtocol(delay, responses, (head, body)), "127.0.0.1", 0, backlog=1024
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--small-count", type=int, default=1000)
    parser.add_argument("--large-bytes", type=int, default=50_000_000)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.delay, args.small_count, args.large_bytes))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
