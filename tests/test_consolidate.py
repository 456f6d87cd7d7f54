"""The consolidate step: reads each batch's result from S3, writes the full report, and returns totals, a
bounded failure list and the SNS text, whatever the number of failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from image_downloader import consolidate, report_failures
from image_downloader.failure_lines import TIMES
from image_downloader.runs import RunLayout
from image_downloader.settings import ConsolidateSettings

SETTINGS = ConsolidateSettings(bucket_name="bucket", report_key_prefix="reports/", max_listed_failures=3)
LAYOUT = RunLayout("runs/", "run")


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.reads: list[str] = []

    def read(self, key: str) -> Any:
        self.reads.append(key)
        return self.objects.get(key)

    def upload(self, key: str, path: Path) -> None:
        self.objects[key] = json.loads(path.read_text())

    def list_keys(self, prefix: str) -> set[str]:
        return {key for key in self.objects if key.startswith(prefix)}

    def run(self, event: dict, settings: ConsolidateSettings = SETTINGS) -> dict:
        return consolidate.consolidate(
            {"executionName": "run", **event}, settings, self.read, self.upload, self.list_keys
        )


def failure(url: str, status: int | None = 404) -> dict[str, Any]:
    if status is None:
        return {"url": url, "kind": "connection", "status": None, "reason": "DNS lookup failed for h"}
    return {"url": url, "kind": "http_status", "status": status, "reason": f"{status} Not Found"}


def batch_result(store: MemoryStore, index: int, requested: int, failures: list[dict[str, Any]]) -> None:
    """What the download Lambda of batch ``index`` writes."""
    store.objects[LAYOUT.result_key(index)] = {
        "batchIndex": index,
        "requested": requested,
        "succeeded": requested - len(failures),
        "failed": len(failures),
        "bytes": 0,
        "executionName": "run",
        "failures": failures,
    }


def test_all_succeeded_still_writes_the_report() -> None:
    store = MemoryStore()
    batch_result(store, 0, 3, [])
    batch_result(store, 1, 2, [])

    summary = store.run({"total": 5, "batchCount": 2})

    assert summary["allSucceeded"] is True
    assert (summary["requested"], summary["succeeded"], summary["failed"]) == (5, 5, 0)
    assert summary["reportKey"] == "reports/run.json"
    assert store.objects["reports/run.json"]["failures"] == []
    assert summary["message"] == "all 5 images stored"


def test_failures_are_merged_listed_and_reported_in_full() -> None:
    store = MemoryStore()
    first = [failure(f"https://h/a/{i}.gif") for i in range(2)]
    second = [failure(f"https://h/b/{i}.gif", status=None) for i in range(3)]
    batch_result(store, 0, 5, first)
    batch_result(store, 1, 5, second)
    execution_id = "arn:aws:states:us-east-1:1:execution:sm:run"

    summary = store.run({"executionId": execution_id, "total": 10, "duplicatesDropped": 1, "batchCount": 2})

    assert summary["allSucceeded"] is False
    assert (summary["requested"], summary["succeeded"], summary["failed"]) == (10, 5, 5)
    assert [item["url"] for item in summary["failures"]] == [item["url"] for item in (first + second)[:3]]
    report = store.objects["reports/run.json"]
    assert [item["url"] for item in report["failures"]] == [item["url"] for item in first + second]
    assert (report["executionId"], report["failed"], report["succeeded"]) == (execution_id, 5, 5)
    assert summary["failureLines"] == [
        "404 Not Found  https://h/a/0.gif",
        "404 Not Found  https://h/a/1.gif",
        f"3 {TIMES} DNS lookup failed for h  https://h/b/0.gif and 2 more",
    ]
    assert "\n".join(f"- {line}" for line in summary["failureLines"]) in summary["message"]
    assert "s3://bucket/reports/run.json" in summary["message"]
    assert summary["subject"] == "Image download failed: 5 of 10 images failed"
    assert summary["cause"].startswith("5 of 10 images failed; first: 404 Not Found  https://h/a/0.gif")


def test_message_names_each_failed_url_with_its_reason_on_one_short_line() -> None:
    store = MemoryStore()
    url = "https://h/zz/zz.gif"
    batch_result(store, 0, 2, [failure(url)])

    message = store.run({"total": 2, "batchCount": 1})["message"]

    assert f"- 404 Not Found  {url}\n" in message
    assert message.startswith("Image download run: 1 of 2 images failed (1 stored).")


def test_a_batch_without_a_result_reports_every_url_it_held_as_crashed() -> None:
    store = MemoryStore()
    batch_result(store, 0, 3, [])
    store.objects[LAYOUT.batch_key(1)] = {"baseUrl": "https://h/", "resourcePaths": ["x/1.gif", "x/2.gif"]}

    summary = store.run({"total": 5, "batchCount": 2})

    assert (summary["succeeded"], summary["failed"], summary["crashedBatches"]) == (3, 2, 1)
    assert [item["url"] for item in summary["failures"]] == ["https://h/x/1.gif", "https://h/x/2.gif"]
    assert all(item["kind"] == "crashed" for item in summary["failures"])
    assert "batch 1 ended without writing its result" in summary["failures"][0]["reason"]


def test_a_missing_result_is_found_by_listing_and_never_read() -> None:
    """On S3 a GetObject of a missing key is 404 or 403 depending on an undocumented ListBucket check."""
    store = MemoryStore()
    batch_result(store, 0, 3, [])
    store.objects[LAYOUT.batch_key(1)] = {"baseUrl": "https://h/", "resourcePaths": ["x/1.gif"]}
    batch_result(store, 2, 1, [])

    summary = store.run({"total": 5, "batchCount": 3})

    assert summary["crashedBatches"] == 1
    assert LAYOUT.result_key(1) not in store.reads
    assert {LAYOUT.result_key(0), LAYOUT.result_key(2), LAYOUT.batch_key(1)} <= set(store.reads)


def test_missing_batch_results_are_reported_not_ignored() -> None:
    store = MemoryStore()
    batch_result(store, 0, 5, [])

    summary = store.run({"total": 7, "batchCount": 1})

    assert summary["allSucceeded"] is False
    assert "2 requested URL(s) are missing" in summary["failures"][0]["reason"]


def test_long_urls_and_reasons_are_cut_in_the_state_but_kept_in_the_report() -> None:
    store = MemoryStore()
    url = "https://h/" + "u" * 3000 + ".gif"
    batch_result(store, 0, 1, [{"url": url, "kind": "connection", "status": None, "reason": "x" * 5000}])

    summary = store.run({"total": 1, "batchCount": 1})

    assert len(summary["failures"][0]["reason"]) == report_failures.MAX_REASON_LENGTH
    assert len(summary["failures"][0]["url"]) == report_failures.MAX_URL_LENGTH
    assert store.objects["reports/run.json"]["failures"][0] == {
        "url": url,
        "kind": "connection",
        "status": None,
        "reason": "x" * 5000,
    }


def test_a_long_url_inside_a_reason_is_cut_so_that_the_cause_stays_readable() -> None:
    store = MemoryStore()
    url = "https://h/" + "u" * 2000 + ".gif"
    reason = f"could not store {url}: S3 put_object failed: KeyTooLongError: Your key is too long"
    batch_result(store, 0, 1, [{"url": url, "kind": "storage", "status": None, "reason": reason}])

    [listed] = store.run({"total": 1, "batchCount": 1})["failures"]

    assert listed["reason"].endswith(": S3 put_object failed: KeyTooLongError: Your key is too long")
    assert len(listed["reason"]) <= report_failures.MAX_REASON_LENGTH


def test_a_3_kb_base_url_with_60_failures_keeps_the_summary_small() -> None:
    """The issue's third case: it made Consolidate return 338 KB."""
    store = MemoryStore()
    base = "https://h/" + "b" * 3000 + "/"
    batch_result(store, 0, 60, [failure(f"{base}{i}.gif") for i in range(60)])

    summary = store.run({"total": 60, "batchCount": 1}, ConsolidateSettings(bucket_name="bucket"))

    assert len(json.dumps(summary).encode()) < 48 * 1024
    assert 0 < len(summary["failures"]) < 60
    assert f"- 60 {TIMES} 404 Not Found  https://h/" in summary["message"]
    assert len(store.objects["reports/run.json"]["failures"]) == 60


