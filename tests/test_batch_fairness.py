"""Slow URLs ahead in a batch cannot starve the ones behind them (issue 18, row 12): when the batch's
time cannot give every URL its full per-image limit, each URL gets its share of what is left."""

from __future__ import annotations

from image_downloader.engine import Deadline, download_all
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES
from tests.support.engine_run import KeptUrls, loopback
from tests.support.image_server import ImageServer, trickle

SETTINGS = loopback(image_time_limit_seconds=60)


def test_30_trickling_urls_ahead_of_10_good_ones_leave_the_good_ones_stored(
    image_server: ImageServer,
) -> None:
    body = flag_gif("slow")
    slow = [
        image_server.add(f"slow/{index}.gif", trickle(body, len(body), 10, every=0.2)) for index in range(30)
    ]
    good = [image_server.add_image(f"good/{index}.gif") for index in range(10)]
    sink = KeptUrls()

    # 15 s for 40 URLs on 5 workers: the per-image limit (60 s) would let the first five hold it all.
    outcome = download_all(slow + good, 5, sink, SETTINGS, Deadline.after(15), policy=FAST_RETRIES)

    assert sorted(sink.urls) == sorted(good)
    assert {failure.url for failure in outcome.failures} == set(slow)
    assert {failure.kind for failure in outcome.failures} == {"timed_out"}, outcome.failures[:3]
    assert (
        "its share of the batch's remaining time; the limit per image is 60 s" in outcome.failures[0].reason
    )
