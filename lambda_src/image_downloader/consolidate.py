"""Read every batch's result from S3, write the full report, and return a bounded summary to the state.

The summary's size does not depend on the request: counts, the first few failures (each cut short), the
SNS text built from those, and the key of the report that lists every failure.

A batch whose result is not among the keys listed under the execution's results prefix crashed: its
result is never read, so no GetObject meets a missing key (which S3 answers 404 or 403 depending on
whether the caller may list the bucket, a check whose conditions S3 does not document).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from image_downloader.aws_retries import AWS_RETRIES
from image_downloader.failure_lines import FailureGroups
from image_downloader.logs import milliseconds_since
from image_downloader.report_failures import (
    bounded,
    crashed_batch_failures,
    map_error_line,
    redacted,
    unaccounted_failure,
)
from image_downloader.runs import RunLayout, get_json_or_none
from image_downloader.settings import ConsolidateSettings, consolidate_settings_from_env

logger = logging.getLogger(__name__)

# SNS refuses a Subject of 100 characters or more.
MAX_SUBJECT_LENGTH = 99
# The listed failures stop at whichever comes first, max_listed_failures or this many bytes: the summary
# (and the SNS text built from the same list) stays a few tens of KiB whatever the URLs' length.
MAX_LISTED_BYTES = 16 * 1024
READERS = 32
# Results read at once: bounds the memory whatever the number of batches.
READ_CHUNK = 256

# read(key) -> the JSON document at key, or None when there is none
ReadJson = Callable[[str], Any]
# upload(key, path of a JSON file)
Upload = Callable[[str, Path], None]
# list_keys(prefix) -> every key under prefix
ListKeys = Callable[[str], set[str]]


@dataclass
class Totals:
    requested: int = 0
    succeeded: int = 0
    failed: int = 0
    crashed_batches: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)
    groups: FailureGroups = field(default_factory=FailureGroups)


class ReportFile:
    """The report's failures streamed to a local file as they are read, so that the function's memory does
    not grow with them; the first ``listed`` are kept, cut short, for the summary."""

    def __init__(self, out: IO[str], listed: int, totals: Totals, urls: IO[str]) -> None:
        self.out = out
        self.urls = urls
        self.written_urls = 0
        self.urls.write('{"urls":[')
        self.listed = listed
        self.listed_bytes = 0
        self.totals = totals
        self.out.write('{"failures":[')

    def add(self, failures: list[dict[str, Any]], urls: list[str | None] | None = None) -> None:
        """Add failures to the report (masked) and their URLs as requested to the retry list."""
        for url in urls if urls is not None else [failure.get("url") for failure in failures]:
            self.urls.write(("" if self.written_urls == 0 else ",") + json.dumps(url))
            self.written_urls += 1
        for failure in map(redacted, failures):
            if self.totals.failed:
                self.out.write(",\n")
            self.out.write(json.dumps(failure))
            self.totals.failed += 1
            self.totals.groups.add(failure)
            if len(self.totals.listed) < self.listed and self.listed_bytes < MAX_LISTED_BYTES:
                short = bounded(failure)
                self.listed_bytes += len(json.dumps(short).encode())
                self.totals.listed.append(short)

    def close(self, header: Mapping[str, Any]) -> None:
        self.out.write("]")
        for name, value in header.items():
            self.out.write(f",{json.dumps(name)}:{json.dumps(value)}")
        self.out.write("}\n")
        self.out.flush()
        self.urls.write("]}\n")
        self.urls.flush()


def consolidate(
    event: Mapping[str, Any],
    settings: ConsolidateSettings,
    read_json: ReadJson,
    upload: Upload,
    list_keys: ListKeys,
) -> dict[str, Any]:
    """Totals, ``allSucceeded``, a bounded failure list, the report's key and the SNS text."""
    execution = str(event.get("executionName") or "unnamed-execution")
    layout = RunLayout(settings.run_key_prefix, execution)
    expected = int(event.get("total") or 0)
    batch_count = int(event.get("batchCount") or 0)
    map_error = map_error_line(event.get("mapError"))
    totals = Totals()
    report_key = f"{settings.report_key_prefix}{execution}.json"
    with tempfile.TemporaryDirectory() as folder:
        path, urls_path = Path(folder) / "report.json", Path(folder) / "failed-urls.json"
        with path.open("w") as out, urls_path.open("w") as urls:
            report = ReportFile(out, settings.max_listed_failures, totals, urls)
            written = list_keys(layout.results_prefix) if batch_count else set()
            for index, result in _results(layout, batch_count, read_json, written):
                _add_batch(totals, report, layout, index, result, read_json, map_error)
            if totals.requested != expected:
                report.add([unaccounted_failure(expected - totals.requested)])
            report.close(
                {
                    "executionName": execution,
                    "executionId": event.get("executionId"),
                    "requested": expected,
                    "succeeded": totals.succeeded,
                    "failed": totals.failed,
                    "skipped": int(event.get("skipped") or 0),
                    "mapError": map_error,
                }
            )
        upload(layout.failed_urls_key, urls_path)
        upload(report_key, path)

    summary = {
        "allSucceeded": totals.failed == 0,
        "executionName": execution,
        "requested": expected,
        "succeeded": totals.succeeded,
        "failed": totals.failed,
        "duplicatesDropped": int(event.get("duplicatesDropped") or 0),
        "batchCount": batch_count,
        "skipped": int(event.get("skipped") or 0),
        "crashedBatches": totals.crashed_batches,
        "requestsInFlight": int(event.get("requestsInFlight") or 0),
        "failures": totals.listed,
        "reportKey": report_key,
        "failureLines": totals.groups.lines(settings.max_listed_failures),
        "mapError": map_error,
    }
    summary.update(_notification(summary, f"s3://{settings.bucket_name}/{report_key}"))
    return summary


