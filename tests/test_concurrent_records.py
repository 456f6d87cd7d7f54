"""Two executions storing the same URLs at once leave every record describing the object under its key
(issue 18, row 4): the server answers each request with other bytes, so two writers of one URL always
disagree, and the record must name the sha256 and size of whichever object won."""

from __future__ import annotations

import hashlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from image_downloader.engine import Deadline, download_all
from image_downloader.keys import image_key
from image_downloader.settings import DownloadSettings
from image_downloader.storage import AwsClients, S3DynamoSink
from local_runner.sample_images import flag_gif
from tests.conftest import FAST_RETRIES, IMAGES_BUCKET, IMAGES_TABLE, AwsWorld
from tests.support.image_server import ImageServer, Route

SETTINGS = DownloadSettings(
    bucket_name=IMAGES_BUCKET,
    table_name=IMAGES_TABLE,
    allow_private_addresses=True,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
    time_budget_margin_seconds=1,
)
URLS = 12
ROUNDS = 15


class _OneCallAtATime:
    """The S3 client with each call atomic, as S3 requests are: moto in one process frees a replaced
    object's buffer while another thread's HEAD still reads it ("I/O operation on closed file"). The
    interleavings between calls, which this test is about, are untouched."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def _changing_image() -> object:
    """Every request gets another GIF (of another size): no two stores of a URL hold the same bytes."""
    counter = itertools.count()
    lock = threading.Lock()

    def handle(handler: object) -> None:
        with lock:
            serial = next(counter)
        body = flag_gif(f"v{serial}") + b"\x00" * (serial % 97)
        handler.send_route(Route(body=body))  # type: ignore[attr-defined]

    return handle


def test_two_executions_over_the_same_urls_leave_records_that_match_their_objects(
    image_server: ImageServer, aws: AwsWorld
) -> None:
    urls = [image_server.add(f"img/{index}.gif", _changing_image()) for index in range(URLS)]
    clients = AwsClients(s3=_OneCallAtATime(aws.s3), dynamodb=aws.dynamodb)
    sinks = [S3DynamoSink(SETTINGS, clients, f"execution-{name}") for name in "ab"]
    mismatched: list[str] = []

    for _round in range(ROUNDS):
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(
                pool.map(
                    lambda sink: download_all(
                        urls, 6, sink, SETTINGS, Deadline.after(60), policy=FAST_RETRIES
                    ),
                    sinks,
                )
            )
        assert all(outcome.failures == [] for outcome in outcomes), [o.failures for o in outcomes]
        records = aws.records()
        for url in urls:
            body = aws.s3.get_object(Bucket=IMAGES_BUCKET, Key=image_key("images/", url))["Body"].read()
            record = records[url]
            if (record["sha256"], int(record["size"])) != (hashlib.sha256(body).hexdigest(), len(body)):
                mismatched.append(f"round {_round}: {url}")

    assert mismatched == [], f"{len(mismatched)} of {URLS * ROUNDS} records describe another object"
