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

import contextlib
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from local_runner.emulator import Deployment
from local_runner.history import ExecutionPath, execution_path, history_events
from local_runner.names import Renamed, local_names, safe_local_names

__all__ = ["local_names"]
from local_runner.run import RunResult
from local_runner.store import object_reader
from local_runner.store import table_items as stored_items

DEFAULT_ROOT = Path("downloads")
IMAGES_DIR = "images"
LOGS_FILE = "lambda-logs.jsonl"
SAVE_WORKERS = 8


class OutputFolderNotEmpty(Exception):
    """The chosen folder already holds files: a run never writes over another."""


@dataclass(frozen=True)
class SavedRun:
    folder: Path
    images: int
    records: int
    failures: int
    path: ExecutionPath
    renamed: int = 0
    not_saved: int = 0


def check_output_folder(folder: Path | None) -> None:
    """Refuse, before the execution starts, a chosen folder that already holds files."""
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputFolderNotEmpty(
            f"{folder} already holds files (an earlier run?); choose another folder or remove it: "
            "a run never writes over another"
        )


def run_folder(out: Path | None, execution_name: str) -> Path:
    return out if out is not None else DEFAULT_ROOT / execution_name


def save_run(
    deployment: Deployment,
    result: RunResult,
    request: object,
    folder: Path,
    on_saved: Callable[[int, int], None] | None = None,
) -> SavedRun:
    """Write the run's images, report, records, request and path into ``folder``."""
    check_output_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = copy_images(deployment, result.stored_keys, folder / IMAGES_DIR, on_saved)
    records = table_items(deployment, execution_arn(deployment, result.execution_name))
    _write_lines(folder / "records.jsonl", (json.dumps(item, sort_keys=True) for item in records))
    _write_lines(
        folder / LOGS_FILE, (json.dumps(line, ensure_ascii=False) for line in deployment.logs.take())
    )
    failures = all_failures(deployment, result)
    document = report(result, failures, images=images.written, records=len(records))
    if images.renamed or images.not_saved:
        document["imagesRenamed"] = [entry.as_dict() for entry in images.renamed]
        document["imagesNotSaved"] = images.not_saved
    (folder / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    (folder / "request.json").write_text(json.dumps(request, indent=2) + "\n")
    sfn = deployment.client("stepfunctions")
    arn = execution_arn(deployment, result.execution_name)
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)["definition"]
    )
    path = execution_path(history_events(sfn, arn), definition)
    (folder / "path.md").write_text(path.markdown(definition, f"Path of {result.execution_name}"))
    return SavedRun(
        folder, images.written, len(records), len(failures), path, len(images.renamed), len(images.not_saved)
    )


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
    if result.interrupted:
        document["interrupted"] = result.interrupted
        document["notAttempted"] = summary.get("notAttempted")
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


def table_items(deployment: Deployment, execution_arn: str | None = None) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = [
        {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}
        for item in stored_items(deployment, execution_arn)
    ]
    return sorted(items, key=lambda item: str(item.get("url")))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class SavedImages:
    written: int
    renamed: list[Renamed]
    not_saved: list[dict[str, str]]


def copy_images(
    deployment: Deployment, keys: list[str], target: Path, on_saved: Callable[[int, int], None] | None = None
) -> SavedImages:
    """Write each stored image to ``target``, named by host (without scheme and port) and path
    (``local_runner.names``), several at a time, straight from the emulator's store."""
    prefix = deployment.config.image_key_prefix
    names, renamed = safe_local_names([key.removeprefix(prefix) for key in keys])
    read = object_reader(deployment)
    paths = {key: target / names[key.removeprefix(prefix)] for key in keys}
    for folder in sorted({path.parent for path in paths.values()}):
        with contextlib.suppress(OSError):  # the images under it say why they could not be written
            folder.mkdir(parents=True, exist_ok=True)
    not_saved: list[dict[str, str]] = []
    done = 0
    lock = threading.Lock()

    def save(key: str) -> None:
        nonlocal done
        try:
            paths[key].write_bytes(read(key))
        except (OSError, ValueError) as error:  # ValueError: a name the OS cannot take (a NUL)
            with lock:
                not_saved.append({"key": key, "reason": getattr(error, "strerror", None) or str(error)})
        with lock:
            done += 1
            if on_saved:
                on_saved(done, len(keys))

    with ThreadPoolExecutor(max_workers=SAVE_WORKERS) as pool:
        list(pool.map(save, keys))
    return SavedImages(len(keys) - len(not_saved), renamed, sorted(not_saved, key=lambda entry: entry["key"]))


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(f"{line}\n" for line in lines)
