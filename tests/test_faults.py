"""Fault injection, one test per fault kind, through the whole download path (engine, S3, DynamoDB).

Every test ends with the invariant: each requested URL is either stored in S3 and recorded in DynamoDB,
or listed as failed with its reason; never both, never neither. Each batch also holds a healthy image,
which must be stored whatever happens to its neighbours.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from image_downloader import netguard
from image_downloader.download import BatchRequest, download_batch
from image_downloader.engine import Deadline
from image_downloader.settings import DownloadSettings
from image_downloader.storage import AwsClients
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES, AwsWorld
from tests.support.image_server import (
    ImageServer,
    RawHandler,
    Route,
    chunked,
    reset_mid_body,
    sequence,
    slow_body,
    tls_handshake_trickler,
    trickle,
    trickle_headers,
    unresponsive_port,
)

GIF = flag_gif("fault")
BIG_GIF = GIF[:-1] + b"\x00" * (100 * 1024) + b";"  # larger than the tests' 64 KiB limit
ERROR = Route(status=500, body=b"oops", content_type="text/plain")
# The tests of socket timeouts set them short; elsewhere they stay long (AwsWorld.settings).
SHORT_TIMEOUTS = {"connect_timeout_seconds": 0.5, "read_timeout_seconds": 0.5}


def run_batch(
    aws: AwsWorld,
    urls: list[str],
    settings: DownloadSettings | None = None,
    clients: AwsClients | None = None,
    concurrency: int = 3,
) -> tuple[dict, dict[str, dict]]:
    """Download ``urls`` (all on one server) as one batch: the result and the failures, after checking
    the invariant."""
    base_url = "/".join(urls[0].split("/", 3)[:3]) + "/"
    request = BatchRequest(
        batch_index=0,
        execution_name="faults",
        execution_id="arn:aws:states:us-east-1:123456789012:execution:images:faults",
        base_url=base_url,
        resource_paths=tuple(url.removeprefix(base_url) for url in urls),
        concurrency=concurrency,
    )
    assert request.urls == urls
    result = download_batch(
        request, settings or aws.settings(), Deadline(), clients=clients, policy=FAST_RETRIES
    )
    return result, aws.assert_accounted_for(urls, result)


def with_healthy(server: ImageServer, fault_path: str, route: Route | RawHandler) -> tuple[str, str]:
    return server.add_image("healthy.gif", GIF), server.add(fault_path, route)


def test_connect_timeout(aws: AwsWorld) -> None:
    with unresponsive_port() as port:
        stuck = [f"http://127.0.0.1:{port}/a.gif", f"http://127.0.0.1:{port}/b.gif"]
        started = time.monotonic()
        _, failures = run_batch(aws, stuck, settings=aws.settings(**SHORT_TIMEOUTS), concurrency=2)
    assert time.monotonic() - started < 5
    for url in stuck:
        assert failures[url]["kind"] == "timeout"
        assert failures[url]["reason"] == f"timed out connecting to 127.0.0.1:{port}"


def test_slow_body_past_the_read_timeout(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, slow = with_healthy(image_server, "slow.gif", slow_body(GIF, first=10, pause=1.5))

    _, failures = run_batch(aws, [healthy, slow], settings=aws.settings(**SHORT_TIMEOUTS))

    assert failures[slow]["kind"] == "timeout"
    assert failures[slow]["reason"] == f"timed out waiting for {slow.split('/')[2]} to send data"
    assert image_server.hits("slow.gif") == FAST_RETRIES.attempts
    assert list(failures) == [slow]


def test_500_then_200_is_stored_after_one_retry(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, flaky = with_healthy(image_server, "flaky.gif", sequence(ERROR, Route(body=GIF)))

    result, failures = run_batch(aws, [healthy, flaky])

    assert failures == {}
    assert result["succeeded"] == 2
    assert image_server.hits("flaky.gif") == 2


def test_503_with_retry_after_is_honoured(image_server: ImageServer, aws: AwsWorld) -> None:
    busy = Route(status=503, body=b"busy", content_type="text/plain", headers={"Retry-After": "1"})
    healthy, later = with_healthy(image_server, "later.gif", sequence(busy, Route(body=GIF)))
    started = time.monotonic()

    _, failures = run_batch(aws, [healthy, later])

    assert failures == {}
    assert time.monotonic() - started >= 1.0
    assert image_server.hits("later.gif") == 2


def test_429_is_retried_then_reported(image_server: ImageServer, aws: AwsWorld) -> None:
    too_many = Route(status=429, body=b"slow down", content_type="text/plain", headers={"Retry-After": "0"})
    image_server.add_image("healthy.gif", GIF)
    once = image_server.add("once.gif", sequence(too_many, Route(body=GIF)))
    always = image_server.add("always.gif", too_many)

    _, failures = run_batch(aws, [image_server.url("healthy.gif"), once, always])

    assert list(failures) == [always]
    assert failures[always]["status"] == 429
    assert failures[always]["reason"] == "429 Too Many Requests after 3 attempts"
    assert image_server.hits("always.gif") == FAST_RETRIES.attempts


def test_404_is_reported_as_could_not_find_and_not_retried(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy = image_server.add_image("healthy.gif", GIF)
    missing = image_server.url("zz/zz.gif")

    _, failures = run_batch(aws, [healthy, missing])

    assert failures[missing] == {
        "url": missing,
        "kind": "http_status",
        "status": 404,
        "reason": "404 Not Found",
    }
    assert image_server.hits("zz/zz.gif") == 1


def test_connection_reset_mid_body(image_server: ImageServer, aws: AwsWorld) -> None:
    image_server.add_image("healthy.gif", GIF)
    body = GIF + b"\x00" * 20_000
    recovers = image_server.add("recovers.gif", sequence(reset_mid_body(body, after=5000), Route(body=GIF)))
    broken = image_server.add("broken.gif", reset_mid_body(body, after=5000))

    _, failures = run_batch(aws, [image_server.url("healthy.gif"), recovers, broken])

    assert list(failures) == [broken]
    assert failures[broken]["kind"] == "connection"
    assert "Connection broken" in failures[broken]["reason"]
    assert image_server.hits("recovers.gif") == 2
    assert image_server.hits("broken.gif") == FAST_RETRIES.attempts


def test_body_larger_than_the_limit_with_content_length(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, big = with_healthy(image_server, "big.gif", Route(body=BIG_GIF))

    _, failures = run_batch(aws, [healthy, big])

    assert failures[big]["kind"] == "too_large"
    assert failures[big]["reason"] == f"too large: {len(BIG_GIF)} bytes (limit {64 * 1024})"
    assert image_server.hits("big.gif") == 1


def test_body_larger_than_the_limit_without_content_length(image_server: ImageServer, aws: AwsWorld) -> None:
    image_server.add_image("healthy.gif", GIF)
    small = image_server.add("small-chunked.gif", chunked(GIF))
    big = image_server.add("big-chunked.gif", chunked(BIG_GIF))

    _, failures = run_batch(aws, [image_server.url("healthy.gif"), small, big])

    assert list(failures) == [big]
    assert failures[big]["kind"] == "too_large"
    assert failures[big]["reason"] == f"too large: more than {64 * 1024} bytes"


def test_wrong_content_type(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, page = with_healthy(image_server, "page.gif", Route(body=GIF, content_type="text/html"))

    _, failures = run_batch(aws, [healthy, page])

    assert failures[page]["kind"] == "not_image"
    assert failures[page]["reason"] == "not an image: Content-Type text/html is not an image type"


def test_non_image_bytes_under_an_image_type(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, fake = with_healthy(
        image_server, "fake.gif", Route(body=b"<html>gotcha</html>", content_type="image/gif")
    )

    _, failures = run_batch(aws, [healthy, fake])

    assert failures[fake]["kind"] == "not_image"
    assert "body is not a known image format under Content-Type image/gif" in failures[fake]["reason"]


def test_redirect_to_a_private_address(
    image_server: ImageServer, aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local server stands in for a public host; every other private address keeps being refused.
    real = netguard.address_problem
    monkeypatch.setattr(netguard, "address_problem", lambda ip: None if str(ip) == "127.0.0.1" else real(ip))
    to_metadata = Route(
        status=302, body=b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    healthy, sneaky = with_healthy(image_server, "sneaky.gif", to_metadata)

    _, failures = run_batch(aws, [healthy, sneaky], settings=aws.settings(allow_private_addresses=False))

    assert failures[sneaky]["kind"] == "blocked"
    assert "link-local address 169.254.169.254" in failures[sneaky]["reason"]
    assert healthy not in failures


def test_s3_put_error(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, refused = image_server.add_image("healthy.gif", GIF), image_server.add_image("refused.gif", GIF)
    clients = aws.clients(s3_put_fails=lambda key: key.endswith("refused.gif"))

    _, failures = run_batch(aws, [healthy, refused], clients=clients)

    assert failures[refused]["kind"] == "storage"
    assert "S3 put_object failed: AccessDenied: injected fault" in failures[refused]["reason"]


def test_dynamodb_throttling_that_persists_removes_the_object(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    healthy, throttled = (
        image_server.add_image("healthy.gif", GIF),
        image_server.add_image("throttled.gif", GIF),
    )
    clients = aws.clients(max_attempts=2, dynamodb_put_throttled=lambda url: url == throttled)

    _, failures = run_batch(aws, [healthy, throttled], clients=clients)

    assert failures[throttled]["kind"] == "storage"
    assert "ProvisionedThroughputExceededException" in failures[throttled]["reason"]
    assert "object removed" in failures[throttled]["reason"]


def test_dynamodb_throttling_once_is_retried_by_botocore(image_server: ImageServer, aws: AwsWorld) -> None:
    urls = [image_server.add_image(f"{index}.gif", flag_gif(str(index))) for index in range(3)]
    clients = aws.clients(dynamodb_put_throttled=throttle_first_attempt_of_each())

    result, failures = run_batch(aws, urls, clients=clients)

    assert failures == {}
    assert result["succeeded"] == 3


def throttle_first_attempt_of_each() -> Callable[[str], bool]:
    seen: set[str] = set()

    def throttled(url: str) -> bool:
        first = url not in seen
        seen.add(url)
        return first

    return throttled


def test_a_result_that_cannot_be_written_fails_the_batch_so_it_is_reported_as_crashed(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    """Consolidate learns a batch's outcome only from its result object: an error writing it must reach the
    state machine (whose Catch records the batch) rather than be swallowed."""
    healthy, missing = image_server.add_image("healthy.gif", GIF), image_server.url("missing.gif")
    clients = aws.clients(max_attempts=1, s3_put_fails=lambda key: key.startswith("runs/"))
    request = BatchRequest(0, "faults", None, image_server.base_url, ("healthy.gif", "missing.gif"), 2)

    with pytest.raises(ClientError, match="AccessDenied"):
        download_batch(request, aws.settings(), Deadline(), clients=clients, policy=FAST_RETRIES)

    assert aws.image_keys(prefix="runs/") == set()
    assert healthy in aws.records()
    assert missing not in aws.records()


# --- the wall-clock limit per image: a server cannot hold a batch, whatever it does -------------------

IMAGE_LIMIT = 1.5
# Past the limit: the stopwatch's own slack and the healthy neighbours' time, never a second limit.
LIMIT_SLACK = 3.0


def run_with_image_limit(aws: AwsWorld, urls: list[str]) -> tuple[float, dict[str, dict]]:
    """Timeouts longer than the limit: every wait for a byte is short enough, only the limit can end it
    (the attempts cannot run out first)."""
    settings = aws.settings(
        image_time_limit_seconds=IMAGE_LIMIT, connect_timeout_seconds=2.0, read_timeout_seconds=2.0
    )
    started = time.monotonic()
    _, failures = run_batch(aws, urls, settings=settings)
    return time.monotonic() - started, failures


@pytest.mark.timeout(60)
def test_a_server_trickling_one_byte_a_second_fails_that_url_alone_at_the_image_limit(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    healthy = [image_server.add_image(f"ok/{index}.gif") for index in range(10)]
    slow = image_server.add("trickle.gif", trickle(GIF, declared=60_000, first=10, every=1.0))

    elapsed, failures = run_with_image_limit(aws, [*healthy, slow])

    assert list(failures) == [slow]
    assert failures[slow]["kind"] == "timed_out"
    assert failures[slow]["reason"] == f"timed out after {IMAGE_LIMIT:g} s (the limit per image)"
    assert elapsed < IMAGE_LIMIT + LIMIT_SLACK


@pytest.mark.timeout(60)
def test_headers_trickling_in_fail_at_the_image_limit(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, stalled = with_healthy(image_server, "stalled.gif", trickle_headers(every=0.2))

    elapsed, failures = run_with_image_limit(aws, [healthy, stalled])

    assert list(failures) == [stalled]
    assert failures[stalled]["kind"] == "timed_out"
    assert elapsed < IMAGE_LIMIT + LIMIT_SLACK


@pytest.mark.timeout(60)
def test_a_tls_handshake_trickling_in_fails_at_the_image_limit(aws: AwsWorld) -> None:
    """Each attempt's handshake ends at the connect timeout; the attempts end at the image's limit."""
    with tls_handshake_trickler(every=0.2) as port:
        stalled = [f"https://127.0.0.1:{port}/a.gif", f"https://127.0.0.1:{port}/b.gif"]

        elapsed, failures = run_with_image_limit(aws, stalled)

    assert [failures[url]["kind"] for url in stalled] == ["timed_out", "timed_out"]
    assert elapsed < IMAGE_LIMIT + LIMIT_SLACK


@pytest.mark.timeout(60)
def test_slow_redirects_fail_at_the_image_limit_not_after_every_hop(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    loop = Route(status=302, body=b"", headers={"Location": "/loop.gif"}, delay=0.4)
    healthy, looping = with_healthy(image_server, "loop.gif", loop)

    elapsed, failures = run_with_image_limit(aws, [healthy, looping])

    assert failures[looping]["kind"] == "timed_out"
    assert image_server.hits("loop.gif") <= IMAGE_LIMIT / 0.4 + 1
    assert elapsed < IMAGE_LIMIT + LIMIT_SLACK


@pytest.mark.timeout(60)
def test_the_batch_budget_still_cuts_an_image_whose_own_limit_is_later(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    slowly = trickle(GIF, declared=60_000, first=10, every=0.2)
    healthy, slow = with_healthy(image_server, "trickle.gif", slowly)
    settings = aws.settings(image_time_limit_seconds=60, time_budget_margin_seconds=1.0)
    request = BatchRequest(0, "budget", None, image_server.base_url, ("healthy.gif", "trickle.gif"), 2)
    started = time.monotonic()

    result = download_batch(request, settings, Deadline.after(3.0), policy=FAST_RETRIES)

    assert time.monotonic() - started < 3.0
    failures = aws.assert_accounted_for([healthy, slow], result)
    assert failures[slow]["kind"] == "time_budget"
    assert failures[slow]["reason"] == "interrupted: time budget"


# --- Content-Encoding: asked for identity, decoded within the size limit when a server encodes anyway --


def test_a_gzip_encoded_image_is_stored_decoded(image_server: ImageServer, aws: AwsWorld) -> None:
    encoded = gzip.compress(GIF)
    healthy, zipped = with_healthy(
        image_server, "zipped.gif", Route(body=encoded, headers={"Content-Encoding": "gzip"})
    )

    _, failures = run_batch(aws, [healthy, zipped])

    assert failures == {}
    record = aws.records()[zipped]
    assert record["sha256"] == hashlib.sha256(GIF).hexdigest()
    assert aws.s3.get_object(Bucket=aws.bucket, Key=record["key"])["Body"].read() == GIF
    assert image_server.hits("zipped.gif") == 1


def test_a_gzip_bomb_is_refused_as_too_large_without_retries(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    bomb = gzip.compress(GIF[:-1] + b"\x00" * (50 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    healthy, zipped = with_healthy(
        image_server, "bomb.gif", Route(body=bomb, headers={"Content-Encoding": "gzip"})
    )

    _, failures = run_batch(aws, [healthy, zipped])

    assert failures[zipped]["kind"] == "too_large"
    assert image_server.hits("bomb.gif") == 1


def test_an_unsupported_or_broken_encoding_is_refused_without_retries(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    image_server.add_image("healthy.gif", GIF)
    brotli = image_server.add("br.gif", Route(body=GIF, headers={"Content-Encoding": "br"}))
    broken = image_server.add("broken.gif", Route(body=b"not gzip", headers={"Content-Encoding": "gzip"}))

    _, failures = run_batch(aws, [image_server.url("healthy.gif"), brotli, broken])

    assert failures[brotli]["reason"].startswith("not an image: unsupported Content-Encoding: br")
    assert "gzip body does not decode" in failures[broken]["reason"]
    assert image_server.hits("br.gif") == image_server.hits("broken.gif") == 1


# --- content types: SVG (scripts) refused by default; stored as an attachment when allowed ------------

SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def test_svg_with_a_script_is_refused_by_default(image_server: ImageServer, aws: AwsWorld) -> None:
    healthy, svg = with_healthy(
        image_server, "x.svg", Route(body=SVG_WITH_SCRIPT, content_type="image/svg+xml")
    )

    _, failures = run_batch(aws, [healthy, svg])

    assert failures[svg]["kind"] == "not_image"
    assert "image/svg+xml is not an allowed image type" in failures[svg]["reason"]


def test_allowed_svg_is_stored_as_an_attachment_and_other_images_inline(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    healthy, svg = with_healthy(
        image_server, "x.svg", Route(body=SVG_WITH_SCRIPT, content_type="image/svg+xml")
    )
    settings = aws.settings(allowed_content_types=frozenset({"image/gif", "image/svg+xml"}))

    _, failures = run_batch(aws, [healthy, svg], settings=settings)

    assert failures == {}
    records = aws.records()
    stored_svg = aws.s3.get_object(Bucket=aws.bucket, Key=records[svg]["key"])
    assert (stored_svg["ContentType"], stored_svg["ContentDisposition"]) == ("image/svg+xml", "attachment")
    stored_gif = aws.s3.get_object(Bucket=aws.bucket, Key=records[healthy]["key"])
    assert stored_gif["ContentType"] == "image/gif"
    assert "ContentDisposition" not in stored_gif


# --- secrets in URLs: masked in every reason and report ------------------------------------------------


def test_query_values_and_tokens_are_masked_in_the_failure_report(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    healthy = image_server.add_image("healthy.gif", GIF)
    secret = image_server.url("private/zz.gif?token=s3cret&user=alice")
    redirect = Route(
        status=302, body=b"", headers={"Location": "ftp://bob:s3cret@evil.test/x.gif?sig=s3cret"}
    )
    bounced = image_server.add("bounce.gif", redirect)

    result, failures = run_batch(aws, [healthy, secret, bounced])

    assert (failures[secret]["kind"], failures[bounced]["kind"]) == ("http_status", "blocked")
    document = aws.report(result["resultKey"])
    # failedUrls is run data, as the batch it came from: the URLs as requested, for retryFailuresOf.
    assert set(document.pop("failedUrls")) == {secret, bounced}
    report = json.dumps(document)
    assert "s3cret" not in report
    assert "alice" not in report
    assert image_server.url("private/zz.gif?token=***&user=***") in report
    assert "ftp://***@evil.test/x.gif?sig=***" in report
