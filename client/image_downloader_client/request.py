"""The request body: from a file, stdin or flags; checked before sending; too large, passed by reference."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from image_downloader_client.auth import AuthError

# Step Functions' limit on an execution's input (UTF-8 bytes).
MAX_EXECUTION_INPUT_BYTES = 256 * 1024
# Execution names: 1-80 characters of letters, digits, '-' and '_' (a subset of what Step Functions
# accepts that is also safe in a URL path and a header).
MAX_NAME_LENGTH = 80
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# CI systems and the variables naming one run of a pipeline: a retry of the run keeps them.
CI_RUN_IDS = (
    ("gh", ("GITHUB_REPOSITORY_ID", "GITHUB_RUN_ID", "GITHUB_JOB")),
    ("gl", ("CI_PROJECT_ID", "CI_PIPELINE_ID", "CI_JOB_NAME")),
    ("bk", ("BUILDKITE_BUILD_ID", "BUILDKITE_STEP_KEY")),
    ("cb", ("CODEBUILD_BUILD_ID",)),
)


class RequestError(Exception):
    """The request is wrong: not JSON, not an object, too large to send as it is (exit code 2)."""


class UsageError(Exception):
    """The options cannot be carried out: a request file that cannot be read, a bad option (exit code 4)."""


def load_request(
    source: str | None, base_url: str | None, paths: list[str], lambda_concur: int | None
) -> dict[str, Any]:
    """The request from a file (``-`` for stdin) and/or flags; flags override the file's fields."""
    document: dict[str, Any] = {}
    if source is not None:
        text = _read(source)
        if not text.strip():
            raise RequestError(
                f"{_name(source)} is empty: a request is a JSON object such as "
                '{"baseUrl": "https://example.com/", "resourcePaths": ["a.gif"]}'
            )
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise RequestError(f"{_name(source)}: not valid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise RequestError(f"{_name(source)}: the request must be a JSON object")
        document = loaded
    if base_url is not None:
        document["baseUrl"] = base_url
    if paths:
        document["resourcePaths"] = paths
    if lambda_concur is not None:
        document["lambdaConcur"] = lambda_concur
    if not document:
        raise RequestError("no request: give a JSON file (or - for stdin), or --base-url and --path")
    return document


def _read(source: str) -> str:
    try:
        data = _stdin() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"{source}: no such file: give the path of a JSON request file, or - for stdin"
        ) from None
    except IsADirectoryError:
        raise UsageError(
            f"{source} is a folder: give the path of a JSON request file, or - for stdin"
        ) from None
    except OSError as error:
        raise UsageError(f"cannot read {_name(source)}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RequestError(
            f"{_name(source)} is not UTF-8 text (byte {error.start}): save the request as UTF-8 JSON"
        ) from None


def _stdin() -> bytes:
    if sys.stdin is None:
        raise UsageError("- reads the request from stdin, and there is none: give the request file's path")
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode()


def _name(source: str) -> str:
    return "the request on stdin" if source == "-" else source


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def idempotency_key(body: bytes, environ: Mapping[str, str] | None = None) -> str:
    """The execution name for this request: the CI run (a retried job keeps it) and the request's hash
    (two different requests of one job get two executions); outside CI, a fresh random name."""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256(body).hexdigest()[:12]
    for prefix, names in CI_RUN_IDS:
        values = [environ.get(name, "") for name in names]
        if values[0]:
            return sanitize_name("-".join([prefix, *filter(None, values), digest]))
    return new_key()


def new_key() -> str:
    return f"run-{uuid.uuid4().hex}"


def sanitize_name(text: str) -> str:
    """Characters an execution name may not hold become '-'; too long, it keeps its end (the hash)."""
    name = _UNSAFE.sub("-", text).strip("-") or new_key()
    return name if len(name) <= MAX_NAME_LENGTH else name[-MAX_NAME_LENGTH:].lstrip("-_")


def check_key(key: str) -> str:
    if not _NAME.match(key):
        raise UsageError(
            f"--idempotency-key {key!r}: use 1-{MAX_NAME_LENGTH} letters, digits, '-' or '_' "
            "(it becomes the execution's name)"
        )
    return key


Upload = Callable[[str, str, bytes], None]


def by_reference(
    document: dict[str, Any], bucket: str | None, prefix: str, name: str, upload: Upload
) -> dict[str, Any]:
    """A request over the execution input limit: its paths go to s3://bucket/<prefix><name>.json and the
    request names them (``resourcePathsFrom``); a small request is returned as it is."""
    if len(encode(document)) <= MAX_EXECUTION_INPUT_BYTES:
        return document
    paths = document.get("resourcePaths")
    if not isinstance(paths, list):
        raise RequestError(
            f"the request is over the {MAX_EXECUTION_INPUT_BYTES // 1024} KiB execution input limit and has "
            "no resourcePaths list to move to S3"
        )
    if not bucket:
        raise RequestError(
            f"the request is {len(encode(document))} bytes, over the {MAX_EXECUTION_INPUT_BYTES // 1024} KiB "
            "execution input limit: give --inputs-bucket (the bucket_name output) to upload its paths, "
            "or split it"
        )
    key = f"{prefix}{name}.json"
    upload(bucket, key, json.dumps(paths).encode())
    smaller = {field: value for field, value in document.items() if field != "resourcePaths"}
    smaller["resourcePathsFrom"] = f"s3://{bucket}/{key}"
    return smaller


def s3_upload(bucket: str, key: str, body: bytes) -> None:
    """PUT with the default AWS credential chain (botocore only)."""
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise UsageError("uploading to --inputs-bucket needs botocore: pip install botocore") from None

    try:
        client = botocore.session.get_session().create_client("s3")
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (BotoCoreError, ClientError) as error:
        raise AuthError(
            f"cannot upload the paths to s3://{bucket}/{key}: {error} (the AWS credentials need "
            "s3:PutObject there: the caller_policy_json output allows it)"
        ) from None
