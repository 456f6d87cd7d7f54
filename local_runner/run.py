"""Start one execution on the emulated deployment, show progress, and collect what a user wants to see."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_runner.emulator import Deployment
from local_runner.limits import Figures

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
) -> RunResult:
    """Run the state machine on ``request`` until it ends; report progress while it runs.

    A request over ``STAGE_ABOVE_BYTES`` has its paths uploaded to ``s3://<bucket>/<input prefix>`` and is
    sent as a ``resourcePathsFrom`` reference (``stage_large_inputs=False`` sends it as it is)."""
    sfn = deployment.client("stepfunctions")
    name = f"local-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staged = stage_large_request(deployment, request, name) if stage_large_inputs else None
    if staged:
        request = {key: value for key, value in request.items() if key != "resourcePaths"}
        request["resourcePathsFrom"] = staged
    deployment.take_figures()
    started = time.monotonic()
    execution_arn = sfn.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=name, input=json.dumps(request)
    )["executionArn"]
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if on_progress:
            on_progress(current_progress(deployment))
        if description["status"] != "RUNNING":
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
        summary=consolidated[-1] if consolidated else None,
        notifications=deployment.notifications(),
        stored_keys=stored_keys(deployment),
        record_count=record_count(deployment),
        elapsed_seconds=elapsed,
        figures=figures,
        memory_mb=deployment.memory_mb,
        staged_input=staged,
    )


def stage_large_request(deployment: Deployment, request: dict[str, Any], name: str) -> str | None:
    """Upload the paths of a request too large to send inline; return their s3:// URL, or None."""
    paths = request.get("resourcePaths") if isinstance(request, dict) else None
    if not isinstance(paths, list) or len(json.dumps(request).encode()) <= STAGE_ABOVE_BYTES:
        return None
    if not all(isinstance(path, str) and "\n" not in path for path in paths):
        return None  # let the batch step name the bad entries
    key = f"{deployment.config.input_key_prefix}{name}.txt"
    body = "".join(f"{path}\n" for path in paths).encode()
    deployment.client("s3").put_object(Bucket=deployment.config.bucket, Key=key, Body=body)
    return f"s3://{deployment.config.bucket}/{key}"


def current_progress(deployment: Deployment) -> Progress:
    batches = deployment.invocations.of("batch")
    total = batches[-1].get("total") if batches and "total" in batches[-1] else None
    failed = sum(result.get("failed", 0) for result in deployment.invocations.of("download"))
    stored = record_count(deployment)
    return Progress(done=stored + failed, total=total, stored=stored, failed=failed)


def record_count(deployment: Deployment) -> int:
    """Items in the emulated table. moto counts them live in DescribeTable (AWS refreshes ItemCount every
    few hours); a Scan would sort the whole table on every page, minutes at 100,000 items."""
    dynamodb = deployment.client("dynamodb")
    for _ in range(COUNT_ATTEMPTS - 1):
        try:
            return int(dynamodb.describe_table(TableName=deployment.config.table)["Table"]["ItemCount"])
        except RuntimeError:  # moto counts the items while download threads add to them
            time.sleep(0.01)
    return int(dynamodb.describe_table(TableName=deployment.config.table)["Table"]["ItemCount"])


def stored_keys(deployment: Deployment) -> list[str]:
    s3 = deployment.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=deployment.config.bucket, Prefix=deployment.config.image_key_prefix
    )
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
