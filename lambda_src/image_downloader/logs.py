"""What the handlers log, and how, so that every line is one JSON object an operator can query.

The functions run with Lambda's JSON log format: the runtime's formatter writes each record's ``extra``
fields next to ``timestamp``, ``level``, ``message``, ``logger`` and ``requestId``, and the application
log level (``lambda.application_log_level``) sets the root logger's level. Field names are camelCase,
like the runtime's own, and never ``errorType``, ``errorMessage`` or ``stackTrace``: the runtime
reserves those for ``exc_info`` and would drop them.

A catch-all logs through ``caught``: the exception's class, its message with secrets masked (``redact``)
and the frames of its traceback (file, line, code; never the message again). ``exc_info`` is not used,
because the runtime would write the exception's message unmasked.
"""

from __future__ import annotations

import logging
import time
import traceback

from image_downloader.redact import redact


def caught(logger: logging.Logger, message: str, error: BaseException, **fields: object) -> None:
    """A warning for an exception a catch-all turned into a result, with secrets masked."""
    logger.warning(
        message,
        extra={
            **fields,
            "errorClass": type(error).__name__,
            "error": redact(str(error)),
            "trace": traceback.format_tb(error.__traceback__),
        },
    )


def milliseconds_since(started: float) -> int:
    """Whole milliseconds since ``started`` (a ``time.monotonic()`` reading)."""
    return round((time.monotonic() - started) * 1000)
