"""What an execution's end means for CI: one exit code per kind of outcome."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# The ASL's error names (sfn/image_downloader.asl.json): images failed, or the request was refused.
IMAGES_FAILED = "ImagesFailed"
INVALID_INPUT = "InvalidInput"


class ExitCode(IntEnum):
    STORED = 0
    IMAGES_FAILED = 1
    INVALID_REQUEST = 2
    EXECUTION_FAILED = 3
    CLIENT_ERROR = 4
    STILL_RUNNING = 5


EXIT_CODES_HELP = """exit codes:
  0  every image stored
  1  some images failed (the report lists them with their reasons)
  2  the request was invalid: empty or not a JSON object, refused by the API or by the state
     machine's validation
  3  the execution failed otherwise: timed out, aborted, or a States.* error
  4  usage, authorization or connection error of this client
  5  still running when --timeout ran out (run `image-downloader wait NAME` again)"""


def exit_code_of(status: dict[str, Any]) -> ExitCode:
    """The exit code of a status document (GET /executions/{name})."""
    state = status.get("status")
    if state not in FINAL_STATUSES:
        return ExitCode.STILL_RUNNING
    if state == "SUCCEEDED":
        return ExitCode.STORED
    error = status.get("error")
    if state == "FAILED" and error == IMAGES_FAILED:
        return ExitCode.IMAGES_FAILED
    if state == "FAILED" and error == INVALID_INPUT:
        return ExitCode.INVALID_REQUEST
    return ExitCode.EXECUTION_FAILED
