"""Start one execution on the emulated deployment, show progress, and collect what a user wants to see."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runner.emulator import Deployment
from local_runner.limits import Figures
from local_runner.store import bucket_keys, execution_record_count, snapshot

EXIT_SUCCEEDED = 0
EXIT_IMAGES_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_EXECUTION_FAILED = 3
# A request larger than this goes to S3 and the execution gets a resourcePathsFrom reference instead: the
# execution input may be 256 KiB, and the batch step's Lambda payload wraps it in a few more bytes.
STAGE_ABOVE_BYTES = 200 * 1024
COUNT_ATTEMPTS = 20


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    stored: int
    failed: int


@dataclass(frozen=True)
class Refusal:
    """An InvalidInput cause: the batch step's JSON document (image_downloader.problems.cause_document),
    or, from elsewhere, one problem in plain text."""

    message: str
    problems: list[dict[str, str]]
    more: int = 0

    def lines(self) -> list[str]:
        lines = [f"{problem['field']}: {problem['problem']}" for problem in self.problems]
        if self.more:
            lines.append(f"and {self.more} more problem(s): fix these and run again to see them")
        return lines


def refusal_of(cause: str | None) -> Refusal:
    try:
        document = json.loads(cause or "")
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("problems"), list):
        return Refusal(str(document.get("message", "")), document["problems"], int(document.get("more") or 0))
    return Refusal(cause or "", [{"field": "request", "problem": cause or "(no cause given)"}])


@dataclass
class RunResult:
    execution_name: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any] | None
    summary: dict[str, Any] | None
    notifications: list[dict[str, str]]
    stored_keys: list[str] = field(default_factory=list)
    record_count: int = 0
    elapsed_seconds: float = 0.0
    figures: Figures = field(default_factory=Figures)
    memory_mb: dict[str, int] = field(default_factory=dict)
    staged_input: str | None = None
    interrupted: str | None = None

    @property
    def refusal(self) -> Refusal | None:
        return refusal_of(self.cause) if self.error == "InvalidInput" else None

    @property
    def images(self) -> int:
        return int((self.summary or {}).get("requested") or 0)

    @property
    def transitions_per_image(self) -> float:
        return self.figures.state_transitions / self.images if self.images else 0.0

    @property
    def largest_payload_kib(self) -> float:
        return self.figures.largest_payload_bytes / 1024

    @property
    def exit_code(self) -> int:
        if self.status == "SUCCEEDED":
            return EXIT_SUCCEEDED
        if self.error in ("ImagesFailed", "ImagesFailedUnnotified"):
            return EXIT_IMAGES_FAILED
        if self.error == "InvalidInput":
            return EXIT_INVALID_INPUT
        return EXIT_EXECUTION_FAILED


def run_execution(
    deployment: Deployment,
    request: dict[str, Any],
    on_progress: Callable[[Progress], None] | None = None,
    poll_seconds: float = 0.2,
    timeout_seconds: float = 3600,
    stage_large_inputs: bool = True,
    on_notice: Callable[[str], None] | None = None,
    stop_reason: Callable[[], str | None] | None = None,
) -> RunResult:
    """Run the state machine on ``request`` until it ends; report progress while it runs.

    A request over ``STAGE_ABOVE_BYTES`` has its paths uploaded to ``s3://<bucket>/<input prefix>`` and is
    sent as a ``resourcePathsFrom`` reference (``stage_large_inputs=False`` sends it as it is);
    ``on_notice`` hears about it before the execution starts. When ``stop_reason()`` gives a reason
    (a signal), the execution is stopped at once, without waiting for the batches in flight, and the
    result holds what is known: the images stored so far, the failures of the batches done."""
    sfn = deployment.client("stepfunctions")
    name = f"local-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staged = stage_large_request(deployment, request, name) if stage_large_inputs else None
    if staged:
        request = {key: value for key, value in request.items() if key != "resourcePaths"}
        request["resourcePathsFrom"] = staged
        if on_notice:
            on_notice(f"Request too large to send inline: paths staged at {staged}")
    deployment.take_figures()
    before = snapshot(deployment, deployment.config.image_key_prefix)
    started = time.monotonic()
    execution_arn = sfn.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=name, input=json.dumps(request)
    )["executionArn"]
    interrupted = None
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if on_progress:
            on_progress(current_progress(deployment, execution_arn))
        if description["status"] != "RUNNING":
            break
        interrupted = stop_reason() if stop_reason else None
        if interrupted:
            sfn.stop_execution(executionArn=execution_arn, error="LocalInterrupted", cause=interrupted)
            description = _described_once_stopped(sfn, execution_arn, interrupted)
            break
        if time.monotonic() - started > timeout_seconds:
            sfn.stop_execution(
                executionArn=execution_arn, error="LocalTimeout", cause="the local run timed out"
            )
            continue
        time.sleep(poll_seconds)
    elapsed = time.monotonic() - started
    figures = deployment.take_figures()
    consolidated = deployment.invocations.of("consolidate")
    return RunResult(
        execution_name=name,
        status=description["status"],
        error=description.get("error"),
        cause=description.get("cause"),
        output=json.loads(description["output"]) if description.get("output") else None,
        summary=consolidated[-1]
        if consolidated
        else (partial_summary(deployment, execution_arn) if interrupted else None),
        notifications=deployment.notifications(),
        stored_keys=bucket_keys(deployment, deployment.config.image_key_prefix, since=before),
        record_count=record_count(deployment, execution_arn),
        elapsed_seconds=elapsed,
        figures=figures,
        memory_mb=deployment.memory_mb,
        staged_input=staged,
        interrupted=interrupted,
    )


def _described_once_stopped(sfn: Any, execution_arn: str, reason: str, seconds: float = 1) -> dict[str, Any]:
    """The stopped execution as AWS describes it at once: ABORTED, with the error and cause of the stop.
    (moto keeps it RUNNING until the batch in flight returns, and drops the error and cause.)"""
    deadline = time.monotonic() + seconds
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return {**description, "status": "ABORTED", "error": "LocalInterrupted", "cause": reason}


def partial_summary(deployment: Deployment, execution_arn: str) -> dict[str, Any]:
    """What a stopped execution is known to have done: the records written so far, and the failures in
    the results of the batches that ended (the batches in flight are not waited for)."""
    batches = deployment.invocations.of("batch")
    requested = int(batches[-1].get("total") or 0) if batches and isinstance(batches[-1], dict) else 0
    s3 = deployment.client("s3")
    failures: list[dict[str, Any]] = []
    for result in deployment.invocations.of("download"):
        if isinstance(result, dict) and result.get("resultKey"):
            body = s3.get_object(Bucket=deployment.config.bucket, Key=result["resultKey"])["Body"].read()
            failures.extend(json.loads(body).get("failures") or [])
    stored = record_count(deployment, execution_arn)
    return {
        "requested": requested,
        "succeeded": stored,
        "failed": len(failures),
        "notAttempted": max(0, requested - stored - len(failures)),
        "failures": failures,
    }


def stage_paths_file(deployment: Deployment, request: Any, request_file: Path | None) -> Any:
    """A request whose ``resourcePathsFrom`` names a local file (relative to the request file), with
    that file uploaded to ``s3://<bucket>/<input prefix>`` and the reference pointing there."""
    reference = request.get("resourcePathsFrom") if isinstance(request, dict) else None
    if not isinstance(reference, str) or reference.startswith("s3://"):
        return request
    path = Path(reference)
    if not path.is_absolute() and request_file is not None:
        path = request_file.parent / path
    if not path.is_file():
        raise FileNotFoundError(
            f"resourcePathsFrom: {reference} is neither an s3:// URL nor a file ({path} does not exist)"
        )
    body = path.read_bytes()
    key = (
        f"{deployment.config.input_key_prefix}{path.stem}-{hashlib.sha256(body).hexdigest()[:8]}{path.suffix}"
    )
    deployment.client("s3").put_object(Bucket=deployment.config.bucket, Key=key, Body=body)
    return {**request, "resourcePathsFrom": f"s3://{deployment.config.bucket}/{key}"}


