"""Collecting a request's problems, to refuse it once with all of them (up to ``MAX_LISTED_ERRORS``).

A refusal carries its problems as data: ``InvalidInput.problems`` holds one ``Problem`` (field, problem)
each, and ``cause_document`` turns them into the JSON text the batch step raises, so that the execution's
cause lists them one by one (a problem's text may itself hold ``; ``)::

    {"message": "lambdaConcur: missing, ...; skipExisting: must be true or false, got 1",
     "problems": [{"field": "lambdaConcur", "problem": "missing, ..."}, ...], "more": 0}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from image_downloader.errors import InvalidInput

MAX_LISTED_ERRORS = 10
# One problem's text in the cause: ten of them, twice (the message and the list), JSON-escaped once more in
# the Lambda error, stay well under Step Functions' 32,768-character cause.
MAX_PROBLEM_CHARS = 1000
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str

    def text(self) -> str:
        return f"{self.field}: {self.problem}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


class Problems:
    """The first few problems, word for word, and how many there were in all."""

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.count = 0

    def add(self, field: str, problem: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append(Problem(_capped(field, MAX_FIELD_CHARS), _capped(problem)))

    def extend(self, refused: InvalidInput) -> None:
        """Add the problems of an InvalidInput raised by a check that stops at its first problem."""
        for problem in problems_of(refused):
            self.add(problem.field, problem.problem)

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.listed)
        suffix = f"; and {more} more problem(s)" if more else ""
        refused = InvalidInput("; ".join(problem.text() for problem in self.listed) + suffix)
        refused.problems = tuple(self.listed)
        refused.more = more
        raise refused


def problems_of(refused: InvalidInput) -> tuple[Problem, ...]:
    """The problems of a refusal; one raised with a single ``field: problem`` message is that one."""
    listed = getattr(refused, "problems", None)
    if listed:
        return tuple(listed)
    field, separator, problem = str(refused).partition(": ")
    if not separator or " " in field.strip():
        return (Problem("request", _capped(str(refused))),)
    return (Problem(field, _capped(problem)),)


def cause_document(refused: InvalidInput) -> str:
    """The JSON text the execution's cause carries: the human message, the problems and how many more."""
    problems = problems_of(refused)
    more = int(getattr(refused, "more", 0))
    suffix = f"; and {more} more problem(s)" if more else ""
    message = "; ".join(problem.text() for problem in problems) + suffix
    return json.dumps(
        {"message": message, "problems": [problem.as_dict() for problem in problems], "more": more},
        ensure_ascii=False,
    )


def refusal_fields(cause: object) -> dict[str, Any]:
    """The batch step's refusal (cause_document) as ``cause`` (its message) and
    ``problems`` (one entry each, with its field); a cause in plain text stays as it is."""
    try:
        document = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        return {}
    if not isinstance(document, dict) or not isinstance(document.get("problems"), list):
        return {}
    return {
        "cause": document.get("message"),
        "problems": document["problems"],
        "more": document.get("more", 0),
    }


def _capped(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a number of more than 19 digits"
    if isinstance(value, int | float):
        return f"the number {value}"
    return names.get(type(value), type(value).__name__)
