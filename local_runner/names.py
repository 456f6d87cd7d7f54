"""The local file of each stored image: ``images/<host>/<path>``, and a safe name where that cannot be.

An S3 key is any string of up to 1,024 bytes; a file system is stricter. A name is changed (and the run's
report says which, and why) when a segment is empty, ``.`` or ``..``, or longer than a file name may be
(255 bytes), when the file would also be a folder of another image (``a`` and ``a/b.gif``), or when it
differs from another image's only in case (one file on macOS and Windows). A changed name ends in
``~<8 hex digits of the key's SHA-256>`` before its extension, so two keys never get one file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_NAME_BYTES = 255
MAX_EXTENSION_CHARS = 10


@dataclass(frozen=True)
class Renamed:
    key: str
    saved_as: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "savedAs": self.saved_as, "reason": self.reason}


def safe_local_names(relative_keys: Iterable[str]) -> tuple[dict[str, str], list[Renamed]]:
    """Each key's local name (``local_names``), made safe; and the names that were changed, with why."""
    names = local_names(relative_keys)
    reasons: dict[str, str] = {}
    for key, name in names.items():
        segments = name.split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            reasons[key] = "a segment of the path is empty, '.' or '..'"
        elif any(len(segment.encode()) > MAX_NAME_BYTES for segment in segments):
            reasons[key] = f"a segment of the path is longer than {MAX_NAME_BYTES} bytes"
    folders = {
        "/".join(name.split("/")[:end]).casefold()
        for name in names.values()
        for end in range(1, name.count("/") + 1)
    }
    files: set[str] = set()
    for key in sorted(names):
        folded = names[key].casefold()
        if key not in reasons and folded in folders:
            reasons[key] = "the file would also be a folder of another image"
        elif key not in reasons and folded in files:
            reasons[key] = "the name differs from another image's only in case"
        files.add(folded)
    renamed = [Renamed(key, _renamed(names[key], key), reason) for key, reason in sorted(reasons.items())]
    names.update({entry.key: entry.saved_as for entry in renamed})
    return names, renamed


def _renamed(name: str, key: str) -> str:
    tag = "~" + hashlib.sha256(key.encode()).hexdigest()[:8]
    *folders, last = name.split("/")
    folders = [_safe_segment(segment) for segment in folders]
    stem, dot, extension = last.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS or "?" in extension:
        stem, extension = last, ""
    suffix = tag + (f".{extension}" if extension else "")
    return "/".join([*folders, _fit(stem, MAX_NAME_BYTES - len(suffix.encode())) + suffix])


def _safe_segment(segment: str) -> str:
    if segment in ("", ".", ".."):
        return f"_{segment}"
    return _fit(segment, MAX_NAME_BYTES)


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode()[:limit].decode("utf-8", errors="ignore")


def local_names(relative_keys: Iterable[str]) -> dict[str, str]:
    """``http/127.0.0.1:41783/cn/cn.gif`` -> ``127.0.0.1/cn/cn.gif``: a local server's port changes on
    every run, and one run rarely uses two schemes for one host. The scheme and the port are kept
    (``h_https``, ``h_8080``) only when one run fetched from two origins of the same host. A query stays
    in the name with its ``%`` and ``/`` escaped, so two URLs never get one file (the S3 key's rule)."""
    keys = list(relative_keys)
    origins_by_host: dict[str, set[tuple[str, str]]] = {}
    for key in keys:
        scheme, authority, _ = key.split("/", 2)
        host, port = _host_and_port(authority)
        origins_by_host.setdefault(host, set()).add((scheme, port))
    names = {}
    for key in keys:
        scheme, authority, rest = key.split("/", 2)
        host, port = _host_and_port(authority)
        origins = origins_by_host[host]
        folder = host
        if len(origins) > 1:
            several_schemes = len({origin_scheme for origin_scheme, _ in origins}) > 1
            folder = "_".join([host, *([scheme] if several_schemes else []), *([port] if port else [])])
        path, marker, query = rest.partition("?")
        names[key] = f"{folder}/{path}" + (
            f"?{query.replace('%', '%25').replace('/', '%2F')}" if marker else ""
        )
    return names


def _host_and_port(authority: str) -> tuple[str, str]:
    parts = urlsplit(f"//{authority}")
    host = authority[: authority.rfind(":")] if parts.port is not None else authority
    return host, str(parts.port or "")
