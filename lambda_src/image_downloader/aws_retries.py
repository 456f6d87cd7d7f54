"""How every AWS client of the functions retries.

Adaptive mode: botocore's standard retries (exponential backoff with full jitter; throttling errors such as
S3's 503 SlowDown, DynamoDB's ProvisionedThroughputExceededException and ThrottlingException retried),
plus a client-side rate limiter that slows the client down while the service throttles it. Ten attempts:
at a throttled fraction p of calls, a call fails for good with probability p**10 (1e-7 at p = 0.2),
against p**4 with botocore's default of four; each wait is at most 20 s.
"""

from __future__ import annotations

AWS_RETRIES: dict[str, str | int] = {"mode": "adaptive", "max_attempts": 10}
