"""Shared fixtures: a real local HTTP server and moto-backed AWS resources."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from moto import mock_aws
from moto.core.models import botocore_stubber

from image_downloader.engine import RetryPolicy
from image_downloader.keys import image_key
from image_downloader.redact import redact
from image_downloader.settings import DownloadSettings
from image_downloader.storage import AwsClients, aws_clients
from tests.support.image_server import ImageServer

# How the terraform tier configures pytest-terraform (replay without terraform, where its root is, the
# recording's module hash) and keeps tests/terraform/ on one xdist worker.
pytest_plugins = ["tests.terraform.plugin"]

# --- the terraform tier's own figure -----------------------------------------------------------------
# Here, not in tests/terraform/: with pytest-xdist the controller, which prints the summary, loads only
# this conftest.

TIER_MODULE = "tests/terraform/test_terraform_tier.py"
_tier_seconds: dict[str, float] = {}
_STARTED = time.time()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sum the time the tier's tests spent in setup, call and teardown (the fixtures that run terraform
    included); make test prints it at the end of the run."""
    if report.nodeid.startswith(TIER_MODULE):
        _tier_seconds["tier"] = _tier_seconds.get("tier", 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "tier" in _tier_seconds:
        terminalreporter.write_line(f"terraform tier: {_tier_seconds['tier']:.0f} s")
        # The permission ledger the tier wrote in this run (tests/terraform/test_terraform_tier.py).
        ledger = Path(__file__).resolve().parents[1] / "build" / "iam-ledger.txt"
        if ledger.is_file() and ledger.stat().st_mtime >= _STARTED:
            terminalreporter.write_sep("-", "IAM permission ledger (build/iam-ledger.txt)")
            terminalreporter.write(ledger.read_text())


# --- a real local HTTP server ------------------------------------------------------------------------


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _local_state(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's local runs keep their deployment state in a folder of the test's own, never in the
    repository's downloads/ (a test that runs twice on one state passes --state itself)."""
    monkeypatch.setenv("LOCAL_RUNNER_STATE", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so no test can reach a real AWS account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


# --- download engine: moto S3 + DynamoDB, test settings, the invariant, injected AWS faults ----------------

IMAGES_BUCKET = "images-bucket"
IMAGES_TABLE = "images"
# Retries as in production, only faster.
FAST_RETRIES = RetryPolicy(attempts=3, backoff_factor=0.02, backoff_cap_seconds=0.1, jitter_seconds=0.02)


class _RawBody(io.BytesIO):
    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield self.getvalue()


def _aws_error(request: Any, status: int, body: bytes, content_type: str) -> AWSResponse:
    headers = {"Content-Type": content_type, "x-amzn-RequestId": "injected"}
    return AWSResponse(request.url, status, headers, _RawBody(body))


@dataclass
class AwsWorld:
    """moto's S3 bucket and DynamoDB table, and what a user would look at in them."""

    s3: Any
    dynamodb: Any
    bucket: str = IMAGES_BUCKET
    table: str = IMAGES_TABLE

    def settings(self, **overrides: Any) -> DownloadSettings:
        """Settings for the local server: private addresses allowed, a 64 KiB limit, and socket timeouts
        long enough that a stall of this process under load (GIL, garbage collection, a busy CI machine)
        never turns an expected outcome into ``timeout``; tests of timeouts pass short ones."""
        values: dict[str, Any] = {
            "bucket_name": self.bucket,
            "table_name": self.table,
            "allow_private_addresses": True,
            "connect_timeout_seconds": 5.0,
            "read_timeout_seconds": 5.0,
            "max_image_bytes": 64 * 1024,
            "time_budget_margin_seconds": 1.0,
            "image_time_limit_seconds": 10.0,
        }
        return DownloadSettings(**{**values, **overrides})

    def clients(
        self,
        max_attempts: int = 4,
        s3_put_fails: Callable[[str], bool] | None = None,
        dynamodb_put_throttled: Callable[[str], bool] | None = None,
    ) -> AwsClients:
        """Fresh clients. S3 puts whose key matches ``s3_put_fails`` answer AccessDenied; DynamoDB puts whose
        url matches ``dynamodb_put_throttled`` answer ProvisionedThroughputExceeded (retried)."""
        config = Config(retries={"mode": "standard", "max_attempts": max_attempts}, max_pool_connections=50)
        clients = AwsClients(
            s3=boto3.client("s3", config=config), dynamodb=boto3.client("dynamodb", config=config)
        )
        for client, fault in ((clients.s3, s3_put_fails), (clients.dynamodb, dynamodb_put_throttled)):
            if fault is not None:
                _route_through_fault(client, fault)
        return clients

    def image_keys(self, prefix: str = "images/") -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def records(self) -> dict[str, dict[str, str]]:
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table)
        return {
            item["url"]["S"]: {name: next(iter(value.values())) for name, value in item.items()}
            for page in pages
            for item in page["Items"]
        }

    def report(self, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def assert_accounted_for(self, urls: list[str], result: dict) -> dict[str, dict]:
        """The invariant: every URL is stored in S3 and recorded in DynamoDB, or listed as failed with a
        reason in the batch's result object; never both, never neither. Returns the failures by URL."""
        listed = self.report(result["resultKey"])["failures"]
        failures = {failure["url"]: failure for failure in listed}  # reports show URLs redacted
        keys = self.image_keys()
        records = self.records()
        failures = {url: failures[redact(url)] for url in urls if redact(url) in failures}
        for url in urls:
            key = image_key("images/", url)
            stored = key in keys
            recorded = url in records
            if url in failures:
                assert failures[url]["reason"], f"{url}: failed without a reason"
                assert not stored, f"{url}: listed as failed ({failures[url]['reason']}) but stored at {key}"
                assert not recorded, f"{url}: listed as failed ({failures[url]['reason']}) but recorded"
            else:
                assert stored, f"{url}: neither failed nor stored"
                assert recorded, f"{url}: stored but not recorded in DynamoDB"
                assert records[url]["key"] == key
        assert result["requested"] == len(urls)
        assert result["failed"] == len(failures)
        assert result["succeeded"] == len(urls) - len(failures)
        return failures


def _object_key(url: str) -> str:
    path = unquote(urlsplit(url).path).lstrip("/")
    return path.removeprefix(f"{IMAGES_BUCKET}/")


def _route_through_fault(client: Any, fault: Callable[[str], bool]) -> None:
    """Put ``fault`` in front of moto on ``client``: a matching request never reaches moto."""

    def before_send(event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if "PutObject" in event_name and fault(_object_key(request.url)):
            body = b"<Error><Code>AccessDenied</Code><Message>injected fault</Message></Error>"
            return _aws_error(request, 403, body, "application/xml")
        if "PutItem" in event_name and fault(json.loads(request.body)["Item"]["url"]["S"]):
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "injected fault",
                }
            ).encode()
            return _aws_error(request, 400, body, "application/x-amz-json-1.0")
        return botocore_stubber(event_name=event_name, request=request, **kwargs)

    client.meta.events.unregister("before-send", botocore_stubber)
    client.meta.events.register("before-send", before_send)


@pytest.fixture
def aws() -> Iterator[AwsWorld]:
    """moto S3 + DynamoDB with the bucket and table of the download Lambda; no cached client survives."""
    aws_clients.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3")
        dynamodb = boto3.client("dynamodb")
        s3.create_bucket(Bucket=IMAGES_BUCKET)
        dynamodb.create_table(
            TableName=IMAGES_TABLE,
            KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield AwsWorld(s3=s3, dynamodb=dynamodb)
    aws_clients.cache_clear()
