"""Masks secrets in text a person or a log will see: userinfo, query values and token-like strings.

Every failure reason, failure report, notification and validation message goes through ``redact``;
the DynamoDB record keeps the real URL (it is data, not a message).

Every pattern runs in time linear in the text, whatever it holds (a server writes the error text):
each may start only where a run of its characters starts (a lookbehind), scans that run with possessive
quantifiers (no backtracking into it), and a failed start costs one character. ``bench`` prints the
ratio of masking 1 MB to 64 KB of each hostile shape (16 when linear).
"""

from __future__ import annotations

import re

MASK = "***"

# The whole run of scheme characters before "://" (a scheme is its tail): one start per run.
_USERINFO = re.compile(r"(?i)(?<![a-z0-9+.-])([a-z0-9+.-]++://)[^/?#@\s'\"]*+@")
_QUERY_VALUE = re.compile(r"([?&;][^=&;#\s'\"/?]*+=)([^&;#\s'\"]++)")
# Three base64url segments joined by dots, the first holding "eyJ" (a JSON header) at a word start.
_JWT = re.compile(r"(?<![\w-])(?=(?:[\w-]*-)?eyJ[\w-]{5})[\w-]++\.[\w-]{5,}+\.[\w-]*+")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# A long run of letters and digits that mixes both cases and digits: a key, a signature, a session id.
# Path words, file names and content hashes (hex, one case) do not look like that.
_OPAQUE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])[\w-]{32,}+(?![\w-])")


def redact(text: str) -> str:
    """``ftp://alice:s3cret@h/x?token=abc`` -> ``ftp://***@h/x?token=***``."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY_VALUE.sub(_mask_value, text)
    text = _JWT.sub(MASK, text)
    text = _AWS_ACCESS_KEY.sub(MASK, text)
    return _OPAQUE.sub(MASK, text)


def _mask_value(match: re.Match[str]) -> str:
    """A value ending in an unmatched ``)`` keeps it: the URL was quoted in parentheses."""
    value = match.group(2)
    closing = ")" if value.endswith(")") and value.count(")") > value.count("(") else ""
    return f"{match.group(1)}{MASK}{closing}"
