"""skipExisting and retryFailuresOf in the batch step: the fields checked, a report turned into a request,
recorded URLs found in batches of 100 with DynamoDB's unprocessed keys retried."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from image_downloader import reruns
from image_downloader.batch import parse_rerun
from image_downloader.errors import InvalidInput
from image_downloader.settings import BatchSettings

BASE = "https://images.example.com/"


def report(*urls: str | None) -> bytes:
    """A run's failed-urls.json (Consolidate writes it next to the masked report)."""
    return json.dumps({"urls": list(urls)}).encode()


def test_rerun_fields_are_taken_off_the_request_and_checked() -> None:
    request, rerun = reruns.take_rerun_fields(
        {"baseUrl": BASE, "skipExisting": True, "retryFailuresOf": "run-1"}
    )
    assert request == {"baseUrl": BASE}
    assert rerun == reruns.Rerun(skip_existing=True, retry_failures_of="run-1")
    with pytest.raises(InvalidInput, match='skipExisting: must be true or false, got "yes"'):
        reruns.take_rerun_fields({"skipExisting": "yes"})
    with pytest.raises(InvalidInput, match="retryFailuresOf: must be the name of an earlier execution"):
        reruns.take_rerun_fields({"retryFailuresOf": "a/../b"})


def test_a_report_becomes_the_paths_under_the_failures_origin() -> None:
    body = report(f"{BASE}a/1.gif", f"{BASE}b/2.gif?size=large", f"{BASE}a/1.gif")
    request = reruns.request_from_report(
        {"lambdaConcur": 4}, "run-1", "runs/", {"runs/run-1/failed-urls.json": body}.get
    )
    assert request == {"lambdaConcur": 4, "baseUrl": BASE, "resourcePaths": ["a/1.gif", "b/2.gif?size=large"]}


def test_a_given_base_url_must_hold_every_failed_url() -> None:
    read = {"runs/run-1/failed-urls.json": report(f"{BASE}a/1.gif", "https://other.example.com/x.gif")}.get
    with pytest.raises(InvalidInput, match=r"1 failed URL\(s\) of 'run-1' are not under baseUrl .*other"):
        reruns.request_from_report({"baseUrl": BASE}, "run-1", "runs/", read)
    kept = reruns.request_from_report(
        {"baseUrl": f"{BASE}a"},
        "run-1",
        "runs/",
        {"runs/run-1/failed-urls.json": report(f"{BASE}a/1.gif")}.get,
    )
    assert (kept["baseUrl"], kept["resourcePaths"]) == (f"{BASE}a/", ["1.gif"])


@pytest.mark.parametrize(
    ("request_fields", "reports", "message"),
    [
        (
            {},
            {},
            "execution 'run-1' has no report \\(no list of failed URLs at runs/run-1/failed-urls.json\\)",
        ),
        ({}, {"runs/run-1/failed-urls.json": report(None)}, "1 failure\\(s\\) without their URL"),
        ({"resourcePaths": ["x.gif"]}, {}, "give no resourcePaths"),
    ],
)
def test_a_report_that_cannot_be_retried_is_refused_with_what_to_do(
    request_fields: dict[str, Any], reports: dict[str, bytes], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        reruns.request_from_report(request_fields, "run-1", "runs/", reports.get)


def test_recorded_urls_are_read_100_keys_at_a_time_and_unprocessed_keys_again() -> None:
    recorded = {f"{BASE}{index}.gif" for index in range(0, 250, 2)}
    calls: list[int] = []
    left_once: set[str] = set()

    def batch_get(keys: list[str]) -> tuple[list[str], list[str]]:
        calls.append(len(keys))
        unprocessed = [key for key in keys[:5] if key not in left_once]
        left_once.update(unprocessed)
        return [key for key in keys if key in recorded and key not in unprocessed], unprocessed

    paths = [f"{index}.gif" for index in range(250)]
    kept, skipped = reruns.drop_recorded(BASE, paths, batch_get, sleep=lambda _: None)
    assert skipped == 125
    assert kept == tuple(f"{index}.gif" for index in range(1, 250, 2))
    assert calls == [100, 5, 100, 5, 50, 5]


def test_keys_dynamodb_never_processes_fail_the_step_rather_than_download_again() -> None:
    with pytest.raises(RuntimeError, match="unprocessed after 8 attempts"):
        reruns.recorded_urls([f"{BASE}a.gif"], lambda keys: ([], keys), sleep=lambda _: None)


class FakeAws:
    def __init__(self, table: str) -> None:
        self.client = boto3.client("dynamodb")
        self.table = table

    def batch_get(self) -> reruns.BatchGet:
        return reruns.dynamodb_batch_get(self.client, self.table)

    def read_report(self, key: str) -> bytes | None:
        return None


def test_skip_existing_leaves_out_what_the_table_records() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="images",
            KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="images", Item={"url": {"S": f"{BASE}old.gif"}, "key": {"S": "images/x"}})
        event = {
            "baseUrl": BASE,
            "resourcePaths": ["old.gif", "new.gif"],
            "lambdaConcur": 2,
            "skipExisting": True,
        }
        request = parse_rerun(event, BatchSettings(table_name="images"), None, FakeAws("images"))
    assert (request.resource_paths, request.skipped) == (("new.gif",), 1)
