"""Lambda's budgets, emulated (local_runner/budgets.py): an invocation's CPU is scaled by its function's
vCPU share (memory_size / 1,769), so a handler that spins past that budget times out although it ran for
a fraction of its timeout here; one that allocates past its memory fails Runtime.OutOfMemory; one that
fills /tmp fails as a write to a full /tmp does on Lambda. Each has a control that stays within budget."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local_runner.budgets import budgets_accounted, summary_lines, vcpu_share
from local_runner.dispatch import InvocationLog, dispatcher
from local_runner.emulator import DeploymentConfig, FunctionSpec, emulated_deployment
from local_runner.limits import Recorder
from local_runner.run import run_execution
from tests.support.image_server import ImageServer

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _accounted() -> Iterator[None]:
    with budgets_accounted():
        yield


def spin(cpu_seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < cpu_seconds:
        pass


def invoke(handler: Any, **spec: Any) -> tuple[dict, dict[str, str], float, Recorder]:
    values = {"timeout_seconds": 1, "memory_mb": 128, **spec}
    function = FunctionSpec("download", "m.handler", values.pop("timeout_seconds"), {}, **values)
    headers: dict[str, str] = {}
    recorder = Recorder()
    call = dispatcher({"download": handler}, {"download": function}, InvocationLog(), "local", recorder)
    started = time.monotonic()
    payload = json.loads(call(None, "local-download", None, b"{}", {}, headers))
    return payload, headers, time.monotonic() - started, recorder


def test_a_handler_spinning_past_its_cpu_share_times_out_before_its_wall_timeout() -> None:
    # 0.1 CPU-s at 128 MB (0.072 vCPU) is 1.4 s on Lambda, past the 1 s timeout.
    payload, headers, _wall, recorder = invoke(lambda event, context: spin(0.1) or {"done": True})

    assert headers["x-amz-function-error"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    [verdict] = recorder.take().budget_verdicts
    assert verdict.emulated_seconds > 1
    assert verdict.cpu_seconds > vcpu_share(128) * 1  # ended as soon as it spent its 1 s of share


def test_the_cpu_of_the_threads_a_handler_starts_counts_to_its_invocation() -> None:
    def handler(event: dict, context: Any) -> dict:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(spin, [0.07, 0.07]))
        return {"done": True}

    payload, _headers, _wall, recorder = invoke(handler)
    assert payload["errorType"] == "Sandbox.Timedout"
    # The handler's own thread only waits: the CPU that broke its budget is its workers'.
    assert recorder.take().budget_verdicts[0].cpu_seconds > vcpu_share(128) * 1

    # The same work at 3,008 MB (1.7 vCPU) fits: the share, not the machine, decides.
    payload, headers, _wall, recorder = invoke(handler, memory_mb=3008)
    assert payload == {"done": True} and "x-amz-function-error" not in headers
    [verdict] = recorder.take().budget_verdicts
    assert verdict.error is None and verdict.cpu_seconds / vcpu_share(3008) < 1


def test_the_remaining_time_a_handler_sees_is_its_timeout_less_its_emulated_duration() -> None:
    def handler(event: dict, context: Any) -> dict:
        spin(0.036)  # 0.5 s at 0.072 vCPU
        return {"remaining": context.get_remaining_time_in_millis()}

    payload, *_ = invoke(handler, timeout_seconds=3)
    assert payload["remaining"] <= 3000 - 0.036 / vcpu_share(128) * 1000


def test_a_pool_kept_from_an_earlier_invocation_spends_its_cpu_in_the_later_one() -> None:
    # As the engine's download threads (image_downloader/workers.py): started in one invocation, they
    # serve the next; on Lambda every CPU second of the container is the running invocation's.
    kept = ThreadPoolExecutor(max_workers=2)
    try:
        first = invoke(lambda event, context: list(kept.map(spin, [0.001, 0.001])) and {"done": True})
        assert first[0] == {"done": True}

        payload, _headers, _wall, recorder = invoke(
            lambda event, context: list(kept.map(spin, [0.07, 0.07])) and {"done": True}
        )
        assert payload["errorType"] == "Sandbox.Timedout"
        assert recorder.take().budget_verdicts[0].cpu_seconds > vcpu_share(128) * 1
    finally:
        kept.shutdown()


def test_a_handler_allocating_past_its_memory_fails_out_of_memory() -> None:
    def handler(event: dict, context: Any) -> dict:
        held = b"\x01" * (200 * MB)
        time.sleep(0.2)
        return {"held": len(held)}

    payload, headers, _wall, recorder = invoke(handler, timeout_seconds=10)
    assert headers["x-amz-function-error"] == "Unhandled"
    assert payload["errorType"] == "Runtime.OutOfMemory"
    assert "of 128 MB" in payload["errorMessage"]
    assert recorder.take().budget_verdicts[0].peak_mb > 200

    payload, headers, _wall, _recorder = invoke(handler, timeout_seconds=10, memory_mb=1024)
    assert payload == {"held": 200 * MB} and "x-amz-function-error" not in headers


def test_a_handler_filling_tmp_past_its_ephemeral_storage_fails_as_a_full_tmp_does() -> None:
    folders: list[Path] = []
    abandoned = threading.Event()

    def handler(event: dict, context: Any) -> dict:
        folder = Path(tempfile.gettempdir())
        folders.append(folder)
        with (folder / "big").open("wb") as big:
            for _ in range(520):
                if abandoned.is_set():
                    break
                big.write(b"\x01" * MB)
        return {"written": True}

    payload, headers, _wall, recorder = invoke(handler, timeout_seconds=30, memory_mb=1769)
    abandoned.set()
    assert headers["x-amz-function-error"] == "Unhandled"
    assert payload["errorType"] == "OSError"
    assert payload["errorMessage"].startswith("[Errno 28] No space left on device")
    assert recorder.take().budget_verdicts[0].tmp_mb > 512
    assert folders[0] != Path(tempfile.gettempdir()) and folders[0].name.startswith("download-")
    shutil.rmtree(folders[0].parent, ignore_errors=True)  # the abandoned handler may still be writing


def test_a_local_run_prints_each_functions_emulated_gb_seconds_and_worst_margin(
    image_server: ImageServer,
) -> None:
    paths = [f"b/{index}.gif" for index in range(5)]
    for path in paths:
        image_server.add_image(path)
    config = DeploymentConfig(
        allow_private_addresses=True, connect_timeout_seconds=10, read_timeout_seconds=10
    )
    with emulated_deployment(config) as deployment:
        request = {
            "baseUrl": image_server.base_url,
            "resourcePaths": paths,
            "batchSize": 2,
            "lambdaConcur": 2,
        }
        result = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=60)

    assert result.status == "SUCCEEDED"
    verdicts = result.figures.budget_verdicts
    assert sorted({verdict.function for verdict in verdicts}) == ["batch", "consolidate", "download"]
    assert all(verdict.error is None for verdict in verdicts)
    lines = summary_lines(verdicts)
    assert [line.split(":")[0] for line in lines] == [
        f"Budget     {name}" for name in ("batch", "consolidate", "download")
    ]
    assert all("GB-s emulated" in line and "worst margin" in line for line in lines)
