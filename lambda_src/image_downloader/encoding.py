"""A body's ``Content-Encoding``, undone within bounds.

Requests say ``Accept-Encoding: identity``; a server that compresses anyway gets its body decoded here,
``CHUNK_BYTES`` of output at a time, so a decompression bomb is cut by the engine's size limit after at
most one chunk more than the limit, whatever its ratio. The ``Content-Length`` is the encoded size, so it
is compared with the bytes received (urllib3 does that), never with the decoded size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

CHUNK_BYTES = 64 * 1024
# zlib's window bits for "a zlib or a gzip header, whichever comes".
_ZLIB_OR_GZIP = zlib.MAX_WBITS | 32
SUPPORTED = ("gzip", "x-gzip", "deflate")


class EncodingError(ValueError):
    """The body's encoding is not supported or its bytes do not decode; the message says which."""


def content_codings(header: str | None) -> list[str]:
    """``"gzip, identity"`` -> ``["gzip"]``: the codings applied, in order, identity left out."""
    codings = [coding.strip().lower() for coding in (header or "").split(",")]
    return [coding for coding in codings if coding and coding != "identity"]


def decoded(chunks: Iterable[bytes], header: str | None) -> Iterator[bytes]:
    """The body's bytes with its ``Content-Encoding`` undone (one gzip or deflate coding at most)."""
    codings = content_codings(header)
    if not codings:
        yield from chunks
        return
    if len(codings) > 1 or codings[0] not in SUPPORTED:
        raise EncodingError(f"unsupported Content-Encoding: {', '.join(codings)}")
    decoder = zlib.decompressobj(_ZLIB_OR_GZIP)
    try:
        for chunk in chunks:
            pending = chunk
            while pending and not decoder.eof:
                output = decoder.decompress(pending, CHUNK_BYTES)
                pending = decoder.unconsumed_tail
                if output:
                    yield output
        if not decoder.eof:
            raise EncodingError(f"{codings[0]} body ends before its end marker")
    except zlib.error as error:
        raise EncodingError(f"{codings[0]} body does not decode ({error})") from error
