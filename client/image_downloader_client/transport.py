"""HTTP for the client: one requests Session whose adapter retries what may be retried, with backoff, and
a timeout on every call. Proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) and the CA bundle
(REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) come from the environment, as requests reads them."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from image_downloader_client import __version__

# Throttled (429), or the gateway could not get an answer in time (502, 503, 504): worth another try.
# Any other 4xx is the caller's to fix, and a 500 is an error in the API, which a retry does not mend.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Every POST carries an Idempotency-Key that names the execution: a repeated StartExecution with that
# name and body returns the same execution (or 400 ExecutionAlreadyExists once it has ended, which the
# client follows), so a POST is as safe to repeat as a GET.
RETRY_METHODS = frozenset({"GET", "POST"})
# urllib3 waits 0, 1, 2, 4, 8 s before the retries (backoff_factor * 2 ** (n - 1), the first at once),
# or what a Retry-After header asks for.
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 8.0
DEFAULT_RETRIES = 5
MAX_RETRIES = 10
# A longer Retry-After ends the retries and the answer is reported: a SigV4 signature is valid for five
# minutes, and a CI step should not sleep for an hour on a header's word.
MAX_RETRY_AFTER = 30.0

Notify = Callable[[str], None]


class ApiError(Exception):
    """The API could not be reached, refused the caller, or answered something unexpected."""


class ReportingRetry(Retry):
    """urllib3's Retry, telling each retry (what failed, how long it waits) to notify."""

    notify: Notify | None = None

    def new(self, **kw: Any) -> ReportingRetry:
        retry = super().new(**kw)
        retry.notify = self.notify
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> ReportingRetry:
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            raise MaxRetryError(_pool, url or "", ResponseError(f"Retry-After {retry_after:g} s"))
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.notify is not None:
            cause = f"answered {response.status}" if response is not None else reason_of(error)
            wait = retry_after if retry_after is not None else retry.get_backoff_time()
            done = len(retry.history)
            limit = done + retry.total if isinstance(retry.total, int) else "?"
            path = (url or "").split("?", 1)[0]
            self.notify(f"{method} {path}: {cause}; retry {done} of {limit} in {wait:g} s")
        return retry


def new_session(retries: int = DEFAULT_RETRIES, notify: Notify | None = None) -> requests.Session:
    retry = ReportingRetry(
        total=retries,
        other=0,
        allowed_methods=RETRY_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=BACKOFF_MAX,
        respect_retry_after_header=True,
        # The last answer goes back to the caller, which says what it was.
        raise_on_status=False,
    )
    retry.notify = notify
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = (
        f"image-downloader-client/{__version__} {requests.utils.default_user_agent()}"
    )
    return session


def ask(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    what: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """session.request with a timeout, no redirects, and every failure to get an answer as one ApiError
    that says what to check; ``what`` stands for the URL in messages when the URL holds a secret."""
    where = what or url
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.exceptions.SSLError as error:
        raise ApiError(
            f"cannot reach {where}: TLS verification failed ({reason_of(error)}); behind a proxy that "
            "re-signs TLS, set REQUESTS_CA_BUNDLE to its CA bundle"
        ) from None
    except requests.exceptions.ProxyError as error:
        raise ApiError(
            f"cannot reach {where} through the proxy ({reason_of(error)}): check HTTPS_PROXY / HTTP_PROXY, "
            "or list the API's host in NO_PROXY"
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise ApiError(
            f"cannot reach {where}: no connection within {timeout[0]:g} s, retries used up"
        ) from None
    except requests.exceptions.ReadTimeout:
        raise ApiError(f"{where} did not answer within {timeout[1]:g} s, retries used up") from None
    except requests.exceptions.ConnectionError as error:
        raise ApiError(f"cannot reach {where}: {reason_of(error)}") from None
    except requests.exceptions.RequestException as error:
        raise ApiError(f"cannot call {where}: {reason_of(error)}") from None


def reason_of(error: BaseException | None) -> str:
    """The innermost cause, without urllib3's connection prefix: "[Errno 111] Connection refused"."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException) and error.args and isinstance(error.args[0], BaseException):
            inner = error.args[0]
        if not isinstance(inner, BaseException):
            break
        error = inner
    text = str(error) if error is not None else "unknown error"
    return re.sub(r"^\w+\(host='[^']*', port=\d+\): ", "", text)
