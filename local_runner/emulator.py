"""The deployment, emulated in-process: moto resources shaped like the Terraform module's, with every
Lambda invocation dispatched to our handlers loaded from the same zip the module ships."""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.base_backend import BackendDict

from local_runner.lambda_logs import JsonLines
from local_runner.limits import Figures, Recorder, enforced_limits, mark_as_observer
from local_runner.packaging import build_lambda_zip
from local_runner.template import render_asl

REGION = "us-east-1"
# A Task's timeout is its function's timeout plus this (local.task_timeout_margin_seconds in
# modules/state_machine), so the function's own timeout error comes first.
TASK_TIMEOUT_MARGIN_SECONDS = 15
PACKAGE = "image_downloader"
# moto 5.2.5's parser refuses ExecutionType EXPRESS for a Distributed Map's children: the local run always
# runs STANDARD children, whatever map_execution_type the module deploys.
LOCAL_MAP_EXECUTION_TYPE = "STANDARD"
Handler = Callable[[dict, Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as modules/compute declares it."""

    name: str
    handler: str
    timeout_seconds: int
    environment: Mapping[str, str]
    memory_mb: int = 128


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
    execution_timeout_seconds: int = 3600
    application_log_level: str = "INFO"

    @property
    def bucket(self) -> str:
        return f"{self.name}-images"

    @property
    def table(self) -> str:
        return f"{self.name}-images"

    @property
    def topic(self) -> str:
        return f"{self.name}-failures"

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


@dataclass
class LambdaContext:
    """The part of the Lambda context object the handlers use."""

    function_name: str
    deadline: float
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class InjectedCrash(RuntimeError):
    """A Lambda invocation that fails outright (as on a timeout or out of memory), injected by a test."""


@dataclass
class InvocationLog:
    """What the dispatcher saw: lets the runner show progress without touching the handlers.

    ``crash_when(function, event)`` returning True makes that invocation fail before its handler runs."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    results: dict[str, list[Any]] = field(default_factory=dict)
    crash_when: Callable[[str, dict], bool] | None = None

    def record(self, function: str, result: Any) -> None:
        with self.lock:
            self.results.setdefault(function, []).append(result)

    def of(self, function: str) -> list[Any]:
        with self.lock:
            return list(self.results.get(function, []))


def load_handlers(zip_path: Path, specs: tuple[FunctionSpec, ...]) -> dict[str, Handler]:
    """Import each handler from the zip, not from lambda_src/, without disturbing modules already loaded."""
    saved = {name: module for name, module in sys.modules.items() if _in_package(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(zip_path))
    try:
        handlers = {}
        for spec in specs:
            module_name, function_name = spec.handler.rsplit(".", 1)
            module = importlib.import_module(module_name)
            _require_from_zip(module, zip_path)
            handlers[spec.name] = getattr(module, function_name)
        return handlers
    finally:
        sys.path.remove(str(zip_path))
        for name in [name for name in sys.modules if _in_package(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _in_package(module_name: str) -> bool:
    return module_name == PACKAGE or module_name.startswith(PACKAGE + ".")


def _require_from_zip(module: ModuleType, zip_path: Path) -> None:
    if not str(module.__file__).startswith(str(zip_path)):
        raise RuntimeError(f"{module.__name__} was imported from {module.__file__}, not from {zip_path}")


def merged_environment(specs: tuple[FunctionSpec, ...]) -> dict[str, str]:
    """All functions' variables in one environment: Map iterations run in threads of one process, so a
    per-invocation environment would race. Refuses a name two functions set to different values."""
    merged: dict[str, str] = {}
    for spec in specs:
        for name, value in spec.environment.items():
            if merged.get(name, value) != value:
                raise RuntimeError(f"{name} differs between functions; the local run needs one value")
            merged[name] = value
    return merged


@dataclass
class Deployment:
    """The emulated deployment: resource names and ARNs, plus the clients to look at them."""

    config: DeploymentConfig
    state_machine_arn: str
    topic_arn: str
    inbox_url: str
    function_arns: dict[str, str]
    invocations: InvocationLog
    clients: dict[str, Any]
    recorder: Recorder
    logs: JsonLines

    def client(self, service: str) -> Any:
        return self.clients[service]

    def take_figures(self) -> Figures:
        """The figures measured since the last call."""
        return self.recorder.take()

    @property
    def memory_mb(self) -> dict[str, int]:
        return {spec.name: spec.memory_mb for spec in self.config.functions()}

    def notifications(self) -> list[dict[str, str]]:
        """Every SNS message published so far (subject and text), read from the subscribed queue."""
        sqs = self.clients["sqs"]
        messages = []
        while batch := sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                envelope = json.loads(message["Body"])
                messages.append({"subject": envelope.get("Subject") or "", "message": envelope["Message"]})
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])
        return messages


def timed_out_payload(timeout_seconds: float) -> dict[str, str]:
    """What Lambda answers for an invocation that ran past the function's timeout."""
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: local Error: Task timed out after {timeout_seconds:.2f} seconds",
    }


class _Invocation:
    """A handler call on its own thread, so that it can be abandoned at the function's timeout as Lambda
    does. Python cannot stop a thread: an abandoned handler runs on in the background, and whatever it
    does after its timeout is what Lambda would never have done."""

    def __init__(self, call: Callable[[], Any], function_name: str) -> None:
        self.result: Any = None
        self.error: Exception | None = None
        self._thread = threading.Thread(
            target=self._run, args=(call,), name=f"lambda-{function_name}", daemon=True
        )
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except Exception as error:
            self.error = error

    def finished_within(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()


def _dispatcher(
    handlers: Mapping[str, Handler],
    specs: Mapping[str, FunctionSpec],
    log: InvocationLog,
    name_prefix: str,
    recorder: Recorder | None = None,
    logs: JsonLines | None = None,
) -> Callable[..., bytes]:
    recorder = recorder or Recorder()
    logs = logs or JsonLines("INFO")

    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1].removeprefix(f"{name_prefix}-")
        spec = specs[name]
        event = json.loads(body) if body else {}

        def call() -> Any:
            if log.crash_when is not None and log.crash_when(name, event):
                raise InjectedCrash(f"{name} crashed (injected)")
            with (
                recorder.invocation(name),
                logs.invocation(f"/aws/lambda/{name_prefix}-{name}") as request_id,
            ):
                context = LambdaContext(function_name, time.monotonic() + spec.timeout_seconds, request_id)
                return handlers[name](event, context)

        invocation = _Invocation(call, function_name)
        if not invocation.finished_within(spec.timeout_seconds):
            payload = timed_out_payload(spec.timeout_seconds)
        elif invocation.error is None:
            log.record(name, invocation.result)
            return json.dumps(invocation.result).encode()
        else:  # the Lambda runtime turns any exception into a function error
            payload = {
                "errorType": type(invocation.error).__name__,
                "errorMessage": str(invocation.error),
                "stackTrace": traceback.format_exception(invocation.error),
            }
        response_headers["x-amz-function-error"] = "Unhandled"
        log.record(name, payload)
        return json.dumps(payload).encode()

    return invoke


def _backend_lookup_without_contention() -> Any:
    """moto looks up the account's backend on every request under one global lock, comparing dicts as it
    goes; with a hundred download threads that lock is most of the local run's time. Skip the work when
    the account's backend exists and is registered (what the lookup would find anyway)."""
    original = BackendDict._create_account_specific_backend

    def lookup(self: BackendDict, account_id: str) -> None:
        if dict.__contains__(self, account_id) and any(known is self for known in BackendDict._instances):
            return
        original(self, account_id)

    return mock.patch.object(BackendDict, "_create_account_specific_backend", lookup)


@contextmanager
def emulated_deployment(config: DeploymentConfig, work_dir: Path | None = None) -> Iterator[Deployment]:
    """Create, in moto, what the Terraform module creates, and yield it; everything vanishes afterwards."""
    specs = config.functions()
    with ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="image-downloader-")))
        zip_path = build_lambda_zip(work_dir / "lambda.zip")
        handlers = load_handlers(zip_path, specs)
        log = InvocationLog()
        recorder = Recorder()
        logs = stack.enter_context(JsonLines(config.application_log_level).installed())
        runtime_env = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, **merged_environment(specs)}
        stack.enter_context(mock.patch.dict(os.environ, runtime_env))
        stack.enter_context(
            mock_aws(
                config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
            )
        )
        stack.enter_context(
            mock.patch.object(
                LambdaSimpleBackend,
                "invoke",
                _dispatcher(handlers, {s.name: s for s in specs}, log, config.name, recorder, logs),
            )
        )
        stack.enter_context(enforced_limits(recorder))
        stack.enter_context(_backend_lookup_without_contention())
        deployment = _create_resources(config, zip_path, log, recorder, logs)
        recorder.take()
        logs.take()
        yield deployment


