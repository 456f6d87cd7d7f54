"""Masks secrets in text a person or a log will see: userinfo, query values and token-like strings.

Every failure reason, failure report, notification and validation message goes through ``redact``;
the DynamoDB record keeps the real URL (it is data, not a message).
"""

from __future__ import annotations

import re

MASK = "***"

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"]*@")
_QUERY_VALUE = re.compile(r"([?&;][^=&;#\s'\"/?]*=)[^&;#\s'\"]+")
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# A long run of letters and digits that mixes both cases and digits: a key, a signature, a session id.
# Path words, file names and content hashes (hex, one case) do not look like that.
_OPAQUE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])[\w-]{32,}(?![\w-])")


def redact(text: str) -> str:
    """``ftp://alice:s3cret@h/x?token=abc`` -> ``ftp://***@h/x?token=***``."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY_VALUE.sub(rf"\1{MASK}", text)
    text = _JWT.sub(MASK, text)
    text = _AWS_ACCESS_KEY.sub(MASK, text)
    return _OPAQUE.sub(MASK, text)
