"""Collecting a request's problems, to refuse it once with all of them (up to ``MAX_LISTED_ERRORS``)."""

from __future__ import annotations

from image_downloader.errors import InvalidInput

MAX_LISTED_ERRORS = 10


class Problems:
    """The first few problems, word for word, and how many there were in all."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.count = 0

    def append(self, problem: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_ERRORS:
            self.listed.append(problem)

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.listed)
        suffix = f"; and {more} more problem(s)" if more else ""
        raise InvalidInput("; ".join(self.listed) + suffix)


def json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    return names.get(type(value), type(value).__name__)
