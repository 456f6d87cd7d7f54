"""Tell the topic's subscribers about every execution that ended without storing its images, whatever
the cause: an invalid request, a timeout, an abort, a States.* error.

EventBridge calls this function with Step Functions' "Execution Status Change" events (FAILED,
TIMED_OUT, ABORTED) of this state machine. An execution that failed with ``ImagesFailed`` has already
published its list of failed URLs from the state machine, so it gets no second message; one whose publish
failed ends ``ImagesFailedUnnotified`` instead, and is told here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from image_downloader.problems import refusal_fields
from image_downloader.settings import notify_settings_from_env

logger = logging.getLogger(__name__)

ALREADY_REPORTED = "ImagesFailed"
# SNS refuses a Subject of 100 characters or more.
MAX_SUBJECT_LENGTH = 99
MAX_CAUSE_LENGTH = 1000
WHAT_IT_MEANS = {
    "InvalidInput": "the request was refused: fix the fields the cause names and start again",
    "States.Timeout": "it ran longer than state_machine.execution_timeout_seconds",
    "ImagesFailedUnnotified": (
        "some images failed and the state machine could not publish their list to this topic; the cause "
        "names how many and where the full report is"
    ),
}
STATUS_MEANS = {
    "TIMED_OUT": "it ran past state_machine.execution_timeout_seconds; images stored before stay stored",
    "ABORTED": "someone stopped it; images stored before stay stored",
}


def message_for(
    event: Mapping[str, Any], describe: Callable[[str], Mapping[str, Any]]
) -> dict[str, str] | None:
    """The SNS subject and text for one status-change event, or None when there is nothing to add."""
    detail = event.get("detail") or {}
    name, status, arn = detail.get("name", "?"), detail.get("status", "?"), detail.get("executionArn", "")
    execution = describe(arn) if arn else {}
    error, cause = execution.get("error") or "", execution.get("cause") or ""
    if error == "InvalidInput":
        cause = refusal_fields(cause).get("cause") or cause
    if status == "FAILED" and error == ALREADY_REPORTED:
        return None
    region = arn.split(":")[3] if arn.count(":") >= 3 else ""
    lines = [f"Image download {name} ended {status}{_after(detail)}."]
    meaning = WHAT_IT_MEANS.get(error) or STATUS_MEANS.get(status)
    if not meaning and status == "FAILED":
        meaning = "the state machine itself failed (not an image): see the execution's history"
    lines.append(f"What it means: {meaning}.")
    if error:
        lines.append(f"Error: {error}")
    if cause:
        shown = cause if len(cause) <= MAX_CAUSE_LENGTH else cause[: MAX_CAUSE_LENGTH - 1] + "…"
        lines.append(f"Cause: {shown}")
    lines += [
        "",
        f"Status and counts: image-downloader status {name}",
        f"Execution: {arn}",
    ]
    if region:
        lines.append(
            f"Console: https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{arn}"
        )
    subject = f"Image download {status.lower().replace('_', ' ')}: {name}"[:MAX_SUBJECT_LENGTH]
    return {"subject": subject, "message": "\n".join(lines)}


def _after(detail: Mapping[str, Any]) -> str:
    start, stop = detail.get("startDate"), detail.get("stopDate")
    if not isinstance(start, int | float) or not isinstance(stop, int | float):
        return ""
    seconds = max(0, round((stop - start) / 1000))
    stopped = datetime.fromtimestamp(stop / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f" at {stopped}, after {seconds} s"


def handler(event: dict, context: object) -> dict:
    settings = notify_settings_from_env()
    stepfunctions, sns = boto3.client("stepfunctions"), boto3.client("sns")
    notification = message_for(event, lambda arn: stepfunctions.describe_execution(executionArn=arn))
    name = (event.get("detail") or {}).get("name")
    if notification is None:
        logger.info("already reported by the state machine", extra={"executionName": name})
        return {"published": False}
    sns.publish(TopicArn=settings.topic_arn, Subject=notification["subject"], Message=notification["message"])
    logger.info(
        "notified", extra={"executionName": name, "status": (event.get("detail") or {}).get("status")}
    )
    return {"published": True}
