"""Reading an image's body: streamed into a spool, checked and hashed on the way, never past its limit.

Bodies are streamed into a ``SpooledTemporaryFile`` that spills to ``/tmp`` past ``SPOOL_MEMORY_BYTES``:
memory does not grow with image size. The size limit (declared and actual), the content checks
(``content.py``), decoding (``encoding.py``, within the size limit) and the SHA-256 run while streaming,
and the image's ``Stopwatch`` is consulted after every chunk.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from urllib3.exceptions import ProtocolError

from image_downloader.content import SNIFF_BYTES, NotAnImage, check_declared_type, identify
from image_downloader.encoding import CHUNK_BYTES, EncodingError, content_codings, decoded
from image_downloader.fetch import content_length, discard
from image_downloader.model import DownloadedImage, DownloadFailed
from image_downloader.settings import DownloadSettings
from image_downloader.timelimit import Stopwatch

if TYPE_CHECKING:  # urllib3 1.26 has only HTTPResponse; 2.x types responses as BaseHTTPResponse
    from urllib3 import BaseHTTPResponse

SPOOL_MEMORY_BYTES = 256 * 1024


def read_image(
    response: BaseHTTPResponse, url: str, final_url: str, settings: DownloadSettings, stopwatch: Stopwatch
) -> DownloadedImage:
    """The image in ``response``'s body, spooled and rewound, or ``DownloadFailed`` saying why not.

    A truncated body raises urllib3's ``ProtocolError`` so that the caller's retry policy decides."""
    limit = settings.max_image_bytes
    declared = content_length(response)
    if declared is not None and declared > limit:
        discard(response)
        raise DownloadFailed("too_large", f"too large: {declared} bytes (limit {limit})")
    try:
        promised = check_declared_type(response.headers.get("Content-Type"), settings.allowed_content_types)
    except NotAnImage as error:
        discard(response)
        raise DownloadFailed("not_image", f"not an image: {error}") from error
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - handed to the caller
    try:
        size, digest, content_type = _spool(response, spool, promised, settings, stopwatch)
        encoded = bool(content_codings(response.headers.get("Content-Encoding")))
        if declared is not None and size != declared and not encoded:
            raise ProtocolError(f"body ended after {size} of {declared} bytes")
    except BaseException:
        spool.close()
        response.close()
        raise
    spool.seek(0)
    return DownloadedImage(url, final_url, spool, size, digest, content_type)


def _spool(
    response: BaseHTTPResponse,
    spool: IO[bytes],
    promised: str | None,
    settings: DownloadSettings,
    stopwatch: Stopwatch,
) -> tuple[int, bytes, str]:
    limit = settings.max_image_bytes
    digest = hashlib.sha256()
    size = 0
    head = b""
    content_type: str | None = None
    for chunk in _chunks(response):
        size += len(chunk)
        if size > limit:
            raise DownloadFailed("too_large", f"too large: more than {limit} bytes")
        if content_type is None:
            head += chunk[: SNIFF_BYTES - len(head)]
            if len(head) >= SNIFF_BYTES:
                content_type = _identify(head, promised, settings.allowed_content_types)
        digest.update(chunk)
        _write(spool, chunk)
        if stopwatch.passed():
            raise DownloadFailed("timed_out", "timed out while reading the body")
    if content_type is None:
        content_type = _identify(head, promised, settings.allowed_content_types)
    return size, digest.digest(), content_type


def _chunks(response: BaseHTTPResponse) -> Iterator[bytes]:
    """The body, decoded here rather than by urllib3 so that decoding stays within the size limit."""
    try:
        yield from decoded(
            response.stream(CHUNK_BYTES, decode_content=False), response.headers.get("Content-Encoding")
        )
    except EncodingError as error:
        raise DownloadFailed("not_image", f"not an image: {error}") from error


def _write(spool: IO[bytes], chunk: bytes) -> None:
    try:
        spool.write(chunk)
    except OSError as error:  # e.g. /tmp full: the function's ephemeral storage is too small
        raise DownloadFailed(
            "storage", f"could not buffer the body in {tempfile.gettempdir()}: {error}"
        ) from error


def _identify(head: bytes, promised: str | None, allowed: frozenset[str]) -> str:
    try:
        return identify(head, promised, allowed)
    except NotAnImage as error:
        raise DownloadFailed("not_image", f"not an image: {error}") from error
