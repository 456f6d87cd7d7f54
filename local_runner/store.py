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


def bucket_keys(deployment: Deployment, prefix: str) -> list[str]:
    """The keys under ``prefix`` whose current version is an object (not a delete marker), sorted."""
    bucket = deployment.config.bucket
    try:
        store = _bucket_store(bucket)
        return sorted(
            key for key, value in store.items() if key.startswith(prefix) and isinstance(value, FakeKey)
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


def table_items(deployment: Deployment) -> list[dict[str, Any]]:
    """Every item of the run's table, in DynamoDB's JSON form (``{"url": {"S": ...}, ...}``)."""
    table = deployment.config.table
    try:
        account = deployment.state_machine_arn.split(":")[4]
        items = dynamodb_backends[account][REGION].get_table(table).all_items()
        return [item.to_json()["Attributes"] for item in items]
    except (KeyError, AttributeError, IndexError):
        pages = deployment.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        return [item for page in pages for item in page["Items"]]
