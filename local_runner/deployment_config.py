"""The deployment's settings, as the Terraform module's variables would give them, and the Lambda
functions modules/compute declares from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PACKAGE = "image_downloader"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as modules/compute declares it."""

    name: str
    handler: str
    timeout_seconds: int
    environment: Mapping[str, str]
    memory_mb: int = 128
    ephemeral_mb: int = 512
    # Concurrent executions reserved for the function (None: it shares the account's unreserved pool).
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class DeploymentConfig:
    """The values the Terraform module's variables would give; defaults mirror the module's defaults."""

    name: str = "image-downloader-local"
    image_key_prefix: str = "images/"
    report_key_prefix: str = "reports/"
    run_key_prefix: str = "runs/"
    input_key_prefix: str = "inputs/"
    map_max_concurrency: int = 10
    max_lambda_concur: int = 50
    max_paths_per_execution: int = 1_000_000
    default_batch_size: int = 100
    max_image_bytes: int = 50 * 1024 * 1024
    allowed_hosts: tuple[str, ...] = ()
    allow_private_addresses: bool = False
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    time_budget_margin_seconds: float = 20.0
    image_time_limit_seconds: float = 60.0
    # Every format image_downloader.content knows but SVG, as downloader.allowed_content_types.
    allowed_content_types: tuple[str, ...] = (
        "image/gif",
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/tiff",
        "image/x-icon",
    )
    max_listed_failures: int = 50
    batch_timeout_seconds: int = 60
    download_timeout_seconds: int = 300
    consolidate_timeout_seconds: int = 120
    batch_memory_mb: int = 1024
    download_memory_mb: int = 512
    consolidate_memory_mb: int = 512
    # lambda.download.ephemeral_storage_mb; None sizes it as modules/compute does.
    download_ephemeral_storage_mb: int | None = None
    # lambda.download.reserved_concurrency; map_max_concurrency may not exceed it (modules/compute).
    download_reserved_concurrency: int | None = None
    execution_timeout_seconds: int = 3600
    application_log_level: str = "INFO"

    def __post_init__(self) -> None:
        reserved = self.download_reserved_concurrency
        if reserved is not None and self.map_max_concurrency > reserved:
            raise ValueError(
                f"state_machine.map_max_concurrency ({self.map_max_concurrency}) exceeds "
                f"lambda.download.reserved_concurrency ({reserved}): the Map's invocations past the "
                "reservation would be throttled. Raise the reservation or lower map_max_concurrency."
            )

    @property
    def bucket(self) -> str:
        return f"{self.name}-images"

    @property
    def table(self) -> str:
        return f"{self.name}-images"

    @property
    def topic(self) -> str:
        return f"{self.name}-failures"

    @property
    def download_ephemeral_mb(self) -> int:
        """modules/compute's local.download_ephemeral_storage_mb: room for every request in flight to spool
        one image of the largest size allowed, plus 64 MB."""
        if self.download_ephemeral_storage_mb is not None:
            return self.download_ephemeral_storage_mb
        spool_mb = -(-self.max_lambda_concur * self.max_image_bytes // 1048576)
        return min(10240, max(512, spool_mb + 64))

    def functions(self) -> tuple[FunctionSpec, ...]:
        download_env = {
            "BUCKET_NAME": self.bucket,
            "TABLE_NAME": self.table,
            "IMAGE_KEY_PREFIX": self.image_key_prefix,
            "RUN_KEY_PREFIX": self.run_key_prefix,
            "MAX_IMAGE_BYTES": str(self.max_image_bytes),
            "ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            "ALLOW_PRIVATE_ADDRESSES": str(self.allow_private_addresses).lower(),
            "CONNECT_TIMEOUT_SECONDS": _terraform_number(self.connect_timeout_seconds),
            "READ_TIMEOUT_SECONDS": _terraform_number(self.read_timeout_seconds),
            "TIME_BUDGET_MARGIN_SECONDS": _terraform_number(self.time_budget_margin_seconds),
            "IMAGE_TIME_LIMIT_SECONDS": _terraform_number(self.image_time_limit_seconds),
            "ALLOWED_CONTENT_TYPES": ",".join(self.allowed_content_types),
        }
        return (
            FunctionSpec(
                "batch",
                f"{PACKAGE}.batch.handler",
                self.batch_timeout_seconds,
                {
                    "BUCKET_NAME": self.bucket,
                    "RUN_KEY_PREFIX": self.run_key_prefix,
                    "INPUT_LOCATIONS": f"{self.bucket}/{self.input_key_prefix}",
                    "MAX_LAMBDA_CONCUR": str(self.max_lambda_concur),
                    "MAX_PATHS_PER_EXECUTION": str(self.max_paths_per_execution),
                    "DEFAULT_BATCH_SIZE": str(self.default_batch_size),
                    "MAX_CONCURRENT_BATCHES": str(self.map_max_concurrency),
                    "IMAGE_KEY_PREFIX": self.image_key_prefix,
                    "TABLE_NAME": self.table,
                    "REPORT_KEY_PREFIX": self.report_key_prefix,
                },
                self.batch_memory_mb,
            ),
            FunctionSpec(
                "download",
                f"{PACKAGE}.download.handler",
                self.download_timeout_seconds,
                download_env,
                self.download_memory_mb,
                self.download_ephemeral_mb,
                self.download_reserved_concurrency,
            ),
            FunctionSpec(
                "consolidate",
                f"{PACKAGE}.consolidate.handler",
                self.consolidate_timeout_seconds,
                {
                    "BUCKET_NAME": self.bucket,
                    "REPORT_KEY_PREFIX": self.report_key_prefix,
                    "RUN_KEY_PREFIX": self.run_key_prefix,
                    "MAX_LISTED_FAILURES": str(self.max_listed_failures),
                },
                self.consolidate_memory_mb,
            ),
        )


def _terraform_number(value: float) -> str:
    """``tostring()`` of a Terraform number: ``5`` not ``5.0``, so both environments are identical."""
    return str(int(value)) if float(value).is_integer() else str(value)
