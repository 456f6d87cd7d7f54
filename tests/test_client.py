"""The image-downloader client against a local stand-in of the deployed HTTP API
(tests/support/api_standin.py): real HTTP on 127.0.0.1, the authorizer checking SigV4 signatures or
JWTs, the deployed parameter mapping, StartExecution and the status function on the emulated deployment,
images from a local server."""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import os
import re
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from image_downloader_client.cli import Terminal, main
from image_downloader_client.outcome import ExitCode, exit_code_of
from image_downloader_client.request import CI_RUN_IDS, RequestError, by_reference
from local_runner.emulator import (
    Deployment,
    DeploymentConfig,
    FunctionSpec,
    emulated_deployment,
    load_handlers,
)
from local_runner.sample_images import flag_gif
from tests.support.api_standin import ApiStandIn, Fault, IamAuthorizer, JwtIssuer, NoAuthorizer, serving
from tests.support.image_server import ImageServer, Route

CONFIG = DeploymentConfig(
    allow_private_addresses=True,
    default_batch_size=5,
    connect_timeout_seconds=10,
    read_timeout_seconds=10,
    time_budget_margin_seconds=1,
)
CALLER = {
    "AWS_ACCESS_KEY_ID": "AKIACICALLER",
    "AWS_SECRET_ACCESS_KEY": "ci-secret",
    "AWS_SESSION_TOKEN": "ci-token",
}
FAST = ["--interval", "0.1", "--timeout", "120"]
# What requests reads from the environment: the tests set them where they mean to.
PROXY_AND_CA = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass
class Output:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Deployed:
    """One emulated deployment behind the stand-in for the whole module; each test picks the authorizer."""

    deployment: Deployment
    api: ApiStandIn
    images: ImageServer
    jwt: JwtIssuer


@dataclass
class Stack:
    deployment: Deployment
    api: ApiStandIn
    images: ImageServer
    tmp_path: Path
    jwt: JwtIssuer
    earlier: set[str]

    def cli(self, *argv: str, auth: str = "AWS_IAM", token: str | None = None) -> Output:
        out, err = io.StringIO(), io.StringIO()
        arguments = [*argv, "--url", f"{self.api.url}/executions", "--auth", auth]
        if token is not None:
            arguments += ["--token", token]
        code = main(arguments, Terminal(out, err))
        return Output(code, out.getvalue(), err.getvalue())

    def request(self, paths: list[str], name: str = "request.json", **fields: Any) -> str:
        path = self.tmp_path / name
        document = {"baseUrl": self.images.base_url, "resourcePaths": paths, "lambdaConcur": 4, **fields}
        path.write_text(json.dumps(document))
        return str(path)

    def executions(self) -> list[dict[str, Any]]:
        """The executions this test started."""
        return [
            execution for execution in _executions(self.deployment) if execution["name"] not in self.earlier
        ]

    def slow_image(self, delay: float) -> str:
        path = f"img/slow-{uuid.uuid4().hex}.gif"
        self.images.add(path, Route(body=flag_gif(path), delay=delay))
        return path


def _executions(deployment: Deployment) -> list[dict[str, Any]]:
    sfn = deployment.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=deployment.state_machine_arn)["executions"]


