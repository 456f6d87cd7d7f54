"""End to end: the rendered ASL runs on moto with the handlers from the shipped zip, against a real
local HTTP server. Assertions are on what a user sees: objects, items, messages, status, exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_runner.__main__ import main
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.run import RunResult, run_execution
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route

REPO_ROOT = Path(__file__).resolve().parent.parent
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


def stored_object(deployment: Deployment, url: str) -> bytes:
    item = record(deployment, url)
    return deployment.client("s3").get_object(Bucket=item["bucket"], Key=item["key"])["Body"].read()


def record(deployment: Deployment, url: str) -> dict[str, str]:
    item = deployment.client("dynamodb").get_item(TableName=deployment.config.table, Key={"url": {"S": url}})
    assert "Item" in item, f"no DynamoDB record for {url}"
    return {name: next(iter(value.values())) for name, value in item["Item"].items()}


def failed_urls_in(message: str) -> set[str]:
    return {
        word
        for line in message.splitlines()
        if line.startswith("- ")
        for word in line.split()
        if "://" in word
    }


def test_all_images_are_stored_and_recorded_and_no_one_is_notified(
    deployment: Deployment, image_server: ImageServer
) -> None:
    paths = [
        f"flags/{code}/{code}.gif"
        for code in ("cn", "in", "us", "id", "br", "pk", "ng", "bd", "ru", "jp", "mx")
    ]
    urls = [image_server.add_image(path) for path in paths]

    result = run(deployment, image_server, paths)

    assert (result.status, result.exit_code) == ("SUCCEEDED", 0)
    assert result.output["requested"] == result.output["succeeded"] == len(paths)
    assert (result.output["bucket"], result.output["table"]) == (
        deployment.config.bucket,
        deployment.config.table,
    )
    for path, url in zip(paths, urls, strict=True):
        assert stored_object(deployment, url) == flag_gif(path)
        item = record(deployment, url)
        assert item["contentType"] == "image/gif"
        assert int(item["size"]) == len(flag_gif(path))
        assert item["executionId"].endswith(result.execution_name)
        assert item["downloadedAt"]
    assert len(result.stored_keys) == len(paths)
    assert result.notifications == []


def test_partial_failure_notifies_exactly_the_failed_urls_and_fails_the_execution(
    deployment: Deployment, image_server: ImageServer
) -> None:
    good = [f"ok/{i}.gif" for i in range(6)]
    good_urls = [image_server.add_image(path) for path in good]
    image_server.add("broken/500.gif", Route(status=500, body=b"boom", content_type="text/plain"))
    failed_urls = {image_server.url("zz/zz.gif"), image_server.url("broken/500.gif")}

    result = run(deployment, image_server, [*good, "zz/zz.gif", "broken/500.gif"])

    assert (result.status, result.error, result.exit_code) == ("FAILED", "ImagesFailed", 1)
    assert result.cause.startswith("2 of 8 images failed")
    assert len(result.notifications) == 1
    message = result.notifications[0]["message"]
    assert failed_urls_in(message) == failed_urls
    assert f"- 404 Not Found  {image_server.url('zz/zz.gif')}" in message
    assert result.execution_name in message
    for url in good_urls:
        assert record(deployment, url)["key"]
    assert len(result.stored_keys) == len(good)
    report_key = result.summary["reportKey"]
    report = json.loads(
        deployment.client("s3").get_object(Bucket=deployment.config.bucket, Key=report_key)["Body"].read()
    )
    assert {failure["url"] for failure in report["failures"]} == failed_urls


def test_invalid_input_fails_with_the_validation_error_and_downloads_nothing(
    deployment: Deployment, image_server: ImageServer
) -> None:
    result = run(deployment, image_server, ["ok.gif", "../secret"], lambdaConcur=0)

    assert (result.status, result.error, result.exit_code) == ("FAILED", "InvalidInput", 2)
    assert "resourcePaths[1]: must not contain '..'" in result.cause
    assert "lambdaConcur: 0 is out of range" in result.cause
    assert deployment.invocations.of("download") == []
    assert result.notifications == []


def test_duplicate_paths_are_downloaded_once_and_counted(
    deployment: Deployment, image_server: ImageServer
) -> None:
    image_server.add_image("a/x.gif")
    image_server.add_image("b/y.gif")

    result = run(deployment, image_server, ["a/x.gif", "b/y.gif", "a/x.gif", "a/x.gif"])

    assert result.status == "SUCCEEDED"
    assert (result.output["requested"], result.output["duplicatesDropped"]) == (2, 2)
    assert image_server.hits("a/x.gif") == 1
    assert len(result.stored_keys) == 2


def test_same_basename_in_two_folders_keeps_both(deployment: Deployment, image_server: ImageServer) -> None:
    first, second = image_server.add_image("a/x.gif"), image_server.add_image("b/x.gif")

    result = run(deployment, image_server, ["a/x.gif", "b/x.gif"])

    assert result.status == "SUCCEEDED"
    assert record(deployment, first)["key"] != record(deployment, second)["key"]
    assert stored_object(deployment, first) == flag_gif("a/x.gif")
    assert stored_object(deployment, second) == flag_gif("b/x.gif")


@pytest.mark.slow
def test_an_execution_of_500_images_stores_and_records_all(image_server: ImageServer) -> None:
    paths = [f"bulk/{index:03d}.gif" for index in range(500)]
    for path in paths:
        image_server.add_image(path)

    with emulated_deployment(TEST_CONFIG) as deployment:
        result = run(deployment, image_server, paths, lambdaConcur=10, batchSize=50)

        assert result.status == "SUCCEEDED", result.cause
        assert (result.output["requested"], result.output["succeeded"]) == (500, 500)
        assert len(result.stored_keys) == 500
        assert result.record_count == 500
        assert len(deployment.invocations.of("download")) == 10


def test_make_run_default_downloads_every_sample_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "downloads"

    exit_code = main(["--out", str(out), "--quiet"])

    printed = capsys.readouterr().out
    assert exit_code == 0
    assert "SUCCEEDED" in printed
    assert "20 stored, 0 failed of 20 requested" in printed
    assert len([path for path in out.rglob("*.gif")]) == 20
    assert re.search(r"largest state payload \d+\.\d KiB of 256 KiB", printed)
    assert re.search(r"\d+ state transitions, \d(\.\d+)? per image", printed)
    assert "at most 5 requests to the origin" in printed


def test_make_run_with_the_failure_input_names_the_missing_image_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(
        ["--input", str(REPO_ROOT / "examples/inputs/fail.json"), "--samples", "--out", str(tmp_path)]
    )

    printed = capsys.readouterr().out
    assert exit_code == 1
    assert re.search(r"^Failed     404 Not Found  http://127\.0\.0\.1:\d+/zz/zz\.gif$", printed, re.MULTILINE)


def test_make_run_with_an_invalid_request_says_what_to_fix_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "bad.json"
    request.write_text(json.dumps({"baseUrl": "ftp://example.com/", "resourcePaths": [], "lambdaConcur": 1}))

    exit_code = main(["--input", str(request), "--out", str(tmp_path / "out"), "--quiet"])

    printed = capsys.readouterr().out
    assert exit_code == 2
    assert "baseUrl: must start with http:// or https://" in printed
    assert "resourcePaths: must not be empty" in printed


@pytest.mark.parametrize("content", [None, "{not json"])
def test_make_run_with_an_unreadable_input_file_exits_2(
    tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(SystemExit) as exited:
        main(["--input", str(path), "--out", str(tmp_path / "out")])

    assert exited.value.code == 2
    assert str(path) in capsys.readouterr().err


# --- scale: nothing that grows with the request travels through the state (issue 7) -------------------


def test_a_request_may_lower_the_batches_in_flight_to_be_polite_to_the_origin(
    deployment: Deployment, image_server: ImageServer
) -> None:
    paths = [f"polite/{index}.gif" for index in range(24)]
    for path in paths:
        image_server.add(path, Route(body=flag_gif(path), delay=0.05))

    result = run(deployment, image_server, paths, lambdaConcur=2, batchSize=3, maxConcurrentBatches=2)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["requestsInFlight"] == 2 * 2
    assert image_server.max_in_flight <= 2 * 2
    assert len(deployment.invocations.of("download")) == 8


@pytest.mark.scale
def test_ten_thousand_paths_of_25_characters_are_staged_in_s3_and_all_stored(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """The issue's first case: 250 KB of paths, and 259 KB of batch output, over the limit in the seed."""
    paths = [f"p/{index:023d}" for index in range(10_000)]
    for path in paths:
        image_server.add_image(path)
    request = {"baseUrl": image_server.base_url, "resourcePaths": paths, "lambdaConcur": 20, "batchSize": 100}

    result = run_execution(deployment, request, poll_seconds=0.5, timeout_seconds=600)

    assert result.status == "SUCCEEDED", result.cause
    assert result.staged_input and result.staged_input.startswith(f"s3://{deployment.config.bucket}/inputs/")
    assert (result.output["requested"], result.output["succeeded"], result.record_count) == (10_000,) * 3
    assert len(result.stored_keys) == 10_000
    assert result.figures.largest_payload_bytes < 16 * 1024
    assert result.transitions_per_image <= 0.02


