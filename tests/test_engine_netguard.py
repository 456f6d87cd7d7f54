"""The abuse guard: http(s) only, an optional host allowlist, and no private address, also after redirects.

The tests' server is on 127.0.0.1, so most tests turn the private-address refusal off explicitly; the ones
here prove what the default refuses. No test contacts any address other than 127.0.0.1: a guard that let
a connection to another address through fails the test before connecting (``only_loopback_connects``).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from urllib3.exceptions import SSLError

from image_downloader import netguard
from image_downloader.engine import BatchOutcome, Deadline, download_all
from image_downloader.netguard import Blocked, address_problem, check_url
from image_downloader.settings import DownloadSettings
from image_downloader.storage import DiscardSink
from tests.conftest import FAST_RETRIES
from tests.support.image_server import ImageServer, Route

DEFAULTS = DownloadSettings(
    bucket_name="b", table_name="t", connect_timeout_seconds=1, read_timeout_seconds=1
)
LOCAL = DownloadSettings(
    bucket_name="b",
    table_name="t",
    connect_timeout_seconds=1,
    read_timeout_seconds=1,
    allow_private_addresses=True,
)


@pytest.fixture(autouse=True)
def only_loopback_connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = netguard.urllib3_connection.create_connection

    def create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> object:
        assert address[0] == "127.0.0.1", f"the guard let a connection to {address[0]} through"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(netguard.urllib3_connection, "create_connection", create_connection)
    yield


def fetch(urls: list[str], settings: DownloadSettings) -> BatchOutcome:
    return download_all(urls, 2, DiscardSink(), settings, Deadline(), policy=FAST_RETRIES)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a01:203", "private"),
        ("2002:a01:203::1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_a_lambda_must_not_reach_are_named(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.gif", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http:///a.gif", "no host"),
        ("http://10.0.0.1/a.gif", "private address 10.0.0.1"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "link-local"),
    ],
)
def test_urls_are_refused_before_any_connection(url: str, message: str) -> None:
    with pytest.raises(Blocked, match=message):
        check_url(url, DEFAULTS)


def test_the_host_allowlist_refuses_other_hosts() -> None:
    allowlisted = DownloadSettings("b", "t", allowed_hosts=frozenset({"images.example.com"}))

    check_url("https://images.example.com/a.gif", allowlisted)
    with pytest.raises(Blocked, match=r"evil\.example\.com is not in ALLOWED_HOSTS"):
        check_url("https://evil.example.com/a.gif", allowlisted)


def test_by_default_loopback_is_refused_by_address_and_by_name(image_server: ImageServer) -> None:
    image_server.add_image("a.gif")
    by_name = image_server.url("a.gif").replace("127.0.0.1", "localhost")

    outcome = fetch([image_server.url("a.gif"), by_name], DEFAULTS)

    assert [failure.kind for failure in outcome.failures] == ["blocked", "blocked"]
    assert "loopback address 127.0.0.1" in outcome.failures[0].reason
    assert "localhost resolves to loopback address" in outcome.failures[1].reason
    assert image_server.hits("a.gif") == 0
    assert image_server.connections == 0


def test_by_default_a_redirect_to_a_private_address_is_refused(
    image_server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let the local server stand in for a public image host; every other private address stays refused.
    real = netguard.address_problem
    monkeypatch.setattr(
        netguard, "address_problem", lambda address: None if str(address) == "127.0.0.1" else real(address)
    )
    targets = {
        "to-metadata.gif": "http://169.254.169.254/latest/meta-data/iam/",
        "to-private.gif": "http://10.0.0.7:8080/admin",
        "to-mapped.gif": "http://[::ffff:192.168.0.1]/",
        "to-unspecified.gif": "http://0.0.0.0/",
        "to-file.gif": "file:///etc/passwd",
    }
    for path, location in targets.items():
        image_server.add(path, Route(status=302, body=b"", headers={"Location": location}))

    outcome = fetch([image_server.url(path) for path in targets], DEFAULTS)

    assert outcome.succeeded == 0
    assert [failure.kind for failure in outcome.failures] == ["blocked"] * len(targets)
    assert "(redirected to http://169.254.169.254/latest/meta-data/iam/)" in outcome.failures[0].reason
    assert "link-local address 169.254.169.254" in outcome.failures[0].reason
    assert "unspecified address 0.0.0.0" in outcome.failures[3].reason


def test_allowing_private_addresses_lets_the_local_server_through(image_server: ImageServer) -> None:
    image_server.add_image("a.gif")
    image_server.add("moved.gif", Route(status=301, body=b"", headers={"Location": "/a.gif"}))

    outcome = fetch([image_server.url("a.gif"), image_server.url("moved.gif")], LOCAL)

    assert outcome.failures == []
    assert outcome.succeeded == 2


def test_the_allowlist_is_checked_again_after_a_redirect(image_server: ImageServer) -> None:
    port = image_server.base_url.rsplit(":", 1)[1].rstrip("/")
    image_server.add_image("a.gif")
    image_server.add(
        "away.gif", Route(status=302, body=b"", headers={"Location": f"http://localhost:{port}/a.gif"})
    )
    settings = DownloadSettings(
        "b", "t", allow_private_addresses=True, allowed_hosts=frozenset({"127.0.0.1"})
    )

    outcome = fetch([image_server.url("a.gif"), image_server.url("away.gif")], settings)

    assert outcome.succeeded == 1
    [failure] = outcome.failures
    assert failure.kind == "blocked"
    assert "host localhost is not in ALLOWED_HOSTS" in failure.reason
    assert image_server.hits("a.gif") == 1


def test_redirects_are_bounded(image_server: ImageServer) -> None:
    image_server.add("loop.gif", Route(status=302, body=b"", headers={"Location": "/loop.gif"}))

    outcome = fetch([image_server.url("loop.gif")], LOCAL)

    [failure] = outcome.failures
    assert failure.kind == "http_status"
    assert "more than 5 redirects" in failure.reason
    assert image_server.hits("loop.gif") == 6


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS image server on 127.0.0.1 whose self-signed certificate names only ``localhost``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with ImageServer(tls=context) as server:
        server.add_image("a.gif")
        yield int(server.base_url.rsplit(":", 1)[1].rstrip("/")), cert_file


def test_checked_connections_keep_tls_verification_by_host_name(tls_server: tuple[int, Path]) -> None:
    port, ca_file = tls_server
    http = netguard.guarded_pool_manager(LOCAL, ca_certs=str(ca_file))

    assert http.request("GET", f"https://localhost:{port}/a.gif", retries=False).status == 200
    with pytest.raises(SSLError):  # connected to the right address, but the name does not match
        http.request("GET", f"https://127.0.0.1:{port}/a.gif", retries=False)
    with pytest.raises(Blocked, match="localhost resolves to loopback"):
        netguard.guarded_pool_manager(DEFAULTS, ca_certs=str(ca_file)).request(
            "GET", f"https://localhost:{port}/a.gif", retries=False
        )