def status_function(deployment: Deployment, zip_path: Path) -> Any:
    spec = FunctionSpec(
        "status",
        "image_downloader.status.handler",
        10,
        {
            "STATE_MACHINE_ARN": deployment.state_machine_arn,
            "BUCKET_NAME": deployment.config.bucket,
            "REPORT_KEY_PREFIX": deployment.config.report_key_prefix,
        },
    )
    return spec, load_handlers(zip_path, (spec,))["status"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("client")
    with ImageServer() as images, emulated_deployment(CONFIG, work) as deployment:
        spec, handler = status_function(deployment, work / "lambda.zip")
        with mock.patch.dict(os.environ, spec.environment):
            api = ApiStandIn(
                state_machine_arn=deployment.state_machine_arn,
                stepfunctions=deployment.client("stepfunctions"),
                s3=deployment.client("s3"),
                status_handler=handler,
                authorizer=NoAuthorizer(),
            )
            images.add_image("/img/a.gif")
            images.add_image("/img/b.gif")
            with serving(api):
                yield Deployed(deployment, api, images, JwtIssuer())


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run in CI too: its run ids must not name the tests' executions."""
    for _, names in CI_RUN_IDS:
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name in ("IMAGE_DOWNLOADER_URL", "IMAGE_DOWNLOADER_AUTH", "IMAGE_DOWNLOADER_TOKEN", *PROXY_AND_CA):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _stack(deployed: Deployed, authorizer: Any, tmp_path: Path) -> Stack:
    deployed.api.authorizer = authorizer
    api = deployed.api
    for recorded in (api.log, api.targets, api.arrivals, api.received, api.faults):
        recorded.clear()
    earlier = {execution["name"] for execution in _executions(deployed.deployment)}
    return Stack(deployed.deployment, deployed.api, deployed.images, tmp_path, deployed.jwt, earlier)


@pytest.fixture
def iam(deployed: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for name, value in CALLER.items():
        monkeypatch.setenv(name, value)
    authorizer = IamAuthorizer(CALLER["AWS_ACCESS_KEY_ID"], CALLER["AWS_SECRET_ACCESS_KEY"], "us-east-1")
    return _stack(deployed, authorizer, tmp_path)


@pytest.fixture
def oidc(deployed: Deployed, tmp_path: Path) -> Stack:
    return _stack(deployed, deployed.jwt, tmp_path)


@pytest.fixture
def open_api(deployed: Deployed, tmp_path: Path) -> Stack:
    return _stack(deployed, NoAuthorizer(), tmp_path)


# --- run: start and wait, one exit code per outcome ---------------------------------------------------


def test_iam_caller_runs_to_completion_and_exits_0(iam: Stack) -> None:
    result = iam.cli("run", iam.request(["img/a.gif", "img/b.gif"]), "--region", "us-east-1", *FAST)
    assert result.code == ExitCode.STORED, result
    assert "SUCCEEDED, 2 stored, 0 failed of 2" in result.out
    assert "started arn:aws:states:us-east-1:" in result.err
    assert [status for method, _, status in iam.api.log if method == "POST"] == [200]


def test_jwt_caller_runs_to_completion(oidc: Stack) -> None:
    request = oidc.request(["img/a.gif"])
    result = oidc.cli("run", request, *FAST, auth="JWT", token=oidc.jwt.token())
    assert result.code == ExitCode.STORED, result
    assert "SUCCEEDED, 1 stored, 0 failed of 1" in result.out


def test_jwt_caller_gets_exit_1_and_the_report_for_a_404(oidc: Stack) -> None:
    token = oidc.jwt.token()
    request = oidc.request(["img/a.gif", "img/missing.gif"])
    result = oidc.cli("run", request, *FAST, "--idempotency-key", "with-404", auth="JWT", token=token)
    assert result.code == ExitCode.IMAGES_FAILED, result
    assert "FAILED, 1 stored, 1 failed of 2 [ImagesFailed]" in result.out
    assert "image-downloader report with-404" in result.err

    saved = oidc.tmp_path / "report.json"
    report = oidc.cli("report", "with-404", "--out", str(saved), auth="JWT", token=token)
    assert report.code == 0, report
    failures = json.loads(saved.read_text())["failures"]
    assert [failure["url"] for failure in failures] == [oidc.images.url("/img/missing.gif")]
    assert "404" in json.dumps(failures)

    nowhere = oidc.tmp_path / "no-such-folder" / "report.json"
    unwritable = oidc.cli("report", "with-404", "--out", str(nowhere), auth="JWT", token=token)
    assert unwritable.code == ExitCode.CLIENT_ERROR
    assert (
        unwritable.err
        == f"image-downloader: cannot write the report to {nowhere}: No such file or directory\n"
    )


def test_an_invalid_request_exits_2_with_the_validation_message(open_api: Stack) -> None:
    request = open_api.request(["../etc/passwd"])
    result = open_api.cli("run", request, *FAST, auth="NONE")
    assert result.code == ExitCode.INVALID_REQUEST, result
    assert "[InvalidInput]" in result.out and "must not contain '..'" in result.out


def test_a_request_file_that_is_not_json_exits_2_before_anything_is_sent(open_api: Stack) -> None:
    broken = open_api.tmp_path / "broken.json"
    broken.write_text('{"baseUrl": ')
    result = open_api.cli("start", str(broken), auth="NONE")
    assert result.code == ExitCode.INVALID_REQUEST
    assert "broken.json: not valid JSON" in result.err
    assert open_api.api.log == []


def test_an_execution_stopped_while_waiting_exits_3(open_api: Stack) -> None:
    slow = open_api.slow_image(delay=1.5)
    started = open_api.cli("start", open_api.request([slow]), auth="NONE")
    assert started.code == 0, started
    name = started.out.strip()
    deadline = time.monotonic() + 30
    while not open_api.images.hits(slow):
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.05)
    arn = f"{open_api.deployment.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    open_api.deployment.client("stepfunctions").stop_execution(executionArn=arn, cause="stopped by a test")
    result = open_api.cli("wait", name, *FAST, auth="NONE")
    assert result.code == ExitCode.EXECUTION_FAILED, result
    # AWS ends it ABORTED; moto's inline Map turns the stop into a States.Runtime failure. Both are "the
    # execution failed otherwise".
    assert f"{name}: ABORTED" in result.out or f"{name}: FAILED [States.Runtime]" in result.out, result.out


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ({"status": "SUCCEEDED"}, ExitCode.STORED),
        ({"status": "FAILED", "error": "ImagesFailed"}, ExitCode.IMAGES_FAILED),
        ({"status": "FAILED", "error": "InvalidInput"}, ExitCode.INVALID_REQUEST),
        ({"status": "FAILED", "error": "States.Runtime"}, ExitCode.EXECUTION_FAILED),
        ({"status": "FAILED", "error": "States.TaskFailed"}, ExitCode.EXECUTION_FAILED),
        ({"status": "TIMED_OUT", "error": "States.Timeout"}, ExitCode.EXECUTION_FAILED),
        ({"status": "ABORTED"}, ExitCode.EXECUTION_FAILED),
        ({"status": "RUNNING"}, ExitCode.STILL_RUNNING),
        ({"status": "PENDING_REDRIVE"}, ExitCode.STILL_RUNNING),
    ],
)
def test_each_end_of_an_execution_has_its_exit_code(status: dict[str, str], code: ExitCode) -> None:
    assert exit_code_of(status) == code


