"""Where a benchmark run's CPU goes: cProfile in every thread, timed by each thread's own CPU clock.

``python -m bench.profile --port P [--aws-port A] --sink aws -n 200 -c 50 [--repeat R] [--top K]``
(the arguments of ``bench.run``) prints the top functions by own CPU time and by cumulative CPU time.
Only the measured repeats are profiled (not start-up or warm-up); the worker threads each run their own
``cProfile.Profile(timer=time.thread_time)`` (so a thread blocked on a socket costs nothing) and their
statistics are merged.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Callable

from bench.run import SINKS, runner
from image_downloader.workers import retire as retire_workers
from image_downloader.workers import take as take_workers


class ThreadProfiles:
    """A CPU-time profiler in every thread started while active, and one in the calling thread."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, *_: object) -> None:
        sys.setprofile(None)
        self._new().enable()

    def _new(self) -> cProfile.Profile:
        profile = cProfile.Profile(timer=time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        return profile

    def run(self, function: Callable[[], int], repeat: int, workers: int) -> None:
        """``repeat`` runs of ``function``, whose batches use ``workers`` download threads."""
        retire_workers()  # the warm-up's threads: new ones start under the profiler
        main = self._new()
        threading.setprofile(self._start_in_thread)
        main.enable()
        try:
            for _ in range(repeat):
                function()
        finally:
            main.disable()
            threading.setprofile(None)  # type: ignore[arg-type]
            # The kept threads end their last wait for work in their own thread (a call still open
            # when the statistics are taken would be timed by this thread's clock).
            take_workers(workers).shutdown(wait=True)

    def stats(self) -> pstats.Stats:
        stream = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=stream)
        for profile in self.profiles[1:]:
            stats.add(profile)
        return stats


def top_entries(stats: pstats.Stats, sort: str, count: int) -> str:
    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats(sort).print_stats(count)
    lines = stream.getvalue().splitlines()
    start = next(index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--sink", choices=SINKS, required=True)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("-c", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    run = runner(argparse.Namespace(kind="small", **vars(args)))
    profiles = ThreadProfiles()
    profiles.run(run, args.repeat, min(args.c, args.n))
    stats = profiles.stats()
    images = args.n * args.repeat
    total_ms = stats.total_tt * 1000  # type: ignore[attr-defined]
    print(f"{args.sink}, c={args.c}: {total_ms / images:.3f} ms of profiled CPU per image ({images} images)")
    print(f"\nTop {args.top} by own CPU time (tottime, seconds):")
    print(top_entries(stats, "tottime", args.top))
    print(f"\nTop {args.top} by cumulative CPU time:")
    print(top_entries(stats, "cumulative", args.top))


if __name__ == "__main__":
    main()
