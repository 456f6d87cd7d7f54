"""AWS's limits, enforced on the in-process moto, and the figures a run is judged by.

moto 5.2.5 already refuses a state output or a Lambda result over 256 KiB (``States.DataLimitExceeded``), a
DynamoDB item over 400 KB and a partition key over 2,048 bytes. What it lets through, this module refuses
as AWS does:

- a state's input over 256 KiB (the execution input included: it is the first state's input), and the
  payload a Task hands to Lambda: the execution fails with ``States.DataLimitExceeded``;
- more than 25,000 events in one execution's history (checked as each of its top-level states is entered
  and left): the execution fails with ``States.Runtime``;
- an S3 key over 1,024 bytes (``KeyTooLongError``) and user metadata over 2 KB (``MetadataTooLarge``).

While it enforces them, it measures: the largest state payload, the states entered (state transitions),
each Lambda invocation's duration, and the S3 and DynamoDB requests the handlers make.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber
from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024
HISTORY_EVENT_LIMIT = 25_000
S3_KEY_LIMIT_BYTES = 1024
S3_USER_METADATA_LIMIT_BYTES = 2 * 1024
_META_PREFIX = "x-amz-meta-"
COUNTED_SERVICES = ("s3", "dynamodb")
# Requests of the runner's own clients (progress, listing what was stored) are not the pipeline's cost.
OBSERVER_HEADER = "x-local-runner-observer"


def mark_as_observer(client: Any) -> Any:
    """Leave this client's requests out of the figures."""

    def mark(request: Any, **kwargs: Any) -> None:
        request.headers[OBSERVER_HEADER] = "1"

    client.meta.events.register("request-created", mark)
    return client


@dataclass
class Figures:
    """What one run cost, in the units AWS bills."""

    largest_payload_bytes: int = 0
    largest_payload_state: str = ""
    state_transitions: int = 0
    invocations: Counter[str] = field(default_factory=Counter)
    lambda_seconds: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    # Each invocation's figures against its function's budgets (local_runner.budgets.Verdict).
    budget_verdicts: list[Any] = field(default_factory=list)
    # Calls answered with an injected throttling error, by service (local_runner.throttling).
    throttled: Counter[str] = field(default_factory=Counter)

    def gb_seconds(self, memory_mb: dict[str, int]) -> float:
        return sum(seconds * memory_mb[name] / 1024 for name, seconds in self.lambda_seconds.items())

    def service_requests(self, service: str) -> int:
        return sum(count for name, count in self.requests.items() if name.startswith(f"{service}."))

    @property
    def dynamodb_writes(self) -> int:
        return sum(self.requests[name] for name in ("dynamodb.PutItem", "dynamodb.BatchWriteItem"))


class Recorder:
    """Thread-safe counters the patched moto writes to; ``take()`` returns them and starts over."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures = Figures()

    def take(self) -> Figures:
        with self._lock:
            figures, self._figures = self._figures, Figures()
            return figures

    def payload(self, state: str, size: int) -> None:
        with self._lock:
            if size > self._figures.largest_payload_bytes:
                self._figures.largest_payload_bytes = size
                self._figures.largest_payload_state = state

    def transition(self) -> None:
        with self._lock:
            self._figures.state_transitions += 1

    def request(self, operation: str) -> None:
        with self._lock:
            self._figures.requests[operation] += 1

    def throttled(self, service: str) -> None:
        with self._lock:
            self._figures.throttled[service] += 1

    def budget(self, verdict: Any) -> None:
        with self._lock:
            self._figures.budget_verdicts.append(verdict)

    @contextmanager
    def invocation(self, function: str) -> Iterator[None]:
        """Count the invocation and time it."""
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._figures.invocations[function] += 1
                self._figures.lambda_seconds[function] += time.monotonic() - started


def _payload_size(value: Any) -> int:
    text = value if isinstance(value, str) else to_json_str(value)
    return len(text.encode("utf-8"))


def _data_limit_exceeded(env: Environment, state: str, what: str, size: int) -> FailureEventException:
    cause = (
        f"The state '{state}' has {what} of {size} bytes, over the limit of {STATE_PAYLOAD_LIMIT_BYTES} "
        "bytes (256 KiB)."
    )
    return _execution_failure(env, StatesErrorNameType.StatesStatesDataLimitExceeded, cause)


def _history_events(env: Environment) -> int:
    """Events of this execution's history so far (moto numbers them from 1)."""
    return env.event_manager._event_id_gen._next_id - 1


def _execution_failure(env: Environment, error: StatesErrorNameType, cause: str) -> FailureEventException:
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(
                executionFailedEventDetails=ExecutionFailedEventDetails(error=error.to_name(), cause=cause)
            ),
        )
    )


class _ChildEventManager(EventManager):
    """The history of a Distributed Map's children: each child has its own 25,000-event history on AWS, and
    moto pools them all in one manager, so the limit is not counted here."""


def _s3_error(code: str, message: str) -> S3ClientError:
    error = S3ClientError(code, message)
    error.code = code
    return error


