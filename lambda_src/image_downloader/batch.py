"""The ValidateAndBatch Lambda: validate the request (``request.py``), apply skipExisting and
retryFailuresOf (``reruns.py``), split the paths into batches and write them to S3 for the Distributed Map.

Only counts and keys come back into the state: the paths stay in S3 (``image_downloader.runs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from image_downloader import reruns
from image_downloader.errors import InvalidInput
from image_downloader.logs import milliseconds_since
from image_downloader.path_sources import ReadReference, read_s3_reference
from image_downloader.problems import MAX_LISTED_ERRORS
from image_downloader.request import DownloadRequest, check_path, parse_request
from image_downloader.runs import RunLayout, put_json
from image_downloader.settings import BatchSettings, batch_settings_from_env

# Names the callers of the batch step use, wherever they live.
__all__ = [
    "MAX_LISTED_ERRORS",
    "AwsReruns",
    "BatchSettings",
    "DownloadRequest",
    "ReadReference",
    "batches_of",
    "check_path",
    "handler",
    "parse_request",
    "parse_rerun",
    "write_batches",
]

logger = logging.getLogger(__name__)

BATCH_WRITERS = 32


def batches_of(request: DownloadRequest) -> Iterator[dict[str, Any]]:
    """Each batch as the download Lambda reads it from S3."""
    paths = request.resource_paths
    for index, start in enumerate(range(0, len(paths), request.batch_size)):
        yield {
            "batchIndex": index,
            "baseUrl": request.base_url,
            "lambdaConcur": request.lambda_concur,
            "resourcePaths": list(paths[start : start + request.batch_size]),
        }


def write_batches(
    request: DownloadRequest, layout: RunLayout, put: Callable[[str, Any], None], workers: int = BATCH_WRITERS
) -> dict[str, Any]:
    """Write every batch and then the manifest that lists them; return the counts and keys for the state."""

    def write(batch: dict[str, Any]) -> dict[str, Any]:
        key = layout.batch_key(batch["batchIndex"])
        put(key, batch)
        return {"batchIndex": batch["batchIndex"], "batchKey": key}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        manifest = list(pool.map(write, batches_of(request)))
    put(layout.manifest_key, manifest)
    batch_count = len(manifest)
    concurrent_batches = min(request.max_concurrent_batches, batch_count)
    return {
        "executionName": layout.execution_name,
        "total": len(request.resource_paths),
        "duplicatesDropped": request.duplicates_dropped,
        "batchCount": batch_count,
        "batchSize": request.batch_size,
        "lambdaConcur": request.lambda_concur,
        "maxConcurrentBatches": request.max_concurrent_batches,
        "requestsInFlight": concurrent_batches * request.lambda_concur,
        "manifestKey": layout.manifest_key,
        "skipped": request.skipped,
    }


def handler(event: dict, context: object) -> dict:
    started = time.monotonic()
    settings = batch_settings_from_env()
    execution = _execution_name(event.get("executionName") if isinstance(event, dict) else None)
    s3 = boto3.client("s3", config=Config(max_pool_connections=BATCH_WRITERS, retries={"mode": "standard"}))

    def read_reference(bucket: str, key: str) -> bytes:
        return read_s3_reference(s3, bucket, key)

    def put(key: str, document: Any) -> None:
        put_json(s3, settings.bucket_name, key, document)

    try:
        request = parse_rerun(event.get("request"), settings, read_reference, AwsReruns(settings, s3))
    except InvalidInput as refused:  # its message quotes values through redact()
        logger.info("request refused", extra={"executionName": execution, "problems": str(refused)})
        raise
    result = write_batches(request, RunLayout(settings.run_key_prefix, execution), put)
    logger.info(
        "batches written",
        extra={
            "executionName": execution,
            "paths": result["total"],
            "duplicatesDropped": result["duplicatesDropped"],
            "skipped": result["skipped"],
            "batches": result["batchCount"],
            "batchSize": result["batchSize"],
            "durationMs": milliseconds_since(started),
        },
    )
    return result


class AwsReruns:
    """The reads of skipExisting (DynamoDB) and retryFailuresOf (the report in S3)."""

    def __init__(self, settings: BatchSettings, s3: Any) -> None:
        self.settings = settings
        self.s3 = s3

    def batch_get(self) -> reruns.BatchGet:
        return reruns.dynamodb_batch_get(boto3.client("dynamodb"), self.settings.table_name)

    def read_report(self, key: str) -> bytes | None:
        """The object at ``key``, or None when there is none. Without ``s3:ListBucket`` (this role has
        none) S3 answers a missing key with 403 AccessDenied, not NoSuchKey: both mean "none" here."""
        try:
            return self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied", "403"):
                return None
            raise


def parse_rerun(
    event: object, settings: BatchSettings, read_reference: ReadReference | None, aws: AwsReruns
) -> DownloadRequest:
    """parse_request, with skipExisting and retryFailuresOf (image_downloader.reruns) applied."""
    if not isinstance(event, dict):
        return parse_request(event, settings, read_reference)
    fields, rerun = reruns.take_rerun_fields(event)
    if rerun.retry_failures_of:
        fields = reruns.request_from_report(
            fields, rerun.retry_failures_of, settings.run_key_prefix, aws.read_report
        )
    request = parse_request(fields, settings, read_reference)
    if not rerun.skip_existing:
        return request
    kept, skipped = reruns.drop_recorded(request.base_url, request.resource_paths, aws.batch_get())
    return replace(request, resource_paths=kept, skipped=skipped)


def _execution_name(value: object) -> str:
    if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
        raise InvalidInput(f"executionName: must be a Step Functions execution name, got {value!r}")
    return value
