"""What one response's headers may cost is capped in bytes (issue 18, rows 6 and 13): a header bomb
under http.client's own limits fails at once, and many small headers (99 Set-Cookie lines) are fine."""

from __future__ import annotations

import tracemalloc

from image_downloader.engine import Deadline, download_all
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES
from tests.support.engine_run import LOOPBACK as LOCAL
from tests.support.engine_run import KeptUrls, loopback
from tests.support.image_server import ImageServer, Route, raw_response


def _response(headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: image/gif", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def test_97_headers_of_65_kb_fail_at_the_byte_cap_and_are_not_retried(image_server: ImageServer) -> None:
    bomb = _response([(f"X-Pad-{index}", "a" * 65_000) for index in range(97)], flag_gif("x"))
    url = image_server.add("bomb.gif", raw_response(bomb))
    tracemalloc.start()
    try:
        outcome = download_all([url], 1, KeptUrls(), LOCAL, Deadline.after(30), policy=FAST_RETRIES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    [failure] = outcome.failures
    assert failure.kind == "too_large"
    assert (
        failure.reason
        == f"too large: response headers over {LOCAL.max_header_bytes} bytes (the limit per response)"
    )
    assert image_server.hits("bomb.gif") == 1
    # The 6.3 MB of headers never sit in memory (http.client alone would parse all of them: ~17 MB).
    assert peak < 2 * 1024 * 1024, peak


def test_99_set_cookie_lines_are_not_too_many_headers(image_server: ImageServer) -> None:
    cookies = [("Set-Cookie", f"c{index}=v{index}; Path=/") for index in range(99)]
    url = image_server.add("cookies.gif", raw_response(_response(cookies, flag_gif("c"))))
    sink = KeptUrls()

    outcome = download_all([url], 1, sink, LOCAL, Deadline.after(30), policy=FAST_RETRIES)

    assert outcome.failures == []
    assert sink.urls == [url]


def test_headers_up_to_the_cap_are_accepted_and_the_cap_is_a_setting(image_server: ImageServer) -> None:
    url = image_server.add("big.gif", Route(body=flag_gif("b"), headers={"X-Pad": "a" * 60_000}))
    small_cap = loopback(max_header_bytes=16 * 1024)

    accepted = download_all([url], 1, KeptUrls(), LOCAL, Deadline.after(30), policy=FAST_RETRIES)
    refused = download_all([url], 1, KeptUrls(), small_cap, Deadline.after(30), policy=FAST_RETRIES)

    assert accepted.succeeded == 1
    [failure] = refused.failures
    assert failure.reason == "too large: response headers over 16384 bytes (the limit per response)"
