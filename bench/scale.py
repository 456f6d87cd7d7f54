"""``make bench-scale``: proof at scale, offline (issue 7).

1. ValidateAndBatch on 1,000,000 paths (a 50 MB paths file), in its own process: wall time and peak RSS
   against the batch function's memory and timeout. S3 writes are serialised and dropped, so the figure
   is the function's own work; on AWS its 10,000 PUTs run 32 at a time.
2. N paths (100,000 by default) through the whole local pipeline (the rendered ASL on moto, the handlers
   from the shipped zip) against ``bench.server`` in its own process with no delay: every image must end
   stored and recorded; prints the figures every local run prints, and checks them against the targets
   (largest state payload under 16 KiB, at most 0.02 state transitions per image).

Exit code 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.__main__ import child_env, start_server
from local_runner.emulator import Deployment, DeploymentConfig, emulated_deployment
from local_runner.limits import STATE_PAYLOAD_LIMIT_BYTES
from local_runner.run import RunResult, run_execution

PAYLOAD_TARGET_BYTES = 16 * 1024
TRANSITIONS_TARGET = 0.02
MB = 1024 * 1024


def paths_file(folder: Path, paths: int, path_length: int) -> Path:
    path = folder / "paths.txt"
    with path.open("w") as out:
        for index in range(paths):
            out.write(f"img/{index:0{path_length - 8}d}.gif\n")
    return path


def validate_million(source: Path) -> dict[str, Any]:
    """ValidateAndBatch's own cost on the paths file at ``source``, measured in this (fresh) process: the
    peak RSS counts the file's bytes as read from S3, the parsing, the batches and their serialisation."""
    from image_downloader import batch
    from image_downloader.runs import RunLayout
    from image_downloader.settings import BatchSettings

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    body = source.read_bytes()
    paths = body.count(b"\n")
    path_length = len(body) // paths
    settings = BatchSettings(bucket_name="bench", input_locations=("bench/inputs/",))
    event = {"baseUrl": "https://images.example.com/", "resourcePathsFrom": "s3://bench/inputs/paths.txt"}
    event["lambdaConcur"] = 20
    written = {"objects": 0, "bytes": 0}
    lock = threading.Lock()

    def put(key: str, document: Any) -> None:
        size = len(json.dumps(document, separators=(",", ":")).encode())
        with lock:
            written["objects"] += 1
            written["bytes"] += size

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    files = {"body": body}
    del body

    def read(bucket: str, key: str) -> bytes:
        return files.pop("body")  # handed over, as the handler's read is: nothing else keeps it

    request = batch.parse_request(event, settings, read)
    output = batch.write_batches(request, RunLayout("runs/", "bench"), put)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "paths": paths,
        "input_mb": paths * path_length / MB,
        "wall_seconds": wall,
        "peak_rss_mb": peak / MB,
        "baseline_rss_mb": baseline / MB,
        "objects": written["objects"],
        "written_mb": written["bytes"] / MB,
        "output_bytes": len(json.dumps(output)),
        "batches": output["batchCount"],
    }


