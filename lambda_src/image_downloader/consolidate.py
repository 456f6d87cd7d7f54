"""Merge the Map's batch results into one summary, one report and one notification."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from image_downloader.settings import ConsolidateSettings, consolidate_settings_from_env

MAX_REASON_LENGTH = 300
MAX_SUBJECT_LENGTH = 100

ReadJson = Callable[[str], Any]
WriteJson = Callable[[str, Any], None]


@dataclass
class Totals:
    requested: int = 0
    succeeded: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def consolidate(
    event: Mapping[str, Any], settings: ConsolidateSettings, read_json: ReadJson, write_json: WriteJson
) -> dict[str, Any]:
    """Totals, ``allSucceeded``, a bounded failure list, and the SNS text for the state machine."""
    execution = str(event.get("executionName") or "unnamed-execution")
    totals = Totals()
    for batch in event.get("batches") or []:
        _add_batch(totals, batch, read_json)
    expected = int(event.get("total") or totals.requested)
    if totals.requested != expected:
        totals.failures.append(_unaccounted_failure(expected - totals.requested))

    failed = len(totals.failures)
    report_key = None
    if failed:
        report_key = f"{settings.report_key_prefix}{execution}.json"
        write_json(report_key, _report(event, execution, expected, totals))
    listed = [_bounded(failure) for failure in totals.failures[: settings.max_listed_failures]]
    summary = {
        "allSucceeded": failed == 0,
        "executionName": execution,
        "requested": expected,
        "succeeded": totals.succeeded,
        "failed": failed,
        "duplicatesDropped": int(event.get("duplicatesDropped") or 0),
        "failures": listed,
        "reportKey": report_key,
    }
    report_url = f"s3://{settings.bucket_name}/{report_key}" if report_key else None
    summary.update(_notification(summary, report_url))
    return summary


def handler(event: dict, context: object) -> dict:
    settings = consolidate_settings_from_env()
    s3 = boto3.client("s3")

    def read_json(key: str) -> Any:
        return json.loads(s3.get_object(Bucket=settings.bucket_name, Key=key)["Body"].read())

    def write_json(key: str, document: Any) -> None:
        body = json.dumps(document, indent=1).encode()
        s3.put_object(Bucket=settings.bucket_name, Key=key, Body=body, ContentType="application/json")

    return consolidate(event, settings, read_json, write_json)


def _add_batch(totals: Totals, batch: Mapping[str, Any], read_json: ReadJson) -> None:
    if "crash" in batch:
        totals.failures.extend(_crashed_batch_failures(batch))
        totals.requested += len(batch.get("resourcePaths") or [])
        return
    totals.requested += int(batch.get("requested", 0))
    totals.succeeded += int(batch.get("succeeded", 0))
    if batch.get("failuresKey"):
        totals.failures.extend(read_json(batch["failuresKey"])["failures"])
    totals.failures.extend(batch.get("failures") or [])


def _crashed_batch_failures(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    crash = batch.get("crash") or {}
    error = crash.get("Error", "unknown error")
    base_url = (batch.get("batchInput") or {}).get("baseUrl", "")
    reason = f"download Lambda failed ({error}); this URL's outcome is unknown: request it again"
    return [
        {"url": base_url + path, "kind": "crashed", "status": None, "reason": reason}
        for path in batch.get("resourcePaths") or []
    ]


def _unaccounted_failure(missing: int) -> dict[str, Any]:
    return {
        "url": None,
        "kind": "unaccounted",
        "status": None,
        "reason": f"{missing} requested URL(s) are missing from the batch results",
    }


def _report(event: Mapping[str, Any], execution: str, expected: int, totals: Totals) -> dict[str, Any]:
    return {
        "executionName": execution,
        "executionId": event.get("executionId"),
        "requested": expected,
        "succeeded": totals.succeeded,
        "failed": len(totals.failures),
        "failures": totals.failures,
    }


def _bounded(failure: Mapping[str, Any]) -> dict[str, Any]:
    reason = str(failure.get("reason", ""))
    if len(reason) > MAX_REASON_LENGTH:
        reason = reason[: MAX_REASON_LENGTH - 1] + "…"
    return {
        "url": failure.get("url"),
        "kind": failure.get("kind"),
        "status": failure.get("status"),
        "reason": reason,
    }


def _notification(summary: Mapping[str, Any], report_url: str | None) -> dict[str, str]:
    failed, requested = summary["failed"], summary["requested"]
    headline = f"{failed} of {requested} images failed" if failed else f"all {requested} images stored"
    if not failed:
        return {"subject": f"Image download succeeded: {headline}", "message": headline, "cause": ""}
    lines = [f"Image download {summary['executionName']}: {headline} ({summary['succeeded']} stored).", ""]
    lines.append("Failed:")
    lines.extend(f"- {_describe(failure)}" for failure in summary["failures"])
    unlisted = failed - len(summary["failures"])
    if unlisted:
        lines.append(f"- ... and {unlisted} more")
    lines.extend(["", f"Full report: {report_url}"])
    first = summary["failures"][0]["reason"] if summary["failures"] else ""
    cause = f"{headline}; first: {first}. Full report: {report_url}"
    subject = f"Image download failed: {headline}"[:MAX_SUBJECT_LENGTH]
    return {"subject": subject, "message": "\n".join(lines), "cause": cause}


def _describe(failure: Mapping[str, Any]) -> str:
    status = f" (HTTP {failure['status']})" if failure.get("status") else ""
    url, reason = failure.get("url"), str(failure.get("reason"))
    return f"{reason}{status}" if not url or url in reason else f"{url}: {reason}{status}"
