"""The failures consolidate adds to the report itself (batches that crashed or never ran, URLs no result
accounts for) and the shape every listed failure is cut to: masked, each field bounded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from image_downloader.failure_lines import cut
from image_downloader.redact import redact

MAX_REASON_LENGTH = 300
MAX_URL_LENGTH = 300
# A long URL inside a reason is cut shorter, so that what went wrong (after the URL) stays in the reason.
MAX_URL_IN_REASON = 120


def crashed_batch_failures(
    index: int, base_url: str, paths: list[str], map_error: str | None = None
) -> list[dict[str, Any]]:
    if map_error is not None:
        kind = "not_run"
        reason = (
            f"batch {index} never ran or did not finish: the Distributed Map ended with {map_error}; "
            "this URL's outcome is unknown: request it again"
        )
    else:
        kind = "crashed"
        reason = (
            f"the download Lambda of batch {index} ended without writing its result (it crashed or timed "
            "out); this URL's outcome is unknown: request it again"
        )
    return [{"url": base_url + path, "kind": kind, "status": None, "reason": reason} for path in paths]


def map_error_line(value: object) -> str | None:
    """The Distributed Map's error (``{"Error", "Cause"}`` from its Catch) as one short line, or None."""
    if not isinstance(value, dict):
        return None
    error, cause = str(value.get("Error") or "an error"), str(value.get("Cause") or "")
    return cut(redact(f"{error} ({cause})" if cause else error), MAX_REASON_LENGTH)


def unaccounted_failure(missing: int) -> dict[str, Any]:
    return {
        "url": None,
        "kind": "unaccounted",
        "status": None,
        "reason": f"{missing} requested URL(s) are missing from the batch results",
    }


def redacted(failure: Mapping[str, Any]) -> dict[str, Any]:
    """The failure with secrets masked: batch results are already, this holds it for any other source."""
    url, reason = failure.get("url"), failure.get("reason")
    return {
        **failure,
        "url": redact(url) if isinstance(url, str) else url,
        "reason": redact(str(reason or "")),
    }


def bounded(failure: Mapping[str, Any]) -> dict[str, Any]:
    url = failure.get("url")
    reason = str(failure.get("reason", ""))
    if isinstance(url, str) and len(url) > MAX_URL_IN_REASON:
        reason = reason.replace(url, cut(url, MAX_URL_IN_REASON))
    return {
        "url": cut(url, MAX_URL_LENGTH) if isinstance(url, str) else url,
        "kind": failure.get("kind"),
        "status": failure.get("status"),
        "reason": cut(reason, MAX_REASON_LENGTH),
    }
