"""Is this body an image of an allowed format? The declared ``Content-Type`` must name one (or be
generic) and the first bytes must agree.

``check_declared_type`` runs on the response headers, before any body is read; ``identify`` runs on the
first ``SNIFF_BYTES`` of the body. Both raise ``NotAnImage`` with a reason a person can act on. Which
formats are allowed is a setting (``downloader.allowed_content_types``): SVG is off by default because
it can carry scripts that run when a browser opens it.
"""

from __future__ import annotations

import re

SNIFF_BYTES = 1024

GIF, PNG, JPEG, WEBP, AVIF = "image/gif", "image/png", "image/jpeg", "image/webp", "image/avif"
BMP, TIFF, ICO, SVG = "image/bmp", "image/tiff", "image/x-icon", "image/svg+xml"

# Declared type (lower case, without parameters) -> the format it promises; None promises nothing.
_DECLARED: dict[str, str | None] = {
    GIF: GIF,
    PNG: PNG,
    "image/apng": PNG,
    JPEG: JPEG,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    WEBP: WEBP,
    AVIF: AVIF,
    BMP: BMP,
    "image/x-bmp": BMP,
    "image/x-ms-bmp": BMP,
    TIFF: TIFF,
    ICO: ICO,
    "image/vnd.microsoft.icon": ICO,
    SVG: SVG,
    # Object stores often serve images untyped; the bytes then decide.
    "application/octet-stream": None,
    "binary/octet-stream": None,
}
FORMATS = (GIF, PNG, JPEG, WEBP, AVIF, BMP, TIFF, ICO, SVG)
DEFAULT_ALLOWED_FORMATS = frozenset(FORMATS) - {SVG}
# Formats a browser may execute (scripts in SVG): stored for download, never for display.
ACTIVE_FORMATS = frozenset({SVG})

_AVIF_BRANDS = (b"avif", b"avis")
_SVG_START = re.compile(rb"^(?:<\?xml[^>]*>|<!--.*?-->|<!doctype svg[^>]*>|\s)*<svg[\s>]", re.DOTALL)


class NotAnImage(ValueError):
    """The response is not an image we accept; the message says why."""


def media_type(content_type: str | None) -> str | None:
    """``"Image/GIF; charset=x"`` -> ``"image/gif"``; ``None`` or blank -> ``None``."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def check_declared_type(
    content_type: str | None, allowed: frozenset[str] = DEFAULT_ALLOWED_FORMATS
) -> str | None:
    """Refuse a missing, non-image or not allowed ``Content-Type``; return the format it promises, if any."""
    declared = media_type(content_type)
    if declared is None:
        raise NotAnImage("no Content-Type")
    if declared not in _DECLARED:
        raise NotAnImage(f"Content-Type {declared} is not an image type")
    promised = _DECLARED[declared]
    if promised is not None and promised not in allowed:
        raise NotAnImage(f"{promised} is not an allowed image type")
    return promised


def identify(head: bytes, promised: str | None, allowed: frozenset[str] = DEFAULT_ALLOWED_FORMATS) -> str:
    """The media type of the body starting with ``head``; it must match what the header promised."""
    found = sniff(head)
    if found is None:
        what = f"under Content-Type {promised}" if promised else "under a generic Content-Type"
        raise NotAnImage(f"body is not a known image format {what}")
    if promised is not None and found != promised:
        raise NotAnImage(f"Content-Type says {promised} but the body is {found}")
    if found not in allowed:
        raise NotAnImage(f"{found} is not an allowed image type")
    return found


def sniff(head: bytes) -> str | None:
    """The image format whose signature ``head`` starts with, or ``None``."""
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and _is_avif_box(head):
        return AVIF
    if head.startswith(b"BM") and len(head) >= 26:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return ICO
    if _is_svg(head):
        return SVG
    return None


def _is_avif_box(head: bytes) -> bool:
    """An ISO-BMFF ``ftyp`` box naming an AVIF brand as major or compatible brand."""
    box_size = int.from_bytes(head[:4], "big")
    brands = head[8:12] + head[16 : min(box_size, len(head))]
    return any(brands[i : i + 4] in _AVIF_BRANDS for i in range(0, len(brands) - 3, 4))


def _is_svg(head: bytes) -> bool:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return _SVG_START.match(text) is not None
