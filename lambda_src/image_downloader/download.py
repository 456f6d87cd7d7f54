"""The download Lambda (one batch of the Map) and a command line to the same engine.

Lambda: ``image_downloader.download.handler``: reads its batch from S3 by key, writes its result next to
it and returns counts only; event and result shapes are in ``docs/design.md``.

Command line (``cli.py``; exit codes 0 all downloaded, 1 some failed, 2 usage or input error)::

    python -m image_downloader.download --base-url URL --paths-file FILE -c N [--out DIR]
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass

from image_downloader.engine import NOT_ATTEMPTED, download_all
from image_downloader.errors import InvalidInput
from image_downloader.logs import milliseconds_since
from image_downloader.model import BatchOutcome
from image_downloader.redact import redact
from image_downloader.retry import RetryPolicy
from image_downloader.runs import RunLayout, get_json, put_json
from image_downloader.settings import DownloadSettings, download_settings_from_env
from image_downloader.storage import AwsClients, S3DynamoSink, clients_for
from image_downloader.timelimit import Deadline
from image_downloader.urls import UrlProblem, canonical_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchReference:
    """The Distributed Map's item: which batch to download, by its key in S3."""

    batch_index: int
    batch_key: str
    execution_name: str
    execution_id: str | None

    @classmethod
    def from_event(cls, event: object) -> BatchReference:
        if not isinstance(event, dict):
            raise InvalidInput("the download event must be a JSON object")
        return cls(
            batch_index=_integer(event, "batchIndex", minimum=0),
            batch_key=_text(event, "batchKey", "batchKey"),
            execution_name=_execution_name(event.get("executionName")),
            execution_id=_optional_text(event, "executionId"),
        )


@dataclass(frozen=True)
class BatchRequest:
    batch_index: int
    execution_name: str
    execution_id: str | None
    base_url: str
    resource_paths: tuple[str, ...]
    concurrency: int

    @classmethod
    def from_batch(cls, reference: BatchReference, batch: object) -> BatchRequest:
        """The batch object ValidateAndBatch wrote (``{"baseUrl", "lambdaConcur", "resourcePaths"}``)."""
        if not isinstance(batch, dict):
            raise InvalidInput(f"{reference.batch_key}: must hold a JSON object")
        return cls(
            batch_index=reference.batch_index,
            execution_name=reference.execution_name,
            execution_id=reference.execution_id,
            base_url=_text(batch, "baseUrl", f"{reference.batch_key}: baseUrl"),
            resource_paths=_paths(batch.get("resourcePaths")),
            concurrency=_integer(
                batch, "lambdaConcur", minimum=1, label=f"{reference.batch_key}: lambdaConcur"
            ),
        )

    @property
    def urls(self) -> list[str]:
        return [resource_url(self.base_url, path) for path in self.resource_paths]


def resource_url(base_url: str, path: str) -> str:
    """The canonical URL of ``path`` under ``base_url`` (``urls.py``): ``("https://H/base", "a/./x.gif")``
    -> ``https://h/base/a/x.gif``. The batch step has checked both; a bad one here is a bad event."""
    try:
        return canonical_url(base_url, path)
    except UrlProblem as problem:
        raise InvalidInput(f"{redact(path)!r} under {redact(base_url)!r}: {problem}") from None


def handler(event: dict, context: object) -> dict:
    reference = BatchReference.from_event(event)
    settings = download_settings_from_env()
    layout = RunLayout(settings.run_key_prefix, reference.execution_name)
    if not layout.owns(reference.batch_key):
        raise InvalidInput(
            f"batchKey: {reference.batch_key!r} is not a batch of this execution ({layout.root})"
        )
    batch = get_json(clients_for(1).s3, settings.bucket_name, reference.batch_key)
    request = BatchRequest.from_batch(reference, batch)
    return download_batch(request, settings, Deadline.from_context(context))


def download_batch(
    request: BatchRequest,
    settings: DownloadSettings,
    deadline: Deadline,
    clients: AwsClients | None = None,
    policy: RetryPolicy | None = None,
) -> dict:
    """Download, store and record one batch, then write its result (counts and every failure) to S3.

    The result object is how Consolidate learns what happened: a batch without one counts as crashed. So
    an error writing it propagates (the state machine's Catch records the batch) rather than being
    swallowed."""
    started = time.monotonic()
    clients = clients or clients_for(request.concurrency)
    sink = S3DynamoSink(settings, clients, request.execution_id)
    outcome = download_all(request.urls, request.concurrency, sink, settings, deadline, policy=policy)
    key = RunLayout(settings.run_key_prefix, request.execution_name).result_key(request.batch_index)
    counts = {
        "batchIndex": request.batch_index,
        "requested": outcome.requested,
        "succeeded": outcome.succeeded,
        "failed": outcome.failed,
        "bytes": outcome.bytes,
    }
    put_json(clients.s3, settings.bucket_name, key, {**counts, **result_document(request, outcome)})
    log_batch_done(request, outcome, milliseconds_since(started))
    return {**counts, "resultKey": key}


def log_batch_done(request: BatchRequest, outcome: BatchOutcome, duration_ms: int) -> None:
    """The batch's line: its counts (``failed`` + ``notAttempted`` = what the report lists as failed),
    how long it took and the failures by kind; never a URL."""
    kinds = Counter(failure.kind for failure in outcome.failures)
    not_attempted = sum(1 for failure in outcome.failures if failure.reason == NOT_ATTEMPTED)
    logger.info(
        "batch done",
        extra={
            "executionName": request.execution_name,
            "batchIndex": request.batch_index,
            "requested": outcome.requested,
            "stored": outcome.succeeded,
            "failed": outcome.failed - not_attempted,
            "notAttempted": not_attempted,
            "bytes": outcome.bytes,
            "durationMs": duration_ms,
            "failureKinds": dict(sorted(kinds.items())),
            "concurrency": request.concurrency,
        },
    )


def result_document(request: BatchRequest, outcome: BatchOutcome) -> dict:
    """The failures masked, as reports show them, and their URLs as requested (run data, not a message:
    ``retryFailuresOf`` requests them again)."""
    return {
        "executionName": request.execution_name,
        "failures": [failure.to_json() for failure in outcome.failures],
        "failedUrls": [failure.url for failure in outcome.failures],
    }


def _integer(source: dict, name: str, minimum: int, label: str | None = None) -> int:
    value = source.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{label or name}: must be an integer >= {minimum}, got {value!r}")
    return value


def _text(source: dict, name: str, label: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{label}: must be a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(source: dict, name: str) -> str | None:
    value = source.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name}: must be a string, got {value!r}")
    return value or None


def _execution_name(value: object) -> str:
    if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
        raise InvalidInput(f"executionName: must be a Step Functions execution name, got {value!r}")
    return value


def _paths(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"resourcePaths: must be a list of strings, got {type(value).__name__}")
    for index, path in enumerate(value):
        if not isinstance(path, str) or not path:
            raise InvalidInput(f"resourcePaths[{index}]: must be a non-empty string, got {path!r}")
    return tuple(value)


if __name__ == "__main__":
    from image_downloader.cli import main

    sys.exit(main())
