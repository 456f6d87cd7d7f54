"""What a user who gets something wrong sees from `image-downloader`: exit code 4 for a usage, URL,
authorization or connection problem (2 for a request that is not a JSON object), and one line on stderr
that says what to do, never a traceback. Each case runs the console entry point in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from image_downloader_client.cli import build_parser
from image_downloader_client.outcome import ExitCode
from tools.tfdocs import REPO_ROOT

REQUEST = {"baseUrl": "https://example.com/", "resourcePaths": ["a.gif"]}
# Nothing listens there; every case below ends before a connection would be tried, or retries none.
CLOSED = "http://127.0.0.1:9"


@dataclass
class Ran:
    code: int
    err: str


def image_downloader(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> Ran:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT / "client"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        **(env or {}),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "image_downloader_client", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return Ran(completed.returncode, completed.stderr)


def assert_one_line(ran: Ran, code: int, *words: str) -> None:
    assert "Traceback" not in ran.err, ran.err
    assert ran.code == code, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def request_file(tmp_path: Path) -> str:
    path = tmp_path / "req.json"
    path.write_text(json.dumps(REQUEST))
    return str(path)


# --- URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not-a-url", "is not an http(s) URL"),
        ("ftp://example.com/", "is not an http(s) URL"),
        ("https://", "is not an http(s) URL"),
        ("http://127.0.0.1:99999", "has no valid port"),
        ("http://exa mple.com", "holds spaces, a query or a fragment"),
    ],
)
def test_an_api_url_that_cannot_be_one_exits_4_before_sending(
    tmp_path: Path, request_file: str, url: str, problem: str
) -> None:
    ran = image_downloader(tmp_path, "run", "--auth", "NONE", "--url", url, request_file)
    assert_one_line(ran, ExitCode.CLIENT_ERROR, f"the API URL {url!r} {problem}", "api_endpoint output")


def test_a_bad_url_from_the_environment_is_named_the_same_way(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", "--auth", "NONE", request_file, env={"IMAGE_DOWNLOADER_URL": "not-a-url"}
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "'not-a-url' is not an http(s) URL", "IMAGE_DOWNLOADER_URL")


def test_no_url_and_no_terraform_outputs_says_where_to_give_one(tmp_path: Path, request_file: str) -> None:
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '{}'\n")
    fake.chmod(0o755)
    ran = image_downloader(tmp_path, "start", "--auth", "NONE", request_file)
    assert_one_line(
        ran,
        ExitCode.CLIENT_ERROR,
        "give --url or set IMAGE_DOWNLOADER_URL",
        "the current folder",
        "--terraform-dir",
    )
    assert "(. has none)" not in ran.err


def test_no_url_and_no_terraform_says_so(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", "--auth", "NONE", request_file, env={"PATH": str(tmp_path / "empty-bin")}
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "IMAGE_DOWNLOADER_URL", "terraform is not on PATH")


def test_every_subcommands_url_help_names_the_variable() -> None:
    commands = next(action for action in build_parser()._actions if action.dest == "command").choices
    for name, parser in commands.items():
        (url,) = [action for action in parser._actions if "--url" in action.option_strings]
        assert "IMAGE_DOWNLOADER_URL" in url.help, name


# --- options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--idempotency-key", "a b"], ["--idempotency-key: 'a b': use 1-80 letters"]),
        (["--idempotency-key", "x" * 81], ["--idempotency-key"]),
        (["--timeout", "nan"], ["--timeout: 'nan' is not a number of seconds"]),
        (["--timeout", "-1"], ["--timeout: '-1' is not a number of seconds"]),
        (["--timeout", "an hour"], ["--timeout: 'an hour' is not a number of seconds"]),
        (["--interval", "inf"], ["--interval: 'inf' is not a number of seconds"]),
        (["--retries", "99"], ["--retries: '99': give a whole number from 0 to 10"]),
        (["--lambda-concur", "many"], ["--lambda-concur"]),
        (["--no-such-option"], ["unrecognized arguments: --no-such-option"]),
    ],
)
def test_a_bad_option_exits_4_in_one_line_pointing_to_the_help(
    tmp_path: Path, request_file: str, argv: list[str], words: list[str]
) -> None:
    ran = image_downloader(tmp_path, "run", request_file, "--auth", "NONE", "--url", CLOSED, *argv)
    assert_one_line(ran, ExitCode.CLIENT_ERROR, *words, "`image-downloader run --help` lists the options")


def test_no_command_or_no_name_exits_4_in_one_line(tmp_path: Path) -> None:
    assert_one_line(image_downloader(tmp_path), ExitCode.CLIENT_ERROR, "arguments are required: COMMAND")
    assert_one_line(image_downloader(tmp_path, "wait"), ExitCode.CLIENT_ERROR, "arguments are required: name")


# --- the request file ---------------------------------------------------------------------------------


def test_a_request_file_that_cannot_be_read_exits_4(tmp_path: Path) -> None:
    missing = image_downloader(tmp_path, "start", "--auth", "NONE", "--url", CLOSED, "nothere.json")
    assert_one_line(missing, ExitCode.CLIENT_ERROR, "nothere.json: no such file", "or - for stdin")
    folder = image_downloader(tmp_path, "start", "--auth", "NONE", "--url", CLOSED, str(tmp_path))
    assert_one_line(folder, ExitCode.CLIENT_ERROR, "is a folder")
    # Root reads a chmod 000 file; /proc/self/mem opens and then fails every read at offset 0.
    unreadable = image_downloader(tmp_path, "start", "--auth", "NONE", "--url", CLOSED, "/proc/self/mem")
    assert_one_line(unreadable, ExitCode.CLIENT_ERROR, "cannot read /proc/self/mem")
    no_stdin = image_downloader(tmp_path, "start", "--auth", "NONE", "--url", CLOSED, "-")
    assert_one_line(no_stdin, ExitCode.INVALID_REQUEST, "the request on stdin is empty")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["is empty: a request is a JSON object such as"]),
        (b"  \n", ["is empty"]),
        (b'{"baseUrl": ', ["not valid JSON"]),
        (b"[1, 2]", ["the request must be a JSON object"]),
        (b"\xff\xfe{}", ["is not UTF-8 text (byte 0)"]),
    ],
)
def test_a_request_file_that_is_not_a_json_object_exits_2(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    ran = image_downloader(tmp_path, "start", "--auth", "NONE", "--url", CLOSED, str(path))
    assert_one_line(ran, ExitCode.INVALID_REQUEST, "bad.json", *words)


# --- authorization ------------------------------------------------------------------------------------


def test_a_token_with_a_line_break_exits_4(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", request_file, "--url", CLOSED, "--auth", "JWT", "--token", "a\nb"
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "the JWT token holds whitespace or a control character")


def test_a_missing_token_file_exits_4(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", request_file, "--url", CLOSED, "--auth", "JWT", "--token-file", "gone.txt"
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "cannot read the token file gone.txt: No such file")


def test_an_aws_profile_that_does_not_exist_exits_4(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", request_file, "--url", CLOSED, "--auth", "AWS_IAM", env={"AWS_PROFILE": "nope"}
    )
    assert_one_line(
        ran, ExitCode.CLIENT_ERROR, "cannot load the AWS credentials", "(nope) could not be found"
    )


def test_no_aws_credentials_exits_4(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path,
        "start",
        request_file,
        "--url",
        CLOSED,
        "--auth",
        "AWS_IAM",
        env={"AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "no AWS credentials found", "--auth JWT")


def test_an_unknown_auth_type_exits_4(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(tmp_path, "start", request_file, "--url", CLOSED, "--auth", "KERBEROS")
    assert_one_line(ran, ExitCode.CLIENT_ERROR, "unknown authorization type 'KERBEROS'", "AWS_IAM, JWT, NONE")


# --- connection ---------------------------------------------------------------------------------------


def test_a_refused_connection_exits_4_without_a_traceback(tmp_path: Path, request_file: str) -> None:
    ran = image_downloader(
        tmp_path, "start", request_file, "--url", CLOSED, "--auth", "NONE", "--retries", "0"
    )
    assert_one_line(ran, ExitCode.CLIENT_ERROR, f"cannot reach {CLOSED}/executions", "Connection refused")
