"""The benchmark's own runs still work against the handlers as they are (a broken bench hides regressions)."""

from __future__ import annotations

import pytest

from bench.__main__ import run_child, start_server


@pytest.fixture(scope="module")
def bench_server_port() -> int:
    server, port = start_server(delay=0.0, small_count=8, large_bytes=1000)
    yield port
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize("sink", ["discard", "moto", "folder"])
def test_each_bench_sink_stores_every_image(bench_server_port: int, sink: str) -> None:
    figures = run_child(bench_server_port, sink, "small", n=5, concurrency=2, repeat=1)

    assert figures["succeeded"] == 5
    assert len(figures["walls"]) == 1
    assert figures["peak_rss_bytes"] > 0
