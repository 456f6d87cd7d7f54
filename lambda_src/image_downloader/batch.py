"""Validate a download request, split its paths into batches and write them to S3 for the Distributed Map.

Only counts and keys come back into the state: the paths stay in S3 (``image_downloader.runs``).

Each path is checked and put in canonical form (``urls.py``) here, before anything is downloaded:
paths whose URLs are equal once canonical are one image (dropped as duplicates), and a path whose S3
key, DynamoDB key or metadata would exceed AWS's limits is refused with the field named.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from image_downloader import reruns
from image_downloader.errors import InvalidInput
from image_downloader.keys import storage_problem
from image_downloader.redact import redact
from image_downloader.runs import RunLayout, put_json
from image_downloader.settings import MAX_BATCHES_PER_EXECUTION, BatchSettings, batch_settings_from_env
from image_downloader.urls import UrlProblem, canonical_base_url, canonical_path

logger = logging.getLogger(__name__)

KNOWN_FIELDS = (
    "baseUrl",
    "resourcePaths",
    "resourcePathsFrom",
    "lambdaConcur",
    "batchSize",
    "maxConcurrentBatches",
    *reruns.RERUN_FIELDS,
)
MAX_LISTED_ERRORS = 10
# Largest paths file a request may name: 1,000,000 paths of ~100 characters, well within the memory of
# the batch function.
MAX_REFERENCE_BYTES = 128 * 1024 * 1024
BATCH_WRITERS = 32

# (where a path came from, for error messages; the path)
LabelledPaths = Iterable[tuple[str, object]]
ReadReference = Callable[[str, str], bytes]


@dataclass(frozen=True)
class DownloadRequest:
    base_url: str
    resource_paths: tuple[str, ...]
    lambda_concur: int
    batch_size: int
    duplicates_dropped: int
    max_concurrent_batches: int
    skipped: int = 0


class Problems:
    """The first few problems, word for word, and how many there were in all."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.count = 0

    def append(self, problem: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append(problem)

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.listed)
        suffix = f"; and {more} more problem(s)" if more else ""
        raise InvalidInput("; ".join(self.listed) + suffix)


