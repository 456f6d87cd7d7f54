"""The local run enforces time as AWS does: each function's timeout (an invocation past it is abandoned
with Lambda's ``Sandbox.Timedout`` error; the Task's own ``TimeoutSeconds``, function timeout + 15 s,
gives ``States.Timeout`` in moto's interpreter), so a download Lambda that would overrun on AWS
overruns here too, and one slow server fails only its own URL."""

from __future__ import annotations

import json
import time
from typing import Any

from local_runner.dispatch import InvocationLog, dispatcher
from local_runner.emulator import DeploymentConfig, FunctionSpec, emulated_deployment
from local_runner.run import run_execution
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, trickle

GIF = flag_gif("slow")


def fast_config(**overrides: Any) -> DeploymentConfig:
    values: dict[str, Any] = {
        "allow_private_addresses": True,
        "connect_timeout_seconds": 2,
        "read_timeout_seconds": 2,
        "default_batch_size": 11,
    }
    return DeploymentConfig(**{**values, **overrides})


def test_an_invocation_past_the_function_timeout_is_abandoned_with_lambdas_error() -> None:
    def sleepy(event: dict, context: object) -> dict:
        time.sleep(3)
        return {"done": True}

    spec = FunctionSpec("download", "m.handler", 1, {})
    headers: dict[str, str] = {}
    invoke = dispatcher({"download": sleepy}, {"download": spec}, InvocationLog(), "local")
    started = time.monotonic()

    payload = json.loads(invoke(None, "local-download", None, b"{}", {}, headers))

    assert time.monotonic() - started < 2
    assert headers["x-amz-function-error"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]


def test_one_trickling_server_fails_its_url_and_the_batch_returns_in_time(image_server: ImageServer) -> None:
    paths = [f"ok/{index}.gif" for index in range(10)]
    for path in paths:
        image_server.add_image(path)
    image_server.add("trickle.gif", trickle(GIF, declared=100_000, first=10, every=1.0))
    config = fast_config(download_timeout_seconds=6, time_budget_margin_seconds=2, image_time_limit_seconds=2)

    with emulated_deployment(config) as deployment:
        request = {
            "baseUrl": image_server.base_url,
            "resourcePaths": [*paths, "trickle.gif"],
            "lambdaConcur": 4,
        }
        result = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=60)

    assert (result.status, result.error) == ("FAILED", "ImagesFailed")
    assert (result.summary["succeeded"], result.summary["failed"]) == (10, 1)
    [failure] = result.summary["failures"]
    assert failure["url"] == image_server.url("trickle.gif")
    assert failure["kind"] == "timed_out"
    assert len(result.stored_keys) == result.record_count == 10
    assert result.elapsed_seconds < 6
