"""Validate a download request and split its paths into batches for the Map state."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from image_downloader.errors import InvalidInput
from image_downloader.settings import MAX_BATCHES_PER_EXECUTION, BatchSettings, batch_settings_from_env

KNOWN_FIELDS = ("baseUrl", "resourcePaths", "lambdaConcur", "batchSize")
MAX_PATH_LENGTH = 1024
MAX_LISTED_ERRORS = 10
_UNSAFE_CHARACTERS = re.compile(r"[\s\x00-\x1f\x7f\\#]")


@dataclass(frozen=True)
class DownloadRequest:
    base_url: str
    resource_paths: tuple[str, ...]
    lambda_concur: int
    batch_size: int
    duplicates_dropped: int


def parse_request(event: object, settings: BatchSettings) -> DownloadRequest:
    """Turn the execution input into a request, or raise InvalidInput naming every bad field."""
    if not isinstance(event, dict):
        raise InvalidInput(f"the request must be a JSON object, got {_json_type(event)}")
    errors = [
        f"unknown field {name!r} (expected one of {', '.join(KNOWN_FIELDS)})"
        for name in event
        if name not in KNOWN_FIELDS
    ]
    base_url = _check_base_url(event.get("baseUrl"), errors)
    paths = _check_paths(event.get("resourcePaths"), settings, errors)
    lambda_concur = _check_integer(
        event, "lambdaConcur", 1, settings.max_lambda_concur, errors, required=True
    )
    batch_size = _check_integer(
        event, "batchSize", 1, settings.max_paths_per_execution, errors, required=False
    )
    _raise_if_any(errors)

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
    )


def split_into_batches(request: DownloadRequest) -> dict[str, Any]:
    """The batch step's output: the seed's ``tasks`` shape plus the counts later states report."""
    batch_input = {"baseUrl": request.base_url, "lambdaConcur": request.lambda_concur}
    paths = request.resource_paths
    tasks = [
        {"resourcePaths": list(paths[start : start + request.batch_size]), "batchInput": batch_input}
        for start in range(0, len(paths), request.batch_size)
    ]
    return {
        "tasks": tasks,
        "total": len(paths),
        "duplicatesDropped": request.duplicates_dropped,
        "batchCount": len(tasks),
    }


def handler(event: dict, context: object) -> dict:
    return split_into_batches(parse_request(event, batch_settings_from_env()))


def _check_base_url(value: object, errors: list[str]) -> str:
    if value is None:
        errors.append("baseUrl: missing, give the URL the resource paths are relative to")
        return ""
    if not isinstance(value, str) or not value.strip():
        errors.append(f"baseUrl: must be a non-empty string, got {_json_type(value)}")
        return ""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        errors.append(f"baseUrl: must start with http:// or https://, got {value!r}")
    elif not parts.hostname:
        errors.append(f"baseUrl: has no host: {value!r}")
    elif parts.username or parts.password:
        errors.append("baseUrl: must not contain credentials (user:password@)")
    elif parts.query or parts.fragment:
        errors.append(f"baseUrl: must not contain a query or fragment: {value!r}")
    return value.strip() if value.strip().endswith("/") else value.strip() + "/"


def _check_paths(value: object, settings: BatchSettings, errors: list[str]) -> list[str]:
    if value is None:
        errors.append("resourcePaths: missing, give a list of paths relative to baseUrl")
        return []
    if not isinstance(value, list):
        errors.append(f"resourcePaths: must be a list of strings, got {_json_type(value)}")
        return []
    if not value:
        errors.append("resourcePaths: must not be empty")
        return []
    if len(value) > settings.max_paths_per_execution:
        errors.append(
            f"resourcePaths: {len(value)} paths but one execution accepts at most "
            f"{settings.max_paths_per_execution}: split the request"
        )
        return []
    for index, path in enumerate(value):
        problem = _path_problem(path)
        if problem:
            errors.append(f"resourcePaths[{index}]: {problem}")
    return [path for path in value if isinstance(path, str)]


def _path_problem(path: object) -> str | None:
    if not isinstance(path, str):
        return f"must be a string, got {_json_type(path)}"
    if not path:
        return "must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"is {len(path)} characters long, at most {MAX_PATH_LENGTH} allowed"
    if urlsplit(path).scheme or path.startswith("//"):
        return f"must be a path relative to baseUrl, not a URL: {path!r}"
    if path.startswith("/"):
        return f"must be relative to baseUrl (no leading '/'): {path!r}"
    if _UNSAFE_CHARACTERS.search(path):
        return f"must not contain whitespace, control characters, '\\' or '#' (percent-encode them): {path!r}"
    if ".." in unquote(path.split("?", 1)[0]).split("/"):
        return f"must not contain '..': {path!r}"
    return None


def _check_integer(event: dict, field: str, low: int, high: int, errors: list[str], *, required: bool) -> int:
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


def _raise_if_any(errors: list[str]) -> None:
    if not errors:
        return
    listed = errors[:MAX_LISTED_ERRORS]
    more = len(errors) - len(listed)
    suffix = f"; and {more} more problem(s)" if more else ""
    raise InvalidInput("; ".join(listed) + suffix)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    return names.get(type(value), type(value).__name__)
