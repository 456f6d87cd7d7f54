"""The engine on its own (no AWS): concurrency bound, connection reuse, retries, streaming, time budget."""

from __future__ import annotations

import errno
import hashlib
import io
import tempfile
import threading
import time

import pytest

from image_downloader.engine import (
    SPOOL_MEMORY_BYTES,
    BoundedRetry,
    Deadline,
    DownloadedImage,
    StorageError,
    download_all,
)
from image_downloader.settings import DownloadSettings
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES
from tests.support.image_server import ImageServer, Route, slow_body

LOCAL = DownloadSettings(
    bucket_name="b",
    table_name="t",
    allow_private_addresses=True,
    connect_timeout_seconds=1,
    read_timeout_seconds=1,
    time_budget_margin_seconds=1,
)


class RecordingSink:
    """Keeps what a real sink would see: the bytes, the digest, the type, and whether it was on disk."""

    def __init__(self, fail_for: frozenset[str] = frozenset()) -> None:
        self.images: dict[str, tuple[bytes, str, str, bool]] = {}
        self.fail_for = fail_for
        self.lock = threading.Lock()

    def store(self, image: DownloadedImage) -> None:
        if image.url in self.fail_for:
            raise StorageError("disk full")
        on_disk = bool(getattr(image.body, "_rolled", False))
        body = image.body.read()
        with self.lock:
            self.images[image.url] = (body, image.sha256_hex, image.content_type, on_disk)


