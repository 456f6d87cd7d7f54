"""``python -m local_runner``: run the deployed pipeline on this machine, on an in-process AWS emulator.

Exit codes: 0 every image stored; 1 some images failed; 2 the request was invalid; 3 the execution
failed for another reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from local_runner.emulator import LOCAL_MAP_EXECUTION_TYPE, DeploymentConfig, emulated_deployment
from local_runner.lambda_logs import LEVELS
from local_runner.limits import HISTORY_EVENT_LIMIT, STATE_PAYLOAD_LIMIT_BYTES
from local_runner.results import OutputFolderNotEmpty, SavedRun, check_output_folder, run_folder, save_run
from local_runner.run import EXIT_INVALID_INPUT, Progress, RunResult, run_execution
from local_runner.sample_images import sample_set
from local_runner.sample_server import SampleServer

DEFAULT_CONCURRENCY = 5
LISTED_FAILURES = 20
SNS_LINES_SHOWN = 12


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner",
        description="Run the image downloader's state machine locally (moto), with the Lambda zip the "
        "Terraform module ships. With no --input, serves the bundled sample images on 127.0.0.1.",
        epilog="Exit codes: 0 all images stored, 1 some failed, 2 invalid request, 3 execution failed.",
    )
    parser.add_argument(
        "--input", type=Path, help="request JSON file ({baseUrl, resourcePaths, lambdaConcur})"
    )
    parser.add_argument(
        "--samples",
        action="store_true",
        help="serve the bundled sample images on 127.0.0.1 and point the request's baseUrl there",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="the run's folder: images, report.json, records.jsonl, lambda-logs.jsonl, request.json, path.md "
        "(default: downloads/<execution>/); it must not hold files yet",
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="let the downloader reach loopback/private addresses (implied by --samples)",
    )
    parser.add_argument(
        "--allowed-hosts",
        type=_host_list,
        default=(),
        metavar="HOST,...",
        help="the only hosts the downloader may fetch from, as the module's downloader.allowed_hosts "
        "(default: any host)",
    )
    parser.add_argument(
        "--log-level",
        choices=tuple(LEVELS),
        default=DeploymentConfig.application_log_level,
        help="the functions' application log level, as the module's lambda.application_log_level "
        f"({DeploymentConfig.application_log_level})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser.parse_args(argv)


def _host_list(text: str) -> tuple[str, ...]:
    hosts = tuple(host.strip().lower() for host in text.split(",") if host.strip())
    bad = [host for host in hosts if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"bare host names such as example.com (no scheme, port or path), not {bad[0]!r}"
        )
    return hosts


def load_request(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"resourcePaths": sorted(sample_set()), "lambdaConcur": DEFAULT_CONCURRENCY}
    try:
        return json.loads(path.read_text())
    except OSError as error:
        problem = f"cannot read {path}: {error.strerror}"
    except json.JSONDecodeError as error:
        problem = f"{path} is not valid JSON: {error}"
    print(f"error: {problem}", file=sys.stderr)
    raise SystemExit(EXIT_INVALID_INPUT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    serve_samples = args.samples or args.input is None
    request = load_request(args.input)
    try:
        check_output_folder(args.out)
    except OutputFolderNotEmpty as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    config = DeploymentConfig(
        allow_private_addresses=serve_samples or args.allow_private_addresses,
        allowed_hosts=args.allowed_hosts,
        application_log_level=args.log_level,
    )
    with ExitStack() as stack:
        if serve_samples and isinstance(request, dict):
            server = stack.enter_context(SampleServer(sample_set()))
            request["baseUrl"] = server.base_url
            print(f"Serving {len(server.files)} sample images at {server.base_url}", file=sys.stderr)
        deployment = stack.enter_context(emulated_deployment(config))
        print(
            f"Emulated deployment ready: state machine {deployment.config.name} (Distributed Map children "
            f"run as {LOCAL_MAP_EXECUTION_TYPE} executions locally)",
            file=sys.stderr,
        )
        result = run_execution(
            deployment, request, on_progress=None if args.quiet else ProgressLine(sys.stderr)
        )
        if result.staged_input:
            print(f"Request too large to send inline: paths staged at {result.staged_input}", file=sys.stderr)
        saved = save_run(deployment, result, request, run_folder(args.out, result.execution_name))
    print_summary(result, saved, deployment.config.bucket, deployment.config.table, sys.stdout)
    return result.exit_code


class ProgressLine:
    """``images 12/20 (10 stored, 2 failed)``: redrawn in place on a terminal, a line per change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last: tuple[int, int | None] | None = None

    def __call__(self, progress: Progress) -> None:
        state = (progress.done, progress.total)
        if state == self.last or progress.total is None:
            return
        self.last = state
        text = f"images {progress.done}/{progress.total} ({progress.stored} stored, {progress.failed} failed)"
        if self.stream.isatty():
            end = "\n" if progress.done >= progress.total else ""
            self.stream.write(f"\r{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def print_summary(result: RunResult, saved: SavedRun, bucket: str, table: str, stream: TextIO) -> None:
    summary = result.summary or {}
    lines = [
        "",
        f"Execution  {result.execution_name}: {result.status}"
        + (f" ({result.error})" if result.error else "")
        + f" in {result.elapsed_seconds:.1f}s",
    ]
    if summary:
        lines.append(
            f"Images     {summary.get('succeeded', 0)} stored, {summary.get('failed', 0)} failed "
            f"of {summary.get('requested', 0)} requested"
            f" ({summary.get('duplicatesDropped', 0)} duplicate paths dropped)"
        )
    failure_lines = summary.get("failureLines") or []
    lines.extend(f"Failed     {line}" for line in failure_lines[:LISTED_FAILURES])
    if len(failure_lines) > LISTED_FAILURES or summary.get("failed", 0) > len(summary.get("failures") or []):
        lines.append(f"           ... every failure with its reason: {saved.folder / 'report.json'}")
    if result.error == "InvalidInput":
        lines.append("Rejected   the request is invalid; fix these fields and run again:")
        lines.extend(f"           - {problem}" for problem in (result.cause or "").split("; "))
        lines += saved_lines(saved)
        stream.write("\n".join(lines) + "\n")
        return
    if result.status != "SUCCEEDED" and result.cause:
        lines.append(f"Cause      {result.cause}")
    for note in result.notifications:
        lines.append(f"SNS        {note['subject']}")
        message = note["message"].splitlines()
        lines.extend(f"           | {line}" for line in message[:SNS_LINES_SHOWN])
        if len(message) > SNS_LINES_SHOWN:
            lines.append(f"           | ... ({len(message) - SNS_LINES_SHOWN} more lines)")
    if not result.notifications:
        lines.append("SNS        no notification sent")
    lines.append(f"Stored in  s3://{bucket}/ ({len(result.stored_keys)} objects)")
    lines.append(f"Recorded   {result.record_count} items in DynamoDB table {table}")
    lines += figure_lines(result)
    lines += saved_lines(saved)
    stream.write("\n".join(lines) + "\n")


def figure_lines(result: RunResult) -> list[str]:
    """What the run cost, in the units AWS bills, and how close it came to the limits."""
    figures = result.figures
    summary = result.summary or {}
    lines = [
        f"Payload    largest state payload {result.largest_payload_kib:.1f} KiB of "
        f"{STATE_PAYLOAD_LIMIT_BYTES // 1024} KiB ({figures.largest_payload_state or 'none'})",
        f"Steps      {figures.state_transitions} state transitions, "
        f"{result.transitions_per_image:.4f} per image (history limit: {HISTORY_EVENT_LIMIT} events)",
        f"Lambda     {sum(figures.invocations.values())} invocations "
        f"({', '.join(f'{name} {count}' for name, count in sorted(figures.invocations.items()))}), "
        f"{figures.gb_seconds(result.memory_mb):.2f} GB-s measured locally",
        f"Requests   S3 {figures.service_requests('s3')}, DynamoDB writes {figures.dynamodb_writes}",
    ]
    if summary.get("requestsInFlight"):
        lines.append(
            f"In flight  at most {summary['requestsInFlight']} requests to the origin "
            f"(batches at once x lambdaConcur)"
        )
    return lines


def saved_lines(saved: SavedRun) -> list[str]:
    """Where the run's results stay after the emulator (and its s3:// addresses) is gone."""
    failures = {0: "no failures", 1: "1 failure with its reason"}.get(
        saved.failures, f"{saved.failures} failures with their reasons"
    )
    return [
        f"Path       {saved.path.line()}",
        f"Saved in   {saved.folder}/",
        f"           images/        {saved.images} images",
        f"           report.json    status, counts, {failures}",
        f"           records.jsonl  {saved.records} DynamoDB items; lambda-logs.jsonl  the functions' logs",
        "           request.json   the request; path.md  the states it went through, with a diagram",
    ]


if __name__ == "__main__":
    sys.exit(main())
