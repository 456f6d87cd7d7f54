"""What the download engine hands around: an image, a failure, a batch's outcome, and the sink protocol.

Nothing here touches the network, so the sinks (``storage.py``) and the reports depend on these shapes
without pulling in urllib3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Literal, Protocol

from image_downloader.redact import redact

FailureKind = Literal[
    "http_status",
    "timeout",
    "timed_out",
    "connection",
    "too_large",
    "not_image",
    "blocked",
    "storage",
    "time_budget",
]

ProgressCallback = Callable[[int, int], None]

# A reason quotes what a server sent (a status line, a Location): it is cut to this many characters
# where it is made, before masking, so no report, log line or mask pass grows with a server's text.
MAX_REASON_CHARS = 1024
# A cut inside a word (a URL, a token) drops that word's head too, if it starts this close to the cut:
# half a URL could lose the "@" or the length that masking recognises a secret by.
_WORD_BACKTRACK = 256


def capped_reason(reason: str) -> str:
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    cut = reason[: MAX_REASON_CHARS - 1]
    if not reason[MAX_REASON_CHARS - 1].isspace():
        space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if space >= len(cut) - _WORD_BACKTRACK:
            cut = cut[: space + 1]
    return cut + "…"


@dataclass
class DownloadedImage:
    url: str
    final_url: str
    body: IO[bytes]
    size: int
    sha256: bytes
    content_type: str

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


class StorageError(Exception):
    """The sink could not store an image; the message says why, and nothing of it is left stored."""


class Sink(Protocol):
    def store(self, image: DownloadedImage) -> None:
        """Store ``image`` completely or raise ``StorageError`` leaving nothing stored."""


@dataclass(frozen=True)
class Failure:
    url: str
    kind: FailureKind
    reason: str
    status: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", capped_reason(self.reason))

    def to_json(self) -> dict:
        """The failure as reports and notifications show it, with secrets masked (``redact``)."""
        return {
            "url": redact(self.url),
            "kind": self.kind,
            "status": self.status,
            "reason": redact(self.reason),
        }


@dataclass
class BatchOutcome:
    requested: int
    succeeded: int = 0
    bytes: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


class DownloadFailed(Exception):
    """Why one URL could not be downloaded; the engine turns it into that URL's ``Failure``."""

    def __init__(self, kind: FailureKind, reason: str, status: int | None = None) -> None:
        reason = capped_reason(reason)
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status
