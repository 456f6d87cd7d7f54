"""The deployment, emulated in-process: moto resources shaped like the Terraform module's, with every
Lambda invocation dispatched to our handlers loaded from the same zip the module ships.

Its settings live in ``deployment_config.py``, the in-process Lambda dispatch in ``dispatch.py``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.base_backend import BackendDict

from local_runner.deployment_config import DeploymentConfig, FunctionSpec
from local_runner.dispatch import InvocationLog, dispatcher, load_handlers, merged_environment
from local_runner.lambda_environment import check_environment
from local_runner.lambda_logs import JsonLines
from local_runner.limits import Figures, Recorder, enforced_limits, mark_as_observer
from local_runner.packaging import build_lambda_zip
from local_runner.template import render_asl

# The emulator's public names, wherever they live.
__all__ = [
    "LOCAL_MAP_EXECUTION_TYPE",
    "REGION",
    "TASK_TIMEOUT_MARGIN_SECONDS",
    "Deployment",
    "DeploymentConfig",
    "FunctionSpec",
    "InvocationLog",
    "emulated_deployment",
    "load_handlers",
    "merged_environment",
    "state_machine_variables",
]

REGION = "us-east-1"
# A Task's timeout is its function's timeout plus this (local.task_timeout_margin_seconds in
# modules/state_machine), so the function's own timeout error comes first.
TASK_TIMEOUT_MARGIN_SECONDS = 15
# moto 5.2.5's parser refuses ExecutionType EXPRESS for a Distributed Map's children: the local run always
# runs STANDARD children, whatever map_execution_type the module deploys.
LOCAL_MAP_EXECUTION_TYPE = "STANDARD"


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
                dispatcher(handlers, {s.name: s for s in specs}, log, config.name, recorder, logs),
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
        check_environment(f"{config.name}-{spec.name}", spec.environment)
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
