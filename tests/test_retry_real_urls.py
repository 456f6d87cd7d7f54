"""``retryFailuresOf`` requests the failed URLs as they were requested, not as the report masks them
(issue 18, row 5), and a missing list reads as S3 answers it without s3:ListBucket (issue 17)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import boto3
import pytest
from botocore.stub import Stubber

from image_downloader.batch import AwsReruns, parse_rerun
from image_downloader.errors import InvalidInput
from image_downloader.settings import BatchSettings
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.run import run_execution
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route

CONFIG = DeploymentConfig(
    allow_private_addresses=True,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
    time_budget_margin_seconds=1,
)


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with emulated_deployment(CONFIG) as emulated:
        yield emulated


class _FailsFirstTime:
    """404 for the first request of each full path (query included), the image afterwards; it keeps
    every request line it got."""

    def __init__(self) -> None:
        self.requested: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requested[handler.path] += 1
            first = self.requested[handler.path] == 1
        route = (
            Route(status=404, body=b"no", content_type="text/plain") if first else Route(body=flag_gif("x"))
        )
        handler.send_route(route)  # type: ignore[attr-defined]


def test_a_retry_requests_the_real_urls_with_their_tokens_and_never_collapses_two(
    deployment: Deployment, image_server: ImageServer
) -> None:
    server = _FailsFirstTime()
    image_server.add("x.gif", server)
    paths = ["x.gif?token=one-s3cret", "x.gif?token=two-s3cret"]  # both mask to x.gif?token=***
    request = {"baseUrl": image_server.base_url, "resourcePaths": paths, "lambdaConcur": 2}

    first = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=120)
    retry = {"retryFailuresOf": first.execution_name, "lambdaConcur": 2}
    retried = run_execution(deployment, retry, poll_seconds=0.05, timeout_seconds=120)

    assert first.summary is not None and first.summary["failed"] == 2
    assert retried.status == "SUCCEEDED", retried.cause
    assert retried.summary is not None
    assert (retried.summary["requested"], retried.summary["succeeded"]) == (2, 2)
    assert server.requested == {"/x.gif?token=one-s3cret": 2, "/x.gif?token=two-s3cret": 2}
    table = deployment.client("dynamodb")
    for path in paths:
        item = table.get_item(TableName=deployment.config.table, Key={"url": {"S": image_server.url(path)}})
        assert "Item" in item, path


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("NoSuchKey", 404)])
def test_an_unknown_execution_is_invalid_input_even_when_s3_answers_access_denied(
    code: str, status: int
) -> None:
    """Without s3:ListBucket (the batch role has none) S3 answers a GetObject of a missing key with 403
    AccessDenied; moto answers NoSuchKey whatever the policy, so botocore's Stubber gives S3's answer."""
    s3 = boto3.client("s3", region_name="us-east-1")
    settings = BatchSettings(bucket_name="images", table_name="t")
    with Stubber(s3) as stub:
        stub.add_client_error(
            "get_object",
            service_error_code=code,
            service_message="Access Denied" if status == 403 else "The specified key does not exist.",
            http_status_code=status,
            expected_params={"Bucket": "images", "Key": "runs/never-ran/failed-urls.json"},
        )
        with pytest.raises(InvalidInput, match=r"^retryFailuresOf: execution 'never-ran' has no report"):
            parse_rerun(
                {"retryFailuresOf": "never-ran", "lambdaConcur": 2}, settings, None, AwsReruns(settings, s3)
            )
        stub.assert_no_pending_responses()