def test_still_running_when_the_timeout_runs_out_exits_5(open_api: Stack) -> None:
    started = open_api.cli("start", open_api.request([open_api.slow_image(delay=1.5)]), auth="NONE")
    name = started.out.strip()
    result = open_api.cli("wait", name, "--timeout", "0.2", "--interval", "0.05", auth="NONE")
    assert result.code == ExitCode.STILL_RUNNING, result
    assert f"image-downloader wait {name}" in result.out
    status = open_api.cli("status", name, "--json", auth="NONE")
    assert status.code in (ExitCode.STILL_RUNNING, ExitCode.STORED)
    assert status.json()["name"] == name


# --- authorization and connection errors: exit 4 ------------------------------------------------------


def test_a_wrong_secret_key_is_refused_by_the_authorizer_and_exits_4(iam: Stack) -> None:
    with mock.patch.dict(os.environ, {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}):
        result = iam.cli("start", iam.request(["img/a.gif"]), "--region", "us-east-1")
    assert result.code == ExitCode.CLIENT_ERROR
    assert "403" in result.err and "signature" in result.err
    assert iam.executions() == []
    assert [status for method, _, status in iam.api.log if method == "POST"] == [403], "a 403 is not retried"


def test_the_signature_covers_every_header_sent_but_hop_by_hop_ones_and_user_agent(iam: Stack) -> None:
    assert iam.cli("start", iam.request(["img/a.gif"]), "--region", "us-east-1").code == ExitCode.STORED
    (headers,) = iam.api.received
    signed = re.search(r"SignedHeaders=([^,]+)", headers["Authorization"]).group(1).split(";")
    sent = {name.lower() for name in headers} | {"host"}
    assert set(signed) == sent - {"authorization", "connection", "user-agent"}
    assert {"idempotency-key", "content-type", "content-length", "x-amz-security-token"} <= set(signed)


