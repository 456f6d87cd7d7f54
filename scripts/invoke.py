#!/usr/bin/env python3
"""POST a download request to the deployed image downloader and, with --wait, follow the execution.

    scripts/invoke.py examples/inputs/success.json --wait
    scripts/invoke.py examples/inputs/fail.json --wait --expect FAILED
    scripts/invoke.py body.json --auth NONE \
        --url https://abc123.execute-api.eu-west-1.amazonaws.com/executions

The URL and the authorization type come from --url/--auth, else from IMAGE_DOWNLOADER_URL and
IMAGE_DOWNLOADER_AUTH, else from `terraform output` of --terraform-dir (default: examples/complete).
AWS_IAM requests are signed with SigV4 (service execute-api) using the usual AWS credential chain
(environment, profile, SSO, instance role); JWT requests send --token or IMAGE_DOWNLOADER_TOKEN as a
bearer token. Needs botocore (shipped with boto3 and the AWS CLI), nothing else.

Prints the execution ARN. With --wait, polls DescribeExecution until the execution ends, prints its
outcome and exits 0 when it ended as --expect says (SUCCEEDED by default), 1 when it did not.
Exit status 2: the request could not be made or was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TERRAFORM_DIR = REPO_ROOT / "examples" / "complete"
AUTH_TYPES = ("AWS_IAM", "JWT", "NONE")
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class InvokeError(Exception):
    """The request could not be made, or the API refused it."""


def load_body(path: Path) -> bytes:
    """The request body: the file's JSON, checked and sent compact."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InvokeError(f"{path}: {error}") from None
    if not isinstance(document, dict):
        raise InvokeError(f"{path}: the request must be a JSON object")
    return json.dumps(document, separators=(",", ":")).encode()


def region_from_url(url: str) -> str | None:
    host = urllib.request.urlparse(url).hostname or ""
    match = EXECUTE_API_HOST.match(host)
    return match.group(1) if match else None


