"""Errors the state machine tells apart by their class name (the ASL ``ErrorEquals`` value)."""


class InvalidInput(ValueError):
    """The request is malformed; the message names the field and the problem."""


class ConfigurationError(RuntimeError):
    """A Lambda environment variable is missing or malformed (a deployment mistake, not bad input)."""
