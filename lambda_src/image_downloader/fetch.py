"""HTTP transport: GET one URL through the guarded connection pool, one checked redirect hop at a time.

``concurrency`` worker threads share one urllib3 ``PoolManager`` whose pools hold at most ``concurrency``
keep-alive connections per host (``block=True``), so at most ``concurrency`` requests are in flight and
each worker keeps reusing its connection. Every hop is checked by ``netguard`` before it is requested,
and every connection taken from the pool is watched by the image's ``Stopwatch`` (``timelimit``).
Transport errors become ``DownloadFailed`` with a short reason naming the host.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from urllib3 import Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from image_downloader.headers import HeadersTooLarge
from image_downloader.model import DownloadFailed
from image_downloader.netguard import Blocked, check_url, guarded_pool_manager
from image_downloader.retry import BoundedRetry
from image_downloader.settings import DownloadSettings
from image_downloader.timelimit import Stopwatch, watched_pool_classes

if TYPE_CHECKING:  # urllib3 1.26 has only HTTPResponse; 2.x types responses as BaseHTTPResponse
    from urllib3 import BaseHTTPResponse

MAX_REDIRECTS = 5
# A small error body is read to keep the connection; a larger one costs a new connection instead.
DRAIN_LIMIT_BYTES = 64 * 1024
REQUEST_HEADERS = {
    "User-Agent": "serverless-image-downloader/0.1",
    "Accept": "image/*",
    "Accept-Encoding": "identity",
}


class Fetcher:
    """The connection pool of one batch and the GET of one URL through it."""

    def __init__(self, settings: DownloadSettings, pool_size: int) -> None:
        self.settings = settings
        self.http = guarded_pool_manager(settings, maxsize=pool_size, block=True)
        self.http.pool_classes_by_scheme = watched_pool_classes(self.http.pool_classes_by_scheme)

    def close(self) -> None:
        self.http.clear()

    def open(self, url: str, retry: BoundedRetry, stopwatch: Stopwatch) -> tuple[BaseHTTPResponse, str]:
        """GET ``url``, following redirects one checked hop at a time, up to a 200 response whose body is
        still unread; the response and the URL it came from."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._request(url, current, retry, stopwatch)
            location = response.get_redirect_location()
            if not location:
                if response.status != HTTPStatus.OK:
                    discard(response)
                    raise status_failure(response)
                return response, current
            discard(response)
            retry = response.retries or retry  # type: ignore[assignment]
            current = urljoin(current, location)
        raise DownloadFailed("http_status", f"more than {MAX_REDIRECTS} redirects", response.status)

    def _request(self, url: str, current: str, retry: BoundedRetry, stopwatch: Stopwatch) -> BaseHTTPResponse:
        try:
            check_url(current, self.settings)
            return self.http.request(
                "GET",
                current,
                headers=REQUEST_HEADERS,
                retries=retry,
                redirect=False,
                preload_content=False,
                decode_content=False,  # body.py decodes, within the size limit
                timeout=self._timeout(stopwatch),
                enforce_content_length=True,
            )
        except Blocked as blocked:
            via = "" if current == url else f" (redirected to {current})"
            raise DownloadFailed("blocked", f"blocked: {blocked}{via}") from blocked
        except HeadersTooLarge as error:
            raise DownloadFailed("too_large", f"too large: {error}") from error
        except MaxRetryError as error:
            raise transport_failure(url, error.reason) from error
        except (HTTPError, OSError) as error:
            raise transport_failure(url, error) from error

    def _timeout(self, stopwatch: Stopwatch) -> Timeout:
        left = max(0.001, stopwatch.remaining())
        return Timeout(
            connect=min(self.settings.connect_timeout_seconds, left),
            read=min(self.settings.read_timeout_seconds, left),
        )


def retry_after_body_error(retry: Retry, url: str, final_url: str, error: HTTPError) -> BoundedRetry:
    """Let the ``Retry`` decide about an error that happened while reading the body: the retry to ask
    again with (after its wait), or the URL's failure."""
    try:
        new = retry.increment(method="GET", url=final_url, error=error)
    except (MaxRetryError, HTTPError) as exhausted:
        raise transport_failure(url, getattr(exhausted, "reason", exhausted)) from error
    new.sleep()
    return new  # type: ignore[return-value]


def content_length(response: BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def discard(response: BaseHTTPResponse) -> None:
    """Done with a response we will not read: keep its connection only if its body is small."""
    length = content_length(response)
    if length is not None and length <= DRAIN_LIMIT_BYTES:
        response.drain_conn()
    else:
        response.close()
    response.release_conn()


def status_failure(response: BaseHTTPResponse) -> DownloadFailed:
    """``404 Not Found``, ``503 Service Unavailable after 4 attempts``: the status says it all."""
    status = response.status
    tries = response.retries.attempts if isinstance(response.retries, BoundedRetry) else 1
    attempts = f" after {tries} attempts" if tries > 1 else ""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "(unknown status)"
    return DownloadFailed("http_status", f"{status} {phrase}{attempts}", status)


def transport_failure(url: str, error: object) -> DownloadFailed:
    host = urlsplit(url).netloc
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 1.26 and 2.x alike.
    if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
        return DownloadFailed("timeout", f"timed out connecting to {host}")
    if isinstance(error, ReadTimeoutError | TimeoutError):
        return DownloadFailed("timeout", f"timed out waiting for {host} to send data")
    text = _short(error)
    if isinstance(error, NewConnectionError):  # netguard's own messages: DNS, refused, unreachable
        return DownloadFailed("connection", text)
    return DownloadFailed("connection", f"connection failed: {text}")


_CONNECTION_REPR = re.compile(r"^\w*Connection(?:Pool)?\((?:host=)?[^)]*\):\s*")


def _short(error: object) -> str:
    """The innermost useful message of a urllib3 error chain, without the connection's repr."""
    text = str(error)
    if text.startswith("<"):
        text = text.split(": ", 1)[-1]
    return _CONNECTION_REPR.sub("", text)
