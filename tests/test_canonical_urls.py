"""One canonical URL, one key: what is fetched, recorded and stored is the canonical form of the request
(image_downloader.urls), urllib3 sends it unchanged, and distinct canonical URLs never share an S3 key
or a file under the command line's --out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3.util import parse_url

from image_downloader.keys import S3_MAX_KEY_BYTES, file_parts, image_key, storage_problem
from image_downloader.urls import UrlProblem, canonical_base_url, canonical_path, canonical_url

# What a path may hold, tricky characters first: every delimiter, escapes of unreserved and reserved
# characters in both cases, dot segments, non-ASCII letters.
PIECES = st.sampled_from(
    [
        *("a", "B", "0", "-", ".", "_", "~", "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@"),
        *("/", "?", "%41", "%7e", "%7E", "%2F", "%2f", "%3F", "%25", "%20", "%2e", "é", "ß", "日", "[", "]"),
    ]
)
RAW_PATHS = st.lists(PIECES, min_size=1, max_size=12).map("".join)
BASES = st.sampled_from(
    ["http://h/", "https://h/", "http://h:8080/", "https://H/base", "http://h/ba%7esé/", "http://[::1]/"]
)


def canonical_or_none(base: str, path: str) -> str | None:
    try:
        return canonical_url(base, path)
    except UrlProblem:
        return None


@given(base=BASES, path=RAW_PATHS)
def test_urllib3_sends_a_canonical_url_unchanged_and_canonical_is_idempotent(base: str, path: str) -> None:
    url = canonical_or_none(base, path)
    if url is None:
        return
    assert parse_url(url).url == url
    assert url.isascii()
    base_url = canonical_base_url(base)
    assert url.startswith(base_url)
    assert canonical_url(base_url, url.removeprefix(base_url)) == url


@given(pairs=st.lists(st.tuples(BASES, RAW_PATHS), min_size=2, max_size=40))
def test_distinct_canonical_urls_never_share_a_key_or_a_file(pairs: list[tuple[str, str]]) -> None:
    urls = {url for base, path in pairs if (url := canonical_or_none(base, path)) is not None}
    assert len({image_key("images/", url) for url in urls}) == len(urls)
    assert len({tuple(file_parts(url)) for url in urls}) == len(urls)
    for url in urls:
        assert all(part not in ("", ".", "..") for part in file_parts(url))


@given(path=st.lists(st.sampled_from(["a", "b", "x.gif", "~", "-"]), min_size=1, max_size=6).map("/".join))
def test_spellings_of_one_resource_are_one_canonical_url(path: str) -> None:
    escaped = "".join(f"%{ord(c):02x}" if c in "~-" else c for c in path)
    dotted = "./" + path.replace("/", "/./")
    assert canonical_path(escaped) == canonical_path(dotted) == canonical_path(path)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://h/x.gif", "https://h/x.gif"),
        ("http://h/ok.gif?a", "http://h/ok.gif%3Fa"),
        ("http://h/a%2Fb.gif", "http://h/a/b.gif"),
        ("http://h/x.gif?a/b", "http://h/x.gif%3Fa/b"),
    ],
)
def test_urls_that_differ_on_the_wire_get_different_keys_and_files(first: str, second: str) -> None:
    assert image_key("images/", first) != image_key("images/", second)
    assert file_parts(first) != file_parts(second)


def test_the_key_is_the_canonical_url_under_the_prefix() -> None:
    url = canonical_url("HTTPS://Bücher.Example:443/Flags", "cn/./c%6e.gif?v=1&x=%7e")
    assert url == "https://xn--bcher-kva.example/Flags/cn/cn.gif?v=1&x=~"
    assert image_key("images/", url) == "images/https/xn--bcher-kva.example/Flags/cn/cn.gif?v=1&x=~"


def test_a_key_over_s3s_limit_is_found_before_any_download_and_the_other_limits_follow() -> None:
    url = canonical_url("https://example.com/", "a" * 1000)
    problem = storage_problem("images/", url)
    assert problem is not None
    assert f"S3 allows {S3_MAX_KEY_BYTES}" in problem
    fits = canonical_url("https://example.com/", "a" * (S3_MAX_KEY_BYTES - len("images/https/example.com/")))
    assert storage_problem("images/", fits) is None
