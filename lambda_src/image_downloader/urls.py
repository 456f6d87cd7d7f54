"""The canonical form of a requested URL: exactly what is sent on the wire, one string per resource.

``canonical_base_url`` and ``canonical_path`` check a request's ``baseUrl`` and each of its
``resourcePaths`` and return their canonical form; their concatenation is the URL that is fetched,
recorded in DynamoDB and named in reports, and from which the S3 key and the command line's file name
are derived (``keys.py``). Two spellings of one resource (``%7e`` and ``~``, ``a/./b`` and ``a/b``,
``HOST:80`` and ``host``) give one canonical URL; two different resources never do.

The canonical form:
- scheme ``http`` or ``https``, lower case; host lower case, IDNA-encoded (``xn--``), without a trailing
  dot, IPv6 literals compressed in brackets; the port only when it is not the scheme's default;
- path and query percent-encoded as RFC 3986 normalises them: escapes in upper case, unreserved
  characters unescaped, every other character outside the component's allowed set escaped as UTF-8;
  ``.`` path segments removed;
- no userinfo, no fragment, no empty query (``?``), no empty path segment, no ``..`` segment, no
  control or space characters: refused, since they cannot be fetched faithfully or would alias another
  URL. urllib3 sends a canonical URL unchanged (a test holds it to that).
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from urllib.parse import urlsplit

MAX_BASE_URL_LENGTH = 1024
MAX_PATH_LENGTH = 1024
DEFAULT_PORTS = {"http": 80, "https": 443}

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
_SEGMENT_CHARS = _UNRESERVED | _SUB_DELIMS | {":", "@"}
_QUERY_CHARS = _SEGMENT_CHARS | {"/", "?"}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Fast paths for the usual case (a million paths per request): nothing to escape, nothing invisible.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*\Z")
_ASCII_INVISIBLE = re.compile(r"[\x00-\x20\x7f\\]")


class UrlProblem(ValueError):
    """Why a base URL or a path cannot be fetched faithfully; the caller names the field."""


def canonical_base_url(value: str) -> str:
    """The canonical form of a request's ``baseUrl``, ending with ``/``."""
    if len(value) > MAX_BASE_URL_LENGTH:
        raise UrlProblem(f"is {len(value)} characters long, at most {MAX_BASE_URL_LENGTH} allowed")
    _refuse_invisible(value)
    if "?" in value or "#" in value:
        raise UrlProblem("must not contain a query or fragment ('?', '#')")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise UrlProblem(_parse_problem(error)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlProblem("must start with http:// or https://")
    if "@" in parts.netloc:
        raise UrlProblem("must not contain credentials (user:password@)")
    host = _canonical_host(parts.netloc, parts.hostname)
    if port == 0:
        raise UrlProblem("port must be from 1 to 65535")
    authority = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _canonical_segments(parts.path[1:], trailing_slash_allowed=True) if parts.path else ""
    return f"{scheme}://{authority}/{path}" + ("" if not path or path.endswith("/") else "/")


def canonical_path(path: str) -> str:
    """The canonical form of one of ``resourcePaths``: relative, with its query if it has one."""
    if len(path) > MAX_PATH_LENGTH:
        raise UrlProblem(f"is {len(path)} characters long, at most {MAX_PATH_LENGTH} allowed")
    if _SCHEME.match(path) or path.startswith("//"):
        raise UrlProblem("must be a path relative to baseUrl, not a URL")
    if path.startswith("/"):
        raise UrlProblem("must be relative to baseUrl (no leading '/')")
    _refuse_invisible(path)
    if "#" in path:
        raise UrlProblem("must not contain '#' (percent-encode it as %23)")
    raw_path, marker, raw_query = path.partition("?")
    if marker and not raw_query:
        raise UrlProblem("must not end with an empty query ('?')")
    canonical = _canonical_segments(raw_path, trailing_slash_allowed=False)
    if not canonical:
        raise UrlProblem("must name a resource, not only '.' segments")
    return canonical + (f"?{_normalise(raw_query, _QUERY_CHARS)}" if marker else "")


def canonical_url(base_url: str, path: str) -> str:
    """``canonical_base_url(base_url) + canonical_path(path)``."""
    return canonical_base_url(base_url) + canonical_path(path)


def _refuse_invisible(text: str) -> None:
    if text.isascii() and not _ASCII_INVISIBLE.search(text) and "%" not in text:
        return
    for character in text:
        if character.isspace() or unicodedata.category(character) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise UrlProblem(
                f"must not contain whitespace or control characters (found {_describe(character)}; "
                "percent-encode it)"
            )
    if "\\" in text:
        raise UrlProblem("must not contain '\\' (use '/' or percent-encode it as %5C)")
    if _LONE_PERCENT.search(text):
        raise UrlProblem("'%' must start a percent-encoding such as %25")


def _describe(character: str) -> str:
    return unicodedata.name(character, f"U+{ord(character):04X}").lower().replace("-", " ")


def _parse_problem(error: ValueError) -> str:
    text = str(error)
    if "port" in text.lower():
        return "port must be a number from 1 to 65535"
    return f"is not a valid URL ({text})"


def _canonical_host(netloc: str, hostname: str | None) -> str:
    if not hostname:
        raise UrlProblem("has no host")
    if netloc.startswith("["):
        try:
            address = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UrlProblem(f"host [{hostname}] is not an IPv6 address") from None
        return f"[{address.compressed}]"
    host = hostname.removesuffix(".")
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlProblem(f"host {host!r} is not a valid host name") from None
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in ascii_host.split(".")):
        raise UrlProblem(f"host {host!r} is not a valid host name")
    return ascii_host


def _canonical_segments(path: str, *, trailing_slash_allowed: bool) -> str:
    """Normalised segments joined by ``/``; ``.`` segments dropped, ``..`` and empty ones refused."""
    segments = path.split("/")
    if trailing_slash_allowed and segments[-1] == "":
        segments.pop()
    kept = []
    for segment in segments:
        normalised = _normalise(segment, _SEGMENT_CHARS)
        if normalised == "..":
            raise UrlProblem("must not contain '..'")
        if segment == "":
            raise UrlProblem("must not contain an empty segment ('//') or end with '/'")
        if normalised != ".":
            kept.append(normalised)
    return "/".join(kept)


def _normalise(component: str, allowed: frozenset[str]) -> str:
    """RFC 3986 normalisation of one component (no lone '%' left: checked before)."""
    if allowed is _SEGMENT_CHARS and _PLAIN_SEGMENT.match(component):
        return component
    out = []
    position = 0
    for match in _ESCAPE.finditer(component):
        out.append(_escape(component[position : match.start()], allowed))
        character = chr(int(match.group(1), 16))
        out.append(character if character in _UNRESERVED else match.group(0).upper())
        position = match.end()
    out.append(_escape(component[position:], allowed))
    return "".join(out)


def _escape(text: str, allowed: frozenset[str]) -> str:
    return "".join(
        character
        if character in allowed
        else "".join(f"%{byte:02X}" for byte in character.encode("utf-8", "surrogatepass"))
        for character in text
    )
