"""``image-downloader``: start downloads through the HTTP API, follow them, fetch their reports."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from image_downloader_client import __version__
from image_downloader_client.api import ApiClient, ApiError, NotFound, RequestRefused, Started
from image_downloader_client.auth import AuthError, auth_from
from image_downloader_client.follow import progress_line, summary, wait_for
from image_downloader_client.outcome import EXIT_CODES_HELP, FINAL_STATUSES, ExitCode, exit_code_of
from image_downloader_client.request import (
    RequestError,
    UsageError,
    by_reference,
    check_key,
    encode,
    idempotency_key,
    load_request,
    new_key,
    s3_upload,
)
from image_downloader_client.transport import DEFAULT_RETRIES, MAX_RETRIES

DESCRIPTION = """Start image downloads through the deployed API and follow them.

  image-downloader run request.json                  start, wait, print the outcome
  image-downloader start request.json                print the execution's name
  image-downloader wait NAME | status NAME | report NAME [--out report.json]

The API comes from --url or IMAGE_DOWNLOADER_URL (the api_endpoint or executions_url output), else from
`terraform output` of --terraform-dir. Authorization (--auth or IMAGE_DOWNLOADER_AUTH): AWS_IAM signs
every request with SigV4 and the default AWS credential chain; JWT sends --token, --token-file or
IMAGE_DOWNLOADER_TOKEN as a bearer token (e.g. a GitHub OIDC token); NONE sends nothing.

Every call has a timeout (10 s to connect, 35 s for the answer) and is retried with backoff on a
connection error, 429, 502, 503 or 504 (--retries, default 5; Retry-After is respected). Proxies and the
CA bundle come from HTTPS_PROXY, HTTP_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE."""


class Terminal:
    """Where the client writes: results to stdout, progress and errors to stderr."""

    def __init__(self, out: Any = None, err: Any = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.err, flush=True)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that points to the help, raised rather than printed."""

    # The top-level parser's subcommands by name (build_parser fills it).
    _subcommands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (`{self.prog} --help` lists the options)")

    def parse_command_line(self, argv: list[str] | None) -> argparse.Namespace:
        """parse_args, an unknown option blamed on the subcommand whose help lists the known ones."""
        args, unknown = self.parse_known_args(argv)
        if unknown:
            subcommand = self._subcommands.get(args.command, self)
            subcommand.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds: give 0 or more, e.g. 3600")
    return value