def test_a_request_over_200_kib_is_staged_in_s3_and_all_its_images_stored(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """make run's way past the 256 KiB execution input: the paths go to s3://<bucket>/inputs/ and the
    execution gets a resourcePathsFrom reference (the full 10,000-path case runs with -m scale). Long
    paths (their S3 keys still under 1,024 bytes) pass 200 KiB with 240 images to download."""
    paths = [f"staged/{index:04d}/" + "n" * 880 + ".gif" for index in range(240)]
    for path in paths:
        image_server.add_image(path)
    request = {"baseUrl": image_server.base_url, "resourcePaths": paths, "lambdaConcur": 8, "batchSize": 24}
    assert len(json.dumps(request)) > 200 * 1024

    result = run_execution(deployment, request, poll_seconds=0.2, timeout_seconds=600)

    assert result.status == "SUCCEEDED", result.cause
    assert result.staged_input == f"s3://{deployment.config.bucket}/inputs/{result.execution_name}.json"
    assert (result.output["requested"], result.record_count) == (240, 240)
    assert len(deployment.invocations.of("download")) == 10
    assert result.figures.largest_payload_bytes < 16 * 1024


def test_a_600_character_base_url_with_batch_size_1_stays_small_in_the_state(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """The issue's second case: baseUrl repeated in every one of 500 tasks made 336 KB (672 bytes a
    task). 100 tasks show it as well: the largest payload here is the request itself (about 1.4 KB), and
    4 KiB fails anything that carries more than ~27 bytes per task, as 16 KiB did for 500 tasks (the
    batch step's output for the 500-task request: test_batch.py)."""
    folder = "b" * (600 - len(image_server.base_url) - 1)
    paths = [str(index) for index in range(100)]
    for path in paths:
        image_server.add_image(f"{folder}/{path}")
    request = {"baseUrl": f"{image_server.base_url}{folder}/", "resourcePaths": paths, "lambdaConcur": 1}

    result = run_execution(
        deployment,
        {**request, "batchSize": 1},
        poll_seconds=0.2,
        timeout_seconds=600,
        stage_large_inputs=False,
    )

    assert result.status == "SUCCEEDED", result.cause
    assert (result.output["requested"], result.record_count) == (100, 100)
    assert len(deployment.invocations.of("download")) >= 100
    assert result.figures.largest_payload_bytes < 4 * 1024


def test_a_long_base_url_whose_60_paths_all_fail_is_reported_to_sns(
    deployment: Deployment, image_server: ImageServer
) -> None:
    """The issue's third case: Consolidate returned 338 KB after every download ran, and no SNS went out.
    (With a 3 KB baseUrl the request is now refused at validation, its S3 keys passing 1,024 bytes; the
    longest that fits shows the same.)"""
    base_url = f"{image_server.base_url}{'b' * 900}/"
    paths = [f"missing/{index}.gif" for index in range(60)]

    result = run_execution(
        deployment,
        {"baseUrl": base_url, "resourcePaths": paths, "lambdaConcur": 4},
        poll_seconds=0.1,
        timeout_seconds=120,
    )

    assert (result.status, result.error, result.exit_code) == ("FAILED", "ImagesFailed", 1)
    assert (result.summary["requested"], result.summary["failed"]) == (60, 60)
    [notification] = result.notifications
    assert "60 of 60 images failed" in notification["message"]
    assert result.figures.largest_payload_bytes < 64 * 1024
    report = json.loads(
        deployment.client("s3")
        .get_object(Bucket=deployment.config.bucket, Key=result.summary["reportKey"])["Body"]
        .read()
    )
    assert {failure["url"] for failure in report["failures"]} == {base_url + path for path in paths}


def test_a_crashed_batch_reports_each_of_its_urls_and_the_others_are_stored(
    deployment: Deployment, image_server: ImageServer
) -> None:
    paths = [f"crash/{index}.gif" for index in range(10)]
    for path in paths:
        image_server.add_image(path)
    request = {"baseUrl": image_server.base_url, "resourcePaths": paths, "lambdaConcur": 2, "batchSize": 5}
    deployment.invocations.crash_when = lambda name, event: name == "download" and event["batchIndex"] == 1

    result = run_execution(deployment, request, poll_seconds=0.05, timeout_seconds=120)

    assert (result.status, result.error) == ("FAILED", "ImagesFailed")
    assert (result.summary["succeeded"], result.summary["failed"], result.summary["crashedBatches"]) == (
        5,
        5,
        1,
    )
    assert {failure["url"] for failure in result.summary["failures"]} == {
        image_server.url(path) for path in paths[5:]
    }
    assert all(failure["kind"] == "crashed" for failure in result.summary["failures"])
    assert result.record_count == 5
    assert len(result.notifications) == 1
