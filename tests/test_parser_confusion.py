"""The allowlist and the address guard judge a URL as urllib3 sends it (issue 18, row 3): a redirect
that two URL parsers read differently reaches no other host. Two real servers: 127.0.0.1 (allowed)
and 127.0.0.2 (not allowed). And the local runner takes the allowlist (``--allowed-hosts``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_downloader.engine import Deadline, download_all
from local_runner.__main__ import main
from tests.conftest import FAST_RETRIES
from tests.support.engine_run import KeptUrls, loopback
from tests.support.image_server import ImageServer, Route

ONLY_127_0_0_1 = loopback(allowed_hosts=frozenset({"127.0.0.1"}))


@pytest.fixture
def other_host() -> Iterator[ImageServer]:
    with ImageServer(host="127.0.0.2") as server:
        yield server


def _authority(server: ImageServer) -> str:
    return server.base_url.split("://", 1)[1].rstrip("/")


def test_no_redirect_form_reaches_a_host_outside_the_allowlist(
    image_server: ImageServer, other_host: ImageServer
) -> None:
    allowed, other = _authority(image_server), _authority(other_host)
    other_host.add_image("ok/x.gif")
    image_server.add_image("ok/x.gif")
    locations = {
        "backslash": f"http://{other}\\@{allowed}/ok/x.gif",
        "backslash-tab": f"http://{other}\\\t@{allowed}/ok/x.gif",
        "double-backslash": f"http://{other}\\\\@{allowed}/ok/x.gif",
        "userinfo": f"http://{allowed}@{other}/ok/x.gif",
        "scheme-relative": f"//{other}/ok/x.gif",
        "tab-in-authority": f"http://{allowed}\t@{other}/ok/x.gif",
        "upper-case-scheme": f"HTTP://{other}/ok/x.gif",
        "mapped-ipv6": f"http://[::ffff:127.0.0.2]:{other.rsplit(':', 1)[1]}/ok/x.gif",
        "backslash-path": f"/\\{other}/ok/x.gif",
    }
    urls = [
        image_server.add(f"{name}.gif", Route(status=302, headers={"Location": location}))
        for name, location in locations.items()
    ]
    sink = KeptUrls()

    outcome = download_all(urls, 3, sink, ONLY_127_0_0_1, Deadline.after(30), policy=FAST_RETRIES)

    assert other_host.connections == 0, "a request reached 127.0.0.2"
    assert other_host.hits("ok/x.gif") == 0
    assert all(url.startswith(f"http://{allowed}/") for url in sink.final_urls)
    assert outcome.succeeded + outcome.failed == len(locations)
    backslash = next(failure for failure in outcome.failures if failure.url.endswith("/backslash.gif"))
    assert backslash.kind == "blocked"
    assert "ambiguous URL: the HTTP client reads its host as 127.0.0.2, other parsers as 127.0.0.1" in (
        backslash.reason
    )


def test_an_allowed_host_is_still_reached_by_a_redirect(image_server: ImageServer) -> None:
    image_server.add_image("ok/x.gif")
    url = image_server.add(
        "go.gif", Route(status=301, headers={"Location": f"{image_server.base_url}ok/x.gif"})
    )

    outcome = download_all([url], 1, KeptUrls(), ONLY_127_0_0_1, Deadline.after(30), policy=FAST_RETRIES)

    assert outcome.succeeded == 1
    assert image_server.hits("ok/x.gif") == 1


def test_the_local_runner_takes_an_allowlist(
    tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image_server.add_image("a/x.gif")
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps({"baseUrl": image_server.base_url, "resourcePaths": ["a/x.gif"], "lambdaConcur": 1})
    )
    common = ["--input", str(request), "--allow-private-addresses", "--quiet"]

    refused = main([*common, "--allowed-hosts", "localhost,example.com", "--out", str(tmp_path / "no")])
    allowed = main([*common, "--allowed-hosts", "example.com, 127.0.0.1", "--out", str(tmp_path / "yes")])

    assert refused == 1
    [failure] = json.loads((tmp_path / "no" / "report.json").read_text())["failures"]
    assert failure["kind"] == "blocked"
    assert "host 127.0.0.1 is not in ALLOWED_HOSTS" in failure["reason"]
    assert allowed == 0, capsys.readouterr().out
    assert image_server.hits("a/x.gif") == 1


def test_an_allowlist_does_not_refuse_the_bundled_samples(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["--samples", "--allowed-hosts", "example.com", "--quiet", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["failures"] == []


def test_the_local_runner_refuses_an_allowlist_entry_that_is_not_a_host(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--allowed-hosts", "https://example.com/", "--quiet"])

    assert exited.value.code == 2
    assert "bare host names such as example.com" in capsys.readouterr().err
