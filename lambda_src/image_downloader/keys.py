"""Where a canonical URL (``urls.py``) is stored: its S3 key, its object metadata, its file under the
command line's ``--out``, and whether those names fit AWS's limits.

The key is ``<prefix><scheme>/<host[:port]>/<path>[?query]``: the canonical URL with ``://`` turned
into ``/``, so distinct canonical URLs always get distinct keys (the scheme is part of the key because
``http://h/x`` and ``https://h/x`` are two resources).
"""

from __future__ import annotations

from urllib.parse import urlsplit

S3_MAX_KEY_BYTES = 1024
S3_MAX_METADATA_BYTES = 2048
DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048
SHA256_HEX_LENGTH = 64


def image_key(prefix: str, url: str) -> str:
    """``("images/", "https://h:8443/a/x.gif?v=1")`` -> ``images/https/h:8443/a/x.gif?v=1``."""
    scheme, rest = url.split("://", 1)
    return f"{prefix}{scheme}/{rest}"


def object_metadata(url: str, sha256_hex: str) -> dict[str, str]:
    """User metadata of a stored image (a canonical URL is ASCII, safe in an HTTP header)."""
    return {"sha256": sha256_hex, "source-url": url}


def file_parts(url: str) -> list[str]:
    """The file of ``url`` under ``--out``, as path parts: the key's parts, with ``%`` and ``/`` in the
    query escaped so the query can never add a folder or climb out of one."""
    parts = urlsplit(url)
    path_parts = [parts.scheme, parts.netloc, *parts.path.lstrip("/").split("/")]
    if parts.query:
        query = parts.query.replace("%", "%25").replace("/", "%2F")
        path_parts[-1] += f"?{query}"
    return path_parts


def storage_problem(prefix: str, url: str) -> str | None:
    """Why the image of ``url`` could not be stored and recorded (a name over an AWS limit), or None."""
    if len(prefix) + len(url) <= S3_MAX_KEY_BYTES and url.isascii() and prefix.isascii():
        return None  # the key is shorter than this; the URL and metadata limits are larger still
    key_bytes = len(image_key(prefix, url).encode())
    if key_bytes > S3_MAX_KEY_BYTES:
        return (
            f"its S3 key ({prefix}<scheme>/<host>/<path>) would be {key_bytes} bytes, S3 allows "
            f"{S3_MAX_KEY_BYTES}: shorten the path or the baseUrl"
        )
    url_bytes = len(url.encode())
    if url_bytes > DYNAMODB_MAX_PARTITION_KEY_BYTES:
        return f"the URL is {url_bytes} bytes, DynamoDB keys allow {DYNAMODB_MAX_PARTITION_KEY_BYTES}"
    metadata_bytes = sum(
        len(name.encode()) + len(value.encode())
        for name, value in object_metadata(url, "0" * SHA256_HEX_LENGTH).items()
    )
    if metadata_bytes > S3_MAX_METADATA_BYTES:
        return f"its S3 metadata would be {metadata_bytes} bytes, S3 allows {S3_MAX_METADATA_BYTES}"
    return None
