"""Lambda's budgets, emulated for invocations that run as threads of this one process.

On AWS a function gets CPU in proportion to its memory (1,769 MB is one vCPU), a memory ceiling and a
``/tmp`` of its ephemeral storage. Here every invocation gets the machine's cores, so each is measured and
judged against what its function would have had:

- **CPU**: the CPU time of every thread the invocation runs (its own thread, and each thread started from a
  thread of it, e.g. a ThreadPoolExecutor's workers), read live with ``pthread_getcpuclockid`` and, when a
  thread ends, with ``time.thread_time`` in it. The CPU moto spends answering the invocation's AWS calls
  (in-process, inside ``BotocoreStubber``) is AWS's work, not the function's, and is left out. The emulated
  duration is ``max(wall, cpu / share)`` with ``share = memory_size / 1769``: past the timeout the
  invocation ends ``Sandbox.Timedout``, as on AWS.
- **Memory**: the process's resident memory grown since the invocation began, plus the measured footprint
  of a fresh Python runtime that imported the handler's package (what AWS's "Max Memory Used" includes).
  Over ``memory_size`` the invocation ends ``Runtime.OutOfMemory``.
- **/tmp**: each invocation gets its own folder as the temporary directory (``tempfile`` answers it to the
  invocation's threads), measured as it runs; over the ephemeral storage it ends with the error a write to
  a full ``/tmp`` raises on Lambda, ``OSError: [Errno 28] No space left on device``.

What is approximate (docs/design.md, "Lambda's budgets, emulated"):

- Memory is the whole process's: invocations that overlap (the Map's concurrent downloads) each see the
  others' growth, and so does whatever moto keeps in memory meanwhile (objects under its key buffer size,
  items): an upper bound, stricter than AWS. Memory freed by an earlier invocation and reused is not seen
  as growth (the allocator is asked to return it at each start, which it mostly does). Overlapping
  invocations are sampled every ``SAMPLE_SECONDS``. One that runs alone is judged by the kernel's peak
  (VmHWM), which misses nothing, except that a peak reached while moto answers one of its calls is
  moto's (the peak is reset after such a call); while it runs, its memory is checked at its AWS calls,
  the rest at its end.
- ``/tmp`` is sampled too, so a file written and deleted between two samples is missed, and the function
  cannot catch the error: on AWS the write itself fails and the handler may handle it, here the invocation
  ends when the sample sees the folder over its size. Each invocation starts with an empty ``/tmp``; on AWS
  a warm environment keeps what earlier invocations left.
- CPU is what this machine's cores spent: a faster or slower core than Lambda's (Graviton, arm64) shifts
  every figure alike. Lambda's CPU share is a quota over time (bursts may run faster); here it is applied
  to the invocation's total.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

MB_PER_VCPU = 1769
SAMPLE_SECONDS = 0.02
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MB = 1024 * 1024
_STATM = Path("/proc/self/statm")
_current = threading.local()


def vcpu_share(memory_mb: int) -> float:
    """The vCPUs Lambda allots a function of this memory size (1,769 MB = 1 vCPU)."""
    return memory_mb / MB_PER_VCPU


@dataclass(frozen=True)
class Verdict:
    """How one invocation ended against its budgets; ``error`` is Lambda's error type, if it broke one."""

    function: str
    wall_seconds: float
    cpu_seconds: float
    emulated_seconds: float
    timeout_seconds: float
    peak_mb: float
    memory_mb: int
    tmp_mb: float
    ephemeral_mb: int
    error: str | None = None
    message: str = ""

    @property
    def gb_seconds(self) -> float:
        return self.emulated_seconds * self.memory_mb / 1024

    @property
    def margin(self) -> float:
        """The smallest share of a budget left unused (negative: a budget broken)."""
        return min(
            1 - self.emulated_seconds / self.timeout_seconds,
            1 - self.peak_mb / self.memory_mb,
            1 - self.tmp_mb / self.ephemeral_mb,
        )


