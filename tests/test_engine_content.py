"""Content checks: an allowed Content-Type, and magic bytes of a known image format that agree with it."""

from __future__ import annotations

import struct

import pytest

from image_downloader.content import DEFAULT_ALLOWED_FORMATS, NotAnImage, check_declared_type, identify, sniff
from local_runner.sample_images import flag_gif

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
WEBP = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + b"\x00" * 18
AVIF = struct.pack(">I", 28) + b"ftypavif" + b"\x00\x00\x00\x00" + b"avifmif1miaf" + b"\x00" * 8
AVIF_AS_COMPATIBLE_BRAND = struct.pack(">I", 24) + b"ftypmif1" + b"\x00\x00\x00\x00" + b"mif1avif"
HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
BMP = b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHH", 40, 1, 1, 1, 24) + b"\x00" * 30
TIFF_LE = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 10
TIFF_BE = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 10
ICO = b"\x00\x00\x01\x00\x01\x00" + b"\x10\x10\x00\x00" + b"\x00" * 12
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
SVG_WITH_PROLOGUE = (
    b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand -->\n'
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'
)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (flag_gif("cn"), "image/gif"),
        (b"GIF87a" + b"\x00" * 10, "image/gif"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (AVIF, "image/avif"),
        (AVIF_AS_COMPATIBLE_BRAND, "image/avif"),
        (BMP, "image/bmp"),
        (TIFF_LE, "image/tiff"),
        (TIFF_BE, "image/tiff"),
        (ICO, "image/x-icon"),
        (SVG, "image/svg+xml"),
        (SVG_WITH_PROLOGUE, "image/svg+xml"),
    ],
)
def test_each_known_format_is_recognised_by_its_first_bytes(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, world",
        b"<!doctype html><html><body><svg></svg></body></html>",
        b"%PDF-1.7",
        b"PK\x03\x04",
        HEIC,
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"BM",
    ],
)
def test_other_bytes_are_not_an_image(head: bytes) -> None:
    assert sniff(head) is None


@pytest.mark.parametrize(
    ("content_type", "promised"),
    [
        ("image/gif", "image/gif"),
        ("Image/JPEG; charset=binary", "image/jpeg"),
        ("image/jpg", "image/jpeg"),
        ("image/vnd.microsoft.icon", "image/x-icon"),
        ("application/octet-stream", None),
    ],
)
def test_allowed_content_types_promise_a_format(content_type: str, promised: str | None) -> None:
    assert check_declared_type(content_type) == promised


SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def test_svg_is_refused_unless_allowed_because_it_can_carry_scripts() -> None:
    with pytest.raises(NotAnImage, match="image/svg\\+xml is not an allowed image type"):
        check_declared_type("image/svg+xml")
    with pytest.raises(NotAnImage, match="image/svg\\+xml is not an allowed image type"):
        identify(SVG_WITH_SCRIPT, None)
    allowed = DEFAULT_ALLOWED_FORMATS | {"image/svg+xml"}
    assert check_declared_type("image/svg+xml", allowed) == "image/svg+xml"
    assert identify(SVG_WITH_SCRIPT, None, allowed) == "image/svg+xml"


def test_a_format_left_out_of_the_allowlist_is_refused_whatever_the_header_says() -> None:
    only_png = frozenset({"image/png"})
    with pytest.raises(NotAnImage, match="image/gif is not an allowed image type"):
        check_declared_type("image/gif", only_png)
    with pytest.raises(NotAnImage, match="image/gif is not an allowed image type"):
        identify(flag_gif("cn"), None, only_png)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (None, "no Content-Type"),
        ("", "no Content-Type"),
        ("text/html; charset=utf-8", "text/html is not an image type"),
        ("application/json", "application/json is not an image type"),
        ("image/heic", "image/heic is not an image type"),
    ],
)
def test_other_content_types_are_refused(content_type: str | None, message: str) -> None:
    with pytest.raises(NotAnImage, match=message):
        check_declared_type(content_type)


def test_bytes_that_disagree_with_the_content_type_are_refused() -> None:
    with pytest.raises(NotAnImage, match="Content-Type says image/png but the body is image/gif"):
        identify(flag_gif("cn"), "image/png")


def test_an_untyped_body_is_identified_by_its_bytes() -> None:
    assert identify(PNG, None) == "image/png"
    with pytest.raises(NotAnImage, match="not a known image format"):
        identify(b"just text", None)
