"""The benchmark's own runs still work against the handlers as they are (a broken bench hides regressions)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from bench.__main__ import REPO, child_env, import_report, run_child, start_aws_standin, start_server


@pytest.fixture(scope="module")
def bench_server_port() -> Iterator[int]:
    server, port = start_server(delay=0.0, small_count=8, large_bytes=1000)
    yield port
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def standin_port() -> Iterator[int]:
    standin, port = start_aws_standin()
    yield port
    standin.terminate()
    standin.wait(timeout=10)


def standin_counts(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__counts", timeout=10) as response:
        return json.load(response)


@pytest.mark.parametrize("sink", ["discard", "moto", "folder", "floor", "stdlib"])
def test_each_bench_sink_stores_every_image(bench_server_port: int, sink: str) -> None:
    figures = run_child(bench_server_port, sink, "small", n=5, concurrency=2, repeat=1)

    assert figures["succeeded"] == 5
    assert len(figures["walls"]) == 1
    assert len(figures["cpus"]) == 1 and figures["cpus"][0] > 0
    assert figures["peak_rss_bytes"] > 0


@pytest.mark.parametrize("sink", ["aws", "floor-aws", "floor-aws-batch"])
def test_the_sinks_against_the_aws_stand_in_store_and_record_every_image(
    bench_server_port: int, standin_port: int, sink: str
) -> None:
    before = standin_counts(standin_port)

    figures = run_child(bench_server_port, sink, "small", n=5, concurrency=2, repeat=2, aws_port=standin_port)

    after = standin_counts(standin_port)
    assert figures["succeeded"] == 5
    assert len(figures["cpus"]) == 2 and min(figures["cpus"]) > 0
    # Warm-up (2 images) + 2 repeats of 5, each put and recorded (the handler also puts batches, results).
    assert after["items"] - before["items"] == 2 + 2 * 5
    assert after["puts"] - before["puts"] >= 2 + 2 * 5


def test_import_report_times_a_fresh_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    import_report(count=1)

    out = capsys.readouterr().out
    assert "import image_downloader.download" in out
    cpu_ms = float(out.split("import image_downloader.download")[1].split("ms CPU")[0])
    assert cpu_ms > 0


def test_profile_names_the_engine_among_the_cumulative_entries(bench_server_port: int) -> None:
    command = [sys.executable, "-m", "bench.profile", "--port", str(bench_server_port), "--sink", "discard"]
    done = subprocess.run(
        [*command, "-n", "4", "-c", "2", "--repeat", "1", "--top", "40"],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=REPO,
        timeout=120,
        check=True,
    )

    assert "ms of profiled CPU per image (4 images)" in done.stdout
    cumulative = done.stdout.split("by cumulative CPU time")[1]
    assert "engine.py" in cumulative and "(process)" in cumulative