def test_a_request_signed_for_another_region_is_refused(iam: Stack) -> None:
    result = iam.cli("start", iam.request(["img/a.gif"]), "--region", "eu-west-1")
    assert (result.code, iam.executions()) == (ExitCode.CLIENT_ERROR, [])


def test_an_expired_or_foreign_token_is_refused_and_exits_4(oidc: Stack) -> None:
    request = oidc.request(["img/a.gif"])
    expired = oidc.cli("start", request, auth="JWT", token=oidc.jwt.token(exp=1))
    foreign = oidc.cli("start", request, auth="JWT", token=JwtIssuer().token())
    other_audience = oidc.cli("start", request, auth="JWT", token=oidc.jwt.token(aud="someone-else"))
    assert [expired.code, foreign.code, other_audience.code] == [ExitCode.CLIENT_ERROR] * 3
    assert "401" in expired.err
    assert oidc.executions() == []


def test_jwt_without_a_token_exits_4_before_sending(oidc: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGE_DOWNLOADER_TOKEN", raising=False)
    result = oidc.cli("start", oidc.request(["img/a.gif"]), auth="JWT")
    assert result.code == ExitCode.CLIENT_ERROR
    assert "needs a token" in result.err
    assert oidc.api.log == []


def test_a_usage_error_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait"]) == ExitCode.CLIENT_ERROR
    assert "name" in capsys.readouterr().err


def test_status_of_an_unknown_execution_exits_4(open_api: Stack) -> None:
    result = open_api.cli("status", "never-started", auth="NONE")
    assert result.code == ExitCode.CLIENT_ERROR
    assert "no execution named 'never-started'" in result.err


# --- retries: bounded, with backoff, only where a retry can help -----------------------------------


def _posts(stack: Stack) -> list[int]:
    return [status for method, _, status in stack.api.log if method == "POST"]


def test_a_503_is_retried_and_the_signed_start_succeeds(iam: Stack) -> None:
    iam.api.faults.append(Fault(503))
    result = iam.cli("start", iam.request(["img/a.gif"]), "--region", "us-east-1")
    assert result.code == ExitCode.STORED, result
    # The repeated request carries the same signature, which still verifies.
    assert _posts(iam) == [503, 200]
    assert "POST /executions: answered 503; retry 1 of 5 in 0 s" in result.err
    assert len(iam.executions()) == 1


def test_a_502_of_the_status_poll_is_retried(open_api: Stack) -> None:
    started = open_api.cli("start", open_api.request(["img/a.gif"]), auth="NONE")
    open_api.api.faults += [Fault(502), Fault(504)]
    result = open_api.cli("wait", started.out.strip(), *FAST, auth="NONE")
    assert result.code == ExitCode.STORED, result
    assert [status for method, _, status in open_api.api.log if method == "GET"][:3] == [502, 504, 200]


def test_a_status_poll_out_of_retries_says_how_to_follow_on(open_api: Stack) -> None:
    name = open_api.cli("start", open_api.request(["img/a.gif"]), auth="NONE").out.strip()
    open_api.api.faults += [Fault(503)] * 2
    result = open_api.cli("wait", name, *FAST, "--retries", "1", auth="NONE")
    assert result.code == ExitCode.CLIENT_ERROR, result
    assert result.err.splitlines()[-1] == (
        f"image-downloader: GET /executions/{name} answered 503: fault 503 of the stand-in (retries used up; "
        f"try again later) (the execution keeps running: `image-downloader wait {name}` follows it)"
    )


def test_a_start_whose_answer_was_lost_is_retried_into_the_same_execution(open_api: Stack) -> None:
    # The execution started, then the gateway answered 504: the repeated POST names the same execution.
    open_api.api.faults.append(Fault(504, after_handling=True))
    result = open_api.cli("run", open_api.request(["img/a.gif"]), *FAST, auth="NONE")
    assert result.code == ExitCode.STORED, result
    assert _posts(open_api) == [504, 200]
    assert len(open_api.executions()) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, ExitCode.INVALID_REQUEST),
        (401, ExitCode.CLIENT_ERROR),
        (403, ExitCode.CLIENT_ERROR),
        (404, ExitCode.CLIENT_ERROR),
        (500, ExitCode.CLIENT_ERROR),
    ],
)
def test_other_4xx_and_500_are_not_retried(open_api: Stack, status: int, code: ExitCode) -> None:
    open_api.api.faults.append(Fault(status))
    result = open_api.cli("start", open_api.request(["img/a.gif"]), auth="NONE")
    assert result.code == code, result
    assert _posts(open_api) == [status]
    assert f"answered {status}" in result.err and "retry" not in result.err
    assert open_api.executions() == []


