"""Errors the state machine tells apart by their class name (the ASL ``ErrorEquals`` value)."""


class InvalidInput(ValueError):
    """The request is malformed; the message names the field and the problem. ``problems`` holds them as
    ``problems.Problem`` entries when there were several (``more``: how many were left out)."""

    problems: tuple = ()
    more: int = 0


class ConfigurationError(RuntimeError):
    """A Lambda environment variable is missing or malformed (a deployment mistake, not bad input)."""