def terraform_outputs(directory: Path) -> dict[str, Any]:
    """`terraform output -json` of directory, as plain values."""
    try:
        completed = subprocess.run(
            ["terraform", f"-chdir={directory}", "output", "-json"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise InvokeError(f"cannot read terraform outputs of {directory}: {detail.strip()}") from None
    return {name: output.get("value") for name, output in json.loads(completed.stdout or "{}").items()}


def build_request(
    url: str,
    body: bytes,
    auth: str,
    *,
    token: str | None = None,
    region: str | None = None,
    credentials: Any = None,
) -> urllib.request.Request:
    """The POST request, signed (AWS_IAM) or carrying a bearer token (JWT) as auth says."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth == "JWT":
        if not token:
            raise InvokeError("JWT authorization needs --token or IMAGE_DOWNLOADER_TOKEN")
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "AWS_IAM":
        headers = sign(url, body, headers, region=region, credentials=credentials)
    elif auth != "NONE":
        raise InvokeError(f"unknown authorization type {auth!r}: use one of {', '.join(AUTH_TYPES)}")
    return urllib.request.Request(url, data=body, headers=headers, method="POST")


def sign(
    url: str, body: bytes, headers: dict[str, str], *, region: str | None, credentials: Any
) -> dict[str, str]:
    """headers plus the SigV4 headers of an execute-api request."""
    try:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ImportError:
        raise InvokeError("AWS_IAM authorization needs botocore: pip install boto3") from None
    session = botocore.session.get_session()
    credentials = credentials or session.get_credentials()
    if credentials is None:
        raise InvokeError("no AWS credentials found to sign the request (AWS_IAM authorization)")
    region = region or region_from_url(url) or session.get_config_variable("region")
    if not region:
        raise InvokeError("cannot tell the API's region: give --region")
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def start_execution(request: urllib.request.Request, timeout: float = 30) -> dict[str, Any]:
    """Send the request; the API answers with StartExecution's result: executionArn and startDate."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()
        raise InvokeError(f"{request.full_url} answered {error.code} {error.reason}: {detail}") from None
    except urllib.error.URLError as error:
        raise InvokeError(f"cannot reach {request.full_url}: {error.reason}") from None
    try:
        result = json.loads(payload)
    except json.JSONDecodeError:
        raise InvokeError(
            f"{request.full_url} answered with something else than JSON: {payload[:200]!r}"
        ) from None
    if not isinstance(result, dict) or "executionArn" not in result:
        raise InvokeError(f"{request.full_url} answered without an executionArn: {result!r}")
    return result


def wait_for_execution(
    client: Any,
    execution_arn: str,
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """DescribeExecution until the execution has ended, or its last state once timeout seconds have passed."""
    started = clock()
    deadline = started + timeout
    while True:
        description = client.describe_execution(executionArn=execution_arn)
        if on_poll is not None:
            on_poll(description["status"], clock() - started)
        if description["status"] in FINAL_STATUSES or clock() >= deadline:
            return description
        sleep(interval)


def print_progress(status: str, elapsed: float) -> None:
    print(f"  {status.lower()} after {elapsed:.0f} s", file=sys.stderr, flush=True)


def stepfunctions_client(execution_arn: str) -> Any:
    import boto3

    region = execution_arn.split(":")[3]
    return boto3.client("stepfunctions", region_name=region)


def report(description: dict[str, Any], out: Any) -> None:
    print(f"status: {description['status']}", file=out)
    if description.get("output"):
        print(f"output: {description['output']}", file=out)
    for field in ("error", "cause"):
        if description.get(field):
            print(f"{field}: {description[field]}", file=out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="POST a request body to the image downloader's API and follow the execution.",
        epilog="Exit status: 0 as expected, 1 ended otherwise (or still runs), 2 the request failed.",
    )
    parser.add_argument("input", type=Path, help="JSON request body, e.g. examples/inputs/success.json")
    parser.add_argument(
        "--url", default=os.environ.get("IMAGE_DOWNLOADER_URL"), help="URL of POST /executions"
    )
    parser.add_argument(
        "--terraform-dir",
        type=Path,
        default=DEFAULT_TERRAFORM_DIR,
        help="where to read the executions_url and api_authorization_type outputs when --url is not given",
    )
    parser.add_argument("--auth", choices=AUTH_TYPES, default=os.environ.get("IMAGE_DOWNLOADER_AUTH"))
    parser.add_argument(
        "--token", default=os.environ.get("IMAGE_DOWNLOADER_TOKEN"), help="bearer token for JWT"
    )
    parser.add_argument("--region", help="region to sign for (default: from the URL)")
    parser.add_argument("--wait", action="store_true", help="poll the execution until it ends")
    parser.add_argument("--expect", choices=("SUCCEEDED", "FAILED"), default="SUCCEEDED")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait at most (default 900)")
    parser.add_argument("--interval", type=float, default=5, help="seconds between polls (default 5)")
    return parser.parse_args(argv)


def main(
    argv: list[str] | None = None, *, client_factory: Callable[[str], Any] = stepfunctions_client
) -> int:
    args = parse_args(argv)
    try:
        url, auth = args.url, args.auth
        if not url:
            outputs = terraform_outputs(args.terraform_dir)
            url = outputs.get("executions_url")
            auth = auth or outputs.get("api_authorization_type")
            if not url:
                raise InvokeError(f"no executions_url output in {args.terraform_dir}: give --url")
        request = build_request(
            url, load_body(args.input), auth or "AWS_IAM", token=args.token, region=args.region
        )
        started = start_execution(request)
    except InvokeError as error:
        print(f"invoke: {error}", file=sys.stderr)
        return 2

    execution_arn = started["executionArn"]
    print(execution_arn)
    if not args.wait:
        return 0
    description = wait_for_execution(
        client_factory(execution_arn),
        execution_arn,
        timeout=args.timeout,
        interval=args.interval,
        on_poll=print_progress,
    )
    report(description, sys.stdout)
    if description["status"] == args.expect:
        return 0
    print(f"invoke: expected {args.expect}, the execution is {description['status']}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
