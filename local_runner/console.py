"""What the local run shows on the terminal while it runs, and how it hears a signal."""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import threading
import time
from typing import Any, ClassVar, TextIO

from local_runner.deployment_config import DeploymentConfig
from local_runner.run import Progress, RunResult

PROGRESS_EVERY_SECONDS = 5.0


_LOCAL_ADDRESS = re.compile(r"\b(loopback|private|link-local) address\b")


def failure_hints(result: RunResult, config: DeploymentConfig) -> list[str]:
    """What to do about failures a local run commonly meets, said where they are listed."""
    failures = (result.summary or {}).get("failures") or []
    reasons = [str(failure.get("reason", "")) for failure in failures if isinstance(failure, dict)]
    hints = []
    if not config.allow_private_addresses and any(_LOCAL_ADDRESS.search(reason) for reason in reasons):
        hints.append(
            "the downloader refuses loopback and private addresses, as on AWS; for a server on this "
            "machine or network run again with ALLOW_PRIVATE=1 (make run) or --allow-private-addresses"
        )
    if any("DNS lookup failed" in reason for reason in reasons):
        hints.append(
            "DNS lookups failed: offline? SAMPLES=1 (make run) or --samples serves the request's paths "
            "from the bundled sample images on 127.0.0.1"
        )
    return hints


def plural(count: int, noun: str) -> str:
    """``1 object``, ``2 objects``; ``1 DynamoDB item``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class ProgressLine:
    """``images 12/20 (10 stored, 2 failed)``, then ``saving 800/20 images``: redrawn in place on a
    terminal; elsewhere (CI logs, a file) a line every ``every`` seconds, and the last one."""

    def __init__(self, stream: TextIO, every: float = PROGRESS_EVERY_SECONDS) -> None:
        self.stream = stream
        self.every = every
        self.last: tuple[int, int | None] | None = None
        self.shown_at = -math.inf
        self.tty = stream.isatty()

    def __call__(self, progress: Progress) -> None:
        state = (progress.done, progress.total)
        if state == self.last or progress.total is None:
            return
        self.last = state
        text = f"images {progress.done}/{progress.total} ({progress.stored} stored, {progress.failed} failed)"
        self.show(text, final=progress.done >= progress.total)

    def saving(self, done: int, total: int) -> None:
        self.show(f"saving {done}/{plural(total, 'image')}", final=done >= total)

    def show(self, text: str, final: bool) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r{text}" + ("\n" if final else ""))
        elif final or now - self.shown_at >= self.every:
            self.stream.write(text + "\n")
        else:
            return
        self.shown_at = now
        self.stream.flush()


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM: the first asks the run to stop the execution and write its folder; a
    second ends the process at once. Exit code 128 + the signal's number (130, 143)."""

    NAMES: ClassVar[dict[int, str]] = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self._received) for signum in self.NAMES}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _received(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            sys.stderr.write(
                f"\n{self.NAMES[signum]} again: stopping now, the run folder may be incomplete\n"
            )
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return self.NAMES.get(self.signum or 0, "a signal")

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)

    def reason(self) -> str | None:
        return f"stopped by {self.name}" if self.signum is not None else None
