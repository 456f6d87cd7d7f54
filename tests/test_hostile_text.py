"""Text a hostile server writes (status lines, Location headers) cannot make masking slow or reasons large
(issue 18, rows 1, 2 and 13)."""

from __future__ import annotations

import pytest

from bench.masking import HOSTILE_SHAPES, LARGE, shape
from image_downloader.engine import Deadline, download_all
from image_downloader.model import MAX_REASON_CHARS, DownloadFailed, Failure
from image_downloader.redact import MASK, redact
from tests.conftest import FAST_RETRIES
from tests.support.engine_run import loopback
from tests.support.image_server import ImageServer, Route, raw_response

LOCAL = loopback(connect_timeout_seconds=2, read_timeout_seconds=2)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", HOSTILE_SHAPES.values(), ids=HOSTILE_SHAPES.keys())
def test_a_megabyte_of_each_hostile_shape_is_masked(unit: str) -> None:
    """Behaviour on 1 MB of each shape; that it is linear is shown by ``make bench`` (ratio 1 MB / 64 KB
    about 16). Before the patterns were made linear, 64 KB of ``a+`` took 22 s and 1 MB would take
    hours: the timeout here is a hang guard, not a measurement."""
    text = shape(unit, LARGE)

    masked = redact(text)

    if unit == "a://b@":
        assert "b@" not in masked and masked.count(f"://{MASK}@") == text.count("://")
    elif unit == "eyJaaaaa.":
        assert "eyJ" not in masked and "a" not in masked  # every dotted triple masked
    elif unit == "aB1-":
        assert masked == MASK  # one long opaque token
    else:
        assert masked == text  # nothing secret in it, nothing masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ftp://alice:s3cret@h/x?token=abc", "ftp://***@h/x?token=***"),
        ("see x+https://u:p@h/ here", "see x+https://***@h/ here"),
        ("a=1 ?token=abc&b=2;c=3 #x", "a=1 ?token=***&b=***;c=*** #x"),
        ("t eyJhbGciOi.eyJzdWIiOi.sig-_x end", "t *** end"),
        ("AKIAABCDEFGHIJKLMNOP", "***"),
        ("k=aB3dEfGhIjKlMnOpQrStUvWxYz012345", "k=***"),
        ("file 0123456789abcdef0123456789abcdef.gif", "file 0123456789abcdef0123456789abcdef.gif"),
    ],
)
def test_masking_still_masks_what_it_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_masking_keeps_the_closing_parenthesis_of_a_quoted_url() -> None:
    reason = "blocked: host h is not in ALLOWED_HOSTS (redirected to https://h/x.gif?token=abc)"

    assert (
        redact(reason) == "blocked: host h is not in ALLOWED_HOSTS (redirected to https://h/x.gif?token=***)"
    )
    assert redact("?sig=f(x)") == "?sig=***"  # a balanced parenthesis is part of the value


def test_reasons_are_capped_where_they_are_made() -> None:
    long = "x" * (5 * MAX_REASON_CHARS)

    assert len(DownloadFailed("http_status", long).reason) == MAX_REASON_CHARS
    assert len(Failure("u", "connection", long).reason) == MAX_REASON_CHARS
    assert Failure("u", "connection", "short").reason == "short"


def test_a_cut_never_leaves_half_a_secret_unmasked() -> None:
    for offset in range(0, 60, 3):  # the cut falls at every place of the URL in turn
        reason = "x" * (MAX_REASON_CHARS - 40 + offset) + " see https://alice:s3cretpassword@h/a?k=v"
        masked = redact(Failure("u", "connection", reason).reason)
        assert "s3cret" not in masked and "alice" not in masked, masked[-60:]
        assert masked.endswith("…") and len(masked) <= MAX_REASON_CHARS


@pytest.mark.timeout(60)
def test_a_260_kb_status_line_gives_a_capped_reason(image_server: ImageServer) -> None:
    garbage = b"HTTP/1.1 200 " + b"a+" * (130 * 1024) + b"\r\n\r\n"
    junk = b"a+" * (130 * 1024) + b"\r\n\r\n"  # not even a status line: BadStatusLine quotes it
    urls = [
        image_server.add("status.gif", raw_response(garbage)),
        image_server.add("junk.gif", raw_response(junk)),
    ]
    urls.append(image_server.add("loc.gif", Route(status=302, headers={"Location": "ftp://" + "a+" * 30000})))

    outcome = download_all(urls, 3, _NoSink(), LOCAL, Deadline.after(30), policy=FAST_RETRIES)

    assert outcome.failed == 3
    for failure in outcome.failures:
        assert len(failure.reason) <= MAX_REASON_CHARS, failure.reason[:200]
        assert len(failure.to_json()["reason"]) <= MAX_REASON_CHARS


class _NoSink:
    def store(self, image: object) -> None:
        raise AssertionError("nothing here is an image")