@dataclass
class Budget:
    """One invocation's account: its threads, the CPU they spent, its memory and its /tmp."""

    function: str
    memory_mb: int
    timeout_seconds: float
    ephemeral_mb: int
    tmp_dir: Path
    started: float = field(default_factory=time.monotonic)
    rss_start: int = 0
    rss_peak: int = 0
    tmp_peak: int = 0
    alone: bool = True
    # The function's own peak resident memory seen at the edges of moto's calls (see service_call).
    own_peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ended_cpu: float = 0.0
    _service_cpu: float = 0.0
    _threads: set[int] = field(default_factory=set)

    def enter(self) -> None:
        """Called on each of the invocation's threads as it starts."""
        _current.budget = self
        with self._lock:
            self._threads.add(threading.get_ident())

    def leave(self) -> None:
        with self._lock:
            self._ended_cpu += time.thread_time()
            self._threads.discard(threading.get_ident())
        _current.budget = None

    def add_cpu(self, seconds: float) -> None:
        """CPU spent for this invocation on a thread that belongs to another (see ``_counted_to``)."""
        with self._lock:
            self._ended_cpu += seconds

    def add_service_cpu(self, seconds: float) -> None:
        with self._lock:
            self._service_cpu += seconds

    @contextmanager
    def service_call(self) -> Iterator[None]:
        """Around one of moto's in-process calls: its CPU is AWS's, and so is the memory it takes while it
        answers (a multipart upload's parts joined in memory, say). For an invocation that runs alone
        (judged by the kernel's peak), the peak reached before the call is the function's; a higher peak
        reached during it is moto's, so the kernel's peak is reset to what is resident after the call."""
        started = time.thread_time()
        before = _kernel_peak() if self.alone else 0
        try:
            yield
        finally:
            self.add_service_cpu(time.thread_time() - started)
            if self.alone:
                with self._lock:
                    self.own_peak = max(self.own_peak, before)
                    if _kernel_peak() > before:
                        _kernel_peak_reset()

    def cpu_seconds(self) -> float:
        with self._lock:
            live = sum(_thread_cpu(ident) for ident in self._threads)
            return max(0.0, self._ended_cpu + live - self._service_cpu)

    def wall_seconds(self) -> float:
        return time.monotonic() - self.started

    def emulated_seconds(self) -> float:
        return max(self.wall_seconds(), self.cpu_seconds() / vcpu_share(self.memory_mb))

    def remaining_seconds(self) -> float:
        """What ``context.get_remaining_time_in_millis`` answers: the timeout less the emulated duration."""
        return self.timeout_seconds - self.emulated_seconds()

    def sample(self) -> None:
        if not self.alone:  # alone, the kernel's peak and the calls' edges judge memory, missing nothing
            self.rss_peak = max(self.rss_peak, _rss_bytes())
        self.tmp_peak = max(self.tmp_peak, _folder_bytes(self.tmp_dir))

    def peak_mb(self, kernel_peak: int | None = None) -> float:
        peak = max(self.rss_peak, self.own_peak, kernel_peak or 0)
        return runtime_footprint_mb() + max(0, peak - self.rss_start) / _MB

    def verdict(self, kernel_peak: int | None = None) -> Verdict:
        """This invocation's figures, and the first budget it broke, in the order Lambda would notice."""
        self.sample()
        emulated, peak, tmp = self.emulated_seconds(), self.peak_mb(kernel_peak), self.tmp_peak / _MB
        error, message = None, ""
        if emulated > self.timeout_seconds:
            error = "Sandbox.Timedout"
            message = f"RequestId: local Error: Task timed out after {self.timeout_seconds:.2f} seconds"
        elif peak > self.memory_mb:
            error = "Runtime.OutOfMemory"
            message = (
                f"RequestId: local Error: Runtime exited with error: signal: killed "
                f"(Max Memory Used: {peak:.0f} MB of {self.memory_mb} MB)"
            )
        elif tmp > self.ephemeral_mb:
            error = "OSError"
            message = f"[Errno 28] No space left on device: '/tmp' ({tmp:.0f} MB of {self.ephemeral_mb} MB)"
        return Verdict(
            self.function,
            self.wall_seconds(),
            self.cpu_seconds(),
            emulated,
            self.timeout_seconds,
            peak,
            self.memory_mb,
            tmp,
            self.ephemeral_mb,
            error,
            message,
        )

    def broken(self) -> bool:
        """Whether a budget is already broken (checked while the invocation runs)."""
        self.sample()
        return (
            self.emulated_seconds() > self.timeout_seconds
            or self.peak_mb() > self.memory_mb
            or self.tmp_peak / _MB > self.ephemeral_mb
        )


def _thread_cpu(ident: int) -> float:
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except OSError:  # the thread has just ended; leave() counted it
        return 0.0


def _rss_bytes() -> int:
    return int(_STATM.read_bytes().split()[1]) * _PAGE_BYTES


