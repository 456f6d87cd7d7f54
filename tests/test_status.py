"""GET /executions/{name} under IAM as S3 enforces it: the status function may read report keys but not list
the bucket, so S3 answers a GetObject of a report that was never written with 403 AccessDenied, not 404
(S3 API reference, GetObject). The route must still answer 200 with the execution's status and cause.

moto, even with its authorization on, answers NoSuchKey for a missing key whatever the caller may list.
The reader here is granted ``s3:GetObject`` on each report key that exists, and on no other: moto's own
policy check then denies the missing report with the 403 AccessDenied that S3 sends a caller without
``s3:ListBucket``, while every report that exists stays readable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import set_initial_no_auth_action_count

from image_downloader import status
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.run import RunResult, run_execution
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route

T = TypeVar("T")
REPORT_PREFIX = "reports/"
TEST_CONFIG = DeploymentConfig(
    allow_private_addresses=True,
    default_batch_size=5,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
    time_budget_margin_seconds=1,
)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with emulated_deployment(TEST_CONFIG) as emulated:
        yield emulated


def run(deployment: Deployment, server: ImageServer, paths: list[str], **fields: Any) -> RunResult:
    request = {"baseUrl": server.base_url, "resourcePaths": paths, "lambdaConcur": 4, **fields}
    return run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=120)


def stopped_execution(deployment: Deployment, server: ImageServer) -> str:
    """An execution stopped while its download waits on a slow image."""
    sfn = deployment.client("stepfunctions")
    server.add("slow.gif", Route(body=flag_gif("slow.gif"), delay=1.5))
    name = f"stopped-{time.time_ns()}"
    request = {"baseUrl": server.base_url, "resourcePaths": ["slow.gif"], "lambdaConcur": 1}
    arn = sfn.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=name, input=json.dumps(request)
    )
    deadline = time.monotonic() + 30
    while not server.hits("slow.gif"):
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    sfn.stop_execution(executionArn=arn["executionArn"], cause="stopped by the test")
    while sfn.describe_execution(executionArn=arn["executionArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline + 30, "the stopped execution never ended"
        time.sleep(0.05)
    return name


def reader_credentials(deployment: Deployment, report_keys: list[str]) -> dict[str, str]:
    """Keys of a user allowed the status function's calls, with S3's answer to a caller that cannot list."""
    iam = deployment.client("iam")
    bucket = deployment.config.bucket
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            # moto judges every Step Functions call on resource "*"; this test is about S3.
            {
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:ListMapRuns", "states:DescribeMapRun"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{bucket}/{key}" for key in report_keys],
            },
        ],
    }
    iam.create_user(UserName="status-reader")
    iam.put_user_policy(UserName="status-reader", PolicyName="status", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="status-reader")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def enforced(call: Callable[[], T]) -> T:
    """``call()`` with moto checking every request against the caller's IAM policies."""
    return set_initial_no_auth_action_count(0)(call)()


def status_route(name: str) -> dict[str, Any]:
    response = status.handler({"pathParameters": {"name": name}}, None)
    return {"statusCode": response["statusCode"], **json.loads(response["body"])}


def test_status_answers_200_with_the_cause_for_executions_that_ended_without_a_report(
    deployment: Deployment, image_server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_server.add_image("ok.gif")
    invalid = run(deployment, image_server, ["ok.gif", "../secret"], lambdaConcur=0)
    failed = run(deployment, image_server, ["ok.gif", "zz/missing.gif"])
    stopped = stopped_execution(deployment, image_server)
    assert (invalid.error, failed.error) == ("InvalidInput", "ImagesFailed")
    s3 = deployment.client("s3")
    bucket = deployment.config.bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=REPORT_PREFIX).get("Contents", [])
    report_keys = [item["Key"] for item in listed]
    assert report_keys == [f"{REPORT_PREFIX}{failed.execution_name}.json"]
    for name, value in {
        **reader_credentials(deployment, report_keys),
        "STATE_MACHINE_ARN": deployment.state_machine_arn,
        "BUCKET_NAME": bucket,
        "REPORT_KEY_PREFIX": REPORT_PREFIX,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    def missing_report_error() -> str:
        with pytest.raises(ClientError) as denied:
            boto3.client("s3").get_object(Bucket=bucket, Key=f"{REPORT_PREFIX}{invalid.execution_name}.json")
        return denied.value.response["Error"]["Code"]

    assert enforced(missing_report_error) == "AccessDenied"
    answers = enforced(lambda: {name: status_route(name) for name in (invalid.execution_name, stopped)})
    with_report = enforced(lambda: status_route(failed.execution_name))

    for answer in answers.values():
        assert answer["statusCode"] == 200, answer
        assert answer["status"] in ("FAILED", "ABORTED") and answer["report"] is None
    assert (answers[invalid.execution_name]["status"], answers[invalid.execution_name]["error"]) == (
        "FAILED",
        "InvalidInput",
    )
    assert "lambdaConcur: 0 is out of range" in answers[invalid.execution_name]["cause"]
    assert (with_report["statusCode"], with_report["status"]) == (200, "FAILED")
    assert with_report["report"]["key"] == report_keys[0]
    assert with_report["counts"] == {"requested": 2, "succeeded": 1, "failed": 1, "skipped": 0}
