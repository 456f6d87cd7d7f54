"""``make bench-budgets``: the functions at 1,000,000 images on Lambda's budgets, emulated (issue 19).

Each row runs one handler, from lambda_src, on moto in its own process (clean memory figures) under the
budgets of local_runner/budgets.py: CPU of every thread it starts (moto's work on its AWS calls left out)
scaled by the function's vCPU share (memory_size / 1,769), peak memory, and ``/tmp``, each against the
defaults of variables.tf (DeploymentConfig mirrors them). Rows:

- batch, 1,000,000 paths of 200 characters, without and with ``skipExisting`` (the table holding half);
- consolidate, 1,000,000 images all failed with 1,000-character URLs, and all stored;
- download, one batch of 100 images from a local server (the figure the model scales).

Then one line models a 1,000,000-image execution at the defaults from those rows: the batch step, the
Map's waves of download batches (map_max_concurrency at a time, within Lambda's default 1,000 concurrency)
or S3's per-prefix PUT rate for one host, whichever is slower, and Consolidate, against the execution
timeout. A row passes with its emulated duration within half its timeout, its peak memory within 80% of
its memory and its /tmp within 80% of its ephemeral storage.

``BUDGETS_JSON=FILE`` writes the same rows as JSON lines. Exit code 0 when every row and the model pass.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.__main__ import child_env

IMAGES = 1_000_000
BATCH_SIZE = 100
S3_PUTS_PER_SECOND_PER_PREFIX = 3_500
ACCOUNT_CONCURRENCY = 1_000
ROWS = ("batch/plain", "batch/skipExisting", "consolidate/all-failed", "consolidate/all-stored", "download")
TIME_SHARE, MEMORY_SHARE, TMP_SHARE = 0.5, 0.8, 0.8


def run_row(name: str, images: int) -> dict[str, Any]:
    """One row, measured in this (fresh) process."""
    import boto3
    from moto import mock_aws

    from local_runner.budgets import SAMPLE_SECONDS, Accountant, budgets_accounted, start_thread_in
    from local_runner.deployment_config import DeploymentConfig

    config = DeploymentConfig(allow_private_addresses=True)
    function, case = name.split("/") if "/" in name else (name, "one batch")
    spec = {spec.name: spec for spec in config.functions()}[function]
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", **spec.environment})
    with mock_aws(), tempfile.TemporaryDirectory() as folder, budgets_accounted():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        s3.create_bucket(Bucket=config.bucket)
        dynamodb.create_table(
            TableName=config.table,
            KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        handler, event, cleanup = PREPARE[function](config, case, images, s3)
        accountant = Accountant(Path(folder))
        outcome: dict[str, Any] = {}
        with accountant.opened(function, spec.memory_mb, spec.timeout_seconds, spec.ephemeral_mb) as budget:

            def call() -> None:
                try:
                    outcome["result"] = handler(event, None)
                except Exception as error:  # reported in the row
                    outcome["error"] = f"{type(error).__name__}: {error}"

            thread = start_thread_in(budget, call, f"bench-{function}")
            while thread.is_alive():
                thread.join(SAMPLE_SECONDS)
                budget.sample()
            verdict = accountant.verdict(budget)
        cleanup()
    row = {
        "function": function,
        "case": case,
        "images": images,
        "cpu_seconds": round(verdict.cpu_seconds, 2),
        "vcpu_share": round(spec.memory_mb / 1769, 3),
        "emulated_seconds": round(verdict.emulated_seconds, 2),
        "timeout_seconds": spec.timeout_seconds,
        "peak_mb": round(verdict.peak_mb),
        "memory_mb": spec.memory_mb,
        "tmp_mb": round(verdict.tmp_mb),
        "ephemeral_mb": spec.ephemeral_mb,
        "wall_seconds": round(verdict.wall_seconds, 2),
    }
    if "error" in outcome:
        row["error"] = outcome["error"][:300]
    row["verdict"] = verdict_of(row)
    return row


def verdict_of(row: dict[str, Any]) -> str:
    misses = []
    if "error" in row:
        misses.append("handler failed")
    if row["emulated_seconds"] > TIME_SHARE * row["timeout_seconds"]:
        misses.append("time")
    if row["peak_mb"] > MEMORY_SHARE * row["memory_mb"]:
        misses.append("memory")
    if row["tmp_mb"] > TMP_SHARE * row["ephemeral_mb"]:
        misses.append("tmp")
    return "fits" if not misses else "OVER: " + ", ".join(misses)


def _paths(images: int, length: int) -> list[str]:
    return [f"img/{index:07d}/".ljust(length - 4, "p") + ".gif" for index in range(images)]


def prepare_batch(config: Any, case: str, images: int, s3: Any) -> tuple[Callable, dict, Callable]:
    from image_downloader import batch

    paths = _paths(images, 200)
    key = f"{config.input_key_prefix}paths.txt"
    s3.put_object(Bucket=config.bucket, Key=key, Body="\n".join(paths).encode() + b"\n")
    base = "https://images.example.com/"
    request: dict[str, Any] = {
        "baseUrl": base,
        "resourcePathsFrom": f"s3://{config.bucket}/{key}",
        "lambdaConcur": 20,
    }
    if case == "skipExisting":
        request["skipExisting"] = True
        _record_half(config, [base + path for path in paths[::2]])
    del paths
    event = {"request": request, "executionName": "bench"}
    return batch.handler, event, lambda: None


def _record_half(config: Any, urls: list[str]) -> None:
    """Put the items straight into moto's table (setting up, not measured)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    for url in urls:
        backend.put_item(config.table, {"url": {"S": url}, "key": {"S": "k"}, "bucket": {"S": config.bucket}})


