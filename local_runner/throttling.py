"""AWS's throttling, injected into the local run: a fraction of the calls to a service is answered as AWS
answers when it throttles, before moto sees them, so the pipeline's retries are what keeps every image.

``--inject-throttling s3=0.2,dynamodb=0.2,lambda=0.1,states=0.1``:

- ``s3``: the functions' S3 calls get ``503 SlowDown`` (S3 scaling a prefix);
- ``dynamodb``: their DynamoDB calls get ``ProvisionedThroughputExceededException`` and
  ``ThrottlingException`` in turn (a new on-demand table past its first capacity);
- ``lambda``: the state machine's ``Invoke`` gets ``429 TooManyRequestsException`` (the account's or the
  function's concurrency), which Step Functions names ``Lambda.TooManyRequestsException``;
- ``states``: Step Functions API calls (the runner's StartExecution and DescribeExecution) get
  ``ThrottlingException``.

Only the functions' own S3 and DynamoDB calls are throttled, not those of Step Functions' service
integrations (the Map's ItemReader and ResultWriter, SNS publish), which AWS retries on its side.
Each (service, operation) draws from its own generator seeded with ``seed``: the same seed gives the same
sequence of decisions per operation; which concurrent request meets which decision is the threads' order.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import BotocoreStubber

from local_runner.budgets import current_budget
from local_runner.limits import OBSERVER_HEADER, Recorder

SERVICES = ("s3", "dynamodb", "lambda", "states")
# The runner's own clients retry as the functions' do (image_downloader/aws_retries.py).
RUNNER_RETRIES: dict[str, Any] = {"mode": "adaptive", "max_attempts": 10}
# botocore's event names call Step Functions "sfn".
_EVENT_SERVICE = {"s3": "s3", "dynamodb": "dynamodb", "lambda": "lambda", "sfn": "states"}
_DYNAMODB_ERRORS = (
    (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
        "your provisioning level with the UpdateTable API.",
    ),
    (
        "com.amazon.coral.availability#ThrottlingException",
        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling "
        "your table or index so please try again shortly.",
    ),
)


class ThrottlingSpecError(ValueError):
    """A ``--inject-throttling`` value that is not ``service=fraction,...``."""


@dataclass(frozen=True)
class ThrottlingPlan:
    """What fraction of each service's calls to throttle, and the seed of the decisions."""

    fractions: Mapping[str, float]
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> ThrottlingPlan:
        fractions: dict[str, float] = {}
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            service, _, value = part.partition("=")
            service = service.strip()
            if service not in SERVICES:
                raise ThrottlingSpecError(
                    f"--inject-throttling: {service!r} is not one of {', '.join(SERVICES)}"
                )
            try:
                fraction = float(value)
            except ValueError:
                raise ThrottlingSpecError(
                    f"--inject-throttling: {service}={value!r} is not a number"
                ) from None
            if not 0 <= fraction < 1:
                raise ThrottlingSpecError(
                    f"--inject-throttling: {service}={value} must be at least 0 and below 1"
                )
            fractions[service] = fraction
        if not fractions:
            raise ThrottlingSpecError("--inject-throttling: give service=fraction pairs, e.g. s3=0.2")
        return cls(fractions, seed)


@dataclass
class _Decisions:
    plan: ThrottlingPlan
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _generators: dict[str, random.Random] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def throttle(self, service: str, operation: str) -> int | None:
        """The index of this throttled call of the operation, or None to let it through."""
        fraction = self.plan.fractions.get(service, 0.0)
        if not fraction:
            return None
        name = f"{service}.{operation}"
        with self._lock:
            generator = self._generators.setdefault(name, random.Random(f"{self.plan.seed}:{name}"))
            if generator.random() >= fraction:
                return None
            self._counts[name] = self._counts.get(name, 0) + 1
            return self._counts[name]


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield self._body

    def read(self, *args: object) -> bytes:
        body, self._body = self._body, b""
        return body


def throttled_response(service: str, request: Any, index: int) -> AWSResponse:
    """The response AWS sends when it throttles this service's call."""
    headers = {"x-amzn-RequestId": f"throttled-{index}"}
    if service == "s3":
        body = (
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message>"
            b"<RequestId>throttled</RequestId></Error>"
        )
        return AWSResponse(request.url, 503, {**headers, "Content-Type": "application/xml"}, _RawBody(body))
    if service == "dynamodb":
        kind, message = _DYNAMODB_ERRORS[index % 2]
        document = {"__type": kind, "message": message}
        status, content_type = 400, "application/x-amz-json-1.0"
    elif service == "lambda":
        document = {
            "Type": "User",
            "message": "Rate Exceeded.",
            "Reason": "ConcurrentInvocationLimitExceeded",
        }
        headers["x-amzn-ErrorType"] = "TooManyRequestsException"
        status, content_type = 429, "application/json"
    else:
        document = {"__type": "ThrottlingException", "message": "Rate exceeded"}
        status, content_type = 400, "application/x-amz-json-1.0"
    body = json.dumps(document).encode()
    return AWSResponse(request.url, status, {**headers, "Content-Type": content_type}, _RawBody(body))


def _throttleable(service: str, operation: str, request: Any) -> bool:
    if service in ("s3", "dynamodb"):
        return current_budget() is not None  # a function's call, not a service integration's
    if service == "lambda":
        return operation == "Invoke" and not request.headers.get(OBSERVER_HEADER)
    return True


@contextmanager
def injected_throttling(plan: ThrottlingPlan | None, recorder: Recorder) -> Iterator[None]:
    """Answer ``plan``'s fraction of each service's calls as AWS does when it throttles."""
    if plan is None:
        yield
        return
    decisions = _Decisions(plan)
    original = BotocoreStubber.__call__

    def stubber_call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        parts = event_name.split(".")
        service = _EVENT_SERVICE.get(parts[1]) if len(parts) >= 3 else None
        if service is not None and request is not None and _throttleable(service, parts[2], request):
            index = decisions.throttle(service, parts[2])
            if index is not None:
                recorder.throttled(service)
                return throttled_response(service, request, index)
        return original(self, event_name, request, **kwargs)

    with mock.patch.object(BotocoreStubber, "__call__", stubber_call):
        yield


def throttled_lines(throttled: Mapping[str, int]) -> list[str]:
    """The summary's line of injected throttling: calls answered with a throttling error, by service."""
    if not throttled:
        return []
    counts = ", ".join(f"{service} {throttled[service]}" for service in SERVICES if throttled.get(service))
    return [f"Throttled  {sum(throttled.values())} calls answered as AWS does when throttling ({counts})"]
