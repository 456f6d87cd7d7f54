"""Settings of each function, read from environment variables in this one place.

The names below are the contract with ``modules/compute`` (Terraform) and the local runner, which set
them; ``tests/test_terraform_consistency.py`` checks that both sides agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from image_downloader.content import DEFAULT_ALLOWED_FORMATS, FORMATS
from image_downloader.errors import ConfigurationError

BATCH_ENV = (
    "BUCKET_NAME",
    "RUN_KEY_PREFIX",
    "INPUT_LOCATIONS",
    "MAX_LAMBDA_CONCUR",
    "MAX_PATHS_PER_EXECUTION",
    "DEFAULT_BATCH_SIZE",
    "MAX_CONCURRENT_BATCHES",
    "IMAGE_KEY_PREFIX",
    # skipExisting reads the table, retryFailuresOf a report.
    "TABLE_NAME",
    "REPORT_KEY_PREFIX",
)
DOWNLOAD_ENV = (
    "BUCKET_NAME",
    "TABLE_NAME",
    "IMAGE_KEY_PREFIX",
    "RUN_KEY_PREFIX",
    "MAX_IMAGE_BYTES",
    "ALLOWED_HOSTS",
    "ALLOW_PRIVATE_ADDRESSES",
    "CONNECT_TIMEOUT_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "TIME_BUDGET_MARGIN_SECONDS",
    "IMAGE_TIME_LIMIT_SECONDS",
    "ALLOWED_CONTENT_TYPES",
)
CONSOLIDATE_ENV = ("BUCKET_NAME", "REPORT_KEY_PREFIX", "RUN_KEY_PREFIX", "MAX_LISTED_FAILURES")
STATUS_ENV = ("STATE_MACHINE_ARN", "BUCKET_NAME", "REPORT_KEY_PREFIX")
NOTIFY_ENV = ("TOPIC_ARN",)

ENV_BY_FUNCTION: dict[str, tuple[str, ...]] = {
    "batch": BATCH_ENV,
    "download": DOWNLOAD_ENV,
    "consolidate": CONSOLIDATE_ENV,
    "status": STATUS_ENV,
    "notify": NOTIFY_ENV,
}


# The batch step writes one S3 object per batch, in parallel, within its timeout: at 100 paths per batch
# this is 1,000,000 paths.
MAX_BATCHES_PER_EXECUTION = 10_000


@dataclass(frozen=True)
class BatchSettings:
    bucket_name: str = ""
    run_key_prefix: str = "runs/"
    # Where a request's resourcePathsFrom may point: "bucket/prefix" entries ("" refuses every reference).
    input_locations: tuple[str, ...] = ()
    max_lambda_concur: int = 50
    max_paths_per_execution: int = 1_000_000
    default_batch_size: int = 100
    max_concurrent_batches: int = 10
    image_key_prefix: str = "images/"
    table_name: str = ""
    report_key_prefix: str = "reports/"


@dataclass(frozen=True)
class DownloadSettings:
    bucket_name: str
    table_name: str
    image_key_prefix: str = "images/"
    run_key_prefix: str = "runs/"
    max_image_bytes: int = 50 * 1024 * 1024
    allowed_hosts: frozenset[str] = frozenset()
    allow_private_addresses: bool = False
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    time_budget_margin_seconds: float = 20.0
    image_time_limit_seconds: float = 60.0
    allowed_content_types: frozenset[str] = DEFAULT_ALLOWED_FORMATS
    # The status line and headers of one response, in all (headers.py); not an environment variable.
    max_header_bytes: int = 64 * 1024


@dataclass(frozen=True)
class ConsolidateSettings:
    bucket_name: str
    report_key_prefix: str = "reports/"
    run_key_prefix: str = "runs/"
    max_listed_failures: int = 50


@dataclass(frozen=True)
class StatusSettings:
    state_machine_arn: str
    bucket_name: str
    report_key_prefix: str = "reports/"

    def execution_arn(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


@dataclass(frozen=True)
class NotifySettings:
    topic_arn: str


class _Env:
    """Typed reads of one function's environment, refusing names outside its contract."""

    def __init__(self, environ: Mapping[str, str], allowed: tuple[str, ...]) -> None:
        self._environ = environ
        self._allowed = allowed

    def _raw(self, name: str) -> str | None:
        if name not in self._allowed:
            raise AssertionError(f"{name} is not in this function's environment contract")
        value = self._environ.get(name)
        return value if value not in (None, "") else None

    def required(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            raise ConfigurationError(f"environment variable {name} must be set")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(
                f"environment variable {name} must be an integer, got {value!r}"
            ) from None
        if number < minimum:
            raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {number}")
        return number

    def seconds(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(f"environment variable {name} must be a number, got {value!r}") from None
        if number <= 0:
            raise ConfigurationError(f"environment variable {name} must be > 0, got {number}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise ConfigurationError(f"environment variable {name} must be 'true' or 'false', got {value!r}")
        return lowered == "true"

    def choices(self, name: str, known: tuple[str, ...], default: frozenset[str]) -> frozenset[str]:
        value = self._raw(name)
        if value is None:
            return default
        chosen = frozenset(item.strip().lower() for item in value.split(",") if item.strip())
        unknown = sorted(chosen - set(known))
        if unknown or not chosen:
            raise ConfigurationError(
                f"environment variable {name} must list some of {', '.join(known)}, got {value!r}"
            )
        return chosen

    def host_set(self, name: str) -> frozenset[str]:
        return frozenset(host.lower() for host in self.items(name))

    def items(self, name: str) -> tuple[str, ...]:
        value = self._raw(name) or ""
        return tuple(item.strip() for item in value.split(",") if item.strip())


def batch_settings_from_env(environ: Mapping[str, str] | None = None) -> BatchSettings:
    env = _Env(os.environ if environ is None else environ, BATCH_ENV)
    defaults = BatchSettings()
    return BatchSettings(
        bucket_name=env.required("BUCKET_NAME"),
        run_key_prefix=env.text("RUN_KEY_PREFIX", defaults.run_key_prefix),
        input_locations=env.items("INPUT_LOCATIONS"),
        max_lambda_concur=env.integer("MAX_LAMBDA_CONCUR", defaults.max_lambda_concur),
        max_paths_per_execution=env.integer("MAX_PATHS_PER_EXECUTION", defaults.max_paths_per_execution),
        default_batch_size=env.integer("DEFAULT_BATCH_SIZE", defaults.default_batch_size),
        max_concurrent_batches=env.integer("MAX_CONCURRENT_BATCHES", defaults.max_concurrent_batches),
        image_key_prefix=env.text("IMAGE_KEY_PREFIX", defaults.image_key_prefix),
        table_name=env.text("TABLE_NAME", defaults.table_name),
        report_key_prefix=env.text("REPORT_KEY_PREFIX", defaults.report_key_prefix),
    )


def download_settings_from_env(environ: Mapping[str, str] | None = None) -> DownloadSettings:
    env = _Env(os.environ if environ is None else environ, DOWNLOAD_ENV)
    defaults = DownloadSettings(bucket_name="", table_name="")
    return DownloadSettings(
        bucket_name=env.required("BUCKET_NAME"),
        table_name=env.required("TABLE_NAME"),
        image_key_prefix=env.text("IMAGE_KEY_PREFIX", defaults.image_key_prefix),
        run_key_prefix=env.text("RUN_KEY_PREFIX", defaults.run_key_prefix),
        max_image_bytes=env.integer("MAX_IMAGE_BYTES", defaults.max_image_bytes),
        allowed_hosts=env.host_set("ALLOWED_HOSTS"),
        allow_private_addresses=env.flag("ALLOW_PRIVATE_ADDRESSES", defaults.allow_private_addresses),
        connect_timeout_seconds=env.seconds("CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds),
        read_timeout_seconds=env.seconds("READ_TIMEOUT_SECONDS", defaults.read_timeout_seconds),
        time_budget_margin_seconds=env.seconds(
            "TIME_BUDGET_MARGIN_SECONDS", defaults.time_budget_margin_seconds
        ),
        image_time_limit_seconds=env.seconds("IMAGE_TIME_LIMIT_SECONDS", defaults.image_time_limit_seconds),
        allowed_content_types=env.choices("ALLOWED_CONTENT_TYPES", FORMATS, defaults.allowed_content_types),
    )


def consolidate_settings_from_env(environ: Mapping[str, str] | None = None) -> ConsolidateSettings:
    env = _Env(os.environ if environ is None else environ, CONSOLIDATE_ENV)
    defaults = ConsolidateSettings(bucket_name="")
    return ConsolidateSettings(
        bucket_name=env.required("BUCKET_NAME"),
        report_key_prefix=env.text("REPORT_KEY_PREFIX", defaults.report_key_prefix),
        run_key_prefix=env.text("RUN_KEY_PREFIX", defaults.run_key_prefix),
        max_listed_failures=env.integer("MAX_LISTED_FAILURES", defaults.max_listed_failures),
    )


def status_settings_from_env(environ: Mapping[str, str] | None = None) -> StatusSettings:
    env = _Env(os.environ if environ is None else environ, STATUS_ENV)
    return StatusSettings(
        state_machine_arn=env.required("STATE_MACHINE_ARN"),
        bucket_name=env.required("BUCKET_NAME"),
        report_key_prefix=env.text("REPORT_KEY_PREFIX", "reports/"),
    )


def notify_settings_from_env(environ: Mapping[str, str] | None = None) -> NotifySettings:
    env = _Env(os.environ if environ is None else environ, NOTIFY_ENV)
    return NotifySettings(topic_arn=env.required("TOPIC_ARN"))
