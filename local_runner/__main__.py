"""``python -m local_runner``: run the deployed pipeline on this machine, on an in-process AWS emulator.

Exit codes: 0 every image stored; 1 some images failed; 2 the request was invalid; 3 the execution
failed for another reason; 130/143 stopped by SIGINT/SIGTERM (the run folder holds what is known).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from local_runner.budgets import summary_lines as budget_summary_lines
from local_runner.console import ProgressLine, StopSignals, failure_hints, plural
from local_runner.emulator import LOCAL_MAP_EXECUTION_TYPE, DeploymentConfig, emulated_deployment
from local_runner.lambda_logs import LEVELS
from local_runner.limits import HISTORY_EVENT_LIMIT, STATE_PAYLOAD_LIMIT_BYTES
from local_runner.results import OutputFolderNotEmpty, SavedRun, check_output_folder, run_folder, save_run
from local_runner.run import EXIT_INVALID_INPUT, RunResult, run_execution, stage_paths_file
from local_runner.sample_images import sample_set
from local_runner.sample_server import SampleServer
from local_runner.state import DEFAULT_STATE, STATE_ENV, LocalState, default_state_folder
from local_runner.throttling import ThrottlingPlan, ThrottlingSpecError, throttled_lines

DEFAULT_CONCURRENCY = 5
EXAMPLE_REQUEST = '{"baseUrl": "https://example.com/", "resourcePaths": ["a.gif"], "lambdaConcur": 5}'
LISTED_FAILURES = 20
SNS_LINES_SHOWN = 12
EXIT_SIGNALLED = 128


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner",
        description="Run the image downloader's state machine locally (moto), with the Lambda zip the "
        "Terraform module ships. With no --input, serves the bundled sample images on 127.0.0.1.",
        epilog="Exit codes: 0 all images stored, 1 some failed, 2 invalid request, 3 execution failed, "
        "130/143 stopped by Ctrl-C/SIGTERM.",
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
    parser.add_argument(
        "--state",
        type=Path,
        default=default_state_folder(),
        help="the folder that keeps the local deployment's bucket and table between runs, so that "
        "skipExisting, retryFailuresOf and resourcePathsFrom work as on AWS (default: "
        f"{DEFAULT_STATE}/, or ${STATE_ENV})",
    )
    parser.add_argument("--fresh", action="store_true", help="empty the --state folder first")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--inject-throttling",
        metavar="SERVICE=FRACTION,...",
        type=throttling_plan,
        help="answer that fraction of the calls to s3, dynamodb, lambda (Invoke) or states as AWS does "
        "when it throttles, e.g. s3=0.2,dynamodb=0.2,lambda=0.1,states=0.1",
    )
    parser.add_argument(
        "--throttling-seed", type=int, default=0, help="seed of the injected throttling's decisions (0)"
    )
    return parser.parse_args(argv)


def _host_list(text: str) -> tuple[str, ...]:
    hosts = tuple(host.strip().lower() for host in text.split(",") if host.strip())
    bad = [host for host in hosts if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"bare host names such as example.com (no scheme, port or path), not {bad[0]!r}"
        )
    return hosts


def throttling_plan(text: str) -> ThrottlingPlan:
    try:
        return ThrottlingPlan.parse(text)
    except ThrottlingSpecError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--inject-throttling: ")) from None


def load_request(path: Path | None) -> dict[str, Any]:
    """The request of ``--input``, or exit 2 with one line naming what makes the file unreadable."""
    if path is None:
        return {"resourcePaths": sorted(sample_set()), "lambdaConcur": DEFAULT_CONCURRENCY}
    try:
        return parse_request_file(path)
    except UnreadableRequest as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID_INPUT) from None


class UnreadableRequest(ValueError):
    """The request file cannot be read as the JSON text a StartExecution input must be."""


def parse_request_file(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableRequest(f"cannot read {path}: {error.strerror}") from None
    if not data.strip():
        raise UnreadableRequest(f"{path} is empty: write the request, e.g. {EXAMPLE_REQUEST}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableRequest(
            f"{path} is not UTF-8 text (byte {error.start} is 0x{data[error.start]:02x}; Latin-1?): "
            "save it as UTF-8"
        ) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise UnreadableRequest(f"{path} is not valid JSON: {error}") from None
    except RecursionError:
        raise UnreadableRequest(
            f"{path} is nested too deeply (about {sys.getrecursionlimit()} levels or more, beyond what the "
            "Lambda runtime's JSON parser reads)"
        ) from None
    except ValueError as error:  # a number past Python's integer digit limit, NaN, Infinity
        problem = str(error)
        if "integer string conversion" in problem:
            problem = (
                f"a number is longer than {sys.get_int_max_str_digits()} digits, more than the Lambda "
                "runtime's JSON parser reads"
            )
        raise UnreadableRequest(f"{path} is not a request the pipeline can read: {problem}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (a number must be finite)")


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
        # The bundled samples are served on 127.0.0.1: an allowlist must not refuse them.
        allowed_hosts=(*args.allowed_hosts, "127.0.0.1")
        if serve_samples and args.allowed_hosts
        else args.allowed_hosts,
        application_log_level=args.log_level,
    )
    with ExitStack() as stack:
        stop = stack.enter_context(StopSignals())
        if serve_samples and isinstance(request, dict):
            server = stack.enter_context(SampleServer.on_the_usual_port(sample_set()))
            request["baseUrl"] = server.base_url
            print(f"Serving {len(server.files)} sample images at {server.base_url}", file=sys.stderr)
        throttling = args.inject_throttling
        if throttling is not None:
            throttling = replace(throttling, seed=args.throttling_seed)
        deployment = stack.enter_context(emulated_deployment(config, throttling=throttling))
        print(
            f"Emulated deployment ready: state machine {deployment.config.name} (Distributed Map children "
            f"run as {LOCAL_MAP_EXECUTION_TYPE} executions locally)",
            file=sys.stderr,
        )
        state = LocalState(args.state)
        if args.fresh:
            state.clear()
        kept = state.restore(deployment)
        print(
            f"Local deployment state: {args.state}/ ({plural(kept.objects, 'object')}, "
            f"{plural(kept.items, 'record')} kept from earlier runs; --fresh or make run FRESH=1 "
            "starts empty)",
            file=sys.stderr,
        )
        if stop.signum is not None:
            print(f"{stop.name}: stopped before the execution started; nothing was run", file=sys.stderr)
            return stop.exit_code
        try:
            staged = stage_paths_file(deployment, request, args.input)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        if staged is not request:
            print(
                f"Paths file {request['resourcePathsFrom']} staged at {staged['resourcePathsFrom']}",
                file=sys.stderr,
            )
            request = staged
        progress = None if args.quiet else ProgressLine(sys.stderr)
        result = run_execution(
            deployment,
            request,
            on_progress=progress,
            on_notice=lambda notice: print(notice, file=sys.stderr),
            stop_reason=stop.reason,
        )
        folder = run_folder(args.out, result.execution_name)
        saved = save_run(deployment, result, request, folder, progress.saving if progress else None)
        state.save(deployment)
        hints = failure_hints(result, config)
        print_summary(result, saved, deployment.config.bucket, deployment.config.table, sys.stdout, hints)
        if stop.signum is not None:
            summary = result.summary or {}
            print(
                f"{stop.name}: the execution was stopped; {saved.folder}/ holds what is known: "
                f"{summary.get('succeeded', 0)} stored, {summary.get('failed', 0)} failed, "
                f"{summary.get('notAttempted', 0)} not attempted",
                file=sys.stderr,
            )
            stack.pop_all()  # the stopped batches' threads run on: the emulator stays up until the exit
            return stop.exit_code
    return result.exit_code


def print_summary(
    result: RunResult, saved: SavedRun, bucket: str, table: str, stream: TextIO, hints: Sequence[str] = ()
) -> None:
    summary = result.summary or {}
    lines = [
        "",
        f"Execution  {result.execution_name}: {result.status}"
        + (f" ({result.error})" if result.error else "")
        + f" in {result.elapsed_seconds:.1f}s",
    ]
    if summary:
        lines.append(
            f"Images     {summary.get('succeeded', 0)} stored, {summary.get('failed', 0)} failed"
            + (f", {summary['notAttempted']} not attempted" if summary.get("notAttempted") else "")
            + f" of {summary.get('requested', 0)} requested"
            f" ({summary.get('duplicatesDropped', 0)} duplicate paths dropped)"
        )
    failure_lines = summary.get("failureLines") or []
    lines.extend(f"Failed     {line}" for line in failure_lines[:LISTED_FAILURES])
    if len(failure_lines) > LISTED_FAILURES or summary.get("failed", 0) > len(summary.get("failures") or []):
        lines.append(f"           ... every failure with its reason: {saved.folder / 'report.json'}")
    lines.extend(f"Hint       {hint}" for hint in hints)
    if result.refusal:
        lines.append("Rejected   the request is invalid; fix these fields and run again:")
        lines.extend(f"           - {problem}" for problem in result.refusal.lines())
        lines += saved_lines(saved, rejected=True)
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
    lines.append(f"Stored in  s3://{bucket}/ ({plural(len(result.stored_keys), 'object')})")
    lines.append(f"Recorded   {plural(result.record_count, 'item')} in DynamoDB table {table}")
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
        f"{result.transitions_per_image:.2g} per image (history limit: {HISTORY_EVENT_LIMIT} events)",
        f"Lambda     {sum(figures.invocations.values())} invocations "
        f"({', '.join(f'{name} {count}' for name, count in sorted(figures.invocations.items()))}), "
        f"{figures.gb_seconds(result.memory_mb):.2f} GB-s measured locally",
        f"Requests   S3 {figures.service_requests('s3')}, DynamoDB writes {figures.dynamodb_writes}",
        *throttled_lines(figures.throttled),
        *budget_summary_lines(figures.budget_verdicts),
    ]
    if summary.get("requestsInFlight"):
        lines.append(
            f"In flight  at most {summary['requestsInFlight']} requests to the origin "
            f"(batches at once x lambdaConcur)"
        )
    return lines


def images_line(saved: SavedRun) -> str:
    if not saved.images and not saved.not_saved:
        return "none (no image was stored)"
    line = plural(saved.images, "image")
    if saved.renamed:
        line += f", {saved.renamed} under a safe local name (report.json: imagesRenamed)"
    if saved.not_saved:
        line += f"; {plural(saved.not_saved, 'image')} could not be written (report.json: imagesNotSaved)"
    return line


def saved_lines(saved: SavedRun, rejected: bool = False) -> list[str]:
    """Where the run's results stay after the emulator (and its s3:// addresses) is gone."""
    failures = {0: "no failures", 1: "1 failure with its reason"}.get(
        saved.failures, f"{saved.failures} failures with their reasons"
    )
    if rejected:
        failures = "the request's problems (invalidFields)"
    return [
        f"Path       {saved.path.line()}",
        f"Saved in   {saved.folder}/",
        f"           images/        {images_line(saved)}",
        f"           report.json    status, counts, {failures}",
        f"           records.jsonl  {plural(saved.records, 'DynamoDB item')}; "
        "lambda-logs.jsonl  the functions' logs",
        "           request.json   the request; path.md  the states it went through, with a diagram",
    ]


if __name__ == "__main__":
    code = main()
    if code > EXIT_SIGNALLED:  # the stopped execution's threads are not waited for
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
