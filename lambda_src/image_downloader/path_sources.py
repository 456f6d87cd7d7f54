"""Where a request's paths come from: inline (``resourcePaths``) or a file in S3 (``resourcePathsFrom``).

Each path comes labelled with where it was found (``resourcePaths[3]``, ``resourcePathsFrom s3://b/k line
4``) so that a problem with it names its place. The file is plain text (one path per line, ``#``
comments) or a JSON array, at most ``MAX_REFERENCE_BYTES``, and only from the locations the deployment
allows (``request_sources``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from image_downloader.errors import InvalidInput
from image_downloader.problems import Problems, json_type
from image_downloader.settings import BatchSettings

# Largest paths file a request may name: 1,000,000 paths of ~100 characters, well within the memory of
# the batch function.
MAX_REFERENCE_BYTES = 128 * 1024 * 1024

# (where a path came from, for error messages; the path)
LabelledPaths = Iterable[tuple[str, object]]
# read_reference(bucket, key): the bytes of a resourcePathsFrom object
ReadReference = Callable[[str, str], bytes]


def labelled_paths(
    event: dict, settings: BatchSettings, read_reference: ReadReference | None, errors: Problems
) -> LabelledPaths:
    inline, reference = event.get("resourcePaths"), event.get("resourcePathsFrom")
    if inline is not None and reference is not None:
        errors.add("resourcePaths and resourcePathsFrom", "give one of them, not both")
        return []
    if reference is not None:
        return _paths_from_reference(reference, settings, read_reference, errors)
    if inline is None:
        errors.add(
            "resourcePaths",
            "missing, give a list of paths relative to baseUrl "
            "(or resourcePathsFrom: an s3:// URL of a file that lists them)",
        )
        return []
    if not isinstance(inline, list):
        errors.add("resourcePaths", f"must be a list of strings, got {json_type(inline)}")
        return []
    return [(f"resourcePaths[{index}]", path) for index, path in enumerate(inline)]


def _paths_from_reference(
    reference: object, settings: BatchSettings, read_reference: ReadReference | None, errors: Problems
) -> LabelledPaths:
    if not isinstance(reference, str) or not reference.startswith("s3://"):
        errors.add("resourcePathsFrom", f"must be an s3://bucket/key URL, got {json_type(reference)}")
        return []
    bucket, _, key = reference.removeprefix("s3://").partition("/")
    if not bucket or not key:
        errors.add("resourcePathsFrom", f"must be an s3://bucket/key URL, got {reference!r}")
        return []
    if not any(f"{bucket}/{key}".startswith(location) for location in settings.input_locations):
        allowed = ", ".join(f"s3://{location}" for location in settings.input_locations) or "none"
        errors.add(
            "resourcePathsFrom",
            f"{reference} is outside the locations this deployment reads requests from ({allowed})",
        )
        return []
    if read_reference is None:
        errors.add("resourcePathsFrom", "references are not supported here")
        return []
    try:
        body = read_reference(bucket, key)
        text = body.decode("utf-8")
    except InvalidInput as error:
        errors.extend(error)
        return []
    except UnicodeDecodeError as error:
        errors.add("resourcePathsFrom", f"{reference} is not UTF-8 text (byte {error.start})")
        return []
    if text.lstrip().startswith("["):
        return _json_array_paths(reference, text, errors)
    return [
        (f"resourcePathsFrom {reference} line {number}", line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _json_array_paths(reference: str, text: str, errors: Problems) -> LabelledPaths:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        errors.add(
            "resourcePathsFrom",
            f"{reference} line {error.lineno} column {error.colno}: not valid JSON ({error.msg})",
        )
        return []
    except (RecursionError, ValueError) as error:  # nested a thousand deep; a number of 5,000 digits
        problem = "nested too deeply" if isinstance(error, RecursionError) else "holds a number too long"
        errors.add("resourcePathsFrom", f"{reference}: not JSON the batch step can read ({problem})")
        return []
    if not isinstance(values, list):
        errors.add("resourcePathsFrom", f"{reference} must hold a JSON array of paths")
        return []
    return [(f"resourcePathsFrom {reference} item {index}", path) for index, path in enumerate(values)]


def read_s3_reference(s3: Any, bucket: str, key: str) -> bytes:
    where = f"resourcePathsFrom: s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        if response["ContentLength"] > MAX_REFERENCE_BYTES:
            raise InvalidInput(
                f"{where} is {response['ContentLength']} bytes, at most {MAX_REFERENCE_BYTES} allowed: "
                "split the request"
            )
        return response["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        if code in ("NoSuchKey", "404"):
            raise InvalidInput(f"{where} does not exist: upload the paths file first") from error
        if code == "NoSuchBucket":
            raise InvalidInput(f"{where}: no such bucket") from error
        if code in ("AccessDenied", "403"):
            raise InvalidInput(
                f"{where} does not exist, or the batch function may not read it (AccessDenied): upload it "
                "first, or add its location to the module's request_sources"
            ) from error
        raise InvalidInput(f"{where} cannot be read ({code})") from error
    except BotoCoreError as error:
        raise InvalidInput(f"{where} cannot be read ({error})") from error
