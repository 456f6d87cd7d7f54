"""scripts/invoke.py, the client of the deployed API: against a real local HTTP server standing in for
API Gateway, and a scripted DescribeExecution."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tools.tfdocs import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "invoke.py"
SUCCESS = REPO_ROOT / "examples" / "inputs" / "success.json"
EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:image-downloader:0f1e2d3c"


def load_invoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("invoke_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


invoke = load_invoke()


@dataclass
class FakeApi:
    """An HTTP server answering POST /executions the way the StartExecution integration does."""

    status: int = 200
    answer: dict = field(default_factory=lambda: {"executionArn": EXECUTION_ARN, "startDate": 1.7e9})
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fake.requests.append((self.path, dict(self.headers.items()), body))
            payload = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/executions"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


class ScriptedStepFunctions:
    """DescribeExecution answering the given statuses in turn (the last one forever)."""

    def __init__(self, *descriptions: dict) -> None:
        self.descriptions = list(descriptions)
        self.calls: list[str] = []

    def describe_execution(self, executionArn: str) -> dict:
        self.calls.append(executionArn)
        return self.descriptions.pop(0) if len(self.descriptions) > 1 else self.descriptions[0]


def test_unsigned_request_posts_the_body_and_prints_the_execution_arn(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main([str(SUCCESS), "--url", api.url, "--auth", "NONE"]) == 0
    assert capsys.readouterr().out.strip() == EXECUTION_ARN
    ((path, headers, body),) = api.requests
    assert path == "/executions"
    assert json.loads(body) == json.loads(SUCCESS.read_text())
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers


def test_aws_iam_request_is_signed_for_execute_api_in_the_given_region(api: FakeApi) -> None:
    assert invoke.main([str(SUCCESS), "--url", api.url, "--auth", "AWS_IAM", "--region", "eu-west-1"]) == 0
    ((_, headers, _),) = api.requests
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "testing"
    assert "X-Amz-Date" in headers


def test_region_is_read_from_an_execute_api_url() -> None:
    assert (
        invoke.region_from_url("https://a1b2c3.execute-api.ap-south-2.amazonaws.com/executions")
        == "ap-south-2"
    )
    assert invoke.region_from_url("http://127.0.0.1:8080/executions") is None


def test_jwt_request_carries_the_bearer_token(api: FakeApi) -> None:
    assert invoke.main([str(SUCCESS), "--url", api.url, "--auth", "JWT", "--token", "t0k3n"]) == 0
    ((_, headers, _),) = api.requests
    assert headers["Authorization"] == "Bearer t0k3n"


def test_jwt_without_a_token_is_refused_before_sending(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGE_DOWNLOADER_TOKEN", raising=False)
    assert invoke.main([str(SUCCESS), "--url", api.url, "--auth", "JWT"]) == 2
    assert "needs --token" in capsys.readouterr().err
    assert api.requests == []


def test_a_refused_request_exits_2_with_the_api_answer(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.status, api.answer = 403, {"message": "Forbidden"}
    assert invoke.main([str(SUCCESS), "--url", api.url, "--auth", "NONE"]) == 2
    assert "403" in capsys.readouterr().err


def test_a_body_that_is_not_json_is_refused_before_sending(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"baseUrl": ')
    assert invoke.main([str(broken), "--url", api.url, "--auth", "NONE"]) == 2
    assert "broken.json" in capsys.readouterr().err
    assert api.requests == []


def test_wait_polls_until_the_execution_succeeds(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    client = ScriptedStepFunctions(
        {"status": "RUNNING"},
        {"status": "SUCCEEDED", "output": '{"allSucceeded": true}'},
    )
    argv = [str(SUCCESS), "--url", api.url, "--auth", "NONE", "--wait", "--interval", "0"]
    assert invoke.main(argv, client_factory=lambda arn: client) == 0
    assert client.calls == [EXECUTION_ARN, EXECUTION_ARN]
    out = capsys.readouterr().out
    assert "status: SUCCEEDED" in out and '"allSucceeded": true' in out


def test_wait_exits_1_when_the_execution_fails_and_shows_the_cause(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    client = ScriptedStepFunctions(
        {"status": "FAILED", "error": "DownloadsFailed", "cause": "1 of 21 images failed: zz/zz.gif"}
    )
    argv = [str(SUCCESS), "--url", api.url, "--auth", "NONE", "--wait", "--interval", "0"]
    assert invoke.main(argv, client_factory=lambda arn: client) == 1
    captured = capsys.readouterr()
    assert "cause: 1 of 21 images failed: zz/zz.gif" in captured.out
    assert "expected SUCCEEDED" in captured.err


def test_an_expected_failure_exits_0(api: FakeApi) -> None:
    client = ScriptedStepFunctions({"status": "FAILED", "error": "DownloadsFailed"})
    argv = [str(SUCCESS), "--url", api.url, "--auth", "NONE", "--wait", "--expect", "FAILED"]
    assert invoke.main(argv, client_factory=lambda arn: client) == 0


def test_wait_gives_up_after_the_timeout() -> None:
    client = ScriptedStepFunctions({"status": "RUNNING"})
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    description = invoke.wait_for_execution(
        client, EXECUTION_ARN, timeout=30, interval=10, sleep=sleep, clock=lambda: now[0]
    )
    assert description["status"] == "RUNNING"
    assert len(client.calls) == 4


def test_wait_shows_progress_while_the_execution_runs() -> None:
    client = ScriptedStepFunctions({"status": "RUNNING"}, {"status": "RUNNING"}, {"status": "SUCCEEDED"})
    now = [0.0]
    polls: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    invoke.wait_for_execution(
        client,
        EXECUTION_ARN,
        timeout=60,
        interval=5,
        sleep=sleep,
        clock=lambda: now[0],
        on_poll=lambda status, elapsed: polls.append((status, elapsed)),
    )
    assert polls == [("RUNNING", 0.0), ("RUNNING", 5.0), ("SUCCEEDED", 10.0)]


def test_url_and_authorization_come_from_terraform_outputs(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_terraform = tmp_path / "bin" / "terraform"
    fake_terraform.parent.mkdir()
    outputs = {"executions_url": {"value": api.url}, "api_authorization_type": {"value": "NONE"}}
    fake_terraform.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n")
    fake_terraform.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_terraform.parent}:/usr/bin:/bin")
    monkeypatch.delenv("IMAGE_DOWNLOADER_URL", raising=False)
    monkeypatch.delenv("IMAGE_DOWNLOADER_AUTH", raising=False)
    assert invoke.main([str(SUCCESS), "--terraform-dir", str(tmp_path)]) == 0
    ((_, headers, _),) = api.requests
    assert "Authorization" not in headers


def test_the_script_runs_standalone(api: FakeApi) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), str(SUCCESS), "--url", api.url, "--auth", "NONE"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (completed.returncode, completed.stdout.strip()) == (0, EXECUTION_ARN)
