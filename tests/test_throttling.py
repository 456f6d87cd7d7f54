"""Throttling, injected and survived (issue 19, item 3): each kind answers as AWS does (S3 503 SlowDown,
DynamoDB ProvisionedThroughputExceededException/ThrottlingException, Lambda TooManyRequestsException, seen
by the state machine as Lambda.TooManyRequestsException, Step Functions ThrottlingException), and a run
under each still stores and records every image, or fails a URL with its reason."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from local_runner.__main__ import parse_args
from local_runner.budgets import budgets_accounted
from local_runner.dispatch import InvocationLog, dispatcher
from local_runner.emulator import DeploymentConfig, FunctionSpec, emulated_deployment
from local_runner.limits import Recorder
from local_runner.run import RunResult, run_execution
from local_runner.throttling import ThrottlingPlan, ThrottlingSpecError, _Decisions, injected_throttling
from tests.support.image_server import ImageServer

CONFIG = DeploymentConfig(
    allow_private_addresses=True,
    default_batch_size=2,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
)
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def throttled_run(server: ImageServer, plan: ThrottlingPlan, paths: list[str]) -> tuple[RunResult, Any]:
    with emulated_deployment(CONFIG, throttling=plan) as deployment:
        request = {"baseUrl": server.base_url, "resourcePaths": paths, "lambdaConcur": 2}
        result = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=300)
        history = deployment.client("stepfunctions").get_execution_history(
            executionArn=f"{deployment.state_machine_arn.replace(':stateMachine:', ':execution:')}:"
            f"{result.execution_name}",
            maxResults=1000,
        )["events"]
    return result, history


def images(server: ImageServer, count: int) -> list[str]:
    paths = [f"t/{index}.gif" for index in range(count)]
    for path in paths:
        server.add_image(path)
    return paths


def assert_every_image_stored_and_recorded(result: RunResult, count: int) -> None:
    assert (result.status, result.error) == ("SUCCEEDED", None), result.cause
    assert (result.summary["succeeded"], result.summary["failed"]) == (count, 0)
    assert len(result.stored_keys) == result.record_count == count


def seed_with_a_run_of_throttles(name: str, fraction: float, run: int = 5, within: int = 10) -> int:
    """A seed whose decisions for ``name`` throttle ``run`` calls in a row early on: with one download
    thread those are one call's attempts, more than botocore's default of four allows."""
    for seed in range(10_000):
        drawn = random.Random(f"{seed}:{name}")
        throttled = [drawn.random() < fraction for _ in range(within + run)]
        if any(all(throttled[start : start + run]) for start in range(within)):
            return seed
    raise AssertionError("no such seed")


@pytest.mark.parametrize(("service", "operation"), [("s3", "PutObject"), ("dynamodb", "PutItem")])
def test_a_run_throttled_on_storage_stores_and_records_every_image(
    image_server: ImageServer, service: str, operation: str
) -> None:
    paths = images(image_server, 8)
    seed = seed_with_a_run_of_throttles(f"{service}.{operation}", 0.3)
    with emulated_deployment(CONFIG, throttling=ThrottlingPlan({service: 0.3}, seed)) as deployment:
        request = {
            "baseUrl": image_server.base_url,
            "resourcePaths": paths,
            "lambdaConcur": 1,
            "batchSize": 8,
        }
        result = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=300)

    assert result.figures.throttled[service] >= 5
    assert set(result.figures.throttled) == {service}
    assert_every_image_stored_and_recorded(result, len(paths))


def test_a_run_whose_step_functions_calls_are_throttled_stores_and_records_every_image(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 8)
    result, _history = throttled_run(image_server, ThrottlingPlan({"states": 0.3}, seed=1), paths)

    assert result.figures.throttled["states"] > 0
    assert set(result.figures.throttled) == {"states"}
    assert_every_image_stored_and_recorded(result, len(paths))


def first_throttling_seed(name: str, fraction: float) -> int:
    """A seed whose first decision for ``name`` throttles (the batch step's invocation, for Lambda)."""
    return next(seed for seed in range(100) if random.Random(f"{seed}:{name}").random() < fraction)


def test_a_throttled_invocation_is_lambda_too_many_requests_to_the_state_machine_and_is_retried(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 6)
    seed = first_throttling_seed("lambda.Invoke", 0.3)
    result, history = throttled_run(image_server, ThrottlingPlan({"lambda": 0.3}, seed=seed), paths)

    errors = [
        event["taskFailedEventDetails"]["error"] for event in history if "taskFailedEventDetails" in event
    ]
    assert "Lambda.TooManyRequestsException" in errors
    assert result.figures.throttled["lambda"] >= 1
    assert_every_image_stored_and_recorded(result, len(paths))


def test_under_every_kind_at_once_each_url_is_stored_and_recorded_or_failed_with_its_reason(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 10)
    plan = ThrottlingPlan.parse("s3=0.2,dynamodb=0.2,lambda=0.1,states=0.1", seed=7)
    result, _history = throttled_run(image_server, plan, [*paths, "missing/a.gif", "missing/b.gif"])

    assert (result.status, result.error) == ("FAILED", "ImagesFailed")
    assert (result.summary["succeeded"], result.summary["failed"]) == (10, 2)
    assert {failure["reason"] for failure in result.summary["failures"]} == {"404 Not Found"}
    assert len(result.stored_keys) == result.record_count == 10
    assert sum(result.figures.throttled.values()) > 0


@pytest.fixture
def throttled_moto() -> Iterator[Recorder]:
    """moto in-process with every throttleable call throttled (fraction just under 1)."""
    recorder = Recorder()
    plan = ThrottlingPlan(dict.fromkeys(("s3", "dynamodb", "lambda", "states"), 0.999999))
    with mock_aws(), budgets_accounted(), injected_throttling(plan, recorder):
        yield recorder


def in_a_function(call: Any) -> Any:
    """Run ``call`` as a Lambda invocation (the S3 and DynamoDB calls throttled are the functions')."""
    spec = FunctionSpec("download", "m.handler", 30, {}, memory_mb=1769)
    invoke = dispatcher({"download": lambda event, context: call()}, {"download": spec}, InvocationLog(), "x")
    return json.loads(invoke(None, "x-download", None, b"{}", {}, {}))


def error_of(call: Any) -> dict[str, Any]:
    try:
        call()
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    raise AssertionError("not throttled")


def test_each_kind_answers_with_the_error_aws_sends(throttled_moto: Recorder) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", config=NO_RETRIES)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", config=NO_RETRIES)

    def s3_put() -> dict[str, Any]:
        return error_of(lambda: s3.put_object(Bucket="b", Key="k", Body=b"x"))

    def dynamodb_puts() -> list[dict[str, Any]]:
        return [
            error_of(lambda: dynamodb.put_item(TableName="t", Item={"url": {"S": "u"}})) for _ in range(2)
        ]

    assert in_a_function(s3_put) == {"code": "SlowDown", "status": 503}
    assert {answer["code"] for answer in in_a_function(dynamodb_puts)} == {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    }
    lambda_client = boto3.client("lambda", region_name="us-east-1", config=NO_RETRIES)
    assert error_of(lambda: lambda_client.invoke(FunctionName="f", Payload=b"{}")) == {
        "code": "TooManyRequestsException",
        "status": 429,
    }
    sfn = boto3.client("stepfunctions", region_name="us-east-1", config=NO_RETRIES)
    assert error_of(lambda: sfn.list_state_machines())["code"] == "ThrottlingException"
    # Outside a function, S3 is Step Functions' own (ItemReader, ResultWriter): AWS retries it itself.
    s3.create_bucket(Bucket="integration-bucket")
    assert throttled_moto.take().throttled == {"s3": 1, "dynamodb": 2, "lambda": 1, "states": 1}


def test_the_same_seed_gives_the_same_decisions_and_another_seed_others() -> None:
    def decisions(seed: int) -> list[int | None]:
        drawn = _Decisions(ThrottlingPlan({"s3": 0.5}, seed))
        return [drawn.throttle("s3", "PutObject") for _ in range(40)]

    assert decisions(3) == decisions(3)
    assert decisions(3) != decisions(4)
    assert 0 < sum(1 for index in decisions(3) if index) < 40


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ec2=0.1", "'ec2' is not one of s3, dynamodb, lambda, states"),
        ("s3=lots", "s3='lots' is not a number"),
        ("s3=1", "s3=1 must be at least 0 and below 1"),
        ("", "give service=fraction pairs"),
    ],
)
def test_a_bad_throttling_spec_names_the_service_and_the_problem(
    text: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ThrottlingSpecError, match=problem.replace("(", r"\(")):
        ThrottlingPlan.parse(text)
    with pytest.raises(SystemExit) as exited:
        parse_args(["--inject-throttling", text])
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
