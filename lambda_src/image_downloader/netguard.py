"""Abuse guard: which URLs may be fetched and which addresses may be connected to.

Two checks, both raising ``Blocked``:
- ``check_url`` before every request, including each redirect hop: scheme, host allowlist, and literal
  IP hosts, judged on the URL as urllib3 parses it to send it (``parse_url``); a URL whose host another
  parser reads differently (``http://a\\@b/``: urllib3 connects to ``a``, ``urlsplit`` reads ``b``) is
  refused, so no check anywhere can be led to judge another host than the one connected to;
- the connection classes of ``guarded_pool_manager`` resolve the host themselves and connect only to an
  address that passed the address policy. The check therefore applies to the address actually connected
  to, so a DNS answer that changes between a check and the connect (DNS rebinding) cannot slip through.
  TLS still verifies the certificate against the host name (SNI and ``Host`` are unchanged).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NewConnectionError
from urllib3.util import Url, parse_url
from urllib3.util import connection as urllib3_connection

from image_downloader.headers import capped_response_class
from image_downloader.settings import DownloadSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Blocked(Exception):
    """The URL or the address it resolves to is not allowed. Deliberately not an ``OSError``, so that
    urllib3 neither retries it nor wraps it."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False

    def check(self, address: IPAddress, host: str) -> None:
        if self.allow_private:
            return
        problem = address_problem(address)
        if problem:
            named = "" if host == str(address) else f"{host} resolves to "
            raise Blocked(f"{named}{problem} address {address}")


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached from a Lambda (``"private"``, ...), or ``None`` if it may."""
    for embedded in _embedded_ipv4(address):
        problem = address_problem(embedded)
        if problem:
            return problem
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): they route to IPv4 hosts."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ipv4 for ipv4 in found if ipv4 is not None]


def check_url(url: str, settings: DownloadSettings) -> Url:
    """Refuse a URL that is not http(s), names a host outside the allowlist, or a forbidden IP literal;
    ``url`` as urllib3 will send it."""
    try:
        parts = parse_url(url)  # what PoolManager.request connects to and sends
    except LocationParseError:
        raise Blocked("the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https"):
        raise Blocked(f"only http and https URLs are allowed, not {parts.scheme or 'no scheme'!r}")
    host = (parts.host or "").strip("[]").rstrip(".").lower()
    if not host:
        raise Blocked("the URL has no host")
    other = _split_host(url)
    if other != host:
        raise Blocked(f"ambiguous URL: the HTTP client reads its host as {host}, other parsers as {other}")
    if settings.allowed_hosts and host not in settings.allowed_hosts:
        raise Blocked(f"host {host} is not in ALLOWED_HOSTS")
    literal = _ip_literal(host)
    if literal is not None:
        AddressPolicy(settings.allow_private_addresses).check(literal, host)
    return parts


def _split_host(url: str) -> str | None:
    """The host ``urllib.parse`` reads, IDNA-encoded as urllib3 encodes it."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
        return host.encode("idna").decode("ascii").lower() or None
    except (ValueError, UnicodeError):
        return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class _CheckedConnect:
    """Mixin for urllib3 connections: resolve, keep only permitted addresses, connect to one of them."""

    address_policy = AddressPolicy()

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.strip("[]")  # type: ignore[attr-defined]
        last_error: OSError | None = None
        for address in self._permitted_addresses(host):
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),  # type: ignore[attr-defined]
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except OSError as error:
                last_error = error
        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {host} timed out") from last_error
        why = getattr(last_error, "strerror", None) or str(last_error)
        raise NewConnectionError(self, f"could not connect to {host}: {why}") from last_error

    def _permitted_addresses(self, host: str) -> list[str]:
        try:
            infos = socket.getaddrinfo(
                host,
                self.port,  # type: ignore[attr-defined]
                urllib3_connection.allowed_gai_family(),
                socket.SOCK_STREAM,
            )
        except socket.gaierror as error:
            raise NewConnectionError(self, f"DNS lookup failed for {host}") from error
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        permitted: list[str] = []
        refusal: Blocked | None = None
        for address in addresses:
            try:
                self.address_policy.check(ipaddress.ip_address(address.split("%", 1)[0]), host)
            except Blocked as blocked:
                refusal = refusal or blocked
            else:
                permitted.append(address)
        if not permitted:
            raise refusal or Blocked(f"{host} resolves to no address")
        return permitted


@functools.cache
def _pool_classes(policy: AddressPolicy, max_header_bytes: int) -> dict[str, type[HTTPConnectionPool]]:
    attrs = {"address_policy": policy, "response_class": capped_response_class(max_header_bytes)}
    http_conn = type("CheckedHTTPConnection", (_CheckedConnect, HTTPConnection), attrs)
    https_conn = type("CheckedHTTPSConnection", (_CheckedConnect, HTTPSConnection), attrs)
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


def guarded_pool_manager(settings: DownloadSettings, **pool_kw: object) -> PoolManager:
    """A ``PoolManager`` whose connections only ever reach addresses the settings allow, and read at
    most ``max_header_bytes`` of a response's head (``headers.py``)."""
    manager = PoolManager(**pool_kw)  # type: ignore[arg-type]
    policy = AddressPolicy(settings.allow_private_addresses)
    manager.pool_classes_by_scheme = _pool_classes(policy, settings.max_header_bytes)
    return manager