def test_a_thousand_failures_over_many_batches_keep_the_state_and_message_small() -> None:
    store = MemoryStore()
    for index in range(300):
        batch_result(
            store, index, 10, [failure(f"https://h/{index}/{i}/" + "p" * 150 + ".gif") for i in range(4)]
        )
    settings = ConsolidateSettings(bucket_name="bucket", max_listed_failures=50)

    summary = store.run({"total": 3000, "batchCount": 300}, settings)

    assert len(json.dumps(summary).encode()) < 64 * 1024
    assert len(summary["message"].encode()) < 256 * 1024
    assert (summary["failed"], summary["succeeded"]) == (1200, 1800)
    assert len(store.objects["reports/run.json"]["failures"]) == 1200


@mock_aws
def test_handler_reads_the_results_from_s3_and_writes_the_full_report_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="images")
    monkeypatch.setenv("BUCKET_NAME", "images")
    url = "https://h/zz/zz.gif"
    result = {"batchIndex": 0, "requested": 2, "succeeded": 1, "failed": 1, "failures": [failure(url)]}
    s3.put_object(Bucket="images", Key="runs/run/results/00000.json", Body=json.dumps(result))

    summary = consolidate.handler({"executionName": "run", "total": 2, "batchCount": 1}, None)

    report = json.loads(s3.get_object(Bucket="images", Key="reports/run.json")["Body"].read())
    assert summary["reportKey"] == "reports/run.json"
    assert (summary["succeeded"], summary["failed"]) == (1, 1)
    assert [item["url"] for item in report["failures"]] == [url]


