"""The download engine: every URL of a batch ends either stored by the sink or as a ``Failure``.

Concurrency model: ``concurrency`` worker threads share one urllib3 ``PoolManager`` whose pools hold at
most ``concurrency`` keep-alive connections per host (``block=True``), so at most ``concurrency``
requests are in flight and each worker keeps reusing its connection. Blocking sockets release the GIL,
and the per-image CPU work (headers, hashing, spooling) is small, so threads overlap the network waits
as well as an event loop would, with less code and with boto3 (which is synchronous) in the same worker.

Bodies are streamed into a ``SpooledTemporaryFile`` that spills to ``/tmp`` past ``SPOOL_MEMORY_BYTES``:
memory does not grow with image size. The size limit, the content checks and the SHA-256 run while
streaming.

Retries are urllib3's ``Retry`` (``BoundedRetry`` below): connection errors, read timeouts and
429/500/502/503/504, honouring ``Retry-After``, with exponential backoff plus jitter, a bounded number of
attempts and a bounded total time per URL. An error while reading the body (reset, timeout) is fed to
the same ``Retry`` object, which decides whether and when to ask again.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Literal, Protocol
from urllib.parse import urljoin, urlsplit

from urllib3 import Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util.retry import Retry

from image_downloader.content import SNIFF_BYTES, NotAnImage, check_declared_type, identify
from image_downloader.encoding import CHUNK_BYTES, EncodingError, content_codings, decoded
from image_downloader.netguard import Blocked, check_url, guarded_pool_manager
from image_downloader.redact import redact
from image_downloader.settings import DownloadSettings
from image_downloader.timelimit import Deadline, ImageTimeLimit, Stopwatch, TimeBudget, watched_pool_classes

if TYPE_CHECKING:  # urllib3 1.26 has only HTTPResponse; 2.x types responses as BaseHTTPResponse
    from urllib3 import BaseHTTPResponse

FailureKind = Literal[
    "http_status",
    "timeout",
    "timed_out",
    "connection",
    "too_large",
    "not_image",
    "blocked",
    "storage",
    "time_budget",
]

SPOOL_MEMORY_BYTES = 256 * 1024
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A small error body is read to keep the connection; a larger one costs a new connection instead.
DRAIN_LIMIT_BYTES = 64 * 1024
REQUEST_HEADERS = {
    "User-Agent": "serverless-image-downloader/0.1",
    "Accept": "image/*",
    "Accept-Encoding": "identity",
}
NOT_ATTEMPTED = "not attempted: time budget"
INTERRUPTED = "interrupted: time budget"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_factor: float = 0.5
    backoff_cap_seconds: float = 10.0
    jitter_seconds: float = 0.5


@dataclass
class DownloadedImage:
    url: str
    final_url: str
    body: IO[bytes]
    size: int
    sha256: bytes
    content_type: str

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


class StorageError(Exception):
    """The sink could not store an image; the message says why, and nothing of it is left stored."""


class Sink(Protocol):
    def store(self, image: DownloadedImage) -> None:
        """Store ``image`` completely or raise ``StorageError`` leaving nothing stored."""


@dataclass(frozen=True)
class Failure:
    url: str
    kind: FailureKind
    reason: str
    status: int | None = None

    def to_json(self) -> dict:
        """The failure as reports and notifications show it, with secrets masked (``redact``)."""
        return {
            "url": redact(self.url),
            "kind": self.kind,
            "status": self.status,
            "reason": redact(self.reason),
        }


@dataclass
class BatchOutcome:
    requested: int
    succeeded: int = 0
    bytes: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


ProgressCallback = Callable[[int, int], None]


class DownloadFailed(Exception):
    def __init__(self, kind: FailureKind, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


class BoundedRetry(Retry):
    """``Retry`` with jitter, a backoff cap and a point in time after which it gives up.

    Works the same on urllib3 1.26 and 2.x: it passes urllib3 none of the 2.x-only arguments
    (``backoff_jitter``, ``backoff_max``) and adds jitter and the cap in ``get_backoff_time``. The wait
    before the next attempt is decided once, in ``increment``: if it would end after ``give_up_at``
    the retry is refused there (urllib3 then returns the last response or raises the last error).
    """

    def __init__(
        self,
        *args: object,
        give_up_at: float = math.inf,
        jitter: float = 0.0,
        backoff_cap: float = 10.0,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.give_up_at = give_up_at
        self.jitter = jitter
        self.backoff_cap = backoff_cap
        self.planned_wait = 0.0

    def new(self, **kw: object) -> BoundedRetry:
        new = super().new(**kw)
        new.give_up_at, new.jitter, new.backoff_cap = self.give_up_at, self.jitter, self.backoff_cap
        return new

    def get_backoff_time(self) -> float:
        return min(self.backoff_cap, super().get_backoff_time()) + random.uniform(0, self.jitter)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: object = None,
        _stacktrace: object = None,
    ) -> BoundedRetry:
        new = super().increment(
            method=method, url=url, response=response, error=error, _pool=_pool, _stacktrace=_stacktrace
        )
        wait = new._wait_before_next(response)
        if time.monotonic() + wait > self.give_up_at:
            reason = error or ResponseError(f"retrying would pass the time limit (next wait {wait:.1f} s)")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        new.planned_wait = wait
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.planned_wait > 0:
            time.sleep(self.planned_wait)

    def _wait_before_next(self, response: BaseHTTPResponse | None) -> float:
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            try:
                retry_after = self.get_retry_after(response)
            except HTTPError:  # an unparsable Retry-After falls back to the backoff
                retry_after = None
        return retry_after if retry_after else self.get_backoff_time()

    @property
    def attempts(self) -> int:
        return len(self.history) + 1


def download_all(
    urls: Sequence[str],
    concurrency: int,
    sink: Sink,
    settings: DownloadSettings,
    deadline: Deadline,
    on_progress: ProgressCallback | None = None,
    policy: RetryPolicy | None = None,
) -> BatchOutcome:
    """Download ``urls`` with at most ``concurrency`` in flight, store each with ``sink``, and account for
    every one of them: the outcome lists each URL that was not stored, with its reason."""
    outcome = BatchOutcome(requested=len(urls))
    if not urls:
        return outcome
    workers = max(1, min(concurrency, len(urls)))
    downloader = _Downloader(settings, policy or RetryPolicy(), deadline, workers)
    results: list[Failure | int | None] = [None] * len(urls)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as executor:
            futures = {
                executor.submit(downloader.process, url, sink): index for index, url in enumerate(urls)
            }
            for done, future in enumerate(as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if on_progress is not None:
                    on_progress(done, len(urls))
    finally:
        downloader.close()
    for result in results:
        if isinstance(result, Failure):
            outcome.failures.append(result)
        else:
            outcome.succeeded += 1
            outcome.bytes += result or 0
    return outcome


class _Downloader:
    def __init__(
        self, settings: DownloadSettings, policy: RetryPolicy, deadline: Deadline, pool: int
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.budget = TimeBudget.within(deadline, settings.time_budget_margin_seconds)
        self.image_limit = ImageTimeLimit(settings.image_time_limit_seconds)
        self.http = guarded_pool_manager(settings, maxsize=pool, block=True)
        self.http.pool_classes_by_scheme = watched_pool_classes(self.http.pool_classes_by_scheme)

    def close(self) -> None:
        self.http.clear()

    def process(self, url: str, sink: Sink) -> Failure | int:
        """Download and store one URL; the stored size, or the failure. Never raises."""
        if time.monotonic() >= self.budget.start_before:
            return Failure(url, "time_budget", NOT_ATTEMPTED)
        stopwatch = self.image_limit.start(self.budget)
        with stopwatch.running():
            try:
                image = self.download(url, stopwatch)
            except DownloadFailed as failed:
                return self._failure(url, failed, stopwatch)
            except Exception as error:  # a bug must not lose the URL
                return Failure(url, "connection", f"unexpected error: {error!r}")
        if stopwatch.expired:  # a body cut short by the stopwatch may look complete: never store it
            image.body.close()
            return self._out_of_time(url, stopwatch)
        try:
            sink.store(image)
        except StorageError as error:
            return Failure(url, "storage", f"could not store: {error}")
        except Exception as error:
            return Failure(url, "storage", f"could not store: unexpected error: {error!r}")
        finally:
            image.body.close()
        return image.size

    def _failure(self, url: str, failed: DownloadFailed, stopwatch: Stopwatch) -> Failure:
        if stopwatch.expired or (
            failed.kind in ("timeout", "connection", "timed_out") and stopwatch.passed()
        ):
            return self._out_of_time(url, stopwatch)
        return Failure(url, failed.kind, failed.reason, failed.status)

    def _out_of_time(self, url: str, stopwatch: Stopwatch) -> Failure:
        if stopwatch.cut_by_budget:
            return Failure(url, "time_budget", INTERRUPTED)
        return Failure(
            url, "timed_out", f"timed out after {self.image_limit.seconds:g} s (the limit per image)"
        )

    def download(self, url: str, stopwatch: Stopwatch) -> DownloadedImage:
        retry = self._new_retry(stopwatch.deadline)
        while True:
            response, final_url = self._open(url, retry, stopwatch)
            try:
                return self._read_image(response, url, final_url, stopwatch)
            except (ReadTimeoutError, ProtocolError, SSLError) as error:
                retry = self._retry_body(response.retries or retry, url, final_url, error)
            finally:
                response.release_conn()

    def _new_retry(self, give_up_at: float) -> BoundedRetry:
        retries = self.policy.attempts - 1
        return BoundedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.policy.backoff_factor,
            raise_on_status=False,
            raise_on_redirect=False,
            respect_retry_after_header=True,
            give_up_at=give_up_at,
            jitter=self.policy.jitter_seconds,
            backoff_cap=self.policy.backoff_cap_seconds,
        )

    def _retry_body(self, retry: Retry, url: str, final_url: str, error: HTTPError) -> BoundedRetry:
        """Let the ``Retry`` decide about an error that happened while reading the body."""
        try:
            new = retry.increment(method="GET", url=final_url, error=error)
        except (MaxRetryError, HTTPError) as exhausted:
            raise _transport_failure(url, getattr(exhausted, "reason", exhausted)) from error
        new.sleep()
        return new  # type: ignore[return-value]

    def _open(self, url: str, retry: BoundedRetry, stopwatch: Stopwatch) -> tuple[BaseHTTPResponse, str]:
        """GET ``url``, following redirects one checked hop at a time, up to a 200 response."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._request(url, current, retry, stopwatch)
            location = response.get_redirect_location()
            if not location:
                if response.status != HTTPStatus.OK:
                    _discard(response)
                    raise _status_failure(url, response)
                return response, current
            _discard(response)
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
                decode_content=False,  # encoding.decoded does it, within the size limit
                timeout=self._timeout(stopwatch),
                enforce_content_length=True,
            )
        except Blocked as blocked:
            via = "" if current == url else f" (redirected to {current})"
            raise DownloadFailed("blocked", f"blocked: {blocked}{via}") from blocked
        except MaxRetryError as error:
            raise _transport_failure(url, error.reason) from error
        except (HTTPError, OSError) as error:
            raise _transport_failure(url, error) from error

    def _timeout(self, stopwatch: Stopwatch) -> Timeout:
        left = max(0.001, stopwatch.remaining())
        return Timeout(
            connect=min(self.settings.connect_timeout_seconds, left),
            read=min(self.settings.read_timeout_seconds, left),
        )

    def _read_image(
        self, response: BaseHTTPResponse, url: str, final_url: str, stopwatch: Stopwatch
    ) -> DownloadedImage:
        limit = self.settings.max_image_bytes
        declared = _content_length(response)
        if declared is not None and declared > limit:
            _discard(response)
            raise DownloadFailed("too_large", f"too large: {declared} bytes (limit {limit})")
        try:
            promised = check_declared_type(
                response.headers.get("Content-Type"), self.settings.allowed_content_types
            )
        except NotAnImage as error:
            _discard(response)
            raise DownloadFailed("not_image", f"not an image: {error}") from error
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - handed to the caller
        try:
            size, digest, content_type = self._spool(response, spool, promised, url, stopwatch)
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
        self,
        response: BaseHTTPResponse,
        spool: IO[bytes],
        promised: str | None,
        url: str,
        stopwatch: Stopwatch,
    ) -> tuple[int, bytes, str]:
        limit = self.settings.max_image_bytes
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
                    content_type = _identify(head, promised, url, self.settings.allowed_content_types)
            digest.update(chunk)
            _write(spool, chunk, url)
            if stopwatch.passed():
                raise DownloadFailed("timed_out", "timed out while reading the body")
        if content_type is None:
            content_type = _identify(head, promised, url, self.settings.allowed_content_types)
        return size, digest.digest(), content_type


