"""The floors the engine is measured against: the least code that does the same transfer, same server.

- ``urllib3_floor``: a thread pool sharing one urllib3 keep-alive ``PoolManager``, GET and read, nothing
  else (the CPU floor of the transfer-only sink);
- ``stdlib_reference``: the same with ``http.client``, one keep-alive connection per thread (the wall
  reference);
- ``aws_floor``: GET, then boto3 ``put_object`` and ``put_item`` against the stand-in
  (``bench.aws_standin``, another process): the CPU floor of the full sink, botocore's work included;
  with ``batch_records``, the records go by ``BatchWriteItem`` of 25 instead (unprocessed ones again),
  which shows what batching the records would save.

Each returns a callable that runs the whole list once and returns how many images it stored. Like the
engine, whose pool of connections to the origin lives as long as one batch (one Lambda invocation), each
run opens its own connections to the image server; the AWS clients live as long as the process, as the
Lambda's do.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import urllib3

Run = Callable[[list[str]], int]
# Every loop has a socket timeout, as the engine must (so every read waits in poll() first).
SOCKET_TIMEOUT = 10.0
BATCH_WRITE_ITEMS = 25  # DynamoDB's limit per BatchWriteItem


def urllib3_floor(concurrency: int) -> Run:
    def get(http: urllib3.PoolManager, url: str) -> int:
        response = http.request("GET", url)
        return int(response.status == 200 and bool(response.data))

    return _pooled(concurrency, get)


def stdlib_reference(concurrency: int) -> Run:
    local = threading.local()

    def get(_http: urllib3.PoolManager, url: str) -> int:
        parts = urlsplit(url)
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(parts.netloc, timeout=SOCKET_TIMEOUT)
        connection.request("GET", parts.path)
        response = connection.getresponse()
        return int(response.status == 200 and bool(response.read()))

    return _pooled(concurrency, get)


def aws_floor(
    concurrency: int, endpoint_url: str, bucket: str, table: str, batch_records: bool = False
) -> Run:
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=max(50, concurrency))
    s3 = boto3.client("s3", endpoint_url=endpoint_url, config=config)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint_url, config=config)

    def get_and_store(http: urllib3.PoolManager, url: str) -> int:
        response = http.request("GET", url)
        if response.status != 200:
            return 0
        key = "images/" + url.split("://", 1)[1]
        s3.put_object(Bucket=bucket, Key=key, Body=response.data, ContentType="image/gif")
        item = {"url": {"S": url}, "key": {"S": key}, "size": {"N": str(len(response.data))}}
        if not batch_records:
            dynamodb.put_item(TableName=table, Item=item)
            return 1
        with lock:
            pending.append({"PutRequest": {"Item": item}})
            full = pending[:] if len(pending) == BATCH_WRITE_ITEMS else None
            if full:
                pending.clear()
        if full:
            write_batch(full)
        return 1

    lock = threading.Lock()
    pending: list[dict] = []

    def write_batch(writes: list[dict]) -> None:
        while writes:
            answer = dynamodb.batch_write_item(RequestItems={table: writes})
            writes = answer.get("UnprocessedItems", {}).get(table, [])

    pooled = _pooled(concurrency, get_and_store)

    def run(urls: list[str]) -> int:
        stored = pooled(urls)
        if pending:
            write_batch(pending[:])
            pending.clear()
        return stored

    return run


def _pooled(concurrency: int, each: Callable[[urllib3.PoolManager, str], int]) -> Run:
    def run(urls: list[str]) -> int:
        with (
            urllib3.PoolManager(maxsize=concurrency, block=True, timeout=SOCKET_TIMEOUT) as http,
            ThreadPoolExecutor(max_workers=min(concurrency, len(urls))) as pool,
        ):
            return sum(pool.map(lambda url: each(http, url), urls))

    return run