@contextmanager
def enforced_limits(recorder: Recorder) -> Iterator[None]:
    """Patch moto so it refuses what AWS refuses, and measures what the figures need."""
    original_eval_body = CommonStateField._eval_body
    original_eval_input = CommonStateField._eval_state_input
    original_lambda_parameters = StateTaskLambda._eval_parameters
    original_task_parameters = StateTask._eval_parameters
    original_put_object = S3Response.put_object
    original_stubber_call = BotocoreStubber.__call__
    original_quota = state_module.is_within_size_quota

    def check_history(state: str, env: Environment) -> None:
        # Only in the execution's own frame: moto cannot fail an execution from inside a Map iteration
        # with a States.* error, so a Map that overflows the history fails as it ends.
        if env._is_frame or isinstance(env.event_manager, _ChildEventManager):
            return
        events = _history_events(env)
        if events > HISTORY_EVENT_LIMIT:
            cause = (
                f"The execution history reached {events} events at the state '{state}', over the limit of "
                f"{HISTORY_EVENT_LIMIT} events per execution."
            )
            raise _execution_failure(env, StatesErrorNameType.StatesRuntime, cause)

    current_state = threading.local()

    def eval_body(self: CommonStateField, env: Environment) -> None:
        recorder.transition()
        check_history(self.name, env)
        outer, current_state.name = getattr(current_state, "name", None), self.name
        try:
            original_eval_body(self, env)
        finally:
            current_state.name = outer
        check_history(self.name, env)

    def naming_the_state(original: Callable[..., None]) -> Callable[..., None]:
        """A state's output check (on the task's own thread for a Task) names that state."""

        def verify_size_quota(self: CommonStateField, env: Environment, value: Any) -> None:
            outer, current_state.name = getattr(current_state, "name", None), self.name
            try:
                original(self, env, value)
            finally:
                current_state.name = outer

        return verify_size_quota

    def eval_state_input(self: CommonStateField, env: Environment) -> None:
        size = _payload_size(env.states.get_input())
        recorder.payload(f"{self.name} (input)", size)
        if size > STATE_PAYLOAD_LIMIT_BYTES:
            raise _data_limit_exceeded(env, self.name, "an input", size)
        original_eval_input(self, env)

    def checked_parameters(self: StateTask, env: Environment, parameters: dict) -> dict:
        size = _payload_size(parameters)
        recorder.payload(f"{self.name} (task parameters)", size)
        if size > STATE_PAYLOAD_LIMIT_BYTES:
            raise _data_limit_exceeded(env, self.name, "task parameters (the Lambda payload)", size)
        return parameters

    def lambda_parameters(self: StateTaskLambda, env: Environment) -> dict:
        return checked_parameters(self, env, original_lambda_parameters(self, env))

    def task_parameters(self: StateTask, env: Environment) -> dict:
        return checked_parameters(self, env, original_task_parameters(self, env))

    def within_quota(value: Any) -> bool:
        state = getattr(current_state, "name", None) or "a state"
        recorder.payload(f"{state} (output or task result)", _payload_size(value))
        return original_quota(value)

    def put_object(self: S3Response) -> Any:
        key = self.parse_key_name()
        if len(key.encode("utf-8")) > S3_KEY_LIMIT_BYTES:
            raise _s3_error("KeyTooLongError", "Your key is too long")
        metadata = sum(
            len(name[len(_META_PREFIX) :].encode()) + len(str(value).encode())
            for name, value in self.headers.items()
            if name.lower().startswith(_META_PREFIX)
        )
        if metadata > S3_USER_METADATA_LIMIT_BYTES:
            raise _s3_error(
                "MetadataTooLarge",
                f"Your metadata headers are {metadata} bytes, "
                f"over the maximum of {S3_USER_METADATA_LIMIT_BYTES}",
            )
        return original_put_object(self)

    def stubber_call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        parts = event_name.split(".")
        observer = request.headers.get(OBSERVER_HEADER) if request is not None else None
        if len(parts) >= 3 and parts[1] in COUNTED_SERVICES and not observer:
            recorder.request(f"{parts[1]}.{parts[2]}")
        return original_stubber_call(self, event_name, request, **kwargs)

    patches: list[tuple[Any, str, Callable[..., Any]]] = [
        (CommonStateField, "_eval_body", eval_body),
        (CommonStateField, "_eval_state_input", eval_state_input),
        *(
            (cls, "_verify_size_quota", naming_the_state(cls.__dict__["_verify_size_quota"]))
            for cls in (CommonStateField, StateTaskLambda, state_task_service.StateTaskService)
        ),
        (StateTaskLambda, "_eval_parameters", lambda_parameters),
        (StateTask, "_eval_parameters", task_parameters),
        (S3Response, "put_object", put_object),
        (BotocoreStubber, "__call__", stubber_call),
        (distributed_iteration_component, "EventManager", _ChildEventManager),
    ]
    patches += [
        (module, "is_within_size_quota", within_quota)
        for module in (state_module, state_task_lambda, state_task_service)
    ]
    with ExitStack() as stack:
        for target, name, replacement in patches:
            stack.enter_context(mock.patch.object(target, name, replacement))
        yield
