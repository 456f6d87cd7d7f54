"""The download engine: every URL of a batch ends either stored by the sink or as a ``Failure``.

Concurrency model: ``concurrency`` worker threads share one ``Fetcher`` (``fetch.py``) whose pools keep
at most ``concurrency`` connections per host, so at most ``concurrency`` requests are in flight.
Blocking sockets release the GIL, and the per-image CPU work (headers, hashing, spooling) is small, so
threads overlap the network waits as well as an event loop would, with less code and with boto3 (which
is synchronous) in the same worker.

Where each concern lives: data shapes and the sink protocol in ``model.py``, the retry policy in
``retry.py``, the transport in ``fetch.py``, body reading in ``body.py``, the time limits per batch and
per image in ``timelimit.py``, the threads (kept for the next batch) in ``workers.py``. This file only
orchestrates them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, as_completed, wait

from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

from image_downloader.body import SPOOL_MEMORY_BYTES, read_image
from image_downloader.fetch import Fetcher, retry_after_body_error
from image_downloader.logs import caught, milliseconds_since
from image_downloader.model import (
    BatchOutcome,
    DownloadedImage,
    DownloadFailed,
    Failure,
    FailureKind,
    ProgressCallback,
    Sink,
    StorageError,
)
from image_downloader.redact import redact
from image_downloader.retry import BoundedRetry, RetryPolicy
from image_downloader.settings import DownloadSettings
from image_downloader.timelimit import Deadline, ImageTimeLimit, Stopwatch, TimeBudget
from image_downloader.workers import give_back as give_back_workers
from image_downloader.workers import take as take_workers

# The engine's public names, wherever they live.
__all__ = [
    "SPOOL_MEMORY_BYTES",
    "BatchOutcome",
    "BoundedRetry",
    "Deadline",
    "DownloadedImage",
    "Failure",
    "FailureKind",
    "ProgressCallback",
    "RetryPolicy",
    "Sink",
    "StorageError",
    "download_all",
]

logger = logging.getLogger(__name__)

NOT_ATTEMPTED = "not attempted: time budget"
INTERRUPTED = "interrupted: time budget"


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
    downloader = _Downloader(settings, policy or RetryPolicy(), deadline, workers, len(urls))
    results: list[Failure | int | None] = [None] * len(urls)
    executor = take_workers(workers)
    futures: dict[Future[Failure | int], int] = {}
    try:
        futures = {executor.submit(downloader.process, url, sink): index for index, url in enumerate(urls)}
        # Without a progress callback, wait in order: as_completed wakes this thread once per image.
        finished = futures if on_progress is None else as_completed(futures)
        for done, future in enumerate(finished, start=1):
            results[futures[future]] = future.result()
            if on_progress is not None:
                on_progress(done, len(urls))
    finally:
        for future in futures:  # after an error here: nothing more starts, what runs ends first
            future.cancel()
        wait(futures)
        give_back_workers(workers, executor)
        downloader.close()
    for result in results:
        if isinstance(result, Failure):
            outcome.failures.append(result)
        else:
            outcome.succeeded += 1
            outcome.bytes += result or 0
    return outcome


class _Downloader:
    """One batch's shared state: settings, retry policy, time budget, per-image limit and transport."""

    def __init__(
        self, settings: DownloadSettings, policy: RetryPolicy, deadline: Deadline, pool: int, urls: int
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.budget = TimeBudget.within(deadline, settings.time_budget_margin_seconds)
        self.image_limit = ImageTimeLimit(settings.image_time_limit_seconds)
        self.fetcher = Fetcher(settings, pool)
        self.workers = pool
        self.left = urls  # URLs not started yet: each image's share of the time budget
        self.lock = threading.Lock()

    def close(self) -> None:
        self.fetcher.close()

    def process(self, url: str, sink: Sink) -> Failure | int:
        """Download and store one URL; the stored size, or the failure. Never raises."""
        started = time.monotonic()
        result = self._process(url, sink)
        if logger.isEnabledFor(logging.DEBUG):
            outcome = {"bytes": result} if isinstance(result, int) else result.to_json()
            done = "image stored" if isinstance(result, int) else "image failed"
            logger.debug(
                done, extra={"url": redact(url), **outcome, "durationMs": milliseconds_since(started)}
            )
        return result

    def _process(self, url: str, sink: Sink) -> Failure | int:
        if time.monotonic() >= self.budget.start_before:
            return Failure(url, "time_budget", NOT_ATTEMPTED)
        with self.lock:
            left, self.left = self.left, self.left - 1
        stopwatch = self.image_limit.start(self.budget, self.workers, left)
        with stopwatch.running():
            try:
                image = self.download(url, stopwatch)
            except DownloadFailed as failed:
                return self._failure(url, failed, stopwatch)
            except Exception as error:  # a bug must not lose the URL
                caught(logger, "unexpected error downloading an image", error, url=redact(url))
                return Failure(url, "connection", f"unexpected error: {error!r}")
        if stopwatch.expired:  # a body cut short by the stopwatch may look complete: never store it
            image.body.close()
            return self._out_of_time(url, stopwatch)
        try:
            sink.store(image)
        except StorageError as error:
            return Failure(url, "storage", f"could not store: {error}")
        except Exception as error:
            caught(logger, "unexpected error storing an image", error, url=redact(url))
            return Failure(url, "storage", f"could not store: unexpected error: {error!r}")
        finally:
            image.body.close()
        return image.size

    def download(self, url: str, stopwatch: Stopwatch) -> DownloadedImage:
        retry = self.policy.new_retry(stopwatch.deadline)
        while True:
            response, final_url = self.fetcher.open(url, retry, stopwatch)
            try:
                return read_image(response, url, final_url, self.settings, stopwatch)
            except (ReadTimeoutError, ProtocolError, SSLError) as error:
                retry = retry_after_body_error(response.retries or retry, url, final_url, error)
            finally:
                response.release_conn()

    def _failure(self, url: str, failed: DownloadFailed, stopwatch: Stopwatch) -> Failure:
        if stopwatch.expired or (
            failed.kind in ("timeout", "connection", "timed_out") and stopwatch.passed()
        ):
            return self._out_of_time(url, stopwatch)
        return Failure(url, failed.kind, failed.reason, failed.status)

    def _out_of_time(self, url: str, stopwatch: Stopwatch) -> Failure:
        if stopwatch.cut_by_budget:
            return Failure(url, "time_budget", INTERRUPTED)
        limit = self.image_limit.seconds
        if stopwatch.seconds < limit:
            why = f"its share of the batch's remaining time; the limit per image is {limit:g} s"
            return Failure(url, "timed_out", f"timed out after {stopwatch.seconds:.1f} s ({why})")
        return Failure(url, "timed_out", f"timed out after {limit:g} s (the limit per image)")
