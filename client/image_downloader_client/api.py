"""The two routes of the HTTP API: POST /executions and GET /executions/{name}."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from image_downloader_client.auth import Auth
from image_downloader_client.transport import (
    DEFAULT_RETRIES,
    RETRY_STATUSES,
    ApiError,
    Notify,
    ask,
    new_session,
)

_ALREADY_EXISTS = re.compile(r"ExecutionAlreadyExists")
_EXECUTION_ARN = re.compile(r"arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[^'\"\s]+")
# API Gateway ends an integration at 30 s (answering 503/504): a read waits a little longer than that.
API_TIMEOUT = (10.0, 35.0)
REPORT_TIMEOUT = (10.0, 60.0)


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
    """The API's base URL, whether given as the endpoint or as the executions URL; one that cannot be an
    http(s) URL is refused before anything is sent."""
    fix = (
        "give the api_endpoint output, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com "
        "(--url or IMAGE_DOWNLOADER_URL)"
    )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"the API URL {url!r} is not an http(s) URL: {fix}")
    if re.search(r"[\s\x00-\x1f\x7f]", url.strip()) or parts.query or parts.fragment:
        raise ApiError(f"the API URL {url!r} holds spaces, a query or a fragment: {fix}")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ApiError(f"the API URL {url!r} has no valid port: {fix}") from None
    return url.strip().rstrip("/").removesuffix("/executions")


def execution_name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


class ApiClient:
    """One requests Session for every call: connections are reused, and each call retries what may be
    retried (transport.py) within a timeout."""

    def __init__(
        self, url: str, auth: Auth, retries: int = DEFAULT_RETRIES, notify: Notify | None = None
    ) -> None:
        self.base = api_base(url)
        self.auth = auth
        self.session = new_session(retries, notify)

    def start(self, body: bytes, idempotency_key: str) -> Started:
        """Start an execution named by the key: a second start with it returns the first execution, which
        is also what makes a retried POST safe."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        status, payload = self._send("POST", f"{self.base}/executions", body, headers, "POST /executions")
        if status == 400 and _ALREADY_EXISTS.search(payload):
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
        status, payload = self._send(
            "GET", url, None, {"Accept": "application/json"}, f"GET /executions/{name}"
        )
        if status == 404:
            raise NotFound(f"no execution named {name!r}: {_message(payload)}")
        return self._json(status, payload, f"GET /executions/{name}")

    def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], what: str
    ) -> tuple[int, str]:
        response = ask(
            self.session, method, url, data=body, headers=headers, auth=self.auth, timeout=API_TIMEOUT
        )
        if response.status_code in RETRY_STATUSES:
            after = response.headers.get("Retry-After")
            why = f"it asks to be retried after {after} s" if after else "retries used up"
            raise ApiError(
                f"{what} answered {response.status_code}: {_message(response.text)} ({why}; try again later)"
            )
        return response.status_code, response.text

    def download(self, url: str) -> bytes:
        """GET a presigned URL (the report): no authorization header, the URL carries it."""
        response = ask(
            self.session, "GET", url, auth=Auth("NONE"), what="the report's URL", timeout=REPORT_TIMEOUT
        )
        if response.status_code != 200:
            raise ApiError(f"the report's URL answered {response.status_code} {response.reason}")
        return response.content

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