def _kernel_peak_reset() -> bool:
    """Reset the process's peak resident memory (VmHWM), where the kernel lets us."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _kernel_peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with suppress(OSError):  # deleted while we walk
                total += (Path(root) / name).lstat().st_blocks * 512
    return total


def _return_freed_memory() -> None:
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@cache
def runtime_footprint_mb() -> float:
    """The resident memory of a fresh Python that imported boto3 and the handlers' package: what Lambda
    counts before the handler allocates anything. Measured once per process."""
    code = (
        "import boto3, botocore, urllib3, json, os\n"
        "boto3.client('s3', region_name='us-east-1'); boto3.client('dynamodb', region_name='us-east-1')\n"
        "print(int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE'))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(output.stdout.strip()) / _MB


class Accountant:
    """Opens a budget per invocation and keeps count of the ones running, so each knows if it ran alone."""

    def __init__(self, root: Path) -> None:
        runtime_footprint_mb()  # measured now, not in an invocation's time
        self.root = root
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._budgets: dict[int, Budget] = {}
        self._serial = 0

    @contextmanager
    def opened(self, function: str, memory_mb: int, timeout: float, ephemeral_mb: int) -> Iterator[Budget]:
        with self._lock:
            self._serial += 1
            tmp_dir = self.root / f"{function}-{self._serial}"
            tmp_dir.mkdir(parents=True)
            alone = not self._running
            if alone:
                _return_freed_memory()
                alone = _kernel_peak_reset()
            for other in self._running:
                self._budgets[other].alone = False
            rss = _rss_bytes()
            budget = Budget(function, memory_mb, timeout, ephemeral_mb, tmp_dir, rss_start=rss, rss_peak=rss)
            budget.alone = alone
            self._running.add(self._serial)
            self._budgets[self._serial] = budget
            serial = self._serial
        try:
            yield budget
        finally:
            with self._lock:
                self._running.discard(serial)
                del self._budgets[serial]

    def verdict(self, budget: Budget) -> Verdict:
        with self._lock:
            kernel_peak = _kernel_peak() if budget.alone else None
        return budget.verdict(kernel_peak)


def start_thread_in(budget: Budget, target: Callable[[], Any], name: str) -> threading.Thread:
    """Start ``target`` on a thread that belongs to ``budget`` (the threads it starts belong to it too, while
    ``budgets_accounted`` is in effect)."""

    def run() -> None:
        budget.enter()
        try:
            target()
        finally:
            budget.leave()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def current_budget() -> Budget | None:
    return getattr(_current, "budget", None)


@contextmanager
def budgets_accounted() -> Iterator[None]:
    """Patch threading, tempfile and moto's in-process stubber so every thread an invocation starts is
    counted to it, its temporary files go to its own folder, and moto's work is left out of its CPU."""
    original_start = threading.Thread.start
    original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
    original_gettempdir = tempfile._gettempdir  # type: ignore[attr-defined]
    original_stubber = BotocoreStubber.__call__

    def start(self: threading.Thread) -> None:
        if not hasattr(self, "_lambda_budget"):
            self._lambda_budget = current_budget()  # type: ignore[attr-defined]
        original_start(self)

    def bootstrap_inner(self: threading.Thread) -> None:
        budget = getattr(self, "_lambda_budget", None)
        if budget is None:
            original_bootstrap(self)
            return
        budget.enter()
        try:
            original_bootstrap(self)
        finally:
            budget.leave()

    def gettempdir() -> str:
        budget = current_budget()
        return str(budget.tmp_dir) if budget is not None else original_gettempdir()

    def stubber_call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        if budget is None:
            return original_stubber(self, event_name, request, **kwargs)
        with budget.service_call():
            return original_stubber(self, event_name, request, **kwargs)

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        work = fn if budget is None else _counted_to(budget, fn)
        return original_submit(self, work, *args, **kwargs)

    original_submit = ThreadPoolExecutor.submit
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(ThreadPoolExecutor, "submit", submit))
        stack.enter_context(mock.patch.object(threading.Thread, "start", start))
        stack.enter_context(mock.patch.object(threading.Thread, "_bootstrap_inner", bootstrap_inner))
        stack.enter_context(mock.patch.object(tempfile, "_gettempdir", gettempdir))
        stack.enter_context(mock.patch.object(BotocoreStubber, "__call__", stubber_call))
        yield


def _counted_to(budget: Budget, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as work of ``budget`` on whatever thread runs it. A pool kept from an earlier invocation (the
    engine keeps its download threads from batch to batch, as a warm container does) has threads that
    belong to that invocation; on Lambda all of a container's CPU is the running invocation's, so the CPU
    such a thread spends on this work, and the threads and files it makes, count to this one."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if getattr(threading.current_thread(), "_lambda_budget", None) is budget:
            return fn(*args, **kwargs)
        previous, started = current_budget(), time.thread_time()
        _current.budget = budget
        try:
            return fn(*args, **kwargs)
        finally:
            _current.budget = previous
            budget.add_cpu(time.thread_time() - started)

    return run


def remove_tmp(budget: Budget) -> None:
    shutil.rmtree(budget.tmp_dir, ignore_errors=True)


def summary_lines(verdicts: list[Verdict]) -> list[str]:
    """Per function: its invocations' emulated GB-s and the invocation that came closest to a budget."""
    lines = []
    for function in sorted({verdict.function for verdict in verdicts}):
        mine = [verdict for verdict in verdicts if verdict.function == function]
        worst = min(mine, key=lambda verdict: verdict.margin)
        broken = sum(1 for verdict in mine if verdict.error)
        lines.append(
            f"Budget     {function}: {sum(v.gb_seconds for v in mine):.2f} GB-s emulated at "
            f"{vcpu_share(worst.memory_mb):.2f} vCPU; worst margin {worst.margin:.0%} "
            f"({worst.emulated_seconds:.1f} of {worst.timeout_seconds:.0f} s, {worst.peak_mb:.0f} of "
            f"{worst.memory_mb} MB, /tmp {worst.tmp_mb:.0f} of {worst.ephemeral_mb} MB)"
            + (f"; {broken} broke a budget" if broken else "")
        )
    return lines