def _chunks(response: BaseHTTPResponse) -> Iterator[bytes]:
    """The body, decoded here rather than by urllib3 so that decoding stays within the size limit."""
    try:
        yield from decoded(
            response.stream(CHUNK_BYTES, decode_content=False), response.headers.get("Content-Encoding")
        )
    except EncodingError as error:
        raise DownloadFailed("not_image", f"not an image: {error}") from error


def _write(spool: IO[bytes], chunk: bytes, url: str) -> None:
    try:
        spool.write(chunk)
    except OSError as error:  # e.g. /tmp full: the function's ephemeral storage is too small
        raise DownloadFailed(
            "storage", f"could not buffer the body in {tempfile.gettempdir()}: {error}"
        ) from error


def _identify(head: bytes, promised: str | None, url: str, allowed: frozenset[str]) -> str:
    try:
        return identify(head, promised, allowed)
    except NotAnImage as error:
        raise DownloadFailed("not_image", f"not an image: {error}") from error


def _content_length(response: BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _discard(response: BaseHTTPResponse) -> None:
    """Done with a response we will not read: keep its connection only if its body is small."""
    length = _content_length(response)
    if length is not None and length <= DRAIN_LIMIT_BYTES:
        response.drain_conn()
    else:
        response.close()
    response.release_conn()


def _status_failure(url: str, response: BaseHTTPResponse) -> DownloadFailed:
    """``404 Not Found``, ``503 Service Unavailable after 4 attempts``: the status says it all."""
    status = response.status
    tries = response.retries.attempts if isinstance(response.retries, BoundedRetry) else 1
    attempts = f" after {tries} attempts" if tries > 1 else ""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "(unknown status)"
    return DownloadFailed("http_status", f"{status} {phrase}{attempts}", status)


def _transport_failure(url: str, error: object) -> DownloadFailed:
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
