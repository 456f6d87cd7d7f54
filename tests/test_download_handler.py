"""The download Lambda's contract (docs/design.md): a batch key in, counts out; the batch read from S3,
images in S3, records in DynamoDB, and the batch's result (every failure) written next to the batch."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from image_downloader.download import handler
from image_downloader.errors import ConfigurationError, InvalidInput
from image_downloader.settings import download_settings_from_env
from local_runner.sample_images import flag_gif
from tests.conftest import AwsWorld
from tests.support.image_server import ImageServer, Route


class FakeContext:
    def __init__(self, remaining_seconds: float) -> None:
        self.remaining_seconds = remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_seconds * 1000)


LAMBDA_CONTEXT = FakeContext(remaining_seconds=300)


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, aws: AwsWorld) -> AwsWorld:
    for name, value in {
        "BUCKET_NAME": aws.bucket,
        "TABLE_NAME": aws.table,
        "ALLOW_PRIVATE_ADDRESSES": "true",
        "CONNECT_TIMEOUT_SECONDS": "1",
        "READ_TIMEOUT_SECONDS": "1",
        "TIME_BUDGET_MARGIN_SECONDS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    return aws


def event(
    aws: AwsWorld,
    server: ImageServer,
    paths: list[str],
    concurrency: int = 4,
    index: int = 0,
    **batch: object,
) -> dict:
    """Write the batch where ValidateAndBatch would, and return the Distributed Map's item for it."""
    key = f"runs/exec-1/batches/{index:05d}.json"
    document = {
        "batchIndex": index,
        "baseUrl": server.base_url,
        "lambdaConcur": concurrency,
        "resourcePaths": paths,
    }
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=json.dumps({**document, **batch}))
    return {
        "batchIndex": index,
        "batchKey": key,
        "executionName": "exec-1",
        "executionId": "arn:aws:states:us-east-1:123456789012:execution:images:exec-1",
    }


def test_every_image_is_stored_and_recorded_and_the_result_has_only_counts(
    image_server: ImageServer, lambda_env: AwsWorld
) -> None:
    paths = ["cn/cn.gif", "in/in.gif", "us/us.gif"]
    bodies = {path: flag_gif(path) for path in paths}
    for path, body in bodies.items():
        image_server.add_image(path, body)

    result = handler(event(lambda_env, image_server, paths), LAMBDA_CONTEXT)

    assert result == {
        "batchIndex": 0,
        "requested": 3,
        "succeeded": 3,
        "failed": 0,
        "bytes": sum(len(body) for body in bodies.values()),
        "resultKey": "runs/exec-1/results/00000.json",
    }
    assert lambda_env.report(result["resultKey"])["failures"] == []
    host = "http/" + image_server.base_url.removeprefix("http://").rstrip("/")
    records = lambda_env.records()
    for path, body in bodies.items():
        url = image_server.url(path)
        key = f"images/{host}/{path}"
        stored = lambda_env.s3.get_object(Bucket=lambda_env.bucket, Key=key, ChecksumMode="ENABLED")
        digest = hashlib.sha256(body).digest()
        assert stored["Body"].read() == body
        assert stored["ContentType"] == "image/gif"
        assert stored["Metadata"] == {"sha256": digest.hex(), "source-url": url}
        assert stored["ChecksumSHA256"] == base64.b64encode(digest).decode()
        record = records[url]
        assert record.pop("downloadedAt").endswith("Z")
        assert len(record.pop("writeId")) == 32
        assert record == {
            "url": url,
            "bucket": lambda_env.bucket,
            "key": key,
            "size": str(len(body)),
            "contentType": "image/gif",
            "sha256": digest.hex(),
            "executionId": "arn:aws:states:us-east-1:123456789012:execution:images:exec-1",
        }


def test_same_basename_in_two_folders_keeps_both(image_server: ImageServer, lambda_env: AwsWorld) -> None:
    paths = ["a/x.gif", "b/x.gif"]
    for path in paths:
        image_server.add_image(path)

    result = handler(event(lambda_env, image_server, paths), LAMBDA_CONTEXT)

    assert result["succeeded"] == 2
    host = "http/" + image_server.base_url.removeprefix("http://").rstrip("/")
    assert lambda_env.image_keys() == {f"images/{host}/a/x.gif", f"images/{host}/b/x.gif"}
    first, second = (
        lambda_env.s3.get_object(Bucket=lambda_env.bucket, Key=key) for key in sorted(lambda_env.image_keys())
    )
    assert first["Body"].read() != second["Body"].read()


