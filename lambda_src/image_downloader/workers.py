"""The download threads, kept from one batch to the next.

Starting a thread costs ~0.1 ms of CPU, and a batch starts up to ``lambdaConcur`` of them: on Lambda,
where the batches of an execution share a warm container and a ``lambdaConcur``, the last batch's idle
threads serve the next one. One set is kept (the last returned); a batch that finds none of its size, or
runs beside another, gets new threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_spare: dict[int, ThreadPoolExecutor] = {}


def take(count: int) -> ThreadPoolExecutor:
    """An executor of ``count`` threads for one batch; hand it back with ``give_back`` when done."""
    with _lock:
        executor = _spare.pop(count, None)
    return executor or ThreadPoolExecutor(max_workers=count, thread_name_prefix="download")


def give_back(count: int, executor: ThreadPoolExecutor) -> None:
    """Keep ``executor`` (all its work done) for the next batch, retiring the one kept before."""
    _keep({count: executor})


def retire() -> None:
    """Shut the kept threads down (a profiler, say, sees only threads started after it)."""
    _keep({})


def _keep(kept: dict[int, ThreadPoolExecutor]) -> None:
    with _lock:
        retired = list(_spare.values())
        _spare.clear()
        _spare.update(kept)
    for old in retired:
        old.shutdown(wait=False)
