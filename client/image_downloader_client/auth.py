"""How a request proves who sends it: SigV4 (AWS_IAM), a bearer token (JWT), or nothing (NONE)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from requests import PreparedRequest
from requests.auth import AuthBase

AUTH_TYPES = ("AWS_IAM", "JWT", "NONE")
_ALIASES = {"IAM": "AWS_IAM", "SIGV4": "AWS_IAM", "BEARER": "JWT", "TOKEN": "JWT"}
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# A bearer token is one HTTP header value: visible ASCII only (a JWT is base64url and dots).
_TOKEN = re.compile(r"^[\x21-\x7e]+$")
# Hop-by-hop headers (RFC 9110, 7.6.1): a proxy or the gateway's front end may drop or rewrite them, so
# a signature over them would not verify. Everything else the request sends is signed (botocore itself
# leaves out User-Agent and Expect).
_UNSIGNED = frozenset({"connection", "keep-alive", "proxy-authorization", "te", "trailer", "upgrade"})


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
class Auth(AuthBase):
    """Authorizes a prepared request as it will be sent: requests calls it once the method, URL, body
    and headers are final, so a SigV4 signature covers exactly those."""

    kind: str
    token: str | None = None
    region: str | None = None
    credentials: Any = None

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.kind == "JWT":
            request.headers["Authorization"] = f"Bearer {self.bearer_token()}"
        elif self.kind == "AWS_IAM":
            body = request.body or b""
            signable = {
                name: value for name, value in request.headers.items() if name.lower() not in _UNSIGNED
            }
            signed = _sigv4(
                str(request.method),
                str(request.url),
                body.encode() if isinstance(body, str) else body,
                signable,
                self.region,
                self.credentials,
            )
            request.headers.update(signed)
        return request

    def bearer_token(self) -> str:
        if not self.token:
            raise AuthError(
                "JWT authorization needs a token: --token, --token-file or IMAGE_DOWNLOADER_TOKEN"
            )
        if not _TOKEN.match(self.token):
            raise AuthError(
                "the JWT token holds whitespace or a control character: give the bare token (--token, "
                "--token-file or IMAGE_DOWNLOADER_TOKEN)"
            )
        return self.token


def auth_from(kind: str, token: str | None, token_file: Path | None, region: str | None) -> Auth:
    """The Auth the options ask for; a token file (e.g. a GitHub OIDC token written by a step) wins."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise AuthError(
                f"cannot read the token file {token_file}: {error.strerror or error} (--token-file)"
            ) from None
    return Auth(auth_type(kind), token=token or os.environ.get("IMAGE_DOWNLOADER_TOKEN"), region=region)


def _sigv4(
    method: str, url: str, body: bytes, headers: dict[str, str], region: str | None, credentials: Any
) -> dict[str, str]:
    try:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise AuthError("AWS_IAM authorization signs with botocore: pip install botocore") from None

    session = botocore.session.get_session()
    try:
        credentials = credentials or session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except BotoCoreError as error:
        raise AuthError(f"cannot load the AWS credentials to sign the request (AWS_IAM): {error}") from None
    if frozen is None:
        raise AuthError(
            "no AWS credentials found to sign the request (AWS_IAM authorization): configure them "
            "(environment, profile, SSO, instance or OIDC role) or use --auth JWT"
        )
    try:
        region = region or region_from_url(url) or session.get_config_variable("region")
    except BotoCoreError as error:
        raise AuthError(f"cannot read the AWS configuration for the region: {error}") from None
    if not region:
        raise AuthError("cannot tell the API's region from its URL: give --region or AWS_REGION")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(frozen, "execute-api", region).add_auth(request)
    return {name: value for name, value in request.headers.items() if name not in headers}
