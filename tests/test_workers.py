"""The download threads are kept from one batch to the next (starting them costs CPU on every batch),
never shared by two batches at once, and a batch that ends in an error leaves nothing running."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from image_downloader.engine import Deadline, DownloadedImage, download_all
from image_downloader.settings import DownloadSettings
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route

LOCAL = DownloadSettings(bucket_name="b", table_name="t", allow_private_addresses=True)


class ThreadsSink:
    """Remembers the thread each image was stored on (the objects: an ident may be reused)."""

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.gate = gate

    def store(self, image: DownloadedImage) -> None:
        with self.lock:
            self.threads.append(threading.current_thread())
        if self.gate is not None:
            self.gate.wait(timeout=10)


def urls(server: ImageServer, count: int, prefix: str = "") -> list[str]:
    return [
        server.add(f"{prefix}{index}.gif", Route(body=flag_gif(f"{prefix}{index}"))) for index in range(count)
    ]


def test_the_next_batch_of_the_same_concurrency_runs_on_the_same_threads(image_server: ImageServer) -> None:
    first, second = ThreadsSink(), ThreadsSink()

    assert download_all(urls(image_server, 6), 3, first, LOCAL, Deadline()).succeeded == 6
    assert download_all(urls(image_server, 6), 3, second, LOCAL, Deadline()).succeeded == 6

    assert {id(thread) for thread in second.threads} <= {id(thread) for thread in first.threads}
    assert all(thread.name.startswith("download") for thread in second.threads)


def test_two_batches_at_once_never_share_threads(image_server: ImageServer) -> None:
    gate = threading.Barrier(4)  # both batches' two workers each: they can only pass together
    sinks = [ThreadsSink(gate), ThreadsSink(gate)]
    lists = [urls(image_server, 2, "a"), urls(image_server, 2, "b")]

    with ThreadPoolExecutor(max_workers=2) as batches:
        outcomes = list(
            batches.map(lambda index: download_all(lists[index], 2, sinks[index], LOCAL, Deadline()), (0, 1))
        )

    assert [outcome.succeeded for outcome in outcomes] == [2, 2]
    assert not {id(thread) for thread in sinks[0].threads} & {id(thread) for thread in sinks[1].threads}


def test_a_batch_that_fails_in_its_callback_leaves_no_work_behind(image_server: ImageServer) -> None:
    sink = ThreadsSink()

    def progress(done: int, total: int) -> None:
        raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError):
        download_all(urls(image_server, 20, "c"), 2, sink, LOCAL, Deadline(), on_progress=progress)
    stored = len(sink.threads)

    after = ThreadsSink()
    assert download_all(urls(image_server, 4, "d"), 2, after, LOCAL, Deadline()).succeeded == 4
    assert len(sink.threads) == stored < 20  # the rest was cancelled, not left to run beside the next batch