def retries(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from 0 to {MAX_RETRIES}")
    return int(text)


def key(text: str) -> str:
    try:
        return check_key(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--idempotency-key ")) from None


def build_parser() -> Parser:
    common = Parser(add_help=False)
    connection = common.add_argument_group("API and authorization")
    connection.add_argument(
        "--url",
        default=os.environ.get("IMAGE_DOWNLOADER_URL"),
        help="the API's URL, the api_endpoint or executions_url output (default: IMAGE_DOWNLOADER_URL, "
        "else that output of --terraform-dir)",
    )
    connection.add_argument(
        "--auth",
        default=os.environ.get("IMAGE_DOWNLOADER_AUTH"),
        help="AWS_IAM, JWT or NONE (default: IMAGE_DOWNLOADER_AUTH, else the api_authorization_type "
        "output, else AWS_IAM)",
    )
    connection.add_argument("--token", help="bearer token for JWT (or IMAGE_DOWNLOADER_TOKEN)")
    connection.add_argument("--token-file", type=Path, help="file holding the bearer token")
    connection.add_argument("--region", help="region to sign for (default: from the URL, then AWS_REGION)")
    connection.add_argument(
        "--terraform-dir",
        type=Path,
        default=Path(os.environ.get("IMAGE_DOWNLOADER_TERRAFORM_DIR", ".")),
        help="root module whose outputs name the API when --url is not given "
        "(default: IMAGE_DOWNLOADER_TERRAFORM_DIR, else the current folder)",
    )
    connection.add_argument(
        "--retries",
        type=retries,
        default=DEFAULT_RETRIES,
        help=f"retries of a call after a connection error, 429, 502, 503 or 504 (default {DEFAULT_RETRIES})",
    )
    connection.add_argument("--json", action="store_true", help="print the status document as JSON")

    starting = Parser(add_help=False)
    group = starting.add_argument_group("the request")
    group.add_argument("request", nargs="?", help="JSON request file, - for stdin")
    group.add_argument("--base-url", help="baseUrl of the request")
    group.add_argument("--path", action="append", default=[], help="a resource path (repeatable)")
    group.add_argument("--lambda-concur", type=int, help="lambdaConcur of the request")
    group.add_argument(
        "--idempotency-key",
        type=key,
        help="the execution's name; a second start with the same key returns the first execution "
        "(default: derived from the CI run and the request, so a retried job does not start a second one)",
    )
    group.add_argument(
        "--new-execution", action="store_true", help="start a new execution even when the CI job is retried"
    )
    group.add_argument(
        "--inputs-bucket",
        default=os.environ.get("IMAGE_DOWNLOADER_INPUTS_BUCKET"),
        help="bucket to upload the paths of a request over 256 KiB to (AWS credentials needed; default: "
        "IMAGE_DOWNLOADER_INPUTS_BUCKET)",
    )
    group.add_argument("--inputs-prefix", default="inputs/", help="key prefix of those uploads")

    waiting = Parser(add_help=False)
    group = waiting.add_argument_group("waiting")
    group.add_argument("--timeout", type=seconds, default=3600, help="seconds to wait at most (default 3600)")
    group.add_argument("--interval", type=seconds, default=5, help="seconds between polls (default 5)")

    parser = Parser(
        prog="image-downloader",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser._subcommands = {}
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.RawDescriptionHelpFormatter
    for name, parents, help_text in (
        ("start", [common, starting], "start an execution, print its name"),
        ("wait", [common, waiting], "wait until an execution ends, showing its progress"),
        ("status", [common], "print an execution's status and counts"),
        ("report", [common], "print or save an execution's failure report"),
        ("run", [common, starting, waiting], "start, then wait"),
    ):
        sub = commands.add_parser(
            name, parents=parents, help=help_text, description=help_text, epilog=EXIT_CODES_HELP
        )
        sub.formatter_class = formatter
        parser._subcommands[name] = sub
        if name in ("wait", "status", "report"):
            sub.add_argument("name", help="the execution's name (what start printed)")
        if name == "report":
            sub.add_argument("--out", type=Path, help="save the report here instead of printing it")
    return parser


def main(argv: list[str] | None = None, terminal: Terminal | None = None) -> int:
    terminal = terminal or Terminal()
    parser = build_parser()
    try:
        args = parser.parse_command_line(argv)
    except SystemExit as exit_:
        # --help and --version
        return ExitCode.CLIENT_ERROR if exit_.code not in (0, None) else 0
    except UsageError as error:
        terminal.note(str(error))
        return ExitCode.CLIENT_ERROR
    try:
        return int(COMMANDS[args.command](args, terminal))
    except RequestRefused as error:
        terminal.note(f"image-downloader: the request was refused: {error}")
        return ExitCode.INVALID_REQUEST
    except RequestError as error:
        terminal.note(f"image-downloader: {error}")
        return ExitCode.INVALID_REQUEST
    except (ApiError, AuthError, ConfigError, UsageError) as error:
        terminal.note(f"image-downloader: {error}")
        return ExitCode.CLIENT_ERROR
    except KeyboardInterrupt:
        terminal.note("image-downloader: interrupted (the execution keeps running)")
        return ExitCode.CLIENT_ERROR


class ConfigError(Exception):
    """No API URL to call."""


def client_of(args: argparse.Namespace, terminal: Terminal) -> ApiClient:
    url, auth = args.url, args.auth
    if not url:
        outputs = terraform_outputs(args.terraform_dir)
        url = outputs.get("api_endpoint") or outputs.get("executions_url")
        auth = auth or outputs.get("api_authorization_type")
        if not isinstance(url, str) or not url:
            raise ConfigError(
                f"no API URL: give --url or set IMAGE_DOWNLOADER_URL to the api_endpoint output, or run "
                f"where the module was applied (--terraform-dir; the Terraform outputs of "
                f"{_folder(args.terraform_dir)} have no api_endpoint)"
            )
    return ApiClient(
        url,
        auth_from(auth or "AWS_IAM", args.token, args.token_file, args.region),
        retries=args.retries,
        notify=lambda line: terminal.note(f"image-downloader: {line}"),
    )


def _folder(directory: Path) -> str:
    return "the current folder" if str(directory) in ("", ".") else str(directory)


def terraform_outputs(directory: Path) -> dict[str, Any]:
    """`terraform output -json` of directory, as plain values."""
    try:
        completed = subprocess.run(
            ["terraform", f"-chdir={directory}", "output", "-json"],
            capture_output=True,
            text=True,
            check=True,
        )
        outputs = json.loads(completed.stdout or "{}")
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        if isinstance(error, FileNotFoundError):
            detail = "terraform is not on PATH"
        raise ConfigError(
            f"no API URL: give --url or set IMAGE_DOWNLOADER_URL to the api_endpoint output "
            f"(`terraform output` of {_folder(directory)} found none: {detail.strip()[:300]})"
        ) from None
    return {name: output.get("value") for name, output in outputs.items()}


def start(args: argparse.Namespace, terminal: Terminal, client: ApiClient) -> Started:
    document = load_request(args.request, args.base_url, args.path, args.lambda_concur)
    if args.idempotency_key:
        key = args.idempotency_key
    elif args.new_execution:
        key = new_key()
    else:
        key = idempotency_key(encode(document))
    document = by_reference(document, args.inputs_bucket, args.inputs_prefix, key, s3_upload)
    started = client.start(encode(document), key)
    if started.existing:
        terminal.note(f"execution {started.name} already exists (same idempotency key): following it")
    else:
        terminal.note(f"started {started.execution_arn}")
    return started


def command_start(args: argparse.Namespace, terminal: Terminal) -> int:
    started = start(args, terminal, client_of(args, terminal))
    if args.json:
        terminal.result(json.dumps({"name": started.name, "executionArn": started.execution_arn}))
    else:
        terminal.result(started.name)
    return ExitCode.STORED


def follow(args: argparse.Namespace, terminal: Terminal, client: ApiClient, name: str) -> int:
    def show(status: dict[str, Any], elapsed: float) -> None:
        terminal.note(f"  {elapsed:5.0f} s  {progress_line(status)}")

    try:
        status = wait_for(
            lambda: client.status(name), timeout=args.timeout, interval=args.interval, on_progress=show
        )
    except NotFound:
        raise
    except ApiError as error:
        raise ApiError(
            f"{error} (the execution keeps running: `image-downloader wait {name}` follows it)"
        ) from None
    return finish(args, terminal, status)


def finish(args: argparse.Namespace, terminal: Terminal, status: dict[str, Any]) -> int:
    terminal.result(json.dumps(status, indent=1) if args.json else summary(status))
    code = exit_code_of(status)
    report = status.get("report") or {}
    if code == ExitCode.IMAGES_FAILED and not args.json:
        terminal.note(
            f"the report lists every failure: image-downloader report {status.get('name')} --out report.json"
            + (f" (s3://{report['bucket']}/{report['key']})" if report.get("key") else "")
        )
    return code


def command_run(args: argparse.Namespace, terminal: Terminal) -> int:
    client = client_of(args, terminal)
    started = start(args, terminal, client)
    return follow(args, terminal, client, started.name)


def command_wait(args: argparse.Namespace, terminal: Terminal) -> int:
    return follow(args, terminal, client_of(args, terminal), args.name)


def command_status(args: argparse.Namespace, terminal: Terminal) -> int:
    return finish(args, terminal, client_of(args, terminal).status(args.name))


def command_report(args: argparse.Namespace, terminal: Terminal) -> int:
    client = client_of(args, terminal)
    try:
        status = client.status(args.name)
    except NotFound as error:
        raise ApiError(str(error)) from None
    report = status.get("report") or {}
    if not report.get("url"):
        if status.get("status") not in FINAL_STATUSES:
            terminal.note(f"{args.name} is still running: its report is written when it ends")
            return ExitCode.STILL_RUNNING
        terminal.note(f"{args.name} has no report: {summary(status)}")
        return exit_code_of(status)
    body = client.download(report["url"])
    if args.out:
        try:
            args.out.write_bytes(body)
        except OSError as error:
            raise UsageError(f"cannot write the report to {args.out}: {error.strerror or error}") from None
        terminal.note(f"saved the report of {args.name} to {args.out} ({len(body)} bytes)")
    else:
        terminal.result(body.decode("utf-8", errors="replace").rstrip("\n"))
    return ExitCode.STORED


COMMANDS: dict[str, Callable[[argparse.Namespace, Terminal], int]] = {
    "start": command_start,
    "wait": command_wait,
    "status": command_status,
    "report": command_report,
    "run": command_run,
}


def entry_point() -> None:
    sys.exit(main())
