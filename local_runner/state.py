"""The local deployment's data, kept between runs as AWS keeps a deployment's: the bucket (images,
staged inputs, batches and results, reports) and the table (the records), so that ``skipExisting``,
``retryFailuresOf`` and ``resourcePathsFrom`` work across local runs as on AWS.

    downloads/.state/               (or --state DIR; --fresh empties it first)
        objects.jsonl               one line per object: key, metadata, the SHA-256 of its body
        blobs/<sha256>              the bodies, each once (images of one content share a file)
        items.jsonl                 one line per DynamoDB item, in DynamoDB's JSON form

At start the emulated bucket and table are seeded from these files (straight into moto's stores, not
through the API: no request is counted and 20,000 objects take about a second); at the end, and when a
run is stopped, the files are written again from the emulator (each index replaced whole, so a run that
dies while saving leaves the previous state).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import FakeKey, s3_backends

from local_runner.emulator import REGION, Deployment
from local_runner.store import table_items

STATE_ENV = "LOCAL_RUNNER_STATE"
DEFAULT_STATE = Path("downloads") / ".state"
OBJECTS = "objects.jsonl"
ITEMS = "items.jsonl"
BLOBS = "blobs"


def default_state_folder() -> Path:
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


@dataclass(frozen=True)
class StateCounts:
    objects: int
    items: int


class LocalState:
    """The state folder of a persisted local deployment."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def clear(self) -> None:
        for name in (OBJECTS, ITEMS):
            (self.folder / name).unlink(missing_ok=True)
        shutil.rmtree(self.folder / BLOBS, ignore_errors=True)

    def restore(self, deployment: Deployment) -> StateCounts:
        """Seed the emulated bucket and table from the folder; what it holds, counted."""
        objects = _read_lines(self.folder / OBJECTS)
        items = _read_lines(self.folder / ITEMS)
        bucket = deployment.config.bucket
        partition, account = s3_backends.bucket_accounts[bucket]
        s3 = s3_backends[account][partition]
        for entry in objects:
            body = (self.folder / BLOBS / entry["sha256"]).read_bytes()
            s3.put_object(bucket, entry["key"], body).set_metadata(entry["metadata"])
        dynamodb = dynamodb_backends[deployment.state_machine_arn.split(":")[4]][REGION]
        for item in items:
            dynamodb.put_item(deployment.config.table, item)
        return StateCounts(len(objects), len(items))

    def save(self, deployment: Deployment) -> StateCounts:
        """Write the emulated bucket and table to the folder."""
        blobs = self.folder / BLOBS
        blobs.mkdir(parents=True, exist_ok=True)
        partition, account = s3_backends.bucket_accounts[deployment.config.bucket]
        store = s3_backends[account][partition].get_bucket(deployment.config.bucket).keys
        objects = []
        for key, value in sorted(store.items()):
            if not isinstance(value, FakeKey):
                continue  # a delete marker: the key has no object
            body = value.value
            digest = hashlib.sha256(body).hexdigest()
            blob = blobs / digest
            if not blob.exists():
                _replace(blob, body)
            objects.append({"key": key, "metadata": dict(value.metadata), "sha256": digest})
        items = table_items(deployment)
        _replace(self.folder / OBJECTS, "".join(json.dumps(entry) + "\n" for entry in objects).encode())
        _replace(self.folder / ITEMS, "".join(json.dumps(item) + "\n" for item in items).encode())
        return StateCounts(len(objects), len(items))


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _replace(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