def test_at_most_lambda_concur_requests_are_in_flight(image_server: ImageServer) -> None:
    urls = [
        image_server.add(f"{index}.gif", Route(body=flag_gif(str(index)), delay=0.05)) for index in range(30)
    ]

    outcome = download_all(urls, 5, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    assert outcome.succeeded == 30
    assert image_server.max_in_flight == 5


def test_connections_are_kept_alive_and_reused(image_server: ImageServer) -> None:
    urls = [image_server.add_image(f"{index}.gif") for index in range(60)]

    outcome = download_all(urls, 4, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    assert outcome.succeeded == 60
    assert image_server.connections <= 4


def test_bodies_are_hashed_and_large_ones_spooled_to_disk(image_server: ImageServer) -> None:
    small = flag_gif("small")
    large = b"GIF89a" + bytes(range(256)) * (SPOOL_MEMORY_BYTES // 128)
    urls = [image_server.add_image("small.gif", small), image_server.add_image("large.gif", large)]
    sink = RecordingSink()
    settings = DownloadSettings("b", "t", allow_private_addresses=True, max_image_bytes=len(large))

    outcome = download_all(urls, 2, sink, settings, Deadline(), policy=FAST_RETRIES)

    assert outcome.failures == []
    assert outcome.bytes == len(small) + len(large)
    assert sink.images[urls[0]] == (small, hashlib.sha256(small).hexdigest(), "image/gif", False)
    assert sink.images[urls[1]] == (large, hashlib.sha256(large).hexdigest(), "image/gif", True)


def test_progress_is_reported_for_every_url(image_server: ImageServer) -> None:
    urls = [image_server.add_image(f"{index}.gif") for index in range(5)] + [image_server.url("missing.gif")]
    seen: list[tuple[int, int]] = []

    download_all(urls, 3, RecordingSink(), LOCAL, Deadline(), on_progress=lambda *done: seen.append(done))

    assert seen == [(done, 6) for done in range(1, 7)]


def test_a_storage_error_fails_only_that_url(image_server: ImageServer) -> None:
    urls = [image_server.add_image("a.gif"), image_server.add_image("b.gif")]

    outcome = download_all(
        urls, 2, RecordingSink(frozenset({urls[1]})), LOCAL, Deadline(), policy=FAST_RETRIES
    )

    assert outcome.succeeded == 1
    [failure] = outcome.failures
    assert (failure.url, failure.kind) == (urls[1], "storage")
    assert failure.reason == "could not store: disk full"


def test_a_full_tmp_fails_only_that_url_as_storage(
    image_server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", lambda max_size: FullDisk())
    url = image_server.add_image("a.gif")

    outcome = download_all([url], 1, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    [failure] = outcome.failures
    assert failure.kind == "storage"
    assert "No space left on device" in failure.reason


@pytest.mark.parametrize("status", [403, 404, 410])
def test_client_errors_are_never_retried(image_server: ImageServer, status: int) -> None:
    url = image_server.add("x.gif", Route(status=status, body=b"no", content_type="text/plain"))

    outcome = download_all([url], 1, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    [failure] = outcome.failures
    assert (failure.kind, failure.status) == ("http_status", status)
    assert image_server.hits("x.gif") == 1


def test_server_errors_are_retried_a_bounded_number_of_times(image_server: ImageServer) -> None:
    url = image_server.add("x.gif", Route(status=502, body=b"bad gateway", content_type="text/plain"))

    outcome = download_all([url], 1, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    [failure] = outcome.failures
    assert failure.reason == "502 Bad Gateway after 3 attempts"
    assert image_server.hits("x.gif") == FAST_RETRIES.attempts


def test_a_retry_after_longer_than_the_time_limit_gives_up_at_once(image_server: ImageServer) -> None:
    url = image_server.add("x.gif", Route(status=503, body=b"", headers={"Retry-After": "3600"}))
    started = time.monotonic()

    outcome = download_all([url], 1, RecordingSink(), LOCAL, Deadline(), policy=FAST_RETRIES)

    assert time.monotonic() - started < 10  # not the hour Retry-After asks for
    [failure] = outcome.failures
    assert (failure.kind, failure.status) == ("http_status", 503)
    assert image_server.hits("x.gif") == 1


def test_a_redirect_is_followed_and_stored_under_the_requested_url(image_server: ImageServer) -> None:
    body = flag_gif("target")
    image_server.add_image("new/place.gif", body)
    url = image_server.add("old.gif", Route(status=308, body=b"", headers={"Location": "/new/place.gif"}))
    sink = RecordingSink()

    outcome = download_all([url], 1, sink, LOCAL, Deadline(), policy=FAST_RETRIES)

    assert outcome.succeeded == 1
    assert sink.images[url][0] == body


def test_no_download_starts_once_the_time_budget_is_spent(image_server: ImageServer) -> None:
    urls = [
        image_server.add(f"{index}.gif", Route(body=flag_gif(str(index)), delay=0.2)) for index in range(20)
    ]
    settings = DownloadSettings("b", "t", allow_private_addresses=True, time_budget_margin_seconds=1.0)

    outcome = download_all(urls, 2, RecordingSink(), settings, Deadline.after(1.5), policy=FAST_RETRIES)

    assert 2 <= outcome.succeeded < 20
    assert outcome.succeeded + outcome.failed == 20
    assert {(failure.kind, failure.reason) for failure in outcome.failures} == {
        ("time_budget", "not attempted: time budget")
    }
    assert sum(image_server.hits(f"{index}.gif") for index in range(20)) == outcome.succeeded


def test_a_download_still_running_at_the_hard_stop_is_reported_interrupted(image_server: ImageServer) -> None:
    url = image_server.add("stuck.gif", slow_body(flag_gif("stuck"), first=10, pause=5))
    settings = DownloadSettings("b", "t", allow_private_addresses=True, time_budget_margin_seconds=1.0)
    started = time.monotonic()

    outcome = download_all([url], 1, RecordingSink(), settings, Deadline.after(1.6), policy=FAST_RETRIES)

    assert time.monotonic() - started < 3  # cut at 1.1 s (deadline - margin / 2), not at the 5 s pause
    assert [(failure.kind, failure.reason) for failure in outcome.failures] == [
        ("time_budget", "interrupted: time budget")
    ]


def test_backoff_has_jitter_and_a_cap() -> None:
    retry = BoundedRetry(total=10, backoff_factor=1.0, jitter=0.5, backoff_cap=3.0)
    for _ in range(6):
        retry = retry.increment(method="GET", url="http://h/x", error=ConnectionError("boom"))
    waits = {retry.get_backoff_time() for _ in range(50)}

    assert all(3.0 <= wait <= 3.5 for wait in waits)
    assert len(waits) > 1
