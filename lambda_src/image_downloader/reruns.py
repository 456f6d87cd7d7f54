"""Incremental and retry runs, for the batch step.

- ``skipExisting: true`` leaves out every URL the table already records (read in BatchGetItem calls of
  100 keys); they are counted as ``skipped``, not downloaded again.
- ``retryFailuresOf: "<execution name>"`` takes the failed URLs of that execution as the request's
  paths, as they were requested (``<run prefix><execution>/failed-urls.json``, written by Consolidate
  next to the masked report: a query token is requested again with its value); ``baseUrl`` may be left
  out (the failures' common origin is used).

The batch handler takes these two fields off the request (``take_rerun_fields``), builds the request
from a report when asked (``request_from_report``) and, once the request is validated, drops what is
recorded (``drop_recorded``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from image_downloader.errors import InvalidInput

RERUN_FIELDS = ("skipExisting", "retryFailuresOf")
BATCH_GET_KEYS = 100
BATCH_GET_ATTEMPTS = 8
# A report of a million failures of ~200 bytes each; larger ones are refused rather than half read.
MAX_REPORT_BYTES = 256 * 1024 * 1024
_EXECUTION_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

# keys -> (the URLs of the keys found, the keys DynamoDB left unprocessed)
BatchGet = Callable[[list[str]], tuple[list[str], list[str]]]
# key -> its bytes, or None when there is no such object
ReadReport = Callable[[str], bytes | None]


@dataclass(frozen=True)
class Rerun:
    skip_existing: bool = False
    retry_failures_of: str | None = None


def take_rerun_fields(event: Mapping[str, Any]) -> tuple[dict[str, Any], Rerun]:
    """The request without the rerun fields, and those fields checked."""
    request = {name: value for name, value in event.items() if name not in RERUN_FIELDS}
    skip = event.get("skipExisting", False)
    if not isinstance(skip, bool):
        raise InvalidInput(f"skipExisting: must be true or false, got {json.dumps(skip)}")
    retry = event.get("retryFailuresOf")
    if retry is not None and (
        not isinstance(retry, str) or not 1 <= len(retry) <= 80 or not set(retry) <= _EXECUTION_NAME
    ):
        raise InvalidInput(
            f"retryFailuresOf: must be the name of an earlier execution, got {json.dumps(retry)}"
        )
    return request, Rerun(skip_existing=skip, retry_failures_of=retry)


def request_from_report(
    request: Mapping[str, Any], execution: str, run_prefix: str, read_report: ReadReport
) -> dict[str, Any]:
    """The request with the failed URLs of ``execution`` (its run's ``failed-urls.json``) as its paths."""
    if "resourcePaths" in request or "resourcePathsFrom" in request:
        raise InvalidInput("retryFailuresOf: takes its paths from the report, so give no resourcePaths")
    key = f"{run_prefix}{execution}/failed-urls.json"
    body = read_report(key)
    if body is None:
        raise InvalidInput(
            f"retryFailuresOf: execution {execution!r} has no report (no list of failed URLs at {key}): "
            "unknown execution, one that has not ended, or its run data expired"
        )
    if len(body) > MAX_REPORT_BYTES:
        raise InvalidInput(f"retryFailuresOf: the report of {execution!r} is over {MAX_REPORT_BYTES} bytes")
    urls = json.loads(body).get("urls") or []
    unknown = sum(1 for url in urls if not isinstance(url, str))
    if unknown:
        raise InvalidInput(
            f"retryFailuresOf: the report of {execution!r} counts {unknown} failure(s) without their URL "
            "(missing from the batch results): run the original request again with skipExisting: true"
        )
    if not urls:
        raise InvalidInput(f"retryFailuresOf: the report of {execution!r} lists no failed URL")
    base_url = request.get("baseUrl")
    if base_url is None:
        base_url = _origin(urls[0])
    if not isinstance(base_url, str):
        return dict(request)  # the request's own validation names the bad baseUrl
    base = base_url if base_url.endswith("/") else base_url + "/"
    outside = [url for url in urls if not url.startswith(base)]
    if outside:
        raise InvalidInput(
            f"retryFailuresOf: {len(outside)} failed URL(s) of {execution!r} are not under baseUrl {base}, "
            f"e.g. {outside[0]}"
        )
    return {
        **request,
        "baseUrl": base,
        "resourcePaths": list(dict.fromkeys(url[len(base) :] for url in urls)),
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def drop_recorded(
    base_url: str, paths: Sequence[str], batch_get: BatchGet, sleep: Callable[[float], None] = time.sleep
) -> tuple[tuple[str, ...], int]:
    """The paths whose URL the table does not record yet, and how many were left out."""
    recorded = recorded_urls((base_url + path for path in paths), batch_get, sleep)
    kept = tuple(path for path in paths if base_url + path not in recorded)
    return kept, len(paths) - len(kept)


def recorded_urls(
    urls: Iterable[str], batch_get: BatchGet, sleep: Callable[[float], None] = time.sleep
) -> set[str]:
    """Which of urls the table records, BATCH_GET_KEYS at a time, retrying unprocessed keys with backoff."""
    found: set[str] = set()
    pending = list(dict.fromkeys(urls))
    for start in range(0, len(pending), BATCH_GET_KEYS):
        keys = pending[start : start + BATCH_GET_KEYS]
        for attempt in range(BATCH_GET_ATTEMPTS):
            hits, keys = batch_get(keys)
            found.update(hits)
            if not keys:
                break
            sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(
                f"DynamoDB left {len(keys)} key(s) unprocessed after {BATCH_GET_ATTEMPTS} attempts"
            )
    return found


def dynamodb_batch_get(client: Any, table: str) -> BatchGet:
    """BatchGetItem of url keys, reading only the key attribute."""

    def batch_get(keys: list[str]) -> tuple[list[str], list[str]]:
        response = client.batch_get_item(
            RequestItems={
                table: {
                    "Keys": [{"url": {"S": key}} for key in keys],
                    "ProjectionExpression": "#u",
                    "ExpressionAttributeNames": {"#u": "url"},
                }
            }
        )
        hits = [item["url"]["S"] for item in response.get("Responses", {}).get(table, [])]
        unprocessed = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
        return hits, [key["url"]["S"] for key in unprocessed]

    return batch_get
