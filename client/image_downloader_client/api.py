"""The two routes of the HTTP API: POST /executions and GET /executions/{name}."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from image_downloader_client.auth import Auth

USER_AGENT = "image-downloader-client"
_ALREADY_EXISTS = re.compile(r"ExecutionAlreadyExists")
_EXECUTION_ARN = re.compile(r"arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[^'\"\s]+")


class ApiError(Exception):
    """The API could not be reached, refused the caller, or answered something unexpected."""


class RequestRefused(ApiError):
    """The API answered 400: the request itself is wrong (exit code 2)."""


class NotFound(ApiError):
    """No execution of that name."""


@dataclass(frozen=True)
class Started:
    name: str
    execution_arn: str | None
    # True when the idempotency key named an execution that already existed.
    existing: bool = False


def api_base(url: str) -> str:
    """The API's base URL, whether given as the endpoint or as the executions URL."""
    base = url.rstrip("/")
    return base.removesuffix("/executions")


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


class ApiClient:
    def __init__(self, url: str, auth: Auth, timeout: float = 30) -> None:
        self.base = api_base(url)
        self.auth = auth
        self.timeout = timeout

    def start(self, body: bytes, idempotency_key: str | None) -> Started:
        """Start an execution. With a key, a second start returns the first execution."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        status, payload = self._send("POST", f"{self.base}/executions", body, headers)
        if status == 400 and idempotency_key and _ALREADY_EXISTS.search(payload):
            # StartExecution returns the running execution for the same name and input, and refuses the
            # name once that execution has ended: either way it is this request's execution.
            match = _EXECUTION_ARN.search(payload)
            return Started(idempotency_key, match.group(0) if match else None, existing=True)
        document = self._json(status, payload, "POST /executions")
        arn = document.get("executionArn")
        if not isinstance(arn, str):
            raise ApiError(f"POST /executions answered without an executionArn: {payload[:300]}")
        return Started(execution_name(arn), arn)

    def status(self, name: str) -> dict[str, Any]:
        url = f"{self.base}/executions/{quote(name, safe='')}"
        status, payload = self._send("GET", url, b"", {"Accept": "application/json"})
        if status == 404:
            raise NotFound(f"no execution named {name!r}: {_message(payload)}")
        return self._json(status, payload, f"GET /executions/{name}")

    def _send(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        headers = {**headers, "User-Agent": USER_AGENT}
        signed = self.auth.headers(method, url, body, headers)
        request = urllib.request.Request(url, data=body if method != "GET" else None, method=method)
        for name, value in signed.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(f"cannot reach {url}: {reason}") from None

    def _json(self, status: int, payload: str, what: str) -> dict[str, Any]:
        if status in (401, 403):
            raise ApiError(
                f"{what} answered {status}: {_message(payload)} (check --auth, the token or the caller's "
                "execute-api:Invoke permission)"
            )
        if status == 400:
            raise RequestRefused(f"{what} answered 400: {_message(payload)}")
        if status >= 300:
            raise ApiError(f"{what} answered {status}: {_message(payload)}")
        try:
            document = json.loads(payload)
        except json.JSONDecodeError:
            raise ApiError(f"{what} answered something else than JSON: {payload[:200]!r}") from None
        if not isinstance(document, dict):
            raise ApiError(f"{what} answered {document!r}, not a JSON object")
        return document


def _message(payload: str) -> str:
    try:
        document = json.loads(payload)
    except json.JSONDecodeError:
        return payload.strip()[:300] or "(no body)"
    if isinstance(document, dict):
        return str(document.get("message") or document.get("Message") or document)[:300]
    return str(document)[:300]


def download(url: str, timeout: float = 60) -> bytes:
    """GET a presigned URL (the report): no authorization header, the URL carries it."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise ApiError(f"the report's URL answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise ApiError(f"cannot download the report: {getattr(error, 'reason', error)}") from None