def measure_validation(paths: int, path_length: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        source = paths_file(Path(folder), paths, path_length)
        command = [sys.executable, "-m", "bench.scale", "--validate-only", str(source)]
        done = subprocess.run(
            command, capture_output=True, text=True, env=child_env(), check=False, timeout=900
        )
    if done.returncode != 0:
        raise SystemExit(f"the ValidateAndBatch measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def print_validation(figures: dict[str, Any], memory_mb: int, timeout_seconds: int) -> bool:
    fits = figures["peak_rss_mb"] < memory_mb and figures["wall_seconds"] < timeout_seconds
    print(
        f"ValidateAndBatch, {figures['paths']:,} paths ({figures['input_mb']:.0f} MB paths file): "
        f"{figures['wall_seconds']:.1f} s, peak RSS {figures['peak_rss_mb']:.0f} MB "
        f"(process baseline {figures['baseline_rss_mb']:.0f} MB); "
        f"function: {memory_mb} MB, {timeout_seconds} s -> {'fits' if fits else 'DOES NOT FIT'}"
    )
    print(
        f"  wrote {figures['objects']:,} objects ({figures['batches']:,} batches + manifest, "
        f"{figures['written_mb']:.0f} MB); its state output: {figures['output_bytes']} bytes"
    )
    return fits


def heartbeat(deployment: Deployment, total: int, done: threading.Event, every: float) -> None:
    started = time.monotonic()
    batches = -(-total // deployment.config.default_batch_size)
    while not done.wait(every):
        finished = len(deployment.invocations.of("download"))
        print(f"  ... {time.monotonic() - started:.0f} s: {finished}/{batches} batches done", flush=True)


def run_pipeline(port: int, count: int, concurrency: int, batches_at_once: int) -> tuple[RunResult, int]:
    config = DeploymentConfig(allow_private_addresses=True, map_max_concurrency=batches_at_once)
    base_url = f"http://127.0.0.1:{port}/"
    paths = [f"small/{index}.gif" for index in range(count)]
    with emulated_deployment(config) as deployment:
        # By reference, as any request this size must be (the execution input is at most 256 KiB).
        key = f"{config.input_key_prefix}bench-scale.txt"
        body = "".join(f"{path}\n" for path in paths).encode()
        deployment.client("s3").put_object(Bucket=config.bucket, Key=key, Body=body)
        request = {
            "baseUrl": base_url,
            "resourcePathsFrom": f"s3://{config.bucket}/{key}",
            "lambdaConcur": concurrency,
        }
        done = threading.Event()
        ticker = threading.Thread(target=heartbeat, args=(deployment, count, done, 30.0), daemon=True)
        ticker.start()
        try:
            result = run_execution(deployment, request, poll_seconds=1.0, timeout_seconds=6 * 3600)
        finally:
            done.set()
        expected = {f"{base_url}{path}" for path in paths}
        recorded = recorded_urls(deployment, expected)
    return result, len(recorded)


def recorded_urls(deployment: Deployment, urls: set[str]) -> set[str]:
    """Which of ``urls`` have a record, read by key (BatchGetItem; moto sorts the whole table on every
    Scan page, which at 100,000 items takes minutes)."""
    dynamodb, table = deployment.client("dynamodb"), deployment.config.table
    wanted, found = sorted(urls), set()
    for start in range(0, len(wanted), 100):
        keys = [{"url": {"S": url}} for url in wanted[start : start + 100]]
        while keys:
            response = dynamodb.batch_get_item(
                RequestItems={
                    table: {
                        "Keys": keys,
                        "ProjectionExpression": "#u",
                        "ExpressionAttributeNames": {"#u": "url"},
                    }
                }
            )
            found.update(item["url"]["S"] for item in response["Responses"].get(table, []))
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def print_pipeline(result: RunResult, count: int, recorded: int) -> bool:
    figures = result.figures
    checks = {
        f"every image stored ({len(result.stored_keys):,}) and recorded ({recorded:,})": (
            len(result.stored_keys) == recorded == count and result.status == "SUCCEEDED"
        ),
        f"largest state payload {figures.largest_payload_bytes / 1024:.1f} KiB < "
        f"{PAYLOAD_TARGET_BYTES // 1024} KiB (limit {STATE_PAYLOAD_LIMIT_BYTES // 1024} KiB)": (
            figures.largest_payload_bytes < PAYLOAD_TARGET_BYTES
        ),
        f"{result.transitions_per_image:.4f} state transitions per image <= {TRANSITIONS_TARGET}": (
            result.transitions_per_image <= TRANSITIONS_TARGET
        ),
    }
    print(
        f"\nPipeline, {count:,} images: {result.status} in {result.elapsed_seconds:.0f} s "
        f"({count / result.elapsed_seconds:.0f} images/s on moto, one process)"
    )
    print(
        f"  {figures.state_transitions:,} state transitions; "
        f"{sum(figures.invocations.values()):,} Lambda invocations "
        f"({', '.join(f'{name} {n:,}' for name, n in sorted(figures.invocations.items()))}); "
        f"{figures.gb_seconds(result.memory_mb):,.0f} GB-s measured locally"
    )
    s3_calls = ", ".join(
        f"{name.removeprefix('s3.')} {n:,}"
        for name, n in sorted(figures.requests.items())
        if name.startswith("s3.")
    )
    print(
        f"  S3 requests {figures.service_requests('s3'):,} ({s3_calls}); "
        f"DynamoDB writes {figures.dynamodb_writes:,}"
    )
    for label, holds in checks.items():
        print(f"  [{'ok' if holds else 'FAILED'}] {label}")
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="images through the pipeline (100000)")
    parser.add_argument("--lambda-concur", type=int, default=20, help="lambdaConcur of the request (20)")
    parser.add_argument("--batches-at-once", type=int, default=10, help="map_max_concurrency (10)")
    parser.add_argument("--validate-paths", type=int, default=1_000_000, help="paths for ValidateAndBatch")
    parser.add_argument("--path-length", type=int, default=50, help="characters per path (50)")
    parser.add_argument("--validate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.validate_only:
        print(json.dumps(validate_million(args.validate_only)))
        return
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    started = time.monotonic()
    config = DeploymentConfig()
    ok = print_validation(
        measure_validation(args.validate_paths, args.path_length),
        config.batch_memory_mb,
        config.batch_timeout_seconds,
    )
    server, port = start_server(0.0, args.n, 1024)
    try:
        result, recorded = run_pipeline(port, args.n, args.lambda_concur, args.batches_at_once)
    finally:
        server.terminate()
        server.wait()
    ok = print_pipeline(result, args.n, recorded) and ok
    print(f"\n(bench-scale took {time.monotonic() - started:.0f} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
