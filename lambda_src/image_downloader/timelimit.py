"""Time limits that hold whatever a server does: per batch (``TimeBudget``) and per image
(``ImageTimeLimit``).

Socket timeouts bound each wait for a byte, not a whole image: a server that trickles one byte a second,
or its headers one line at a time, never trips them. So each image runs under a ``Stopwatch``: the
connections it takes from the pool are registered with it, and when its deadline passes a timer shuts
them down, which ends any read blocked on them at once. The engine then reports the image as timed out.
One watchdog thread per process keeps every running stopwatch's deadline (a thread per image would cost
~0.1 ms of CPU per image to start and stop).
Connecting needs no stopwatch: the connect timeout, capped by the image's remaining time, bounds the TCP
connect, and CPython bounds a whole TLS handshake by it too, however slowly its bytes come. A DNS lookup
cannot be interrupted; the resolver's own timeouts bound it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from urllib3.connectionpool import HTTPConnectionPool

_current = threading.local()
# The shortest share of the batch's time an image is given when time runs short.
MIN_SHARE_SECONDS = 1.0


@dataclass(frozen=True)
class Deadline:
    """When the Lambda is stopped, on the ``time.monotonic()`` clock (``math.inf`` when unknown)."""

    at: float = math.inf

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_context(cls, context: object) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        return cls() if remaining_ms is None else cls.after(remaining_ms() / 1000)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def no_later_than(self, epoch_seconds: float | None) -> Deadline:
        """This deadline or the wall-clock time ``epoch_seconds`` (the execution's download deadline),
        whichever comes first."""
        if epoch_seconds is None:
            return self
        return Deadline(min(self.at, time.monotonic() + epoch_seconds - time.time()))


def download_deadline(execution_start: object, window_seconds: object) -> float | None:
    """When the execution's last batch may start downloading (epoch seconds): its start time (ISO 8601,
    ``$$.Execution.StartTime``) plus the window the state machine allows, so that the batches running then,
    Consolidate and the notification still end within the execution's timeout. None when not given."""
    if not isinstance(execution_start, str) or isinstance(window_seconds, bool):
        return None
    if not isinstance(window_seconds, int | float):
        return None
    started = datetime.fromisoformat(execution_start.replace("Z", "+00:00"))
    return started.timestamp() + float(window_seconds)


@dataclass(frozen=True)
class TimeBudget:
    """When a URL of the batch may still start, and when every read must have ended: work in flight is
    cut off halfway through the margin, leaving the rest to store the last images and write the report."""

    start_before: float
    stop_at: float

    @classmethod
    def within(cls, deadline: Deadline, margin_seconds: float) -> TimeBudget:
        return cls(start_before=deadline.at - margin_seconds, stop_at=deadline.at - margin_seconds / 2)

    def remaining(self, now: float) -> float:
        return max(0.0, self.stop_at - now)


@dataclass(frozen=True)
class ImageTimeLimit:
    """How long one image may take, from its first request to its last byte, retries and redirects
    included.

    When the batch's remaining time cannot give every URL not yet started its full limit, each gets its
    share instead (remaining time x workers / URLs left, at least ``MIN_SHARE_SECONDS``): slow URLs
    ahead in the batch cannot use up the time of the ones behind them."""

    seconds: float

    def start(self, budget: TimeBudget, workers: int = 1, left: int = 1) -> Stopwatch:
        """A running stopwatch for one image, of ``left`` URLs still to start on ``workers`` threads: it
        ends at the limit (or the image's share) or at the batch's ``stop_at``."""
        now = time.monotonic()
        seconds = self.seconds
        if left > workers:  # otherwise the budget's own end is the binding one
            seconds = min(seconds, max(MIN_SHARE_SECONDS, budget.remaining(now) * workers / left))
        own_end = now + seconds
        return Stopwatch(
            min(own_end, budget.stop_at), cut_by_budget=budget.stop_at < own_end, seconds=seconds
        )


class Stopwatch:
    """The deadline of one image, enforced on the connections it uses (see the module docstring)."""

    def __init__(self, deadline: float, cut_by_budget: bool = False, seconds: float = math.inf) -> None:
        self.deadline = deadline
        self.cut_by_budget = cut_by_budget
        self.seconds = seconds  # the image's own limit: the limit per image, or its share of the batch
        self.expired = False
        self._connections: set[Any] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.deadline

    @contextlib.contextmanager
    def running(self) -> Iterator[Stopwatch]:
        """Enforce the deadline on the connections this thread takes from a watched pool meanwhile."""
        previous = getattr(_current, "stopwatch", None)
        _current.stopwatch = self
        _WATCHDOG.watch(self)
        try:
            yield self
        finally:
            _current.stopwatch = previous
            with self._lock:
                self._stopped = True
                self._connections.clear()

    def attach(self, connection: object) -> None:
        with self._lock:
            if self.expired:
                _shut_down(connection)
            else:
                self._connections.add(connection)

    def detach(self, connection: object) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.expired = True
            for connection in self._connections:
                _shut_down(connection)


class _Watchdog:
    """The one thread that expires running stopwatches at their deadlines, earliest first. Stopwatches
    that stopped in time leave the heap whenever the thread wakes (``_expire`` also ignores them)."""

    def __init__(self) -> None:
        self._wakeup = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Stopwatch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, stopwatch: Stopwatch) -> None:
        if stopwatch.deadline == math.inf:
            return
        with self._wakeup:
            heapq.heappush(self._heap, (stopwatch.deadline, next(self._order), stopwatch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stopwatch", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is stopwatch:  # earlier than the deadline the thread sleeps until
                self._wakeup.notify()

    def _run(self) -> None:
        with self._wakeup:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2]._stopped):
                    heapq.heappop(self._heap)[2]._expire()
                self._wakeup.wait(self._heap[0][0] - now if self._heap else None)


_WATCHDOG = _Watchdog()


def _shut_down(connection: object) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _WatchedPool:
    """Mixin for urllib3 pools: a connection taken by a thread running a stopwatch is enforced by it
    until it goes back to the pool (detached first, so a timer never touches another image's request)."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        stopwatch: Stopwatch | None = getattr(_current, "stopwatch", None)
        if stopwatch is not None:
            stopwatch.attach(connection)
        return connection

    def _put_conn(self, conn: Any) -> None:
        stopwatch: Stopwatch | None = getattr(_current, "stopwatch", None)
        if stopwatch is not None and conn is not None:
            stopwatch.detach(conn)
        super()._put_conn(conn)  # type: ignore[misc]


def watched_pool_classes(
    classes: dict[str, type[HTTPConnectionPool]],
) -> dict[str, type[HTTPConnectionPool]]:
    """The pool classes of a ``PoolManager``, made to register their connections with the stopwatch."""
    return {
        scheme: type(f"Watched{pool.__name__}", (_WatchedPool, pool), {}) for scheme, pool in classes.items()
    }
