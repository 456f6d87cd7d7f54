"""The retry policy: urllib3's ``Retry`` with jitter, a backoff cap and a time after which it gives up.

Connection errors, read timeouts and 429/500/502/503/504 are retried, honouring ``Retry-After``, with
exponential backoff plus jitter, a bounded number of attempts and a bounded total time per URL. An
error while reading the body (reset, timeout) is fed to the same ``Retry`` object
(``fetch.retry_after_body_error``), which decides whether and when to ask again.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from urllib3.exceptions import HTTPError, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:  # urllib3 1.26 has only HTTPResponse; 2.x types responses as BaseHTTPResponse
    from urllib3 import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_factor: float = 0.5
    backoff_cap_seconds: float = 10.0
    jitter_seconds: float = 0.5

    def new_retry(self, give_up_at: float) -> BoundedRetry:
        """A fresh ``Retry`` for one URL, giving up once waiting would pass ``give_up_at``."""
        retries = self.attempts - 1
        return BoundedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            raise_on_status=False,
            raise_on_redirect=False,
            respect_retry_after_header=True,
            give_up_at=give_up_at,
            jitter=self.jitter_seconds,
            backoff_cap=self.backoff_cap_seconds,
        )


class BoundedRetry(Retry):
    """``Retry`` with jitter, a backoff cap and a point in time after which it gives up.

    Works the same on urllib3 1.26 and 2.x: it passes urllib3 none of the 2.x-only arguments
    (``backoff_jitter``, ``backoff_max``) and adds jitter and the cap in ``get_backoff_time``. The wait
    before the next attempt is decided once, in ``increment``: if it would end after ``give_up_at``
    the retry is refused there (urllib3 then returns the last response or raises the last error).
    """

    def __init__(
        self,
        *args: object,
        give_up_at: float = math.inf,
        jitter: float = 0.0,
        backoff_cap: float = 10.0,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.give_up_at = give_up_at
        self.jitter = jitter
        self.backoff_cap = backoff_cap
        self.planned_wait = 0.0

    def new(self, **kw: object) -> BoundedRetry:
        new = super().new(**kw)
        new.give_up_at, new.jitter, new.backoff_cap = self.give_up_at, self.jitter, self.backoff_cap
        return new

    def get_backoff_time(self) -> float:
        return min(self.backoff_cap, super().get_backoff_time()) + random.uniform(0, self.jitter)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: object = None,
        _stacktrace: object = None,
    ) -> BoundedRetry:
        new = super().increment(
            method=method, url=url, response=response, error=error, _pool=_pool, _stacktrace=_stacktrace
        )
        wait = new._wait_before_next(response)
        if time.monotonic() + wait > self.give_up_at:
            reason = error or ResponseError(f"retrying would pass the time limit (next wait {wait:.1f} s)")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        new.planned_wait = wait
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.planned_wait > 0:
            time.sleep(self.planned_wait)

    def _wait_before_next(self, response: BaseHTTPResponse | None) -> float:
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            try:
                retry_after = self.get_retry_after(response)
            except HTTPError:  # an unparsable Retry-After falls back to the backoff
                retry_after = None
        return retry_after if retry_after else self.get_backoff_time()

    @property
    def attempts(self) -> int:
        return len(self.history) + 1
