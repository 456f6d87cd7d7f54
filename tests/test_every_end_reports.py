"""Every end reaches a report and a notification (issue 19, item 4): an error of the Distributed Map itself
(its ItemReader, its ResultWriter) still runs Consolidate, whose partial report names every URL that never
ran; batches reached after the execution's download window start nothing, so Consolidate and the
notification fit in the execution's timeout; a failed SNS publish ends with an error the notify function
(EventBridge) does not skip; an SNS Subject stays under 100 characters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response
from moto.sns.models import SNSBackend

from image_downloader import notify
from image_downloader.consolidate import _notification
from image_downloader_client.outcome import ExitCode, exit_code_of
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.run import RunResult, run_execution
from tests.support.image_server import ImageServer

CONFIG = DeploymentConfig(
    allow_private_addresses=True,
    default_batch_size=2,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
    time_budget_margin_seconds=1,
)


def run(deployment: Deployment, server: ImageServer, paths: list[str]) -> RunResult:
    request = {"baseUrl": server.base_url, "resourcePaths": paths, "lambdaConcur": 2}
    return run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=120)


def report_of(deployment: Deployment, result: RunResult) -> dict[str, Any]:
    key = result.summary["reportKey"]
    body = deployment.client("s3").get_object(Bucket=deployment.config.bucket, Key=key)["Body"].read()
    return json.loads(body)


@contextmanager
def s3_refusing(method: str, key_part: str) -> Iterator[None]:
    """S3 answers AccessDenied to ``method`` on keys holding ``key_part`` (moto's handlers, in-process)."""
    original = getattr(S3Response, method)

    def refusing(self: S3Response) -> Any:
        if key_part in self.parse_key_name():
            error = S3ClientError("AccessDenied", "Access Denied")
            error.code = "AccessDenied"
            raise error
        return original(self)

    with mock.patch.object(S3Response, method, refusing):
        yield


def images(server: ImageServer, count: int) -> list[str]:
    paths = [f"e/{index}.gif" for index in range(count)]
    for path in paths:
        server.add_image(path)
    return paths


def test_an_unreadable_manifest_fails_the_map_and_consolidate_still_reports_every_url(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 4)
    with emulated_deployment(CONFIG) as deployment, s3_refusing("get_object", "manifest.json"):
        result = run(deployment, image_server, paths)
        report = report_of(deployment, result)

    assert (result.status, result.error) == ("FAILED", "ImagesFailed")
    assert result.summary["mapError"]
    assert "Map stopped early" in result.cause
    assert {failure["url"] for failure in report["failures"]} == {image_server.url(p) for p in paths}
    assert {failure["kind"] for failure in report["failures"]} == {"not_run"}
    assert all("never ran or did not finish" in failure["reason"] for failure in report["failures"])
    assert report["mapError"] == result.summary["mapError"]
    [note] = result.notifications
    assert "4 of 4 images failed" in note["subject"]


def test_a_result_writer_that_fails_still_reaches_consolidate_and_keeps_every_stored_image(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 4)
    with emulated_deployment(CONFIG) as deployment, s3_refusing("put_object", "map-results"):
        result = run(deployment, image_server, paths)

    assert result.summary is not None, "Consolidate never ran"
    assert result.summary["mapError"]
    # Every batch wrote its own result before the ResultWriter failed: the report is complete.
    assert (result.summary["succeeded"], result.summary["failed"]) == (4, 0)
    assert len(result.stored_keys) == result.record_count == 4


def test_batches_reached_after_the_download_window_start_nothing_and_are_reported(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 4)
    # A window of 0 s: the execution timeout holds exactly a last batch, Consolidate and the notification.
    config = DeploymentConfig(
        **{**CONFIG.__dict__, "execution_timeout_seconds": 300 + 15 + 120 + 15 + 60},
    )
    with emulated_deployment(config) as deployment:
        result = run(deployment, image_server, paths)
        report = report_of(deployment, result)

    assert (result.status, result.error) == ("FAILED", "ImagesFailed")
    assert result.stored_keys == []
    assert {failure["kind"] for failure in report["failures"]} == {"time_budget"}
    assert len(report["failures"]) == 4
    assert len(result.notifications) == 1


def test_a_failed_sns_publish_ends_with_an_error_the_notify_function_reports(
    image_server: ImageServer,
) -> None:
    paths = images(image_server, 1)

    def publish(self: SNSBackend, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SNS is down")

    with emulated_deployment(CONFIG) as deployment, mock.patch.object(SNSBackend, "publish", publish):
        result = run(deployment, image_server, [*paths, "missing.gif"])

    assert (result.status, result.error) == ("FAILED", "ImagesFailedUnnotified")
    # Images failed, whoever was told: exit 1 for the local run and the client alike.
    assert result.exit_code == 1
    assert exit_code_of({"status": "FAILED", "error": result.error}) == ExitCode.IMAGES_FAILED
    assert result.cause.startswith("1 of 2 images failed")
    assert result.notifications == []
    event = {"detail": {"name": result.execution_name, "status": "FAILED", "executionArn": "arn:x"}}
    message = notify.message_for(event, lambda arn: {"error": result.error, "cause": result.cause})
    assert message is not None
    assert "could not publish" in message["message"] and "1 of 2 images failed" in message["message"]


def test_sns_subjects_stay_strictly_under_100_characters() -> None:
    summary = {
        "failed": 10**12,
        "requested": 10**12,
        "succeeded": 0,
        "executionName": "x" * 80,
        "failureLines": ["404 Not Found  https://example.com/a.gif"],
        "mapError": "States.ItemReaderFailed",
    }
    assert len(_notification(summary, "s3://b/r.json")["subject"]) < 100
    event = {"detail": {"name": "n" * 80, "status": "TIMED_OUT", "executionArn": "arn:x"}}
    message = notify.message_for(event, lambda arn: {})
    assert message is not None and len(message["subject"]) < 100
