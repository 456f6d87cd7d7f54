"""The local run refuses what AWS refuses: each limit of docs/design.md ("Limits the local run enforces")
trips here, on the emulated deployment, just past the limit, and not just below it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_runner import limits
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.limits import (
    HISTORY_EVENT_LIMIT,
    S3_KEY_LIMIT_BYTES,
    S3_USER_METADATA_LIMIT_BYTES,
    STATE_PAYLOAD_LIMIT_BYTES,
)
from local_runner.run import run_execution
from tests.support.image_server import ImageServer

CONFIG = DeploymentConfig(allow_private_addresses=True, connect_timeout_seconds=10, read_timeout_seconds=10)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with emulated_deployment(CONFIG) as emulated:
        yield emulated


def run_definition(deployment: Deployment, definition: dict[str, Any], execution_input: Any) -> dict:
    """Create a state machine of ``definition`` next to the pipeline's, run it, return its description."""
    sfn = deployment.client("stepfunctions")
    name = f"probe-{time.monotonic_ns()}"
    arn = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)["roleArn"],
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))["executionArn"]
    deadline = time.monotonic() + 120
    while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the probe execution did not end"
        time.sleep(0.05)
    return description


def padded_request(server: ImageServer, size: int) -> dict:
    """A request whose JSON is exactly ``size`` bytes."""
    request = {"baseUrl": server.base_url, "resourcePaths": ["a.gif"], "lambdaConcur": 1, "batchSize": 1}
    request["resourcePaths"].append("")
    request["resourcePaths"][1] = "p" * (size - len(json.dumps(request).encode()))
    assert len(json.dumps(request).encode()) == size
    return request


def test_an_execution_input_over_256_kib_fails_with_data_limit_exceeded(
    deployment: Deployment, image_server: ImageServer
) -> None:
    request = padded_request(image_server, STATE_PAYLOAD_LIMIT_BYTES + 1)

    result = run_execution(
        deployment, request, poll_seconds=0.05, timeout_seconds=60, stage_large_inputs=False
    )

    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "ValidateAndBatch" in result.cause
    assert deployment.invocations.of("batch") == [] or "total" not in deployment.invocations.of("batch")[-1]


def test_a_lambda_payload_over_256_kib_fails_although_the_state_input_fits(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """ValidateAndBatch wraps the request in {"request", "executionName"}: an input just under the limit
    overflows the Task's payload. This is why the runner stages requests over 200 KiB."""
    request = padded_request(image_server, STATE_PAYLOAD_LIMIT_BYTES - 20)

    result = run_execution(
        deployment, request, poll_seconds=0.05, timeout_seconds=60, stage_large_inputs=False
    )

    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "the Lambda payload" in result.cause


def test_a_state_output_over_256_kib_fails_and_one_under_it_passes(deployment: Deployment) -> None:
    doubled = {
        "StartAt": "Double",
        "States": {"Double": {"Type": "Pass", "Parameters": {"a.$": "$.text", "b.$": "$.text"}, "End": True}},
    }
    over = run_definition(deployment, doubled, {"text": "x" * (STATE_PAYLOAD_LIMIT_BYTES // 2)})
    under = run_definition(deployment, doubled, {"text": "x" * (STATE_PAYLOAD_LIMIT_BYTES // 2 - 100)})

    assert (over["status"], over["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert under["status"] == "SUCCEEDED"


def map_of_passes(items: int) -> tuple[dict, dict]:
    """An inline Map of ``items`` Pass iterations: 4 history events per item."""
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 40,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Nothing",
                    "States": {"Nothing": {"Type": "Pass", "Result": 0, "End": True}},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }
    return definition, {"items": list(range(items))}


def assert_the_history_limit_trips_just_past(deployment: Deployment, limit: int) -> None:
    within = run_definition(deployment, *map_of_passes(limit // 4 - 20))
    over = run_definition(deployment, *map_of_passes(limit // 4 + 10))

    assert within["status"] == "SUCCEEDED"
    assert (over["status"], over["error"]) == ("FAILED", "States.Runtime")
    assert f"over the limit of {limit} events" in over["cause"]


def test_an_execution_history_over_the_limit_fails_the_execution(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of the 25,000-event limit, with the limit lowered to 2,000 so that it takes 1,000 Map
    iterations instead of 12,500 (the run at 25,000 itself: -m scale)."""
    monkeypatch.setattr(limits, "HISTORY_EVENT_LIMIT", 2_000)

    assert_the_history_limit_trips_just_past(deployment, 2_000)


@pytest.mark.scale
def test_an_execution_history_over_25000_events_fails_the_execution(deployment: Deployment) -> None:
    assert_the_history_limit_trips_just_past(deployment, HISTORY_EVENT_LIMIT)


def test_an_s3_key_over_1024_bytes_is_refused(deployment: Deployment) -> None:
    s3, bucket = deployment.client("s3"), deployment.config.bucket

    s3.put_object(Bucket=bucket, Key="k" * S3_KEY_LIMIT_BYTES, Body=b"fits")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="é" * (S3_KEY_LIMIT_BYTES // 2 + 1), Body=b"too long in UTF-8")

    assert refused.value.response["Error"]["Code"] == "KeyTooLongError"


def test_s3_user_metadata_over_2_kb_is_refused(deployment: Deployment) -> None:
    s3, bucket = deployment.client("s3"), deployment.config.bucket
    value = "v" * (S3_USER_METADATA_LIMIT_BYTES - len("source-url"))

    s3.put_object(Bucket=bucket, Key="meta/fits", Body=b"x", Metadata={"source-url": value})
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="meta/over", Body=b"x", Metadata={"source-url": value + "v"})

    assert refused.value.response["Error"]["Code"] == "MetadataTooLarge"
    assert "meta/over" not in {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}


def test_a_dynamodb_item_over_400_kb_and_a_key_over_2048_bytes_are_refused(deployment: Deployment) -> None:
    dynamodb, table = deployment.client("dynamodb"), deployment.config.table

    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        dynamodb.put_item(TableName=table, Item={"url": {"S": "u"}, "big": {"S": "x" * 400 * 1024}})
    with pytest.raises(ClientError, match="2048"):
        dynamodb.put_item(TableName=table, Item={"url": {"S": "u" * 2049}})
    dynamodb.put_item(TableName=table, Item={"url": {"S": "u" * 2048}})


def test_a_url_whose_key_would_be_too_long_is_refused_before_anything_is_downloaded(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """S3 would refuse the key (test_an_s3_key_over_1024_bytes_is_refused); the batch step finds it first
    (issue 9), so no byte is fetched for a URL that could not be stored."""
    long_path = "d/" + "n" * 1010 + ".gif"  # a valid path (<= 1024 characters); its key is over 1,024 bytes
    image_server.add_image(long_path)
    image_server.add_image("short.gif")

    result = run_execution(
        deployment,
        {"baseUrl": image_server.base_url, "resourcePaths": ["short.gif", long_path], "lambdaConcur": 2},
        poll_seconds=0.05,
        timeout_seconds=60,
    )

    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert result.refusal.message.startswith("resourcePaths[1]: cannot be stored: its S3 key")
    assert "S3 allows 1024" in result.refusal.problems[0]["problem"]
    assert image_server.hits("short.gif") == image_server.hits(long_path) == 0
