"""One measured benchmark run, in its own process; prints one JSON line.

``python -m bench.run --port P --sink SINK --kind small|large -n N -c C [--repeat R] [--aws-port A]``

- ``discard``: ``engine.download_all`` with a sink that drops each image (transfer, checks and hashing);
- ``aws``: ``download.handler`` with its environment, against the S3/DynamoDB stand-in
  (``bench.aws_standin``, another process, at ``--aws-port``): the whole Lambda path, client side alone;
- ``moto``: ``download.handler`` against moto's S3 and DynamoDB in this process (moto's CPU included);
- ``folder``: ``download_all`` writing every image to a temporary folder (used for the memory figures);
- ``floor``, ``stdlib``, ``floor-aws``, ``floor-aws-batch``: the minimal loops of ``bench.floors``
  (urllib3 GET; http.client GET; GET + put_object + put_item, or BatchWriteItem of 25, to the stand-in).

Each run starts with a 2-image warm-up (imports, botocore models, code paths), not counted: a warm Lambda
container has paid for those too. Each repeat reports its wall time and its CPU time (user + sys of this
process, every thread, from ``getrusage``), so start-up and warm-up are excluded. The peak RSS is that of
the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import floors
from image_downloader.engine import Deadline, download_all
from image_downloader.runs import RunLayout, put_json
from image_downloader.settings import DownloadSettings
from image_downloader.storage import DiscardSink, FolderSink

BUCKET = "bench-images"
TABLE = "bench-images"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
SINKS = ("discard", "aws", "moto", "folder", "floor", "stdlib", "floor-aws", "floor-aws-batch")
FLOORS = ("floor", "stdlib", "floor-aws", "floor-aws-batch")


def urls(port: int, kind: str, count: int) -> list[str]:
    if kind == "large":
        return [f"http://127.0.0.1:{port}/large/{index}.bmp" for index in range(count)]
    return [f"http://127.0.0.1:{port}/small/{index}.gif" for index in range(count)]


def warm_urls(port: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/small/warm-{index}.gif" for index in range(2)]


def transfer_run(port: int, kind: str, count: int, concurrency: int, sink_name: str) -> Callable[[], int]:
    settings = DownloadSettings(bucket_name="", table_name="", allow_private_addresses=True)
    folder = tempfile.TemporaryDirectory(prefix="bench-")
    sink = FolderSink(Path(folder.name)) if sink_name == "folder" else DiscardSink()
    download_all(warm_urls(port), 2, sink, settings, Deadline())

    def run() -> int:
        return download_all(urls(port, kind, count), concurrency, sink, settings, Deadline()).succeeded

    return run


def floor_run(
    port: int, kind: str, count: int, concurrency: int, sink: str, aws_port: int
) -> Callable[[], int]:
    if sink == "floor":
        loop = floors.urllib3_floor(concurrency)
    elif sink == "stdlib":
        loop = floors.stdlib_reference(concurrency)
    else:
        os.environ.update(AWS_ENV)
        endpoint = f"http://127.0.0.1:{aws_port}"
        loop = floors.aws_floor(concurrency, endpoint, BUCKET, TABLE, batch_records=sink == "floor-aws-batch")
    loop(warm_urls(port))
    measured = urls(port, kind, count)
    return lambda: loop(measured)


def handler_run(port: int, kind: str, count: int, concurrency: int, aws_port: int = 0) -> Callable[[], int]:
    """The download handler against moto in this process, or (``aws_port``) the stand-in."""
    import boto3

    from image_downloader.download import handler

    if aws_port:
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{aws_port}"
    os.environ.update(AWS_ENV)
    os.environ.update({"BUCKET_NAME": BUCKET, "TABLE_NAME": TABLE, "ALLOW_PRIVATE_ADDRESSES": "true"})
    if not aws_port:
        from moto import mock_aws

        mock_aws().start()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    base_url = f"http://127.0.0.1:{port}/"

    def event(paths: list[str], name: str) -> dict:
        """The Distributed Map's item, after writing its batch to S3 as ValidateAndBatch does."""
        key = RunLayout("runs/", name).batch_key(0)
        batch = {"batchIndex": 0, "baseUrl": base_url, "lambdaConcur": concurrency, "resourcePaths": paths}
        put_json(boto3.client("s3"), BUCKET, key, batch)
        return {
            "batchIndex": 0,
            "batchKey": key,
            "executionName": name,
            "executionId": f"arn:aws:states:us-east-1:123456789012:execution:bench:{name}",
        }

    handler(event([url.removeprefix(base_url) for url in warm_urls(port)], "warm-up"), None)
    measured = event([url.removeprefix(base_url) for url in urls(port, kind, count)], "bench")

    def run() -> int:
        return handler(measured, None)["succeeded"]

    return run


def runner(args: argparse.Namespace) -> Callable[[], int]:
    """The measured run the arguments (``--sink``, ``--kind``, ``-n``, ``-c``, ports) describe, warmed up."""
    if args.sink in ("moto", "aws"):
        return handler_run(args.port, args.kind, args.n, args.c, args.aws_port if args.sink == "aws" else 0)
    if args.sink in FLOORS:
        return floor_run(args.port, args.kind, args.n, args.c, args.sink, args.aws_port)
    return transfer_run(args.port, args.kind, args.n, args.c, args.sink)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description="One benchmark run (see bench/__main__.py).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--aws-port", type=int, default=0, help="the stand-in's port (sinks aws, floor-aws)")
    parser.add_argument("--sink", choices=SINKS, required=True)
    parser.add_argument("--kind", choices=("small", "large"), default="small")
    parser.add_argument("-n", type=int, required=True)
    parser.add_argument("-c", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.sink in ("aws", "floor-aws", "floor-aws-batch") and not args.aws_port:
        parser.error(f"--sink {args.sink} needs --aws-port")
    run = runner(args)
    walls: list[float] = []
    cpus: list[float] = []
    succeeded = 0
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        succeeded = run()
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_seconds() - cpu_started)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    figures = {"walls": walls, "cpus": cpus, "succeeded": succeeded, "peak_rss_bytes": peak_kib * 1024}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
