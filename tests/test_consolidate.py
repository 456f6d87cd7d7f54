"""The consolidate step: totals, the bounded failure list, the full report and the SNS text."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from image_downloader import consolidate
from image_downloader.settings import ConsolidateSettings

SETTINGS = ConsolidateSettings(bucket_name="bucket", report_key_prefix="reports/", max_listed_failures=3)


class MemoryStore:
    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = dict(objects or {})

    def read(self, key: str) -> Any:
        return self.objects[key]

    def write(self, key: str, document: Any) -> None:
        self.objects[key] = document


def failure(url: str, status: int | None = 404) -> dict[str, Any]:
    return {"url": url, "kind": "http_status", "status": status, "reason": f"Could not find: {url}"}


def batch_result(index: int, requested: int, failures: list[dict[str, Any]], store: MemoryStore) -> dict:
    key = None
    if failures:
        key = f"reports/run/batch-{index:05d}.json"
        store.write(key, {"executionName": "run", "batchIndex": index, "failures": failures})
    return {
        "batchIndex": index,
        "requested": requested,
        "succeeded": requested - len(failures),
        "failed": len(failures),
        "bytes": 0,
        "failuresKey": key,
    }


def test_all_succeeded_writes_no_report() -> None:
    store = MemoryStore()
    event = {
        "executionName": "run",
        "total": 5,
        "batches": [batch_result(0, 3, [], store), batch_result(1, 2, [], store)],
    }

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert summary["allSucceeded"] is True
    assert (summary["requested"], summary["succeeded"], summary["failed"]) == (5, 5, 0)
    assert summary["reportKey"] is None
    assert store.objects == {}


def test_failures_are_merged_listed_and_reported_in_full() -> None:
    store = MemoryStore()
    first = [failure(f"https://h/a/{i}.gif") for i in range(2)]
    second = [failure(f"https://h/b/{i}.gif", status=None) for i in range(3)]
    event = {
        "executionName": "run",
        "executionId": "arn:aws:states:us-east-1:1:execution:sm:run",
        "total": 10,
        "duplicatesDropped": 1,
        "batches": [batch_result(0, 5, first, store), batch_result(1, 5, second, store)],
    }

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert summary["allSucceeded"] is False
    assert (summary["requested"], summary["succeeded"], summary["failed"]) == (10, 5, 5)
    assert [item["url"] for item in summary["failures"]] == [item["url"] for item in (first + second)[:3]]
    report = store.objects["reports/run.json"]
    assert [item["url"] for item in report["failures"]] == [item["url"] for item in first + second]
    assert report["executionId"] == event["executionId"]
    assert "and 2 more" in summary["message"]
    assert "s3://bucket/reports/run.json" in summary["message"]
    assert summary["subject"] == "Image download failed: 5 of 10 images failed"
    assert summary["cause"].startswith("5 of 10 images failed; first: Could not find: https://h/a/0.gif")


def test_message_names_each_listed_url_with_its_reason_and_status() -> None:
    store = MemoryStore()
    url = "https://h/zz/zz.gif"
    event = {"executionName": "run", "total": 2, "batches": [batch_result(0, 2, [failure(url)], store)]}

    message = consolidate.consolidate(event, SETTINGS, store.read, store.write)["message"]

    assert f"- Could not find: {url} (HTTP 404)" in message
    assert message.startswith("Image download run: 1 of 2 images failed (1 stored).")


def test_crashed_batch_reports_every_url_it_held() -> None:
    store = MemoryStore()
    crashed = {
        "batchIndex": 1,
        "resourcePaths": ["x/1.gif", "x/2.gif"],
        "batchInput": {"baseUrl": "https://h/", "lambdaConcur": 2},
        "crash": {"Error": "States.Timeout", "Cause": "timed out"},
    }
    event = {"executionName": "run", "total": 5, "batches": [batch_result(0, 3, [], store), crashed]}

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert (summary["succeeded"], summary["failed"]) == (3, 2)
    assert [item["url"] for item in summary["failures"]] == ["https://h/x/1.gif", "https://h/x/2.gif"]
    assert all("States.Timeout" in item["reason"] for item in summary["failures"])


def test_missing_batch_results_are_reported_not_ignored() -> None:
    store = MemoryStore()
    event = {"executionName": "run", "total": 7, "batches": [batch_result(0, 5, [], store)]}

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert summary["allSucceeded"] is False
    assert "2 requested URL(s) are missing" in summary["failures"][0]["reason"]


def test_long_reasons_are_cut_in_the_state_but_kept_in_the_report() -> None:
    store = MemoryStore()
    long_failure = {"url": "https://h/x.gif", "kind": "connection", "status": None, "reason": "x" * 5000}
    event = {"executionName": "run", "total": 1, "batches": [batch_result(0, 1, [long_failure], store)]}

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert len(summary["failures"][0]["reason"]) == consolidate.MAX_REASON_LENGTH
    assert store.objects["reports/run.json"]["failures"][0]["reason"] == "x" * 5000


def test_a_thousand_failures_keep_the_state_and_message_small() -> None:
    store = MemoryStore()
    failures = [failure(f"https://h/{i:04d}/" + "p" * 150 + ".gif") for i in range(1000)]
    settings = ConsolidateSettings(bucket_name="bucket", max_listed_failures=50)
    event = {"executionName": "run", "total": 1000, "batches": [batch_result(0, 1000, failures, store)]}

    summary = consolidate.consolidate(event, settings, store.read, store.write)

    assert len(json.dumps(summary).encode()) < 64 * 1024
    assert len(summary["message"].encode()) < 256 * 1024
    assert len(store.objects["reports/run.json"]["failures"]) == 1000


@mock_aws
def test_handler_reads_batch_reports_and_writes_the_full_report_to_s3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="images")
    monkeypatch.setenv("BUCKET_NAME", "images")
    url = "https://h/zz/zz.gif"
    s3.put_object(
        Bucket="images",
        Key="reports/run/batch-00000.json",
        Body=json.dumps({"executionName": "run", "batchIndex": 0, "failures": [failure(url)]}),
    )
    event = {
        "executionName": "run",
        "total": 2,
        "batches": [
            {
                "batchIndex": 0,
                "requested": 2,
                "succeeded": 1,
                "failed": 1,
                "failuresKey": "reports/run/batch-00000.json",
            }
        ],
    }

    summary = consolidate.handler(event, None)

    report = json.loads(s3.get_object(Bucket="images", Key="reports/run.json")["Body"].read())
    assert summary["reportKey"] == "reports/run.json"
    assert [item["url"] for item in report["failures"]] == [url]


def test_failures_returned_inline_by_a_batch_are_merged() -> None:
    store = MemoryStore()
    url = "https://h/zz/zz.gif"
    inline = {"batchIndex": 0, "requested": 2, "succeeded": 1, "failed": 1, "failuresKey": None}
    inline["failures"] = [failure(url)]
    event = {"executionName": "run", "total": 2, "batches": [inline]}

    summary = consolidate.consolidate(event, SETTINGS, store.read, store.write)

    assert (summary["succeeded"], summary["failed"]) == (1, 1)
    assert [item["url"] for item in summary["failures"]] == [url]