def test_retry_after_is_waited_for(open_api: Stack) -> None:
    open_api.api.faults.append(Fault(429, {"Retry-After": "1"}))
    result = open_api.cli("start", open_api.request(["img/a.gif"]), auth="NONE")
    assert result.code == ExitCode.STORED, result
    assert _posts(open_api) == [429, 200]
    assert "answered 429; retry 1 of 5 in 1 s" in result.err
    # Without the header the first retry goes at once (urllib3's backoff starts at 0).
    first, second = open_api.api.arrivals
    assert second - first >= 1.0


def test_a_retry_after_over_30_s_ends_the_retries(open_api: Stack) -> None:
    open_api.api.faults.append(Fault(503, {"Retry-After": "3600"}))
    result = open_api.cli("start", open_api.request(["img/a.gif"]), auth="NONE")
    assert result.code == ExitCode.CLIENT_ERROR, result
    assert _posts(open_api) == [503]
    assert (
        "answered 503" in result.err and "it asks to be retried after 3600 s; try again later" in result.err
    )


def test_retries_are_bounded_and_the_last_answer_is_reported(open_api: Stack) -> None:
    open_api.api.faults += [Fault(503)] * 4
    result = open_api.cli("start", open_api.request(["img/a.gif"]), "--retries", "2", auth="NONE")
    assert result.code == ExitCode.CLIENT_ERROR, result
    assert _posts(open_api) == [503, 503, 503]
    assert result.err.count("; retry ") == 2
    assert "POST /executions answered 503" in result.err and "retries used up" in result.err
    assert "Traceback" not in result.err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_exits_4_after_bounded_retries(tmp_path: Path) -> None:
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"baseUrl": "https://example.com/", "resourcePaths": ["a"]}))
    url = f"http://127.0.0.1:{_closed_port()}"
    out, err = io.StringIO(), io.StringIO()
    code = main(["start", str(request), "--url", url, "--auth", "NONE", "--retries", "2"], Terminal(out, err))
    lines = err.getvalue().splitlines()
    assert code == ExitCode.CLIENT_ERROR
    assert [line.split(";")[-1] for line in lines[:-1]] == [" retry 1 of 2 in 0 s", " retry 2 of 2 in 1 s"]
    assert lines[-1].startswith(f"image-downloader: cannot reach {url}/executions: ")
    assert all("Connection refused" in line for line in lines)


# --- proxies and CA bundles, by requests' conventions --------------------------------------------