def prepare_consolidate(config: Any, case: str, images: int, s3: Any) -> tuple[Callable, dict, Callable]:
    from image_downloader import consolidate
    from image_downloader.runs import RunLayout

    layout = RunLayout(config.run_key_prefix, "bench")
    batches = math.ceil(images / BATCH_SIZE)
    for index in range(batches):
        count = min(BATCH_SIZE, images - index * BATCH_SIZE)
        failures = []
        if case == "all-failed":
            failures = [
                {
                    "url": f"https://images.example.com/{index:05d}/{n:03d}/".ljust(996, "u") + ".gif",
                    "kind": "http_status",
                    "status": 404,
                    "reason": "404 Not Found",
                }
                for n in range(count)
            ]
        document = {
            "batchIndex": index,
            "requested": count,
            "succeeded": count - len(failures),
            "failed": len(failures),
            "bytes": 0,
            "executionName": "bench",
            "failures": failures,
        }
        s3.put_object(Bucket=config.bucket, Key=layout.result_key(index), Body=json.dumps(document).encode())
    event = {"executionName": "bench", "total": images, "batchCount": batches, "duplicatesDropped": 0}
    return consolidate.handler, event, lambda: None


def prepare_download(config: Any, case: str, images: int, s3: Any) -> tuple[Callable, dict, Callable]:
    from image_downloader import download
    from image_downloader.runs import RunLayout
    from tests.support.image_server import ImageServer

    server = ImageServer().__enter__()
    paths = [f"b/{index}.gif" for index in range(BATCH_SIZE)]
    for path in paths:
        server.add_image(path)
    layout = RunLayout(config.run_key_prefix, "bench")
    batch = {"baseUrl": server.base_url, "lambdaConcur": 50, "resourcePaths": paths}
    s3.put_object(Bucket=config.bucket, Key=layout.batch_key(0), Body=json.dumps(batch).encode())
    event = {"batchIndex": 0, "batchKey": layout.batch_key(0), "executionName": "bench"}

    def handler(event: dict, context: object) -> dict:
        # The remaining time a context would give: no deadline of the execution, the function's timeout.
        return download.download_batch(
            download.BatchRequest.from_batch(download.BatchReference.from_event(event), batch),
            download.download_settings_from_env(),
            download.Deadline.after(config.download_timeout_seconds),
        )

    return handler, event, lambda: server.__exit__(None, None, None)


PREPARE: dict[str, Callable[[Any, str, int, Any], tuple[Callable, dict, Callable]]] = {
    "batch": prepare_batch,
    "consolidate": prepare_consolidate,
    "download": prepare_download,
}


