"""A stand-in for S3 and DynamoDB in its own process, so that a benchmark measures the client's CPU alone.

``python -m bench.aws_standin`` prints its port on the first line of stdout. It answers, as cheaply as
it can (asyncio, one write per response, ``TCP_NODELAY``), what the download Lambda asks:

- ``PUT /<bucket>/<key>``: keeps the body (answering ``Expect: 100-continue`` first), ``200`` with an ETag;
- ``GET /<bucket>/<key>``: that body, or S3's ``404 NoSuchKey``;
- ``POST /`` with ``X-Amz-Target: DynamoDB_20120810.PutItem`` or ``.BatchWriteItem``: counts the items
  and answers ``{}`` / ``{"UnprocessedItems": {}}``;
- ``GET /__counts``: ``{"objects": n, "puts": n, "items": n}`` (keys held, PUTs and items received, to
  check a run against).

It checks nothing of the request beyond framing (no signature, no schema): correctness is the moto
tests' job; this is only the far end of the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import sys
from typing import ClassVar

_TARGET = b"x-amz-target:"


def _response(status: bytes, body: bytes = b"", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra) + body


class StandIn(asyncio.Protocol):
    objects: ClassVar[dict[bytes, bytes]] = {}
    items: ClassVar[int] = 0
    puts: ClassVar[int] = 0

    def __init__(self) -> None:
        self.buffer = b""
        self.head: list[bytes] | None = None
        self.length = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.head is None:
                if b"\r\n\r\n" not in self.buffer:
                    return
                raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                self.head = raw.split(b"\r\n")
                headers = {line.split(b":", 1)[0].lower(): line for line in self.head[1:]}
                length = headers.get(b"content-length", b":0").split(b":", 1)[1]
                self.length = int(length)
                if b"100-continue" in headers.get(b"expect", b"").lower():
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
            if len(self.buffer) < self.length:
                return
            body, self.buffer = self.buffer[: self.length], self.buffer[self.length :]
            head, self.head = self.head, None
            self.transport.write(self.answer(head, body))  # type: ignore[union-attr]

    def answer(self, head: list[bytes], body: bytes) -> bytes:
        method, path, _version = head[0].split(b" ", 2)
        if method == b"PUT":
            StandIn.objects[path] = body
            StandIn.puts += 1
            etag = b'ETag: "%s"\r\n' % hashlib.md5(body, usedforsecurity=False).hexdigest().encode()
            return _response(b"200 OK", extra=etag)
        if method == b"GET" and path == b"/__counts":
            counts = {"objects": len(StandIn.objects), "puts": StandIn.puts, "items": StandIn.items}
            return _response(b"200 OK", json.dumps(counts).encode())
        if method == b"GET":
            stored = StandIn.objects.get(path)
            if stored is None:
                error = b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>"
                return _response(b"404 Not Found", error, b"Content-Type: application/xml\r\n")
            return _response(b"200 OK", stored)
        return self.dynamodb(head, body)

    def dynamodb(self, head: list[bytes], body: bytes) -> bytes:
        target = next((line for line in head if line.lower().startswith(_TARGET)), b"")
        request = json.loads(body)
        json_type = b"Content-Type: application/x-amz-json-1.0\r\n"
        if target.endswith(b".PutItem"):
            StandIn.items += 1
            return _response(b"200 OK", b"{}", json_type)
        if target.endswith(b".BatchWriteItem"):
            StandIn.items += sum(len(writes) for writes in request["RequestItems"].values())
            return _response(b"200 OK", b'{"UnprocessedItems": {}}', json_type)
        error = b'{"__type": "UnknownOperationException", "message": "not in the stand-in"}'
        return _response(b"400 Bad Request", error, json_type)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(StandIn, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