def _create_resources(
    config: DeploymentConfig, zip_path: Path, log: InvocationLog, recorder: Recorder, logs: JsonLines
) -> Deployment:
    clients = {
        service: mark_as_observer(boto3.client(service, region_name=REGION))
        for service in ("s3", "dynamodb", "sns", "sqs", "lambda", "iam", "stepfunctions")
    }
    clients["s3"].create_bucket(Bucket=config.bucket)
    clients["dynamodb"].create_table(
        TableName=config.table,
        KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic_arn = clients["sns"].create_topic(Name=config.topic)["TopicArn"]
    inbox_url = _subscribe_inbox(clients, config, topic_arn)
    role_arn = clients["iam"].create_role(RoleName=f"{config.name}-role", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    code = zip_path.read_bytes()
    function_arns = {}
    for spec in config.functions():
        function_arns[spec.name] = clients["lambda"].create_function(
            FunctionName=f"{config.name}-{spec.name}",
            Runtime="python3.13",
            Architectures=["arm64"],
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": code},
            Timeout=spec.timeout_seconds,
            MemorySize=spec.memory_mb,
            Environment={"Variables": dict(spec.environment)},
        )["FunctionArn"]
    definition = render_asl(state_machine_variables(config, function_arns, topic_arn))
    state_machine_arn = clients["stepfunctions"].create_state_machine(
        name=f"{config.name}", definition=json.dumps(definition), roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    return Deployment(
        config, state_machine_arn, topic_arn, inbox_url, function_arns, log, clients, recorder, logs
    )


def _subscribe_inbox(clients: Mapping[str, Any], config: DeploymentConfig, topic_arn: str) -> str:
    """An SQS queue subscribed to the topic: the local stand-in for the module's email subscriptions."""
    queue_url = clients["sqs"].create_queue(QueueName=f"{config.name}-inbox")["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    clients["sns"].subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "false"},
    )
    return queue_url


def state_machine_variables(
    config: DeploymentConfig, function_arns: Mapping[str, str], topic_arn: str
) -> dict[str, object]:
    """The ``templatefile`` variables, as modules/state_machine passes them."""
    return {
        "batch_function_arn": function_arns["batch"],
        "download_function_arn": function_arns["download"],
        "consolidate_function_arn": function_arns["consolidate"],
        "topic_arn": topic_arn,
        "bucket_name": config.bucket,
        "table_name": config.table,
        "map_execution_type": LOCAL_MAP_EXECUTION_TYPE,
        "map_results_prefix": f"{config.run_key_prefix}map-results",
        "batch_timeout_seconds": config.batch_timeout_seconds + TASK_TIMEOUT_MARGIN_SECONDS,
        "download_timeout_seconds": config.download_timeout_seconds + TASK_TIMEOUT_MARGIN_SECONDS,
        "consolidate_timeout_seconds": config.consolidate_timeout_seconds + TASK_TIMEOUT_MARGIN_SECONDS,
        "execution_timeout_seconds": config.execution_timeout_seconds,
    }
