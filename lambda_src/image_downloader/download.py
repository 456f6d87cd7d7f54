"""The download Lambda (one batch of the Map) and a command line to the same engine.

Lambda: ``image_downloader.download.handler``: reads its batch from S3 by key, writes its result next to
it and returns counts only; event and result shapes are in ``docs/design.md``.

Command line::

    python -m image_downloader.download --base-url URL --paths-file FILE -c N [--out DIR]

downloads every path of FILE (one per line) to DIR, or checks and discards them without ``--out``, and
exits non-zero when any failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from image_downloader.engine import BatchOutcome, Deadline, RetryPolicy, Sink, download_all
from image_downloader.errors import InvalidInput
from image_downloader.redact import redact
from image_downloader.runs import RunLayout, get_json, put_json
from image_downloader.settings import DownloadSettings, download_settings_from_env
from image_downloader.storage import AwsClients, DiscardSink, FolderSink, S3DynamoSink, clients_for
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
    result = download_batch(request, settings, Deadline.from_context(context))
    logger.info(
        "batch done",
        extra={
            "execution": request.execution_name,
            "batch": request.batch_index,
            "stored": result["succeeded"],
            "failed": result["failed"],
        },
    )
    return result


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
    return {**counts, "resultKey": key}


def result_document(request: BatchRequest, outcome: BatchOutcome) -> dict:
    return {
        "executionName": request.execution_name,
        "failures": [failure.to_json() for failure in outcome.failures],
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


# --- command line ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    paths = _read_paths(args.paths_file)
    urls = [resource_url(args.base_url, path) for path in paths]
    settings = DownloadSettings(
        bucket_name="",
        table_name="",
        max_image_bytes=args.max_bytes,
        allow_private_addresses=args.allow_private_addresses,
        connect_timeout_seconds=args.connect_timeout,
        read_timeout_seconds=args.read_timeout,
    )
    sink: Sink = FolderSink(args.out) if args.out else DiscardSink()
    started = time.perf_counter()
    outcome = download_all(urls, args.concurrency, sink, settings, Deadline())
    elapsed = time.perf_counter() - started
    _print_summary(outcome, elapsed, args.out)
    return 1 if outcome.failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m image_downloader.download",
        description="Download images concurrently with the engine of the download Lambda.",
    )
    parser.add_argument("--base-url", required=True, help="URL the paths are relative to")
    parser.add_argument("--paths-file", required=True, type=Path, help="one path per line ('#' comments)")
    parser.add_argument("-c", "--concurrency", type=_positive, default=10, help="requests in flight (10)")
    parser.add_argument("--out", type=Path, help="folder to write the images to (default: discard them)")
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="allow loopback and private addresses such as 127.0.0.1 (refused by default)",
    )
    parser.add_argument("--max-bytes", type=_positive, default=DownloadSettings("", "").max_image_bytes)
    parser.add_argument("--connect-timeout", type=float, default=5.0, help="seconds (5)")
    parser.add_argument("--read-timeout", type=float, default=30.0, help="seconds (30)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _read_paths(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SystemExit(f"cannot read --paths-file: {error}") from error
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _print_summary(outcome: BatchOutcome, elapsed: float, out: Path | None) -> None:
    rate = outcome.succeeded / elapsed if elapsed > 0 else 0.0
    where = f" to {out}" if out else " (discarded)"
    print(f"{outcome.succeeded} images downloaded{where} in {elapsed:.2f} s ({rate:.1f} images/s)")
    if outcome.failures:
        print(f"{outcome.failed} failed:")
        for failure in outcome.failures:
            print(f"  [{failure.kind}] {failure.reason}")


if __name__ == "__main__":
    sys.exit(main())
