"""Where downloaded images go: S3 + DynamoDB in the Lambda, a local folder or nowhere on the command line.

Each sink stores an image completely or raises ``StorageError`` leaving nothing behind: the S3 sink
deletes the object again when its DynamoDB record cannot be written, so the bucket never holds an image
the table does not know about.

Two executions may store the same URL at once (object A, object B, record B, record A). The record must
describe the object under its key, so a record put that replaced another execution's record (``ALL_OLD``)
is followed by a HEAD of the object; when it holds other bytes, the record is rewritten from the
object's metadata, on condition that it is still this put's (``writeId``). Every record write that
replaces another execution's record is so verified, and the last one sees the last object. One execution
never stores one URL twice at once (the batch step drops duplicates), so a first download, or one that
replaces the same execution's record (a retried batch), costs no extra call. A writer that batches
records (BatchWriteItem has no ``ALL_OLD``) must send the URLs already recorded through this path.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from image_downloader.aws_retries import AWS_RETRIES
from image_downloader.content import ACTIVE_FORMATS
from image_downloader.keys import file_parts, image_key, object_metadata
from image_downloader.logs import caught
from image_downloader.model import DownloadedImage, StorageError
from image_downloader.redact import redact
from image_downloader.settings import DownloadSettings

logger = logging.getLogger(__name__)

# Enough for the largest lambdaConcur (50) without a second client for smaller batches.
MIN_AWS_POOL = 50


@dataclass(frozen=True)
class AwsClients:
    s3: Any
    dynamodb: Any


@functools.cache
def aws_clients(max_pool_connections: int = MIN_AWS_POOL) -> AwsClients:
    """Clients created once per container (per pool size), shared by every worker thread. botocore's own
    session rather than boto3's: importing boto3 (and the s3transfer it brings) costs the cold start ~25 ms
    of CPU for nothing this function uses."""
    config = Config(
        max_pool_connections=max_pool_connections,
        retries=AWS_RETRIES,
        connect_timeout=5,
        read_timeout=60,
    )
    session = botocore.session.get_session()
    return AwsClients(
        s3=session.create_client("s3", config=config),
        dynamodb=session.create_client("dynamodb", config=config),
    )


def clients_for(concurrency: int) -> AwsClients:
    return aws_clients(max(MIN_AWS_POOL, concurrency))


class S3DynamoSink:
    """Puts the object (with its SHA-256 checked by S3), then records it in DynamoDB."""

    def __init__(
        self, settings: DownloadSettings, clients: AwsClients, execution_id: str | None = None
    ) -> None:
        self.settings = settings
        self.s3 = clients.s3
        self.dynamodb = clients.dynamodb
        self.execution_id = execution_id

    def store(self, image: DownloadedImage) -> None:
        key = image_key(self.settings.image_key_prefix, image.url)
        self._put_object(key, image)
        write_id = uuid.uuid4().hex
        try:
            replaced = self._put_record(key, image, write_id)
        except Exception as error:
            caught(logger, "could not record an image, removing its object", error, url=redact(image.url))
            self._delete_object(key, error)
            raise StorageError(f"DynamoDB put_item failed, object removed: {_describe(error)}") from error
        if replaced is not None and replaced.get("executionId", {}).get("S") != (self.execution_id or ""):
            self._describe_current_object(key, image, write_id)

    def _put_object(self, key: str, image: DownloadedImage) -> None:
        # A format a browser could execute (SVG scripts) is served as a download, never rendered.
        disposition = {"ContentDisposition": "attachment"} if image.content_type in ACTIVE_FORMATS else {}
        try:
            self.s3.put_object(
                Bucket=self.settings.bucket_name,
                Key=key,
                Body=image.body,
                ContentLength=image.size,
                ContentType=image.content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(image.sha256).decode("ascii"),
                Metadata=object_metadata(image.url, image.sha256_hex),
                **disposition,
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"S3 put_object failed: {_describe(error)}") from error

    def _put_record(self, key: str, image: DownloadedImage, write_id: str) -> dict[str, Any] | None:
        """Put the record; the one it replaced, if any (another store of the URL, maybe concurrent)."""
        item = self._record(
            image.url, key, image.size, image.content_type, image.sha256_hex, datetime.now(UTC), write_id
        )
        if self.execution_id:
            item["executionId"] = {"S": self.execution_id}
        response = self.dynamodb.put_item(
            TableName=self.settings.table_name, Item=item, ReturnValues="ALL_OLD"
        )
        return response.get("Attributes") or None

    def _record(
        self, url: str, key: str, size: int, content_type: str, sha256_hex: str, at: datetime, write_id: str
    ) -> dict[str, dict[str, str]]:
        return {
            "url": {"S": url},
            "bucket": {"S": self.settings.bucket_name},
            "key": {"S": key},
            "size": {"N": str(size)},
            "contentType": {"S": content_type},
            "sha256": {"S": sha256_hex},
            "downloadedAt": {"S": at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")},
            "writeId": {"S": write_id},
        }

    def _describe_current_object(self, key: str, image: DownloadedImage, write_id: str) -> None:
        """Rewrite the record from the object under ``key`` if another writer's object replaced ours."""
        try:
            head = self.s3.head_object(Bucket=self.settings.bucket_name, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"S3 head_object after recording failed: {_describe(error)}") from error
        sha256_hex = head.get("Metadata", {}).get("sha256", "")
        if (sha256_hex, head.get("ContentLength")) == (image.sha256_hex, image.size):
            return
        current = self._record(
            image.url,
            key,
            head["ContentLength"],
            head.get("ContentType", ""),
            sha256_hex,
            head["LastModified"],
            write_id,
        )
        try:
            self.dynamodb.put_item(
                TableName=self.settings.table_name,
                Item=current,
                ConditionExpression="writeId = :mine",
                ExpressionAttributeValues={":mine": {"S": write_id}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StorageError(f"DynamoDB put_item failed: {_describe(error)}") from error
            # a later record replaced ours: its writer verifies it in turn

    def _delete_object(self, key: str, cause: Exception) -> None:
        try:
            self.s3.delete_object(Bucket=self.settings.bucket_name, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise StorageError(
                f"DynamoDB put_item failed ({_describe(cause)}) and the object s3://"
                f"{self.settings.bucket_name}/{key} could not be removed: {_describe(error)}"
            ) from error


class DiscardSink:
    """Transfer only: the engine still streams, checks and hashes every body."""

    def store(self, image: DownloadedImage) -> None:
        pass


class FolderSink:
    """Writes each image under ``root/<scheme>/<host[:port]>/<path>[?query]`` (the S3 key's layout), or,
    for one origin (``one_origin``: the command line's single base URL), ``root/<host>/<path>[?query]`` as
    a local run names them. Never overwrites a file: one that exists already with the same content (an
    earlier run into the same folder) counts as stored, one with other content fails the URL."""

    def __init__(self, root: Path, one_origin: bool = False) -> None:
        self.root = root.resolve()
        self.one_origin = one_origin

    def store(self, image: DownloadedImage) -> None:
        target = self.path_for(image.url)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                shutil.copyfileobj(image.body, out)
        except FileExistsError as error:
            if _sha256_of(target) == image.sha256:
                return
            raise StorageError(f"{target} exists already with other content: not overwritten") from error
        except OSError as error:
            raise StorageError(f"could not write {target}: {error}") from error

    def path_for(self, url: str) -> Path:
        parts = file_parts(url)
        if self.one_origin:
            host = urlsplit(url).hostname or parts[1]
            parts = [f"[{host}]" if ":" in host else host, *parts[2:]]
        if any(part in ("", ".", "..") for part in parts):
            raise StorageError(f"refusing to write outside {self.root}: {url}")
        return self.root.joinpath(*parts)


def _sha256_of(path: Path) -> bytes | None:
    try:
        with path.open("rb") as existing:
            return hashlib.file_digest(existing, "sha256").digest()
    except OSError:
        return None


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error) or type(error).__name__
