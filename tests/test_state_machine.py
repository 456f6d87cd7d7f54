"""End to end: the rendered ASL runs on moto with the handlers from the shipped zip, against a real
local HTTP server. Assertions are on what a user sees: objects, items, messages, status, exit codes."""

from __future__ import annotations

import json
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
    connect_timeout_seconds=2,
    read_timeout_seconds=2,
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
    assert f"Could not find: {image_server.url('zz/zz.gif')}" in message
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


def test_make_run_with_the_failure_input_names_the_missing_image_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(
        ["--input", str(REPO_ROOT / "examples/inputs/fail.json"), "--samples", "--out", str(tmp_path)]
    )

    printed = capsys.readouterr().out
    assert exit_code == 1
    assert "zz/zz.gif" in printed
    assert "Could not find:" in printed


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