def test_many_urls_with_one_cause_are_one_line_and_the_lines_stay_bounded() -> None:
    store = MemoryStore()
    dns = [
        {
            "url": f"https://www.fluentpython.com/{i}.gif",
            "kind": "connection",
            "status": None,
            "reason": "DNS lookup failed for www.fluentpython.com",
        }
        for i in range(20)
    ]
    missing = [failure(f"https://h/{i}.gif") for i in range(2)]
    others = [
        {"url": f"https://h/o{i}.gif", "kind": "connection", "status": None, "reason": f"odd {i}"}
        for i in range(5)
    ]
    batch_result(store, 0, 30, dns + missing + others)

    summary = store.run({"total": 30, "batchCount": 1})

    assert summary["failureLines"][0] == (
        f"20 {TIMES} DNS lookup failed for www.fluentpython.com"
        "  https://www.fluentpython.com/0.gif and 19 more"
    )
    assert len(summary["failureLines"]) == SETTINGS.max_listed_failures
    assert summary["failureLines"][-1] == "… and 6 more lines in the full report"


def test_secrets_in_failed_urls_are_masked_in_every_line_and_report() -> None:
    store = MemoryStore()
    leaky = {
        "url": "https://h/x.gif?token=s3cret",
        "kind": "http_status",
        "status": 403,
        "reason": "403 Forbidden",
    }
    batch_result(store, 0, 1, [leaky])
    store.objects[LAYOUT.batch_key(1)] = {"baseUrl": "https://h/", "resourcePaths": ["y.gif?sig=s3cret"]}

    summary = store.run({"total": 2, "batchCount": 2})

    assert "403 Forbidden  https://h/x.gif?token=***" in summary["message"]
    assert "s3cret" not in json.dumps(summary)
    assert "s3cret" not in json.dumps(store.objects["reports/run.json"])


def test_a_result_without_the_requested_urls_lists_none_for_a_retry_instead_of_the_masked_ones() -> None:
    store = MemoryStore()
    batch_result(store, 0, 2, [failure("https://h/a.gif?token=***"), failure("https://h/b.gif")])
    store.objects[LAYOUT.batch_key(0)] = {"baseUrl": "https://h/", "resourcePaths": ["a.gif", "b.gif"]}
    store.run({"total": 2, "batchCount": 1})

    # retryFailuresOf refuses a list holding null ("failures without their URL") rather than requesting
    # token=*** as if it were the URL.
    assert store.objects[LAYOUT.failed_urls_key] == {"urls": [None, None]}
