"""What the local run prints while it runs: progress off a terminal is a line every few seconds, not a
line per change; every notice about the request comes before the run (issue 21, item 2)."""

from __future__ import annotations

import io

from local_runner.console import ProgressLine, failure_hints, plural
from local_runner.emulator import DeploymentConfig, emulated_deployment
from local_runner.run import STAGE_ABOVE_BYTES, Progress, RunResult, run_execution


def test_off_a_terminal_progress_is_a_line_every_few_seconds_and_the_last_one() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream, every=3600)
    for done in range(1, 20_001):
        line(Progress(done=done, total=20_000, stored=done, failed=0))
    for done in range(1, 20_001):
        line.saving(done, 20_000)
    assert stream.getvalue().splitlines() == [
        "images 1/20000 (1 stored, 0 failed)",
        "images 20000/20000 (20000 stored, 0 failed)",
        "saving 20000/20000 images",
    ]


def test_every_notice_about_the_request_comes_before_the_run() -> None:
    events: list[str] = []
    paths = [f"p/{index:060d}.gif" for index in range(4000)]
    request = {"baseUrl": "https://example.com/", "resourcePaths": [*paths, 7], "lambdaConcur": 1}
    assert len(str(request)) > STAGE_ABOVE_BYTES
    with emulated_deployment(DeploymentConfig()) as deployment:
        result = run_execution(
            deployment,
            request,
            on_progress=lambda progress: events.append("progress"),
            on_notice=lambda notice: events.append(notice),
            poll_seconds=0.05,
            timeout_seconds=60,
        )
    assert result.error == "InvalidInput"
    assert events[0] == f"Request too large to send inline: paths staged at {result.staged_input}"
    assert events[1:] and set(events[1:]) == {"progress"}


def test_counts_are_singular_when_one() -> None:
    assert [plural(count, "object") for count in (0, 1, 2)] == ["0 objects", "1 object", "2 objects"]


def failed_with(*reasons: str) -> RunResult:
    failures = [{"url": f"https://h/{index}", "reason": reason} for index, reason in enumerate(reasons)]
    return RunResult("x", "FAILED", "ImagesFailed", None, None, {"failures": failures}, [])


def test_dns_failures_suggest_the_bundled_samples() -> None:
    hints = failure_hints(failed_with("DNS lookup failed for www.fluentpython.com"), DeploymentConfig())
    assert hints == [
        "DNS lookups failed: offline? SAMPLES=1 (make run) or --samples serves the request's paths from the "
        "bundled sample images on 127.0.0.1"
    ]


def test_the_private_address_hint_is_only_for_a_run_without_the_flag() -> None:
    result = failed_with("blocked: loopback address 127.0.0.1")
    assert "ALLOW_PRIVATE=1" in failure_hints(result, DeploymentConfig())[0]
    assert failure_hints(result, DeploymentConfig(allow_private_addresses=True)) == []
    assert failure_hints(failed_with("404 Not Found"), DeploymentConfig()) == []
