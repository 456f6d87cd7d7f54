"""GET /executions/{name}: an execution's status, its counts and a link to its report, for callers that
have no AWS credentials (JWT) as much as for those that do.

The function may describe the executions of its own state machine and read the reports, nothing else:
not list the bucket (every image key would be listable), so a missing report reads as AccessDenied.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from image_downloader.errors import InvalidInput
from image_downloader.logs import caught
from image_downloader.problems import refusal_fields
from image_downloader.settings import StatusSettings, status_settings_from_env

logger = logging.getLogger(__name__)

# Execution names the API's Idempotency-Key mapping and Step Functions' generated UUIDs produce.
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$")
# Counts sit at the start (small reports) or the end (streamed reports) of the report; the failures in
# between never hold these keys.
_COUNT = re.compile(r'(?<!\\)"(requested|succeeded|failed|skipped)":\s*(\d+)')
REPORT_PEEK_BYTES = 64 * 1024
REPORT_URL_SECONDS = 900
COUNT_FIELDS = ("requested", "succeeded", "failed", "skipped")


class ExecutionNotFound(LookupError):
    pass


def check_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            f"name: must be an execution name of 1-80 letters, digits, '-', '_' or '.', got {value!r}"
        )
    return value


@dataclass(frozen=True)
class AwsReads:
    """The calls the function makes; tests give moto's clients."""

    stepfunctions: Any
    s3: Any

    def describe(self, execution_arn: str) -> dict[str, Any]:
        try:
            return self.stepfunctions.describe_execution(executionArn=execution_arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                raise ExecutionNotFound(execution_arn) from None
            raise

    def map_progress(self, execution_arn: str) -> dict[str, int] | None:
        """Batches done so far, from the execution's Distributed Map run (None for an inline Map)."""
        try:
            runs = self.stepfunctions.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
            if not runs:
                return None
            counts = self.stepfunctions.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
        except Exception as error:  # progress is extra: the status itself must not fail for it
            caught(logger, "no map run progress", error, executionArn=execution_arn)
            return None
        return {
            "batchesTotal": int(counts.get("total", 0)),
            "batchesSucceeded": int(counts.get("succeeded", 0)),
            "batchesFailed": int(counts.get("failed", 0)) + int(counts.get("timedOut", 0)),
            "batchesRunning": int(counts.get("running", 0)),
        }

    def report_peek(self, bucket: str, key: str) -> str | None:
        """The first and last REPORT_PEEK_BYTES of the report (all of a small one), or None without one."""
        try:
            head = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{REPORT_PEEK_BYTES - 1}")
            size = _total_size(head)
            text = head["Body"].read().decode("utf-8", errors="replace")
            if size > REPORT_PEEK_BYTES:
                tail = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{REPORT_PEEK_BYTES}")
                text += "\n" + tail["Body"].read().decode("utf-8", errors="replace")
            return text
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "InvalidRange"):
                return None
            if code in ("AccessDenied", "403"):
                # The role may read every key under the report prefix but not list the bucket, so S3
                # answers a missing report with 403, not 404 (S3 API reference, GetObject).
                logger.info("no readable report", extra={"key": key, "errorCode": code})
                return None
            raise

    def presign(self, bucket: str, key: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=REPORT_URL_SECONDS
        )


def execution_status(name: str, settings: StatusSettings, reads: AwsReads) -> dict[str, Any]:
    """The status document of the execution called name."""
    execution_arn = settings.execution_arn(name)
    description = reads.describe(execution_arn)
    status = description["status"]
    document: dict[str, Any] = {
        "name": name,
        "executionArn": execution_arn,
        "status": status,
        "startDate": _iso(description.get("startDate")),
        "stopDate": _iso(description.get("stopDate")),
        "error": description.get("error"),
        "cause": description.get("cause"),
        "counts": None,
        "progress": None,
        "report": None,
    }
    if document["error"] == "InvalidInput":
        document.update(refusal_fields(document["cause"]))
    if status == "RUNNING":
        document["progress"] = reads.map_progress(execution_arn)
        return document
    report_key = f"{settings.report_key_prefix}{name}.json"
    peek = reads.report_peek(settings.bucket_name, report_key)
    if peek is not None:
        document["counts"] = counts_in(peek)
        document["report"] = {
            "bucket": settings.bucket_name,
            "key": report_key,
            "url": reads.presign(settings.bucket_name, report_key),
            "expiresInSeconds": REPORT_URL_SECONDS,
        }
    if not document["counts"]:
        document["counts"] = _counts_of_output(description.get("output"))
    return document


def counts_in(text: str) -> dict[str, int] | None:
    counts: dict[str, int] = {}
    for field, value in _COUNT.findall(text):
        counts.setdefault(field, int(value))
    return counts or None


def _counts_of_output(output: object) -> dict[str, int] | None:
    try:
        document = json.loads(output) if isinstance(output, str) else None
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    counts = {field: document[field] for field in COUNT_FIELDS if isinstance(document.get(field), int)}
    return counts or None


def handler(event: dict, context: object) -> dict:
    try:
        name = check_name((event.get("pathParameters") or {}).get("name"))
    except InvalidInput as error:
        return _response(400, {"message": str(error)})
    settings = status_settings_from_env()
    reads = AwsReads(
        boto3.client("stepfunctions"),
        boto3.client("s3", config=Config(signature_version="s3v4", retries={"mode": "standard"})),
    )
    try:
        document = execution_status(name, settings, reads)
    except ExecutionNotFound:
        return _response(404, {"message": f"no execution named {name!r} in this state machine"})
    logger.info("status", extra={"executionName": name, "status": document["status"]})
    return _response(200, document)


def _response(status_code: int, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(document),
    }


def _total_size(response: dict[str, Any]) -> int:
    content_range = response.get("ContentRange") or ""
    if "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(response.get("ContentLength", 0))


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
