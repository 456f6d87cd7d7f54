"""Follow an execution until it ends, and say what happened in a line a person reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from image_downloader_client.outcome import FINAL_STATUSES

Status = dict[str, Any]


def wait_for(
    poll: Callable[[], Status],
    *,
    timeout: float,
    interval: float,
    on_progress: Callable[[Status, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Status:
    """Poll until the execution has ended, or return its last status once timeout seconds have passed."""
    started = clock()
    last_line = None
    while True:
        status = poll()
        elapsed = clock() - started
        line = progress_line(status)
        if on_progress is not None and line != last_line:
            on_progress(status, elapsed)
            last_line = line
        if status.get("status") in FINAL_STATUSES or elapsed >= timeout:
            return status
        sleep(max(0.0, min(interval, timeout - elapsed)))


def progress_line(status: Status) -> str:
    """What has changed while it runs: the status, the batches done, the images counted so far."""
    parts = [str(status.get("status", "UNKNOWN")).lower()]
    progress = status.get("progress") or {}
    if progress.get("batchesTotal"):
        done = progress.get("batchesSucceeded", 0) + progress.get("batchesFailed", 0)
        parts.append(f"{done}/{progress['batchesTotal']} batches done")
    counts = status.get("counts") or {}
    if counts:
        parts.append(_counts(counts))
    return ", ".join(parts)


def summary(status: Status) -> str:
    """One line: the execution, how it ended, the counts, and what to do next."""
    name = status.get("name", "?")
    state = status.get("status", "UNKNOWN")
    counts = status.get("counts") or {}
    line = f"{name}: {state}"
    if counts:
        line += f", {_counts(counts)}"
    if status.get("error"):
        line += f" [{status['error']}]"
    if status.get("cause") and state != "SUCCEEDED":
        line += f": {status['cause']}"
    if state not in FINAL_STATUSES:
        line += f" (still running: `image-downloader wait {name}` follows it)"
    return line


def _counts(counts: dict[str, Any]) -> str:
    requested, stored, failed = counts.get("requested"), counts.get("succeeded", 0), counts.get("failed", 0)
    text = f"{stored} stored, {failed} failed"
    if requested is not None:
        text += f" of {requested}"
    if counts.get("skipped"):
        text += f", {counts['skipped']} skipped"
    return text
