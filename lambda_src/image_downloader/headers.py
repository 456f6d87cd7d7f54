"""A cap on what one response's status line and headers may cost: ``max_header_bytes`` in all.

http.client alone allows 100 header lines of 64 KiB each (6.4 MB of text, ~17 MB once parsed) per
response, and counts every line: 99 ``Set-Cookie`` lines plus ``Content-Type`` and ``Content-Length``
fail as "more than 100 headers". Here the bytes are what is limited: the connections of
``netguard.guarded_pool_manager`` read the status line and headers through a counter that stops at the
setting (``DownloadSettings.max_header_bytes``), so a response's headers never hold more than that in
memory, and http.client's line count is raised to ``MAX_HEADER_LINES`` (the byte cap bounds it anyway).
"""

from __future__ import annotations

import http.client
from typing import IO, Any

# http.client's own count of header lines (default 100), raised for every connection of the process: the
# byte cap bounds the memory of the download function's responses; boto3's come from AWS.
MAX_HEADER_LINES = 1000
http.client._MAXHEADERS = max(http.client._MAXHEADERS, MAX_HEADER_LINES)  # type: ignore[attr-defined]


class HeadersTooLarge(Exception):
    """Not an ``HTTPException``: urllib3 neither retries it nor wraps it; the URL fails at once."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response headers over {limit} bytes (the limit per response)")
        self.limit = limit


class _CountedLines:
    """The response's socket file while its head is read: every line counts against the budget."""

    def __init__(self, fp: IO[bytes], limit: int) -> None:
        self._fp = fp
        self._limit = limit
        self._left = limit

    def readline(self, size: int = -1) -> bytes:
        allowed = self._left + 1 if size < 0 else min(size, self._left + 1)
        line = self._fp.readline(allowed)
        self._left -= len(line)
        if self._left < 0:
            raise HeadersTooLarge(self._limit)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class CappedResponse(http.client.HTTPResponse):
    max_header_bytes = 64 * 1024

    def begin(self) -> None:
        if self.headers is not None:  # begun already
            return
        raw = self.fp
        self.fp = _CountedLines(raw, self.max_header_bytes)  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if isinstance(self.fp, _CountedLines):
                self.fp = raw


def capped_response_class(max_header_bytes: int) -> type[http.client.HTTPResponse]:
    return type("CappedResponse", (CappedResponse,), {"max_header_bytes": max_header_bytes})
