"""The functions' logs: one line per batch (execution, batch, counts, duration) and per step worth knowing,
a warning with the exception for every catch-all, never a secret, at the configured level; read from a
local run's ``lambda-logs.jsonl``, written by the same rules as Lambda's JSON log format."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from image_downloader.engine import Deadline, DownloadedImage, download_all
from image_downloader.settings import DownloadSettings
from image_downloader.storage import S3DynamoSink
from local_runner.__main__ import main
from local_runner.emulator import DeploymentConfig
from local_runner.lambda_logs import LEVELS, PACKAGE_LOGGER, JsonLines, lambda_json
from tests.conftest import AwsWorld
from tests.support.image_server import ImageServer

SECRET = "s3cr3t-t0ken-value"


def run_locally(tmp_path: Path, request: dict, *options: str) -> tuple[int, Path]:
    request_path = tmp_path / "request.json"
    request_path.write_text(json.dumps(request))
    out = tmp_path / "run"
    exit_code = main(
        ["--input", str(request_path), "--allow-private-addresses", "--out", str(out), "--quiet", *options]
    )
    return exit_code, out


def log_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "lambda-logs.jsonl").read_text().splitlines()]


@pytest.fixture
def mixed_run(tmp_path: Path, image_server: ImageServer) -> tuple[int, Path, list[str]]:
    """Seven paths in batches of two: five images, two missing; every URL carries a secret token."""
    stored = [f"ok/{index}.gif" for index in range(5)]
    for path in stored:
        image_server.add_image(path)
    paths = [*stored, "missing/a.gif", "missing/b.gif"]
    request = {
        "baseUrl": image_server.base_url,
        "resourcePaths": [f"{path}?token={SECRET}" for path in paths],
        "lambdaConcur": 2,
        "batchSize": 2,
    }
    exit_code, out = run_locally(tmp_path, request)
    return exit_code, out, paths


def test_a_local_run_logs_one_line_per_batch_with_its_counts_and_duration(
    mixed_run: tuple[int, Path, list[str]],
) -> None:
    exit_code, out, paths = mixed_run
    report = json.loads((out / "report.json").read_text())
    lines = log_lines(out)

    assert exit_code == 1
    batches = sorted(
        (line for line in lines if line["message"] == "batch done"), key=lambda x: x["batchIndex"]
    )
    assert [line["batchIndex"] for line in batches] == [0, 1, 2, 3]
    for line in batches:
        assert line["executionName"] == report["executionName"]
        assert line["level"] == "INFO"
        assert line["logger"] == "image_downloader.download"
        assert line["logGroup"] == "/aws/lambda/image-downloader-local-download"
        assert line["requestId"]
        assert isinstance(line["durationMs"], int) and line["durationMs"] >= 0
        assert line["stored"] + line["failed"] + line["notAttempted"] == line["requested"]
    assert sum(line["requested"] for line in batches) == len(paths)
    assert sum(line["stored"] for line in batches) == report["succeeded"] == 5
    assert sum(line["failed"] for line in batches) == report["failed"] == 2
    assert sum(line["failureKinds"].get("http_status", 0) for line in batches) == 2
    assert len({line["requestId"] for line in batches}) == 4


def test_the_batch_step_and_consolidate_each_log_their_line(mixed_run: tuple[int, Path, list[str]]) -> None:
    _, out, paths = mixed_run
    by_message = {line["message"]: line for line in log_lines(out)}

    written = by_message["batches written"]
    assert (written["paths"], written["batches"], written["batchSize"], written["skipped"]) == (
        len(paths),
        4,
        2,
        0,
    )
    assert written["logGroup"] == "/aws/lambda/image-downloader-local-batch"
    consolidated = by_message["consolidated"]
    assert (consolidated["requested"], consolidated["stored"], consolidated["failed"]) == (7, 5, 2)
    assert consolidated["crashedBatches"] == 0
    assert isinstance(consolidated["durationMs"], int)


def test_no_log_line_holds_a_secret_or_an_image_body(mixed_run: tuple[int, Path, list[str]]) -> None:
    _, out, _ = mixed_run
    text = (out / "lambda-logs.jsonl").read_text()

    assert text
    assert SECRET not in text
    assert "GIF89a" not in text and "GIF87a" not in text


def test_a_refused_request_is_logged_with_its_problems_and_no_secret(
    tmp_path: Path, image_server: ImageServer
) -> None:
    netloc = image_server.base_url.removeprefix("http://")
    request = {"baseUrl": f"http://user:{SECRET}@{netloc}", "resourcePaths": ["x.gif"], "lambdaConcur": 1}

    exit_code, out = run_locally(tmp_path, request)

    assert exit_code == 2
    [line] = log_lines(out)
    assert (line["level"], line["message"]) == ("INFO", "request refused")
    assert line["executionName"] == json.loads((out / "report.json").read_text())["executionName"]
    assert line["problems"].startswith("baseUrl: must not contain credentials")
    assert SECRET not in json.dumps(line)


def test_the_application_log_level_filters_the_lines(tmp_path: Path, image_server: ImageServer) -> None:
    image_server.add_image("x.gif")
    request = {"baseUrl": image_server.base_url, "resourcePaths": ["x.gif"], "lambdaConcur": 1}

    exit_code, out = run_locally(tmp_path, request, "--log-level", "WARN")

    assert exit_code == 0
    assert log_lines(out) == []


def test_at_debug_each_image_gets_a_line_with_its_outcome_and_no_secret(
    tmp_path: Path, image_server: ImageServer
) -> None:
    for path in ("a.gif", "b.gif"):
        image_server.add_image(path)
    paths = [f"{path}?token={SECRET}" for path in ("a.gif", "b.gif", "gone.gif")]
    request = {"baseUrl": image_server.base_url, "resourcePaths": paths, "lambdaConcur": 2}

    exit_code, out = run_locally(tmp_path, request, "--log-level", "DEBUG")
    lines = log_lines(out)

    assert exit_code == 1
    stored = sorted(line["url"] for line in lines if line["message"] == "image stored")
    failed = [line for line in lines if line["message"] == "image failed"]
    assert stored == [image_server.url("a.gif") + "?token=***", image_server.url("b.gif") + "?token=***"]
    assert all(
        line["level"] == "DEBUG" and line["bytes"] > 0 for line in lines if line["message"] == "image stored"
    )
    assert [(line["kind"], line["status"]) for line in failed] == [("http_status", 404)]
    assert SECRET not in (out / "lambda-logs.jsonl").read_text()
    [batch] = [line for line in lines if line["message"] == "batch done"]
    per_image = [line for line in lines if line["message"] in ("image stored", "image failed")]
    assert {(line["requestId"], line["logGroup"]) for line in per_image} == {
        (batch["requestId"], batch["logGroup"])
    }  # the download threads' lines carry their invocation's request id, as on AWS


class ExplodingSink:
    def store(self, image: DownloadedImage) -> None:
        raise RuntimeError(f"backend rejected {image.url}")


def test_a_catch_all_logs_a_warning_with_the_exception_and_no_secret(image_server: ImageServer) -> None:
    url = image_server.add_image("x.gif") + f"?token={SECRET}"
    capture = JsonLines("INFO")
    settings = DownloadSettings(bucket_name="", table_name="", allow_private_addresses=True)

    with capture.installed():
        outcome = download_all([url], 1, ExplodingSink(), settings, Deadline())
    lines = capture.take()

    assert [failure.kind for failure in outcome.failures] == ["storage"]
    assert len(lines) == 1
    warning = lines[0]
    assert (warning["level"], warning["message"]) == ("WARNING", "unexpected error storing an image")
    assert warning["errorClass"] == "RuntimeError"
    assert warning["error"].startswith("backend rejected http://127.0.0.1:")
    assert any("store" in frame for frame in warning["trace"])
    assert SECRET not in json.dumps(lines)


def test_a_record_that_fails_is_logged_with_its_url_masked(image_server: ImageServer, aws: AwsWorld) -> None:
    url = image_server.add_image("x.gif") + f"?token={SECRET}"
    clients = aws.clients(max_attempts=1, dynamodb_put_throttled=lambda _: True)
    capture = JsonLines("INFO")

    with capture.installed():
        outcome = download_all([url], 1, S3DynamoSink(aws.settings(), clients), aws.settings(), Deadline())
    lines = capture.take()

    assert [failure.kind for failure in outcome.failures] == ["storage"]
    [warning] = lines
    assert warning["message"] == "could not record an image, removing its object"
    assert warning["url"] == image_server.url("x.gif") + "?token=***"
    assert warning["errorClass"] == "ProvisionedThroughputExceededException"
    assert SECRET not in json.dumps(lines)


def test_the_capture_writes_records_as_the_lambda_runtime_does() -> None:
    logger = logging.getLogger(f"{PACKAGE_LOGGER}.probe")
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "hello %s",
        ("there",),
        None,
        extra={"batchIndex": 3, "errorType": "shadowed", "requestId": "shadowed too"},
    )
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logger.makeRecord(logger.name, logging.ERROR, __file__, 2, "failed", (), sys.exc_info())

    plain, with_error = lambda_json(record), lambda_json(failed)

    assert plain["message"] == "hello there"
    assert plain["batchIndex"] == 3
    assert "errorType" not in plain and "requestId" not in plain  # the runtime's own fields win
    assert plain["timestamp"].endswith("Z")
    assert (with_error["errorType"], with_error["errorMessage"]) == ("ValueError", "boom")
    assert with_error["stackTrace"] and with_error["location"].endswith(":2")


def test_the_local_level_default_and_choices_are_the_modules() -> None:
    variables = (Path(__file__).resolve().parents[1] / "variables.tf").read_text()
    default = re.search(r'application_log_level\s*=\s*optional\(string,\s*"(\w+)"\)', variables)
    choices = re.search(r"contains\(\[([^\]]*)\],\s*var\.lambda\.application_log_level\)", variables)

    assert default and choices
    assert DeploymentConfig().application_log_level == default.group(1)
    assert sorted(LEVELS) == sorted(re.findall(r'"(\w+)"', choices.group(1)))
