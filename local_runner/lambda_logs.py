"""The functions' log lines, as CloudWatch Logs would hold them, kept for each local run.

On AWS each function runs with the JSON log format: the runtime's formatter (awslambdaric's
``JsonFormatter``) writes ``timestamp``, ``level``, ``message``, ``logger``, ``requestId`` and, when a
record carries ``exc_info``, ``errorType``/``errorMessage``/``stackTrace``/``location``; every other
attribute of the record (the ``extra`` fields) follows, except the ``LogRecord`` attributes it
reserves, and a field it already wrote wins over an ``extra`` of the same name. ``JsonLines`` applies
the same rules, so a field the runtime would drop is dropped here too, and the application log level
(``lambda.application_log_level``) filters as the runtime's root logger does.

Locally every function shares one process, so each line also names the log group it would be in. On AWS
the runtime sets the request id for the whole process (one invocation at a time), so the lines of the
engine's download threads carry it; here a thread an invocation started gets its tag while that
invocation is the only one running, and stays untagged rather than guess while Map iterations overlap.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

PACKAGE_LOGGER = "image_downloader"
# awslambdaric/lambda_runtime_log_utils.py: the record attributes that never become fields.
RESERVED_FIELDS = frozenset(
    {
        "name",
        "msg",
        "args",
        "levelname",
        "levelno",
        "pathname",
        "filename",
        "module",
        "exc_info",
        "exc_text",
        "stack_info",
        "lineno",
        "funcName",
        "created",
        "msecs",
        "relativeCreated",
        "thread",
        "threadName",
        "processName",
        "process",
        "aws_request_id",
        "tenant_id",
        "_frame_type",
    }
)
# Lambda's application log levels, as the runtime maps them to Python's (TRACE is DEBUG there).
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}


def lambda_json(record: logging.LogRecord) -> dict[str, Any]:
    """The record as the Lambda runtime's JSON formatter writes it."""
    exc_info = record.exc_info
    fields: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "Z",
        "level": logging.getLevelName(min(50, max(0, record.levelno)) // 10 * 10),
        "message": record.getMessage(),
        "logger": record.name,
        "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
        "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
        "errorMessage": str(exc_info[1]) if exc_info else None,
        "requestId": getattr(record, "aws_request_id", None),
        "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
    }
    fields.update(
        (key, value)
        for key, value in record.__dict__.items()
        if key not in RESERVED_FIELDS and key not in fields
    )
    return {key: value for key, value in fields.items() if value is not None}


class JsonLines(logging.Handler):
    """Collects the package's records as Lambda JSON lines, tagged with the invocation they came from."""

    def __init__(self, application_log_level: str) -> None:
        super().__init__(LEVELS[application_log_level])
        self._lock_lines = threading.Lock()
        self._lines: list[dict[str, Any]] = []
        self._running: dict[int, tuple[str, str]] = {}  # invocation thread -> (log group, request id)

    @contextmanager
    def installed(self) -> Iterator[JsonLines]:
        """Route the handler package's loggers here (and nowhere else) while the emulator runs."""
        logger = logging.getLogger(PACKAGE_LOGGER)
        saved = (logger.level, logger.propagate)
        logger.addHandler(self)
        logger.setLevel(self.level)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]

    @contextmanager
    def invocation(self, log_group: str) -> Iterator[str]:
        """Tag what this thread logs with ``log_group`` and a fresh request id (yielded)."""
        request_id = str(uuid.uuid4())
        thread = threading.get_ident()
        with self._lock_lines:
            self._running[thread] = (log_group, request_id)
        try:
            yield request_id
        finally:
            with self._lock_lines:
                del self._running[thread]

    def _tag(self) -> tuple[str, str] | None:
        with self._lock_lines:
            tag = self._running.get(threading.get_ident())
            if tag is None and len(self._running) == 1:
                [tag] = self._running.values()
            return tag

    def emit(self, record: logging.LogRecord) -> None:
        tag = self._tag()
        if tag is not None and not hasattr(record, "aws_request_id"):
            record.aws_request_id = tag[1]
        line = lambda_json(record)
        if tag is not None:
            line["logGroup"] = tag[0]
        with self._lock_lines:
            self._lines.append(line)

    def take(self) -> list[dict[str, Any]]:
        """The lines logged since the last call."""
        with self._lock_lines:
            lines, self._lines = self._lines, []
            return lines