def test_http_proxy_carries_the_calls_and_no_proxy_bypasses_it(
    open_api: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = open_api.request(["img/a.gif"])
    # A host no resolver knows: only the proxy (the stand-in, which takes absolute-form targets) reaches it.
    monkeypatch.setenv("HTTP_PROXY", open_api.api.url)
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", request, *FAST, "--url", "http://api.invalid", "--auth", "NONE"]
    code = main(argv, Terminal(out, err))
    assert code == ExitCode.STORED, err.getvalue()
    assert open_api.api.targets[0] == "http://api.invalid/executions"

    closed = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", closed)
    through = open_api.cli("start", request, "--retries", "0", auth="NONE")
    assert through.code == ExitCode.CLIENT_ERROR
    assert "through the proxy" in through.err and "NO_PROXY" in through.err
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = open_api.cli("start", request, "--retries", "0", auth="NONE")
    assert direct.code == ExitCode.STORED, direct


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, Any] | None) -> Any:
    """A CA certificate (issuer None), or a server certificate for 127.0.0.1 signed by issuer."""
    now = datetime.now(UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def test_an_api_behind_a_private_ca_needs_requests_ca_bundle(
    open_api: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, None)
    server = _certificate("127.0.0.1", server_key, ("test CA", ca_key))
    bundle, chain, key = (open_api.tmp_path / name for name in ("ca.pem", "server.pem", "server.key"))
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    tls_api = dataclasses.replace(
        open_api.api, url="", log=[], targets=[], arrivals=[], received=[], faults=[]
    )
    request = open_api.request(["img/a.gif"])
    with serving(tls_api, tls=context):
        argv = ["start", request, "--url", tls_api.url, "--auth", "NONE"]
        out, err = io.StringIO(), io.StringIO()
        assert main([*argv, "--retries", "0"], Terminal(out, err)) == ExitCode.CLIENT_ERROR
        assert "TLS verification failed" in err.getvalue() and "REQUESTS_CA_BUNDLE" in err.getvalue()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, Terminal(out, err)) == ExitCode.STORED, err.getvalue()
    assert [status for method, _, status in tls_api.log if method == "POST"] == [200]


# --- idempotent start ------------------------------------------------------------------------------


def test_a_second_start_with_the_same_key_returns_the_first_execution(open_api: Stack) -> None:
    slow = open_api.slow_image(delay=1.0)
    request = open_api.request([slow])
    first = open_api.cli("start", request, "--idempotency-key", "ci-1234-build", "--json", auth="NONE")
    second = open_api.cli("start", request, "--idempotency-key", "ci-1234-build", "--json", auth="NONE")
    assert (first.code, second.code) == (0, 0), (first, second)
    assert first.json() == second.json()
    assert first.json()["name"] == "ci-1234-build"
    assert len(open_api.executions()) == 1
    # Once it has ended, Step Functions refuses the name: the client follows the existing execution.
    assert open_api.cli("wait", "ci-1234-build", *FAST, auth="NONE").code == 0
    third = open_api.cli("run", request, "--idempotency-key", "ci-1234-build", *FAST, auth="NONE")
    assert third.code == ExitCode.STORED, third
    assert "already exists" in third.err
    assert len(open_api.executions()) == 1
    assert open_api.images.hits(slow) == 1


