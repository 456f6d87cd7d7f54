"""Ctrl-C or SIGTERM during a local run: the execution is stopped, the run folder holds what is known
(the images stored so far, what was not attempted), one line says so, the exit code is 130 or 143, no
traceback, within seconds (issue 18, row 11). A real process, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route

ROOT = Path(__file__).resolve().parent.parent
FAST = [f"fast/{index}.gif" for index in range(10)]
SLOW = [f"slow/{index}.gif" for index in range(20)]


def wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT (Ctrl-C)"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_a_signal_stops_the_execution_and_keeps_what_is_known(
    tmp_path: Path, image_server: ImageServer, signum: int, code: int, name: str
) -> None:
    for path in FAST:
        image_server.add_image(path)
    for path in SLOW:
        image_server.add(path, Route(body=flag_gif(path), delay=120))
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "baseUrl": image_server.base_url,
                "resourcePaths": FAST + SLOW,
                "lambdaConcur": 2,
                "batchSize": 10,
                "maxConcurrentBatches": 1,
            }
        )
    )
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_runner",
            "--input",
            str(request),
            "--allow-private-addresses",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(lambda: image_server.hits(SLOW[0]) > 0, 120)  # the fast batch is done, a slow one in flight
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == code, stderr
    assert "Traceback" not in stderr + stdout
    stopped = [line for line in stderr.splitlines() if line.startswith(f"{name}: the execution was stopped")]
    known = "10 stored, 0 failed, 20 not attempted"
    assert stopped == [f"{name}: the execution was stopped; {out}/ holds what is known: {known}"]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "ABORTED" and report["interrupted"] == f"stopped by {name}"
    assert (report["succeeded"], report["notAttempted"], report["imagesSaved"]) == (10, 20, 10)
    for path in FAST:
        assert (out / "images" / "127.0.0.1" / path).read_bytes() == flag_gif(path)
    assert len((out / "records.jsonl").read_text().splitlines()) == 10
