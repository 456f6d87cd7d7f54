"""Property: whatever mix of faults a batch of a few hundred URLs meets, every URL is either stored in S3
and recorded in DynamoDB, or listed as failed with its reason (never both, never neither), and each URL's
outcome is the one its fault calls for."""

from __future__ import annotations

import gzip
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_downloader.download import BatchRequest, download_batch
from image_downloader.engine import Deadline
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES, AwsWorld
from tests.support.image_server import ImageServer, RawHandler, Route, chunked, reset_mid_body, sequence

GIF = flag_gif("property")
BIG_GIF = GIF[:-1] + b"\x00" * (100 * 1024) + b";"
OK = Route(body=GIF)
BROKEN_BODY = GIF + b"\x00" * 20_000
GZIP_BOMB = gzip.compress(GIF[:-1] + b"\x00" * (10 * 1024 * 1024))


def _routes() -> dict[str, tuple[Route | RawHandler | None, str | None]]:
    """Fault name -> (what the server answers, the failure kind expected; None when it must be stored)."""
    error = Route(status=500, body=b"oops", content_type="text/plain")
    return {
        "ok": (OK, None),
        "missing": (None, "http_status"),
        "flaky": (sequence(error, OK), None),
        "unavailable": (Route(status=503, body=b"", headers={"Retry-After": "0"}), "http_status"),
        "rate_limited_once": (sequence(Route(status=429, body=b"", headers={"Retry-After": "0"}), OK), None),
        "wrong_type": (Route(body=GIF, content_type="text/html"), "not_image"),
        "not_image_bytes": (Route(body=b"%PDF-1.7 not a gif"), "not_image"),
        "too_large": (Route(body=BIG_GIF), "too_large"),
        "too_large_chunked": (chunked(BIG_GIF), "too_large"),
        "chunked": (chunked(GIF), None),
        "reset_once": (sequence(reset_mid_body(BROKEN_BODY, after=3000), OK), None),
        "reset_always": (reset_mid_body(BROKEN_BODY, after=3000), "connection"),
        "redirected": (Route(status=302, body=b"", headers={"Location": "/target.gif"}), None),
        "redirected_to_ftp": (
            Route(status=302, body=b"", headers={"Location": "ftp://host/x.gif"}),
            "blocked",
        ),
        "gzip_encoded": (Route(body=gzip.compress(GIF), headers={"Content-Encoding": "gzip"}), None),
        "gzip_bomb": (Route(body=GZIP_BOMB, headers={"Content-Encoding": "gzip"}), "too_large"),
        "brotli_encoded": (Route(body=GIF, headers={"Content-Encoding": "br"}), "not_image"),
        "svg": (
            Route(body=b"<svg><script>alert(1)</script></svg>", content_type="image/svg+xml"),
            "not_image",
        ),
        "s3_refused": (OK, "storage"),
        "dynamodb_throttled": (OK, "storage"),
    }


FAULTS = sorted(_routes())
_examples = itertools.count()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    faults=st.lists(st.sampled_from(FAULTS), min_size=100, max_size=300),
    concurrency=st.integers(min_value=1, max_value=16),
)
def test_every_url_is_stored_and_recorded_or_failed_with_a_reason(
    image_server: ImageServer, aws: AwsWorld, faults: list[str], concurrency: int
) -> None:
    example = next(_examples)
    image_server.add_image("target.gif", GIF)
    routes = _routes()
    paths = [f"e{example}/{index}/{fault}.gif" for index, fault in enumerate(faults)]
    for path, fault in zip(paths, faults, strict=True):
        route, _ = routes[fault]
        if route is not None:
            image_server.add(path, route)
    clients = aws.clients(
        max_attempts=1,
        s3_put_fails=lambda key: key.endswith("/s3_refused.gif"),
        dynamodb_put_throttled=lambda url: url.endswith("/dynamodb_throttled.gif"),
    )
    request = BatchRequest(0, f"prop-{example}", None, image_server.base_url, tuple(paths), concurrency)

    result = download_batch(request, aws.settings(), Deadline(), clients=clients, policy=FAST_RETRIES)

    failures = aws.assert_accounted_for(request.urls, result)
    outcome = {url: failures[url]["kind"] if url in failures else None for url in request.urls}
    expected = {url: routes[fault][1] for url, fault in zip(request.urls, faults, strict=True)}
    assert outcome == expected
