"""Failures as a person reads them: one short line per URL (``404 Not Found  https://h/zz.gif``), and
one counted line for a cause many URLs share (``20 TIMES DNS lookup failed for h  https://h/a.gif and 19
more``, TIMES being the multiplication sign).
Used wherever failures are shown: the notification, the execution's cause, the command lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from image_downloader.redact import redact

GROUP_AT = 3
TIMES = "\u00d7"
MAX_URL_CHARS = 100
MAX_REASON_CHARS = 300
# Causes told apart; failures of any later cause are only counted, so memory stays bounded.
MAX_CAUSES = 1000


class FailureGroups:
    """Failures grouped by reason in order of first appearance, keeping only what the lines show."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[int, list[str]]] = {}
        self._uncounted = 0

    def add(self, failure: Mapping[str, Any]) -> None:
        reason = cut(redact(str(failure.get("reason") or failure.get("kind") or "failed")), MAX_REASON_CHARS)
        count, urls = self._groups.get(reason, (0, []))
        if not count and len(self._groups) >= MAX_CAUSES:
            self._uncounted += 1
            return
        if len(urls) < GROUP_AT:
            urls.append(str(failure.get("url") or ""))
        self._groups[reason] = (count + 1, urls)

    def lines(self, max_lines: int | None = None) -> list[str]:
        """The lines; past ``max_lines``, a last line counts the rest."""
        lines: list[str] = []
        for reason, (count, urls) in self._groups.items():
            if count >= GROUP_AT:
                example = f"  {short_url(urls[0])} and {count - 1} more" if urls[0] else ""
                lines.append(f"{count} {TIMES} {reason}{example}")
            else:
                lines.extend(f"{reason}  {short_url(url)}".rstrip() for url in urls)
        if self._uncounted:
            lines.append(f"{self._uncounted} more failures of other causes")
        if max_lines is not None and len(lines) > max_lines:
            hidden = len(lines) - max_lines + 1
            lines = [*lines[: max_lines - 1], f"… and {hidden} more lines in the full report"]
        return lines


def failure_lines(failures: Iterable[Mapping[str, Any]], max_lines: int | None = None) -> list[str]:
    groups = FailureGroups()
    for failure in failures:
        groups.add(failure)
    return groups.lines(max_lines)


def short_url(url: str) -> str:
    """The URL, redacted; a long one keeps its scheme, host and last segment."""
    shown = redact(url)
    if len(shown) <= MAX_URL_CHARS:
        return shown
    parts = urlsplit(shown)
    last = parts.path.rsplit("/", 1)[-1] + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}/…/{last[-(MAX_URL_CHARS // 2) :]}"


def cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