def stage_large_request(deployment: Deployment, request: dict[str, Any], name: str) -> str | None:
    """Upload the paths of a request too large to send inline; return their s3:// URL, or None.

    They go as a JSON array, entry for entry (a bad one, a number or a path with a newline, is named by
    the batch step as ``item N``; the text form would strip spaces and drop lines starting with ``#``)."""
    paths = request.get("resourcePaths") if isinstance(request, dict) else None
    if not isinstance(paths, list) or len(json.dumps(request).encode()) <= STAGE_ABOVE_BYTES:
        return None
    key = f"{deployment.config.input_key_prefix}{name}.json"
    body = json.dumps(paths, ensure_ascii=False).encode()
    deployment.client("s3").put_object(Bucket=deployment.config.bucket, Key=key, Body=body)
    return f"s3://{deployment.config.bucket}/{key}"


def current_progress(deployment: Deployment, execution_arn: str | None = None) -> Progress:
    batches = deployment.invocations.of("batch")
    total = batches[-1].get("total") if batches and "total" in batches[-1] else None
    failed = sum(result.get("failed", 0) for result in deployment.invocations.of("download"))
    stored = record_count(deployment, execution_arn)
    return Progress(done=stored + failed, total=total, stored=stored, failed=failed)


def record_count(deployment: Deployment, execution_arn: str | None = None) -> int:
    """Items in the emulated table (those ``execution_arn`` wrote, when given: the table may hold the
    records of earlier runs of a persisted local deployment). moto counts them live in DescribeTable
    (AWS refreshes ItemCount every few hours); a Scan would sort the whole table on every page, minutes
    at 100,000 items."""
    if execution_arn is not None:
        counted = execution_record_count(deployment, execution_arn)
        if counted is not None:
            return counted
    dynamodb = deployment.client("dynamodb")
    for _ in range(COUNT_ATTEMPTS - 1):
        try:
            return int(dynamodb.describe_table(TableName=deployment.config.table)["Table"]["ItemCount"])
        except RuntimeError:  # moto counts the items while download threads add to them
            time.sleep(0.01)
    return int(dynamodb.describe_table(TableName=deployment.config.table)["Table"]["ItemCount"])
