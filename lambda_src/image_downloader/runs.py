"""Where one execution keeps its working data in S3, so that nothing that grows with the request travels
through the state machine's state (256 KiB per state input or output).

``<run prefix><execution>/``
  ``manifest.json``          the Distributed Map's ItemReader reads it: ``[{"batchIndex", "batchKey"}, ...]``
  ``batches/00000.json``     one batch: ``{"batchIndex", "baseUrl", "lambdaConcur", "resourcePaths"}``
  ``results/00000.json``     what the download Lambda did with it: counts and every failure

The Distributed Map's ResultWriter writes under ``<run prefix>map-results/<map run id>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

INDEX_WIDTH = 5


@dataclass(frozen=True)
class RunLayout:
    prefix: str
    execution_name: str

    @property
    def root(self) -> str:
        return f"{self.prefix}{self.execution_name}/"

    @property
    def manifest_key(self) -> str:
        return f"{self.root}manifest.json"

    def batch_key(self, index: int) -> str:
        return f"{self.root}batches/{index:0{INDEX_WIDTH}d}.json"

    @property
    def results_prefix(self) -> str:
        return f"{self.root}results/"

    def result_key(self, index: int) -> str:
        return f"{self.results_prefix}{index:0{INDEX_WIDTH}d}.json"

    def owns(self, key: str) -> bool:
        return key.startswith(self.root) and ".." not in key.split("/")


def put_json(s3: Any, bucket: str, key: str, document: Any) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def get_json_or_none(s3: Any, bucket: str, key: str) -> Any:
    """The document at key, or None when there is no such object."""
    try:
        return get_json(s3, bucket, key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
