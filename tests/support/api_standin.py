"""A local stand-in for the deployed HTTP API, on 127.0.0.1, in front of the emulated deployment.

It does what API Gateway does for this module, read from modules/api rather than restated here:
- authorizes every route like the configured authorizer: AWS_IAM recomputes the SigV4 signature of the
  request (service execute-api) with the caller's secret key and refuses a mismatch or an old date with
  403; JWT verifies the bearer token's RS256 signature, issuer, audience and expiry, refusing with 401;
- POST /executions applies the integration's request_parameters (``$request.body``,
  ``$request.header.<name>``, the state machine ARN) and calls StartExecution on moto, answering with its
  result or its error (status code and ``__type``) as the StepFunctions-StartExecution integration does;
- GET /executions/{name} invokes the status function, loaded from the Lambda zip, with a payload format
  2.0 event, and answers with the function's statusCode, headers and body.
It also stands in for S3's presigned GET: report URLs in the status body are rewritten to point here, and
it serves them from moto when the URL carries a signature and an expiry. A test can queue faults: answers
API Gateway gives when it throttles (429) or its integration fails (502, 503, 504), instead of handling a
request or after handling it. It takes requests in absolute form too, as the HTTP proxy a client is told
to use.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tools.tfdocs import REPO_ROOT, load_module

API_MODULE = REPO_ROOT / "modules" / "api"
MAX_CLOCK_SKEW_SECONDS = 300


# --- what modules/api deploys -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedApi:
    """The routes and the StartExecution parameter mapping, as modules/api declares them."""

    start_route: str
    status_route: str
    start_parameters: dict[str, str]

    @classmethod
    def from_module(cls) -> DeployedApi:
        module = load_module(API_MODULE)
        (integration,) = [
            block
            for block in module.resources
            if block.type == "aws_apigatewayv2_integration" and block.name == "start_execution"
        ]
        return cls(
            start_route=module.locals["route_key"],
            status_route=module.locals["status_route_key"],
            start_parameters=dict(integration.body["request_parameters"]),
        )

    def start_execution_arguments(
        self, state_machine_arn: str, body: str, headers: dict[str, str]
    ) -> dict[str, str]:
        """StartExecution's arguments: each mapping evaluated; a header the request lacks maps to nothing."""
        lowered = {name.lower(): value for name, value in headers.items()}
        arguments = {}
        for name, source in self.start_parameters.items():
            if source == "${var.state_machine_arn}":
                value: str | None = state_machine_arn
            elif source == "$request.body":
                value = body
            elif source.startswith("$request.header."):
                value = lowered.get(source.removeprefix("$request.header.").lower())
            else:
                raise AssertionError(f"the stand-in cannot evaluate {name} = {source!r}")
            if value:
                arguments[name[0].lower() + name[1:]] = value
        return arguments


def route_pattern(route_key: str) -> tuple[str, re.Pattern[str]]:
    method, path = route_key.split(" ", 1)
    return method, re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


