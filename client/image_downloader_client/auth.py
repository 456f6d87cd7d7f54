"""How a request proves who sends it: SigV4 (AWS_IAM), a bearer token (JWT), or nothing (NONE)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AUTH_TYPES = ("AWS_IAM", "JWT", "NONE")
_ALIASES = {"IAM": "AWS_IAM", "SIGV4": "AWS_IAM", "BEARER": "JWT", "TOKEN": "JWT"}
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class AuthError(Exception):
    """No way to authorize the request: missing token, credentials or region."""


def auth_type(value: str) -> str:
    normalized = value.strip().upper().replace("-", "_")
    normalized = _ALIASES.get(normalized, normalized)
    if normalized not in AUTH_TYPES:
        raise AuthError(f"unknown authorization type {value!r}: use one of {', '.join(AUTH_TYPES)}")
    return normalized


def region_from_url(url: str) -> str | None:
    match = EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class Auth:
    """Adds the authorization headers to one request."""

    kind: str
    token: str | None = None
    region: str | None = None
    credentials: Any = None

    def headers(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        if self.kind == "NONE":
            return dict(headers)
        if self.kind == "JWT":
            if not self.token:
                raise AuthError(
                    "JWT authorization needs a token: --token, --token-file or IMAGE_DOWNLOADER_TOKEN"
                )
            return {**headers, "Authorization": f"Bearer {self.token}"}
        return _sigv4(method, url, body, headers, self.region, self.credentials)


def auth_from(kind: str, token: str | None, token_file: Path | None, region: str | None) -> Auth:
    """The Auth the options ask for; a token file (e.g. a GitHub OIDC token written by a step) wins."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise AuthError(f"cannot read the token file: {error}") from None
    return Auth(auth_type(kind), token=token or os.environ.get("IMAGE_DOWNLOADER_TOKEN"), region=region)


def _sigv4(
    method: str, url: str, body: bytes, headers: dict[str, str], region: str | None, credentials: Any
) -> dict[str, str]:
    try:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ImportError:
        raise AuthError("AWS_IAM authorization signs with botocore: pip install botocore") from None
    session = botocore.session.get_session()
    credentials = credentials or session.get_credentials()
    if credentials is None:
        raise AuthError(
            "no AWS credentials found to sign the request (AWS_IAM authorization): configure them "
            "(environment, profile, SSO, instance or OIDC role) or use --auth JWT"
        )
    region = region or region_from_url(url) or session.get_config_variable("region")
    if not region:
        raise AuthError("cannot tell the API's region from its URL: give --region or AWS_REGION")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())
