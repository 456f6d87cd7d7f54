"""Validate a download request: every field checked, every path put in canonical form, or one
``InvalidInput`` naming each bad field (the first ``MAX_LISTED_ERRORS`` of them, and how many in all).

Each path is checked and put in canonical form (``urls.py``) here, before anything is downloaded:
paths whose URLs are equal once canonical are one image (dropped as duplicates), and a path whose S3
key, DynamoDB key or metadata would exceed AWS's limits is refused with the field named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from image_downloader import reruns
from image_downloader.errors import InvalidInput
from image_downloader.keys import storage_problem
from image_downloader.path_sources import LabelledPaths, ReadReference, labelled_paths
from image_downloader.problems import Problems, json_type
from image_downloader.redact import redact
from image_downloader.settings import MAX_BATCHES_PER_EXECUTION, BatchSettings
from image_downloader.urls import UrlProblem, canonical_base_url, canonical_path

KNOWN_FIELDS = (
    "baseUrl",
    "resourcePaths",
    "resourcePathsFrom",
    "lambdaConcur",
    "batchSize",
    "maxConcurrentBatches",
    *reruns.RERUN_FIELDS,
)


@dataclass(frozen=True)
class DownloadRequest:
    base_url: str
    resource_paths: tuple[str, ...]
    lambda_concur: int
    batch_size: int
    duplicates_dropped: int
    max_concurrent_batches: int
    skipped: int = 0


def parse_request(
    event: object,
    settings: BatchSettings,
    read_reference: ReadReference | None = None,
    errors: Problems | None = None,
) -> DownloadRequest:
    """Turn the execution input into a request, or raise InvalidInput naming every bad field (with the
    problems already in ``errors``, those of the rerun fields).

    ``read_reference(bucket, key)`` returns the bytes of a ``resourcePathsFrom`` object."""
    if not isinstance(event, dict):
        raise InvalidInput(f"the request must be a JSON object, got {json_type(event)}")
    errors = errors if errors is not None else Problems()
    for name in event:
        if name not in KNOWN_FIELDS:
            errors.add(name, f"unknown field (expected one of {', '.join(KNOWN_FIELDS)})")
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
    labelled = labelled_paths(event, settings, read_reference, errors)
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


def _check_paths(
    labelled: LabelledPaths, base_url: str, settings: BatchSettings, errors: Problems, problems_before: int
) -> list[str]:
    """The canonical paths (bad ones left out after adding their problem to ``errors``)."""
    paths: list[str] = []
    for label, path in labelled:
        try:
            paths.append(check_path(path, base_url, settings.image_key_prefix))
        except UrlProblem as problem:
            errors.add(label, str(problem))
    if not paths and errors.count == problems_before:
        errors.add("resourcePaths", "must not be empty")
    if len(paths) > settings.max_paths_per_execution:
        errors.add(
            "resourcePaths",
            f"{len(paths)} paths but one execution accepts at most "
            f"{settings.max_paths_per_execution}: split the request",
        )
    return paths


def _check_base_url(value: object, errors: Problems) -> str:
    """The canonical base URL, or "" after adding the problem to ``errors``."""
    if value is None:
        errors.add("baseUrl", "missing, give the URL the resource paths are relative to")
        return ""
    if not isinstance(value, str) or not value:
        errors.add("baseUrl", f"must be a non-empty string, got {json_type(value)}")
        return ""
    try:
        return canonical_base_url(value)
    except UrlProblem as problem:
        errors.add("baseUrl", f"{problem}: {_quoted(value)}")
        return ""


def check_path(path: object, base_url: str, image_key_prefix: str) -> str:
    """The canonical form of one path, or ``UrlProblem`` saying why it cannot be downloaded and stored.
    With no valid ``base_url`` (already reported), only the path itself is checked."""
    if not isinstance(path, str):
        raise UrlProblem(f"must be a string, got {json_type(path)}")
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
            errors.add(field, f"missing, give an integer from {low} to {high}")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(field, f"must be an integer from {low} to {high}, got {json_type(value)}")
        return 0
    if not low <= value <= high:
        errors.add(field, f"{value} is out of range, must be from {low} to {high}")
        return 0
    return value