# --- authorizers -------------------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IamAuthorizer:
    """AWS_IAM: the SigV4 signature must be the one the caller's secret key gives (execute-api, region)."""

    access_key: str
    secret_key: str
    region: str

    def check(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization", "")
        match = re.match(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
            r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$",
            authorization,
        )
        if not match:
            raise Refused(403, "Forbidden")
        access_key, _, region, service, signed, signature = match.groups()
        if (access_key, region, service) != (self.access_key, self.region, "execute-api"):
            raise Refused(403, "The security token included in the request is invalid.")
        amz_date = lowered.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise Refused(403, "Forbidden") from None
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
            raise Refused(403, "Signature expired")
        request = AWSRequest(
            method=method, url=url, data=body, headers={name: lowered[name] for name in signed.split(";")}
        )
        request.context["timestamp"] = amz_date
        token = lowered.get("x-amz-security-token")
        auth = SigV4Auth(Credentials(self.access_key, self.secret_key, token), "execute-api", region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if expected != signature:
            raise Refused(
                403, "The request signature we calculated does not match the signature you provided."
            )


@dataclass
class JwtIssuer:
    """An OIDC issuer's key pair: signs tokens as the issuer would, verifies them as the authorizer does."""

    issuer: str = "https://token.actions.githubusercontent.com"
    audience: str = "image-downloader"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "sub": "repo:o/r:ref:refs/heads/main"}
        payload |= {"iat": now, "exp": now + 300, **claims}
        signing_input = f"{_b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}))}.{_b64(json.dumps(payload))}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def check(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        scheme, _, token = lowered.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token.count(".") != 2:
            raise Refused(401, "Unauthorized")
        header, payload, signature = token.split(".")
        try:
            self.key.public_key().verify(
                _unb64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(_unb64(payload))
        except Exception:
            raise Refused(401, "Unauthorized") from None
        audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        if claims.get("iss") != self.issuer or self.audience not in audiences:
            raise Refused(401, "Unauthorized")
        if claims.get("exp", 0) < time.time():
            raise Refused(401, "Unauthorized")


class NoAuthorizer:
    def check(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        pass


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the server --------------------------------------------------------------------------------------

Authorizer = IamAuthorizer | JwtIssuer | NoAuthorizer
StatusHandler = Callable[[dict, Any], dict]


@dataclass(frozen=True)
class Fault:
    """One answer given in place of the next request's: before handling it (throttled, nothing done), or
    after (the execution started, the answer lost on the way back)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after_handling: bool = False


@dataclass
class ApiStandIn:
    state_machine_arn: str
    stepfunctions: Any
    s3: Any
    status_handler: StatusHandler
    authorizer: Authorizer
    api: DeployedApi = field(default_factory=DeployedApi.from_module)
    url: str = ""
    # (method, path, status) of every request, for the tests.
    log: list[tuple[str, str, int]] = field(default_factory=list)
    # Per request: its target as sent (absolute through a proxy), time.monotonic() at arrival, headers.
    targets: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """The status, extra headers and document for one request, the next queued fault applied."""
        self.targets.append(target)
        self.arrivals.append(time.monotonic())
        self.received.append(headers)
        fault = self.faults.pop(0) if self.faults else None
        if fault is None or fault.after_handling:
            status, document = self.handle(method, target, headers, body)
        if fault is None:
            return status, {}, document
        return fault.status, fault.headers, {"message": f"fault {fault.status} of the stand-in"}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        target = _origin_form(target)
        path = urlsplit(target).path
        if path.startswith("/s3/"):
            return self._presigned_get(target)
        for route_key, answer in ((self.api.start_route, self._start), (self.api.status_route, self._status)):
            route_method, pattern = route_pattern(route_key)
            match = pattern.match(path)
            if match and method == route_method:
                try:
                    self.authorizer.check(method, self.url + target, headers, body)
                except Refused as refused:
                    return refused.status, {"message": str(refused)}
                return answer(headers, body, {k: unquote(v) for k, v in match.groupdict().items()})
        return 404, {"message": "Not Found"}

    def _start(self, headers: dict[str, str], body: bytes, _: dict[str, str]) -> tuple[int, Any]:
        arguments = self.api.start_execution_arguments(self.state_machine_arn, body.decode(), headers)
        try:
            started = self.stepfunctions.start_execution(**arguments)
        except ClientError as error:
            details = error.response["Error"]
            status = error.response["ResponseMetadata"].get("HTTPStatusCode", 400)
            return status, {"__type": details.get("Code"), "message": details.get("Message")}
        return 200, {"executionArn": started["executionArn"], "startDate": started["startDate"].timestamp()}

    def _status(self, headers: dict[str, str], body: bytes, parameters: dict[str, str]) -> tuple[int, Any]:
        event = {
            "version": "2.0",
            "routeKey": self.api.status_route,
            "rawPath": f"/executions/{parameters['name']}",
            "headers": {name.lower(): value for name, value in headers.items()},
            "pathParameters": parameters,
            "requestContext": {"http": {"method": "GET"}, "stage": "$default"},
            "isBase64Encoded": False,
        }
        response = self.status_handler(event, None)
        document = json.loads(response["body"])
        report = document.get("report") if isinstance(document, dict) else None
        if report and report.get("url"):
            query = urlsplit(report["url"]).query
            report["url"] = f"{self.url}/s3/{report['bucket']}/{report['key']}?{query}"
        return response["statusCode"], document

    def _presigned_get(self, target: str) -> tuple[int, Any]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        if not {"X-Amz-Signature", "X-Amz-Expires", "X-Amz-Credential"} <= query.keys():
            return 403, {"message": "AccessDenied"}
        bucket, _, key = unquote(parts.path.removeprefix("/s3/")).partition("/")
        try:
            return 200, self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return 404, {"message": "NoSuchKey"}


def _origin_form(target: str) -> str:
    """/executions?x of http://host/executions?x (a proxied request's target), for the routes and the
    signature, which cover the path and query only."""
    parts = urlsplit(target)
    if not parts.scheme:
        return target
    return parts.path + (f"?{parts.query}" if parts.query else "")


@contextmanager
def serving(stand_in: ApiStandIn, tls: ssl.SSLContext | None = None) -> Iterator[ApiStandIn]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, extra, document = stand_in.answer(
                self.command, self.path, dict(self.headers.items()), body
            )
            stand_in.log.append((self.command, urlsplit(self.path).path, status))
            payload = document if isinstance(document, bytes) else json.dumps(document).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    stand_in.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