def test_query_strings_are_kept_in_the_key(image_server: ImageServer, lambda_env: AwsWorld) -> None:
    image_server.add_image("img.gif")

    result = handler(
        event(lambda_env, image_server, ["img.gif?size=small", "img.gif?size=large"]), LAMBDA_CONTEXT
    )

    assert result["succeeded"] == 2
    host = "http/" + image_server.base_url.removeprefix("http://").rstrip("/")
    assert lambda_env.image_keys() == {
        f"images/{host}/img.gif?size=small",
        f"images/{host}/img.gif?size=large",
    }


def test_failed_urls_are_reported_in_s3_with_a_human_reason(
    image_server: ImageServer, lambda_env: AwsWorld
) -> None:
    image_server.add_image("cn/cn.gif")
    image_server.add("page.gif", Route(body=b"<html></html>", content_type="text/html"))
    paths = ["cn/cn.gif", "zz/zz.gif", "page.gif"]

    result = handler(event(lambda_env, image_server, paths, index=7), LAMBDA_CONTEXT)

    assert result["resultKey"] == "runs/exec-1/results/00007.json"
    assert (result["succeeded"], result["failed"]) == (1, 2)
    report = lambda_env.report(result["resultKey"])
    assert report["executionName"] == "exec-1"
    assert report["batchIndex"] == 7
    missing = image_server.url("zz/zz.gif")
    assert report["failures"][0] == {
        "url": missing,
        "kind": "http_status",
        "status": 404,
        "reason": "404 Not Found",
    }
    assert report["failures"][1]["kind"] == "not_image"
    assert "text/html" in report["failures"][1]["reason"]
    lambda_env.assert_accounted_for([image_server.url(path) for path in paths], result)


def test_the_result_stays_small_for_a_large_batch(image_server: ImageServer, lambda_env: AwsWorld) -> None:
    paths = [f"missing/{index}.gif" for index in range(300)]

    result = handler(event(lambda_env, image_server, paths, concurrency=20), LAMBDA_CONTEXT)

    assert result["failed"] == 300
    assert len(json.dumps(result)) < 200
    assert len(lambda_env.report(result["resultKey"])["failures"]) == 300


def test_urls_left_when_the_time_budget_runs_out_are_reported_not_attempted(
    image_server: ImageServer, lambda_env: AwsWorld
) -> None:
    image_server.add_image("cn/cn.gif")

    result = handler(event(lambda_env, image_server, ["cn/cn.gif"]), FakeContext(remaining_seconds=4))

    assert result["failed"] == 1
    [failure] = lambda_env.report(result["resultKey"])["failures"]
    assert failure["kind"] == "time_budget"
    assert failure["reason"] == "not attempted: time budget"
    assert image_server.hits("cn/cn.gif") == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batchIndex": -1}, "batchIndex"),
        ({"executionName": ""}, "executionName"),
        (
            {"batchKey": "runs/other-execution/batches/00000.json"},
            "batchKey: .* is not a batch of this execution",
        ),
        ({"batchKey": "runs/exec-1/../other/batches/00000.json"}, "is not a batch of this execution"),
    ],
)
def test_a_malformed_event_raises_invalid_input_naming_the_field(
    image_server: ImageServer, lambda_env: AwsWorld, change: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        handler({**event(lambda_env, image_server, ["a.gif"]), **change}, LAMBDA_CONTEXT)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"resourcePaths": "a.gif"}, "resourcePaths: must be a list"),
        ({"resourcePaths": ["a.gif", 3]}, "resourcePaths[1]"),
        ({"lambdaConcur": None}, "runs/exec-1/batches/00000.json: lambdaConcur"),
        ({"baseUrl": ""}, "runs/exec-1/batches/00000.json: baseUrl"),
    ],
)
def test_a_malformed_batch_object_raises_invalid_input_naming_the_field(
    image_server: ImageServer, lambda_env: AwsWorld, batch: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[")):
        handler(event(lambda_env, image_server, ["a.gif"], **batch), LAMBDA_CONTEXT)


def test_a_missing_bucket_setting_is_a_configuration_error(
    image_server: ImageServer, lambda_env: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = event(lambda_env, image_server, ["a.gif"])
    monkeypatch.delenv("BUCKET_NAME")

    with pytest.raises(ConfigurationError, match="BUCKET_NAME"):
        handler(item, LAMBDA_CONTEXT)


def test_the_content_type_allowlist_is_read_from_the_environment() -> None:
    base = {"BUCKET_NAME": "b", "TABLE_NAME": "t"}
    assert "image/svg+xml" not in download_settings_from_env(base).allowed_content_types
    chosen = download_settings_from_env({**base, "ALLOWED_CONTENT_TYPES": "image/png, image/svg+xml"})
    assert chosen.allowed_content_types == {"image/png", "image/svg+xml"}
    with pytest.raises(ConfigurationError, match="ALLOWED_CONTENT_TYPES must list some of image/gif"):
        download_settings_from_env({**base, "ALLOWED_CONTENT_TYPES": "text/html"})