def measure(name: str, images: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.budgets", "--row", name, "--images", str(images)]
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), check=False, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"bench-budgets: the row {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def model(rows: list[dict[str, Any]], images: int) -> dict[str, Any]:
    """A 1,000,000-image execution at the defaults, from the measured rows."""
    from local_runner.deployment_config import DeploymentConfig
    from local_runner.emulator import download_window_seconds

    config = DeploymentConfig()
    by_case = {(row["function"], row["case"]): row for row in rows}
    batches = math.ceil(images / config.default_batch_size)
    at_once = min(config.map_max_concurrency, ACCOUNT_CONCURRENCY - 2)  # batch and consolidate run too
    waves = math.ceil(batches / at_once)
    per_batch = by_case[("download", "one batch")]["emulated_seconds"]
    map_seconds = max(waves * per_batch, images / S3_PUTS_PER_SECOND_PER_PREFIX)
    batch_seconds = max(
        by_case[("batch", "plain")]["emulated_seconds"],
        by_case[("batch", "skipExisting")]["emulated_seconds"],
    )
    consolidate_seconds = max(
        by_case[("consolidate", "all-failed")]["emulated_seconds"],
        by_case[("consolidate", "all-stored")]["emulated_seconds"],
    )
    modelled = batch_seconds + map_seconds + consolidate_seconds
    return {
        "case": "model",
        "images": images,
        "modelled_seconds": round(modelled, 1),
        "execution_timeout_seconds": config.execution_timeout_seconds,
        "download_window_seconds": download_window_seconds(config),
        "batches": batches,
        "batches_at_once": at_once,
        "waves": waves,
        "download_batch_seconds": per_batch,
        "map_seconds": round(map_seconds, 1),
        "s3_prefix_puts_per_second": S3_PUTS_PER_SECOND_PER_PREFIX,
        "batch_seconds": batch_seconds,
        "consolidate_seconds": consolidate_seconds,
        "verdict": "fits" if batch_seconds + map_seconds <= download_window_seconds(config) else "OVER",
    }


def print_table(rows: list[dict[str, Any]], line: dict[str, Any]) -> None:
    header = (
        f"{'function':<12}{'case':<14}{'images':>10}{'CPU s':>8}{'vCPU':>6}{'emul. s':>9}{'timeout':>8}"
        f"{'peak MB':>9}{'memory':>8}{'tmp MB':>9}{'ephem.':>8}  verdict"
    )
    print(header)
    for row in rows:
        print(
            f"{row['function']:<12}{row['case']:<14}{row['images']:>10,}{row['cpu_seconds']:>8.1f}"
            f"{row['vcpu_share']:>6.2f}{row['emulated_seconds']:>9.1f}{row['timeout_seconds']:>8}"
            f"{row['peak_mb']:>9}{row['memory_mb']:>8}{row['tmp_mb']:>9}{row['ephemeral_mb']:>8}"
            f"  {row['verdict']}" + (f" ({row['error']})" if "error" in row else "")
        )
    print(
        f"model: {line['images']:,} images at the defaults: batch {line['batch_seconds']:.0f} s + Map "
        f"{line['map_seconds']:.0f} s ({line['waves']:,} waves of {line['batches_at_once']} batches x "
        f"{line['download_batch_seconds']:.1f} s, S3 at {line['s3_prefix_puts_per_second']:,} PUT/s per "
        f"prefix) + consolidate {line['consolidate_seconds']:.0f} s = {line['modelled_seconds']:,.0f} s; "
        f"downloads must end within {line['download_window_seconds']:,} s of the "
        f"{line['execution_timeout_seconds']:,} s execution timeout -> {line['verdict']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budgets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--row", choices=ROWS, help="measure one row in this process (internal)")
    parser.add_argument("--images", type=int, default=IMAGES)
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(run_row(args.row, args.images if args.row != "download" else BATCH_SIZE)))
        return 0
    started = time.monotonic()
    rows = []
    for name in ROWS:
        rows.append(measure(name, args.images))
        print(
            f"  measured {name} ({time.monotonic() - started:.0f} s so far): {json.dumps(rows[-1])}",
            file=sys.stderr,
        )
    line = model(rows, args.images)
    print_table(rows, line)
    if target := os.environ.get("BUDGETS_JSON"):
        with Path(target).open("w") as out:
            for row in [*rows, line]:
                out.write(json.dumps(row) + "\n")
    return 0 if all(row["verdict"] == "fits" for row in [*rows, line]) else 1


if __name__ == "__main__":
    sys.exit(main())
