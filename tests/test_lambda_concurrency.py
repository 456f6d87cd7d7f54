"""Lambda's concurrency, enforced in the local run: an invocation past the function's reserved concurrency
(lambda.download.reserved_concurrency) or past the account's unreserved pool is throttled with
TooManyRequestsException (429), as on AWS; and map_max_concurrency may not exceed the reservation."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_runner.dispatch import Concurrency, TooManyRequests
from local_runner.emulator import DeploymentConfig, FunctionSpec, emulated_deployment

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def test_an_invocation_past_the_reserved_concurrency_is_throttled_with_429() -> None:
    config = DeploymentConfig(map_max_concurrency=1, download_reserved_concurrency=1)
    holding, release = threading.Event(), threading.Event()
    with emulated_deployment(config) as deployment:

        def hold(name: str, event: dict) -> bool:
            if event.get("hold"):
                holding.set()
                release.wait(10)
            return False

        deployment.invocations.crash_when = hold
        client = boto3.client("lambda", region_name="us-east-1", config=NO_RETRIES)
        function = deployment.function_arns["download"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(client.invoke, FunctionName=function, Payload=json.dumps({"hold": True}))
            assert holding.wait(10)
            with pytest.raises(ClientError) as throttled:
                client.invoke(FunctionName=function, Payload=b"{}")
            release.set()
            first.result()
        # Once the first has returned, the slot is free again.
        answered = client.invoke(FunctionName=function, Payload=b"{}")

    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "ReservedFunctionConcurrentInvocationLimitExceeded" in throttled.value.response["Error"]["Message"]
    assert answered["StatusCode"] == 200  # a function error (the event is no batch), not a throttle


def test_the_account_pool_less_every_reservation_bounds_the_other_functions() -> None:
    specs = {
        "download": FunctionSpec("download", "m.h", 1, {}, reserved_concurrency=998),
        "batch": FunctionSpec("batch", "m.h", 1, {}),
        "consolidate": FunctionSpec("consolidate", "m.h", 1, {}),
    }
    concurrency = Concurrency(specs, account_limit=1000)
    with concurrency.slot("batch"), concurrency.slot("consolidate"):
        with (
            pytest.raises(TooManyRequests, match="ConcurrentInvocationLimitExceeded"),
            concurrency.slot("batch"),
        ):
            pass
        with concurrency.slot("download"):  # its own reservation is untouched
            pass


def test_map_concurrency_over_the_reservation_is_refused_naming_both() -> None:
    with pytest.raises(
        ValueError, match=r"map_max_concurrency \(10\) exceeds lambda.download.reserved_concurrency \(5\)"
    ):
        DeploymentConfig(map_max_concurrency=10, download_reserved_concurrency=5)
    assert (
        DeploymentConfig(map_max_concurrency=5, download_reserved_concurrency=5)
        .functions()[1]
        .reserved_concurrency
        == 5
    )