def test_a_retried_ci_job_gets_the_same_execution(open_api: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY_ID", "4242")
    monkeypatch.setenv("GITHUB_RUN_ID", "987654")
    monkeypatch.setenv("GITHUB_JOB", "download")
    request = open_api.request(["img/a.gif"])
    first = open_api.cli("run", request, *FAST, auth="NONE")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    retried = open_api.cli("run", request, *FAST, auth="NONE")
    assert (first.code, retried.code) == (0, 0), (first, retried)
    (execution,) = open_api.executions()
    assert execution["name"].startswith("gh-4242-987654-download-")
    other = open_api.cli("run", open_api.request(["img/b.gif"], name="other.json"), *FAST, auth="NONE")
    assert other.code == 0
    assert len(open_api.executions()) == 2


def test_new_execution_starts_another_one(open_api: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY_ID", "1")
    monkeypatch.setenv("GITHUB_RUN_ID", "2")
    request = open_api.request(["img/a.gif"])
    assert open_api.cli("run", request, *FAST, auth="NONE").code == 0
    assert open_api.cli("run", request, "--new-execution", *FAST, auth="NONE").code == 0
    assert len(open_api.executions()) == 2


def test_an_idempotency_key_that_cannot_be_a_name_is_a_usage_error(open_api: Stack) -> None:
    result = open_api.cli("start", open_api.request(["img/a.gif"]), "--idempotency-key", "a b", auth="NONE")
    assert result.code == ExitCode.CLIENT_ERROR
    assert "argument --idempotency-key: 'a b': use 1-80 letters, digits, '-' or '_'" in result.err
    assert open_api.api.log == []


# --- the request from flags, and the help ------------------------------------------------------------


def test_the_request_can_come_from_flags(open_api: Stack) -> None:
    result = open_api.cli(
        "run", "--base-url", open_api.images.base_url, "--path", "img/a.gif", "--lambda-concur", "1", *FAST,
        auth="NONE",
    )  # fmt: skip
    assert result.code == 0, result
    assert "1 stored" in result.out


def test_help_lists_the_subcommands_and_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("start", "wait", "status", "report", "run"):
        assert command in text
    for code in range(6):
        assert f"\n  {code}  " in text


# --- incremental and retry runs, end to end ---------------------------------------------------------


def test_retry_failures_of_downloads_only_what_failed_and_skip_existing_downloads_nothing(
    open_api: Stack,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ready, late = f"img/ready-{tag}.gif", f"img/late-{tag}.gif"
    open_api.images.add_image(ready)
    first = open_api.cli(
        "run", open_api.request([ready, late]), "--idempotency-key", f"first-{tag}", *FAST, auth="NONE"
    )
    assert first.code == ExitCode.IMAGES_FAILED, first

    open_api.images.add_image(late)
    retry = open_api.tmp_path / "retry.json"
    retry.write_text(json.dumps({"retryFailuresOf": f"first-{tag}", "lambdaConcur": 2}))
    retried = open_api.cli("run", str(retry), *FAST, auth="NONE")
    assert retried.code == ExitCode.STORED, retried
    assert "1 stored, 0 failed of 1" in retried.out
    assert (open_api.images.hits(ready), open_api.images.hits(late)) == (1, 2)

    again = open_api.request([ready, late], name="again.json", skipExisting=True)
    skipped = open_api.cli("run", again, "--json", *FAST, auth="NONE")
    assert skipped.code == ExitCode.STORED, skipped
    assert skipped.json()["counts"] == {"requested": 0, "succeeded": 0, "failed": 0, "skipped": 2}
    assert (open_api.images.hits(ready), open_api.images.hits(late)) == (1, 2)


def test_retry_failures_of_an_execution_without_a_report_is_an_invalid_request(open_api: Stack) -> None:
    retry = open_api.tmp_path / "retry.json"
    retry.write_text(json.dumps({"retryFailuresOf": "never-ran", "lambdaConcur": 2}))
    result = open_api.cli("run", str(retry), *FAST, auth="NONE")
    assert result.code == ExitCode.INVALID_REQUEST, result
    assert "retryFailuresOf: execution 'never-ran' has no report" in result.out


def test_a_request_over_the_execution_input_limit_goes_to_the_inputs_prefix_by_reference() -> None:
    paths = [f"flags/{index:06d}/flag-with-a-long-name.gif" for index in range(8000)]
    document = {"baseUrl": "https://example.com/", "resourcePaths": paths, "lambdaConcur": 4}
    uploads: dict[str, bytes] = {}

    def upload(bucket: str, key: str, body: bytes) -> None:
        uploads[f"s3://{bucket}/{key}"] = body

    small = {**document, "resourcePaths": paths[:10]}
    assert by_reference(small, "bucket", "inputs/", "run-1", upload) == small
    moved = by_reference(document, "bucket", "inputs/", "run-1", upload)
    assert moved == {
        "baseUrl": "https://example.com/",
        "lambdaConcur": 4,
        "resourcePathsFrom": "s3://bucket/inputs/run-1.json",
    }
    assert json.loads(uploads["s3://bucket/inputs/run-1.json"]) == paths
    with pytest.raises(RequestError, match="over the 256 KiB execution input limit: give --inputs-bucket"):
        by_reference(document, None, "inputs/", "run-1", upload)
