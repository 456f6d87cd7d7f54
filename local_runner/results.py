"""Keep what a local run produced, in a folder of its own, after the emulator is gone.

    downloads/<execution>/          (or --out DIR)
        images/<host>/<path>        the stored images (scheme and local server's port left out)
        report.json                 status, counts, error and cause, every failure with its reason
        records.jsonl               the DynamoDB items, one JSON object a line
        lambda-logs.jsonl           the functions' log lines, as CloudWatch Logs would hold them
        request.json                the request the execution ran
        path.md                     the states the execution went through, as text and as a diagram

A run never writes into a folder that already holds files, so no run replaces another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer

from local_runner.emulator import Deployment
from local_runner.history import ExecutionPath, execution_path, history_events
from local_runner.run import RunResult

DEFAULT_ROOT = Path("downloads")
IMAGES_DIR = "images"
LOGS_FILE = "lambda-logs.jsonl"


class OutputFolderNotEmpty(Exception):
    """The chosen folder already holds files: a run never writes over another."""


@dataclass(frozen=True)
class SavedRun:
    folder: Path
    images: int
    records: int
    failures: int
    path: ExecutionPath


def check_output_folder(folder: Path | None) -> None:
    """Refuse, before the execution starts, a chosen folder that already holds files."""
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputFolderNotEmpty(
            f"{folder} already holds files (an earlier run?); choose another folder or remove it: "
            "a run never writes over another"
        )


def run_folder(out: Path | None, execution_name: str) -> Path:
    return out if out is not None else DEFAULT_ROOT / execution_name


def save_run(deployment: Deployment, result: RunResult, request: object, folder: Path) -> SavedRun:
    """Write the run's images, report, records, request and path into ``folder``."""
    check_output_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = copy_images(deployment, result.stored_keys, folder / IMAGES_DIR)
    records = table_items(deployment)
    _write_lines(folder / "records.jsonl", (json.dumps(item, sort_keys=True) for item in records))
    _write_lines(
        folder / LOGS_FILE, (json.dumps(line, ensure_ascii=False) for line in deployment.logs.take())
    )
    failures = all_failures(deployment, result)
    document = report(result, failures, images=len(images), records=len(records))
    (folder / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
    sfn = deployment.client("stepfunctions")
    arn = execution_arn(deployment, result.execution_name)
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)["definition"]
    )
    path = execution_path(history_events(sfn, arn), definition)
    (folder / "path.md").write_text(path.markdown(definition, f"Path of {result.execution_name}"))
    return SavedRun(folder, len(images), len(records), len(failures), path)


def execution_arn(deployment: Deployment, execution_name: str) -> str:
    return f"{deployment.state_machine_arn.replace(':stateMachine:', ':execution:')}:{execution_name}"


def report(result: RunResult, failures: list[dict[str, Any]], *, images: int, records: int) -> dict[str, Any]:
    summary = result.summary or {}
    document: dict[str, Any] = {
        "executionName": result.execution_name,
        "status": result.status,
        "error": result.error,
        "cause": result.refusal.message if result.refusal else result.cause,
        "elapsedSeconds": round(result.elapsed_seconds, 3),
        "requested": summary.get("requested"),
        "succeeded": summary.get("succeeded"),
        "failed": summary.get("failed"),
        "duplicatesDropped": summary.get("duplicatesDropped"),
        "imagesSaved": images,
        "recordsSaved": records,
        "failures": failures,
        "notifications": result.notifications,
    }
    if result.refusal:
        document["invalidFields"] = result.refusal.problems
        document["invalidFieldsNotListed"] = result.refusal.more
    return document


def all_failures(deployment: Deployment, result: RunResult) -> list[dict[str, Any]]:
    """Every failure with its reason: the full report the execution wrote to S3, or the listed ones when
    there is none (the summary lists at most ``limits.max_listed_failures``)."""
    summary = result.summary or {}
    if summary.get("reportKey"):
        body = deployment.client("s3").get_object(Bucket=deployment.config.bucket, Key=summary["reportKey"])
        return list(json.loads(body["Body"].read())["failures"])
    return list(summary.get("failures") or [])


def table_items(deployment: Deployment) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    pages = deployment.client("dynamodb").get_paginator("scan").paginate(TableName=deployment.config.table)
    items = [
        {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}
        for page in pages
        for item in page["Items"]
    ]
    return sorted(items, key=lambda item: str(item.get("url")))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def copy_images(deployment: Deployment, keys: list[str], target: Path) -> list[Path]:
    """Download each stored image to ``target``, named by host (without scheme and port) and path."""
    prefix = deployment.config.image_key_prefix
    names = local_names([key.removeprefix(prefix) for key in keys])
    s3 = deployment.client("s3")
    written = []
    for key in keys:
        path = (target / names[key.removeprefix(prefix)]).resolve()
        if not path.is_relative_to(target.resolve()):
            raise ValueError(f"refusing to write {key} outside {target}")
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(deployment.config.bucket, key, str(path))
        written.append(path)
    return written


def local_names(relative_keys: Iterable[str]) -> dict[str, str]:
    """``http/127.0.0.1:41783/cn/cn.gif`` -> ``127.0.0.1/cn/cn.gif``: a local server's port changes on
    every run, and one run rarely uses two schemes for one host. The scheme and the port are kept
    (``h_https``, ``h_8080``) only when one run fetched from two origins of the same host. A query stays
    in the name with its ``%`` and ``/`` escaped, so two URLs never get one file (the S3 key's rule)."""
    keys = list(relative_keys)
    origins_by_host: dict[str, set[tuple[str, str]]] = {}
    for key in keys:
        scheme, authority, _ = key.split("/", 2)
        host, port = _host_and_port(authority)
        origins_by_host.setdefault(host, set()).add((scheme, port))
    names = {}
    for key in keys:
        scheme, authority, rest = key.split("/", 2)
        host, port = _host_and_port(authority)
        origins = origins_by_host[host]
        folder = host
        if len(origins) > 1:
            several_schemes = len({origin_scheme for origin_scheme, _ in origins}) > 1
            folder = "_".join([host, *([scheme] if several_schemes else []), *([port] if port else [])])
        path, marker, query = rest.partition("?")
        names[key] = f"{folder}/{path}" + (
            f"?{query.replace('%', '%25').replace('/', '%2F')}" if marker else ""
        )
    return names


def _host_and_port(authority: str) -> tuple[str, str]:
    parts = urlsplit(f"//{authority}")
    host = authority[: authority.rfind(":")] if parts.port is not None else authority
    return host, str(parts.port or "")


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(f"{line}\n" for line in lines)