def handler(event: dict, context: object) -> dict:
    started = time.monotonic()
    settings = consolidate_settings_from_env()
    s3 = boto3.client("s3", config=Config(max_pool_connections=READERS, retries=AWS_RETRIES))

    def read_json(key: str) -> Any:
        return get_json_or_none(s3, settings.bucket_name, key)

    def upload(key: str, path: Path) -> None:
        s3.upload_file(str(path), settings.bucket_name, key, ExtraArgs={"ContentType": "application/json"})

    def list_keys(prefix: str) -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket_name, Prefix=prefix)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    summary = consolidate(event, settings, read_json, upload, list_keys)
    logger.info(
        "consolidated",
        extra={
            "executionName": summary["executionName"],
            "requested": summary["requested"],
            "stored": summary["succeeded"],
            "failed": summary["failed"],
            "skipped": summary["skipped"],
            "crashedBatches": summary["crashedBatches"],
            "durationMs": milliseconds_since(started),
        },
    )
    return summary


def _results(
    layout: RunLayout, batch_count: int, read_json: ReadJson, written: set[str]
) -> Iterator[tuple[int, Any]]:
    """(index, result or None) of every batch, in order, read in parallel a chunk at a time; a result
    that is not among the written keys is None without being read."""

    def read_written(key: str) -> Any:
        return read_json(key) if key in written else None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for start in range(0, batch_count, READ_CHUNK):
            indexes = range(start, min(start + READ_CHUNK, batch_count))
            yield from zip(indexes, pool.map(read_written, map(layout.result_key, indexes)), strict=True)


def _add_batch(
    totals: Totals,
    report: ReportFile,
    layout: RunLayout,
    index: int,
    result: Any,
    read_json: ReadJson,
    map_error: str | None = None,
) -> None:
    if isinstance(result, dict):
        totals.requested += int(result.get("requested", 0))
        totals.succeeded += int(result.get("succeeded", 0))
        failures = list(result.get("failures") or [])
        urls = result.get("failedUrls")
        # Without the URLs as requested (a result of older code), the report's masked ones would retry the
        # wrong URLs: None makes retryFailuresOf refuse them instead.
        report.add(
            failures,
            urls if isinstance(urls, list) and len(urls) == len(failures) else [None] * len(failures),
        )
        return
    totals.crashed_batches += 1
    batch = read_json(layout.batch_key(index)) or {}
    paths = batch.get("resourcePaths") or []
    totals.requested += len(paths)
    report.add(crashed_batch_failures(index, batch.get("baseUrl", ""), paths, map_error))


def _notification(summary: Mapping[str, Any], report_url: str) -> dict[str, str]:
    failed, requested = summary["failed"], summary["requested"]
    headline = f"{failed} of {requested} images failed" if failed else f"all {requested} images stored"
    if summary.get("mapError"):
        headline += " (the Map stopped early: partial report)"
    if not failed:
        return {"subject": f"Image download succeeded: {headline}", "message": headline, "cause": ""}
    lines = [f"Image download {summary['executionName']}: {headline} ({summary['succeeded']} stored).", ""]
    lines.append("Failed:")
    lines.extend(f"- {line}" for line in summary["failureLines"])
    lines.extend(["", f"Full report: {report_url}"])
    first = summary["failureLines"][0] if summary["failureLines"] else ""
    cause = f"{headline}; first: {first}. Full report: {report_url}"
    subject = f"Image download failed: {headline}"[:MAX_SUBJECT_LENGTH]
    return {"subject": subject, "message": "\n".join(lines), "cause": cause}
