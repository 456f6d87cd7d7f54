"""Lambda invocations, dispatched in-process: each function's handler loaded from the zip and run as
Lambda runs it, with its context, its budgets (timeout on the CPU share of its memory, memory, /tmp:
local_runner/budgets.py) and its error responses."""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend

from local_runner.budgets import SAMPLE_SECONDS, Accountant, Budget, Verdict, remove_tmp, start_thread_in
from local_runner.deployment_config import PACKAGE, FunctionSpec
from local_runner.lambda_logs import JsonLines
from local_runner.limits import Recorder

Handler = Callable[[dict, Any], Any]
# Lambda's default concurrency per account and region, shared by every function without a reservation.
ACCOUNT_CONCURRENCY = 1000


class TooManyRequests(LambdaClientError):
    """Lambda's answer to an invocation past the function's reserved or the account's concurrency."""

    code = 429

    def __init__(self, reason: str) -> None:
        super().__init__("TooManyRequestsException", f"Rate Exceeded. Reason: {reason}")


class Concurrency:
    """Invocations running now, per function and in all: past a function's reserved concurrency, or past
    the account's pool less every reservation, Lambda throttles the invocation."""

    def __init__(self, specs: Mapping[str, FunctionSpec], account_limit: int = ACCOUNT_CONCURRENCY) -> None:
        self._reserved = {name: spec.reserved_concurrency for name, spec in specs.items()}
        self._unreserved = account_limit - sum(limit or 0 for limit in self._reserved.values())
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    @contextmanager
    def slot(self, function: str) -> Iterator[None]:
        reserved = self._reserved.get(function)
        with self._lock:
            running = self._running.get(function, 0)
            if reserved is not None and running >= reserved:
                raise TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded")
            shared = sum(n for name, n in self._running.items() if self._reserved.get(name) is None)
            if reserved is None and shared >= self._unreserved:
                raise TooManyRequests("ConcurrentInvocationLimitExceeded")
            self._running[function] = running + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[function] -= 1


@dataclass
class LambdaContext:
    """The part of the Lambda context object the handlers use. The time left is the timeout less the
    emulated duration (CPU scaled by the function's share), as the handler would see it on AWS."""

    function_name: str
    deadline: float
    aws_request_id: str = "local"
    budget: Budget | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.budget is not None:
            return max(0, int(self.budget.remaining_seconds() * 1000))
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


def budget_error_payload(verdict: Verdict) -> dict[str, str]:
    """What Lambda answers for an invocation that broke a budget: ran past its timeout, past its memory,
    or (unhandled) filled its /tmp."""
    return {"errorType": verdict.error or "", "errorMessage": verdict.message}


class _Invocation:
    """A handler call on its own thread, so that it can be abandoned when it breaks a budget as Lambda
    does. Python cannot stop a thread: an abandoned handler runs on in the background, and whatever it
    does after its end is what Lambda would never have done."""

    def __init__(self, call: Callable[[], Any], function_name: str, budget: Budget) -> None:
        self.result: Any = None
        self.error: Exception | None = None
        self._thread = start_thread_in(budget, lambda: self._run(call), f"lambda-{function_name}")

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except Exception as error:
            self.error = error

    def ran_within(self, budget: Budget) -> bool:
        """Wait until the handler returns or breaks a budget; whether it returned."""
        while self._thread.is_alive():
            self._thread.join(SAMPLE_SECONDS)
            if self._thread.is_alive() and budget.broken():
                return False
        return True


def dispatcher(
    handlers: Mapping[str, Handler],
    specs: Mapping[str, FunctionSpec],
    log: InvocationLog,
    name_prefix: str,
    recorder: Recorder | None = None,
    logs: JsonLines | None = None,
    accountant: Accountant | None = None,
) -> Callable[..., bytes]:
    """A stand-in for moto's ``LambdaSimpleBackend.invoke``: runs the named function's handler here, under
    the function's budgets, and answers with its result or with the error payload Lambda would send."""
    recorder = recorder or Recorder()
    logs = logs or JsonLines("INFO")
    accountant = accountant or Accountant(Path(tempfile.mkdtemp(prefix="lambda-tmp-")))
    concurrency = Concurrency(specs)

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

        with (
            concurrency.slot(name),
            accountant.opened(name, spec.memory_mb, spec.timeout_seconds, spec.ephemeral_mb) as budget,
        ):

            def call() -> Any:
                if log.crash_when is not None and log.crash_when(name, event):
                    raise InjectedCrash(f"{name} crashed (injected)")
                with (
                    recorder.invocation(name),
                    logs.invocation(f"/aws/lambda/{name_prefix}-{name}") as request_id,
                ):
                    deadline = time.monotonic() + spec.timeout_seconds
                    return handlers[name](event, LambdaContext(function_name, deadline, request_id, budget))

            invocation = _Invocation(call, function_name, budget)
            returned = invocation.ran_within(budget)
            verdict = accountant.verdict(budget)
            if returned:
                remove_tmp(budget)
        recorder.budget(verdict)
        if verdict.error is not None:
            payload = budget_error_payload(verdict)
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