def parse_request(
    event: object, settings: BatchSettings, read_reference: ReadReference | None = None
) -> DownloadRequest:
    """Turn the execution input into a request, or raise InvalidInput naming every bad field.

    ``read_reference(bucket, key)`` returns the bytes of a ``resourcePathsFrom`` object."""
    if not isinstance(event, dict):
        raise InvalidInput(f"the request must be a JSON object, got {_json_type(event)}")
    errors = Problems()
    for name in event:
        if name not in KNOWN_FIELDS:
            errors.append(f"unknown field {name!r} (expected one of {', '.join(KNOWN_FIELDS)})")
    base_url = _check_base_url(event.get("baseUrl"), errors)
    lambda_concur = _check_integer(
        event, "lambdaConcur", 1, settings.max_lambda_concur, errors, required=True
    )
    batch_size = _check_integer(
        event, "batchSize", 1, settings.max_paths_per_execution, errors, required=False
    )
    max_batches = _check_integer(
        event, "maxConcurrentBatches", 1, settings.max_concurrent_batches, errors, required=False
    )
    problems_before = errors.count
    labelled = _labelled_paths(event, settings, read_reference, errors)
    paths = _check_paths(labelled, base_url, settings, errors, problems_before)
    errors.raise_if_any()

    unique_paths = tuple(dict.fromkeys(paths))
    size = batch_size or settings.default_batch_size
    batch_count = math.ceil(len(unique_paths) / size)
    if batch_count > MAX_BATCHES_PER_EXECUTION:
        smallest = math.ceil(len(unique_paths) / MAX_BATCHES_PER_EXECUTION)
        raise InvalidInput(
            f"batchSize: {size} would make {batch_count} batches but an execution runs at most "
            f"{MAX_BATCHES_PER_EXECUTION} batches, so use batchSize >= {smallest}"
        )
    return DownloadRequest(
        base_url=base_url,
        resource_paths=unique_paths,
        lambda_concur=lambda_concur,
        batch_size=size,
        duplicates_dropped=len(paths) - len(unique_paths),
        max_concurrent_batches=max_batches or settings.max_concurrent_batches,
    )


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
    settings = batch_settings_from_env()
    execution = _execution_name(event.get("executionName") if isinstance(event, dict) else None)
    s3 = boto3.client("s3", config=Config(max_pool_connections=BATCH_WRITERS, retries={"mode": "standard"}))

    def read_reference(bucket: str, key: str) -> bytes:
        return _read_reference(s3, bucket, key)

    def put(key: str, document: Any) -> None:
        put_json(s3, settings.bucket_name, key, document)

    request = parse_rerun(event.get("request"), settings, read_reference, AwsReruns(settings, s3))
    result = write_batches(request, RunLayout(settings.run_key_prefix, execution), put)
    logger.info(
        "batches written",
        extra={"execution": execution, "paths": result["total"], "batches": result["batchCount"]},
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
        try:
            return self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
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
            fields, rerun.retry_failures_of, settings.report_key_prefix, aws.read_report
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


# --- resourcePaths and resourcePathsFrom -------------------------------------------------------------


def _labelled_paths(
    event: dict, settings: BatchSettings, read_reference: ReadReference | None, errors: Problems
) -> LabelledPaths:
    inline, reference = event.get("resourcePaths"), event.get("resourcePathsFrom")
    if inline is not None and reference is not None:
        errors.append("resourcePaths and resourcePathsFrom: give one of them, not both")
        return []
    if reference is not None:
        return _paths_from_reference(reference, settings, read_reference, errors)
    if inline is None:
        errors.append(
            "resourcePaths: missing, give a list of paths relative to baseUrl "
            "(or resourcePathsFrom: an s3:// URL of a file that lists them)"
        )
        return []
    if not isinstance(inline, list):
        errors.append(f"resourcePaths: must be a list of strings, got {_json_type(inline)}")
        return []
    return [(f"resourcePaths[{index}]", path) for index, path in enumerate(inline)]


def _paths_from_reference(
    reference: object, settings: BatchSettings, read_reference: ReadReference | None, errors: Problems
) -> LabelledPaths:
    if not isinstance(reference, str) or not reference.startswith("s3://"):
        errors.append(f"resourcePathsFrom: must be an s3://bucket/key URL, got {_json_type(reference)}")
        return []
    bucket, _, key = reference.removeprefix("s3://").partition("/")
    if not bucket or not key:
        errors.append(f"resourcePathsFrom: must be an s3://bucket/key URL, got {reference!r}")
        return []
    if not any(f"{bucket}/{key}".startswith(location) for location in settings.input_locations):
        allowed = ", ".join(f"s3://{location}" for location in settings.input_locations) or "none"
        errors.append(
            f"resourcePathsFrom: {reference} is outside the locations this deployment reads requests from "
            f"({allowed})"
        )
        return []
    if read_reference is None:
        errors.append("resourcePathsFrom: references are not supported here")
        return []
    try:
        body = read_reference(bucket, key)
        text = body.decode("utf-8")
    except InvalidInput as error:
        errors.append(str(error))
        return []
    except UnicodeDecodeError as error:
        errors.append(f"resourcePathsFrom: {reference} is not UTF-8 text (byte {error.start})")
        return []
    if text.lstrip().startswith("["):
        return _json_array_paths(reference, text, errors)
    return [
        (f"resourcePathsFrom {reference} line {number}", line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _json_array_paths(reference: str, text: str, errors: Problems) -> LabelledPaths:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        errors.append(
            f"resourcePathsFrom: {reference} line {error.lineno} column {error.colno}: "
            f"not valid JSON ({error.msg})"
        )
        return []
    if not isinstance(values, list):
        errors.append(f"resourcePathsFrom: {reference} must hold a JSON array of paths")
        return []
    return [(f"resourcePathsFrom {reference} item {index}", path) for index, path in enumerate(values)]


def _read_reference(s3: Any, bucket: str, key: str) -> bytes:
    where = f"resourcePathsFrom: s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        if response["ContentLength"] > MAX_REFERENCE_BYTES:
            raise InvalidInput(
                f"{where} is {response['ContentLength']} bytes, at most {MAX_REFERENCE_BYTES} allowed: "
                "split the request"
            )
        return response["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        if code in ("NoSuchKey", "404"):
            raise InvalidInput(f"{where} does not exist: upload the paths file first") from error
        if code == "NoSuchBucket":
            raise InvalidInput(f"{where}: no such bucket") from error
        if code in ("AccessDenied", "403"):
            raise InvalidInput(
                f"{where} does not exist, or the batch function may not read it (AccessDenied): upload it "
                "first, or add its location to the module's request_sources"
            ) from error
        raise InvalidInput(f"{where} cannot be read ({code})") from error
    except BotoCoreError as error:
        raise InvalidInput(f"{where} cannot be read ({error})") from error


def _check_paths(
    labelled: LabelledPaths, base_url: str, settings: BatchSettings, errors: Problems, problems_before: int
) -> list[str]:
    """The canonical paths (bad ones left out after adding their problem to ``errors``)."""
    paths: list[str] = []
    for label, path in labelled:
        try:
            paths.append(check_path(path, base_url, settings.image_key_prefix))
        except UrlProblem as problem:
            errors.append(f"{label}: {problem}")
    if not paths and errors.count == problems_before:
        errors.append("resourcePaths: must not be empty")
    if len(paths) > settings.max_paths_per_execution:
        errors.append(
            f"resourcePaths: {len(paths)} paths but one execution accepts at most "
            f"{settings.max_paths_per_execution}: split the request"
        )
    return paths


def _check_base_url(value: object, errors: Problems) -> str:
    """The canonical base URL, or "" after adding the problem to ``errors``."""
    if value is None:
        errors.append("baseUrl: missing, give the URL the resource paths are relative to")
        return ""
    if not isinstance(value, str) or not value:
        errors.append(f"baseUrl: must be a non-empty string, got {_json_type(value)}")
        return ""
    try:
        return canonical_base_url(value)
    except UrlProblem as problem:
        errors.append(f"baseUrl: {problem}: {_quoted(value)}")
        return ""


def check_path(path: object, base_url: str, image_key_prefix: str) -> str:
    """The canonical form of one path, or ``UrlProblem`` saying why it cannot be downloaded and stored.
    With no valid ``base_url`` (already reported), only the path itself is checked."""
    if not isinstance(path, str):
        raise UrlProblem(f"must be a string, got {_json_type(path)}")
    if not path:
        raise UrlProblem("must not be empty")
    try:
        canonical = canonical_path(path)
    except UrlProblem as problem:
        raise UrlProblem(f"{problem}: {_quoted(path)}") from None
    problem = storage_problem(image_key_prefix, base_url + canonical) if base_url else None
    if problem:
        raise UrlProblem(f"cannot be stored: {problem}")
    return canonical


def _quoted(value: str, limit: int = 100) -> str:
    shown = redact(value)
    return repr(shown if len(shown) <= limit else shown[: limit - 1] + "…")


def _check_integer(event: dict, field: str, low: int, high: int, errors: Problems, *, required: bool) -> int:
    value = event.get(field)
    if value is None:
        if required:
            errors.append(f"{field}: missing, give an integer from {low} to {high}")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{field}: must be an integer from {low} to {high}, got {_json_type(value)}")
        return 0
    if not low <= value <= high:
        errors.append(f"{field}: {value} is out of range, must be from {low} to {high}")
        return 0
    return value


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    return names.get(type(value), type(value).__name__)
