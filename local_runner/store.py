"""What a finished local run holds, read straight out of moto's stores for the run folder.

Through the API, each GetObject costs this process ~10 ms of CPU, a ListObjectsV2 page seconds and a
Scan re-sorts the whole table on every page: for 20,000 images, minutes after the execution has ended.
These reads take the objects, keys and items from moto's in-memory backends instead (the same data;
each falls back to the API if moto's layout is not the one expected). Only the runner's saving uses
them: the pipeline itself goes through the API, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import FakeKey, s3_backends

from local_runner.emulator import REGION, Deployment


def _bucket_store(bucket: str) -> Any:
    partition, account = s3_backends.bucket_accounts[bucket]
    return s3_backends[account][partition].get_bucket(bucket).keys


# key -> the object version current when it was taken (moto's own objects, compared by identity)
Snapshot = dict[str, Any]


def snapshot(deployment: Deployment, prefix: str) -> Snapshot:
    """The current version of every object under ``prefix``: what a run found before it started (the
    data a persisted local deployment kept from earlier runs)."""
    try:
        store = _bucket_store(deployment.config.bucket)
    except (KeyError, AttributeError):
        return {}
    return {key: value for key, value in store.items() if key.startswith(prefix)}


def bucket_keys(deployment: Deployment, prefix: str, since: Snapshot | None = None) -> list[str]:
    """The keys under ``prefix`` whose current version is an object (not a delete marker), sorted; with
    ``since``, only those written after that snapshot (new, or written again)."""
    bucket = deployment.config.bucket
    before = since or {}
    try:
        store = _bucket_store(bucket)
        return sorted(
            key
            for key, value in store.items()
            if key.startswith(prefix) and isinstance(value, FakeKey) and before.get(key) is not value
        )
    except (KeyError, AttributeError):
        pages = (
            deployment.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def object_reader(deployment: Deployment) -> Callable[[str], bytes]:
    """The bytes of an object of the run's bucket."""
    bucket = deployment.config.bucket
    try:
        store = _bucket_store(bucket)
    except (KeyError, AttributeError):
        s3 = deployment.client("s3")
        return lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return lambda key: store[key].value


def _table(deployment: Deployment) -> Any:
    account = deployment.state_machine_arn.split(":")[4]
    return dynamodb_backends[account][REGION].get_table(deployment.config.table)


def table_items(deployment: Deployment, execution_arn: str | None = None) -> list[dict[str, Any]]:
    """The items of the run's table in DynamoDB's JSON form (``{"url": {"S": ...}, ...}``): all of them,
    or those ``execution_arn`` wrote (its ``executionId``)."""
    try:
        # A copy of the values first: after Ctrl-C the download threads may still be writing to the table.
        items = [item.to_json()["Attributes"] for item in list(_table(deployment).items.values())]
    except (KeyError, AttributeError, IndexError):
        pages = (
            deployment.client("dynamodb").get_paginator("scan").paginate(TableName=deployment.config.table)
        )
        items = [item for page in pages for item in page["Items"]]
    if execution_arn is None:
        return items
    return [item for item in items if item.get("executionId", {}).get("S") == execution_arn]


def execution_record_count(deployment: Deployment, execution_arn: str) -> int | None:
    """How many items ``execution_arn`` has written so far (None when moto's layout is not the one
    expected). One pass over the table, taken while download threads add to it."""
    try:
        items = list(_table(deployment).items.values())  # one C call: no thread changes it meanwhile
    except (KeyError, AttributeError, IndexError):
        return None
    return sum(1 for item in items if getattr(item.attrs.get("executionId"), "value", None) == execution_arn)
