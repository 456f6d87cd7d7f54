"""A local run keeps its results in a folder of its own: images, report.json, records.jsonl, request.json
and path.md; no run replaces another; ``make run`` passes OUT= and ALLOW_PRIVATE=1 through."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from image_downloader.failure_lines import TIMES
from local_runner.__main__ import main
from local_runner.history import execution_path
from local_runner.results import local_names
from local_runner.sample_images import flag_gif, sample_set
from tests.support.image_server import ImageServer
from tools.mermaid import exits, flowchart, load_definition

REPO_ROOT = Path(__file__).resolve().parent.parent


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()
    }


def execution_name(printed: str) -> str:
    match = re.search(r"^Execution  (\S+):", printed, re.MULTILINE)
    assert match, printed
    return match.group(1)


def request_file(tmp_path: Path, base_url: str, paths: list[str]) -> Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"baseUrl": base_url, "resourcePaths": paths, "lambdaConcur": 4}))
    return path


def read_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def test_two_runs_keep_both_runs_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["--quiet"]) == 0
    first = tmp_path / "downloads" / execution_name(capsys.readouterr().out)
    first_files = files_of(first)
    assert main(["--quiet"]) == 0
    second = tmp_path / "downloads" / execution_name(capsys.readouterr().out)

    assert first != second
    assert sorted(path.name for path in (tmp_path / "downloads").iterdir()) == sorted(
        [first.name, second.name]
    )
    assert files_of(first) == first_files
    for folder in (first, second):
        saved = files_of(folder)
        assert {name: body for name, body in saved.items() if name.endswith(".gif")} == {
            f"images/127.0.0.1/{path}": body for path, body in sample_set().items()
        }
        assert {"report.json", "records.jsonl", "request.json", "path.md"} <= set(saved)
        report = json.loads(saved["report.json"])
        assert (report["executionName"], report["status"]) == (folder.name, "SUCCEEDED")
        assert (report["succeeded"], report["failures"]) == (20, [])
        records = read_records(folder)
        assert len(records) == 20
        assert all(record["executionId"].endswith(folder.name) for record in records)


def test_folder_names_leave_out_the_local_servers_port() -> None:
    names = local_names(
        ["http/127.0.0.1:41783/cn/cn.gif", "https/example.com/a.gif", "http/[::1]:8080/b.gif"]
    )
    assert names == {
        "http/127.0.0.1:41783/cn/cn.gif": "127.0.0.1/cn/cn.gif",
        "https/example.com/a.gif": "example.com/a.gif",
        "http/[::1]:8080/b.gif": "[::1]/b.gif",
    }
    two_ports = local_names(["http/h:1/x.gif", "http/h:2/x.gif", "http/h/y.gif"])
    assert two_ports == {
        "http/h:1/x.gif": "h_1/x.gif",
        "http/h:2/x.gif": "h_2/x.gif",
        "http/h/y.gif": "h/y.gif",
    }
    two_schemes = local_names(["http/h/x.gif", "https/h/x.gif"])
    assert two_schemes == {"http/h/x.gif": "h_http/x.gif", "https/h/x.gif": "h_https/x.gif"}


def test_local_names_never_give_two_urls_one_file() -> None:
    keys = ["http/h/ok.gif?a", "http/h/ok.gif%3Fa", "http/h/x.gif?a/../../b", "http/h/x.gif?a%2F..%2F..%2Fb"]
    names = local_names(keys)
    assert len(set(names.values())) == len(keys)
    assert all(".." not in name.split("/") for name in names.values())


def test_allow_private_addresses_lets_the_run_fetch_from_a_local_server(
    tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = ["a/x.gif", "b/x.gif"]
    for path in paths:
        image_server.add_image(path)
    request = request_file(tmp_path, image_server.base_url, paths)
    out = tmp_path / "run"

    exit_code = main(["--input", str(request), "--allow-private-addresses", "--out", str(out), "--quiet"])

    assert exit_code == 0, capsys.readouterr().out
    assert image_server.hits("a/x.gif") == image_server.hits("b/x.gif") == 1
    for path in paths:
        assert (out / "images" / "127.0.0.1" / path).read_bytes() == flag_gif(path)
    assert json.loads((out / "request.json").read_text())["baseUrl"] == image_server.base_url


def test_without_the_opt_out_the_guard_refuses_the_local_server_and_says_why(
    tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image_server.add_image("a/x.gif")
    request = request_file(tmp_path, image_server.base_url, ["a/x.gif"])
    out = tmp_path / "run"

    exit_code = main(["--input", str(request), "--out", str(out), "--quiet"])

    assert exit_code == 1
    assert image_server.hits("a/x.gif") == 0
    failures = json.loads((out / "report.json").read_text())["failures"]
    assert [(failure["url"], failure["kind"]) for failure in failures] == [
        (image_server.url("a/x.gif"), "blocked")
    ]
    assert "127.0.0.1" in failures[0]["reason"]
    assert not (out / "images").exists() or files_of(out / "images") == {}


def test_report_json_holds_every_failure_with_its_reason_beyond_the_listed_ones(
    tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image_server.add_image("ok.gif")
    missing = [f"missing/{index:02d}.gif" for index in range(55)]
    request = request_file(tmp_path, image_server.base_url, ["ok.gif", *missing])
    out = tmp_path / "run"

    exit_code = main(["--input", str(request), "--allow-private-addresses", "--out", str(out), "--quiet"])

    printed = capsys.readouterr().out
    assert exit_code == 1
    report = json.loads((out / "report.json").read_text())
    assert (report["status"], report["error"], report["failed"]) == ("FAILED", "ImagesFailed", 55)
    assert {failure["url"] for failure in report["failures"]} == {image_server.url(path) for path in missing}
    assert all(failure["reason"] == "404 Not Found" for failure in report["failures"])
    assert (
        f"Failed     55 {TIMES} 404 Not Found  {image_server.url('missing/00.gif')} and 54 more\n" in printed
    )
    assert f"every failure with its reason: {out / 'report.json'}" in printed
    assert [record["url"] for record in read_records(out)] == [image_server.url("ok.gif")]


def test_an_invalid_request_is_kept_with_the_fields_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = request_file(tmp_path, "ftp://example.com/", [])
    out = tmp_path / "run"

    assert main(["--input", str(request), "--out", str(out), "--quiet"]) == 2

    report = json.loads((out / "report.json").read_text())
    assert report["error"] == "InvalidInput"
    assert "resourcePaths: must not be empty" in report["invalidFields"]
    assert any(field.startswith("baseUrl: must start with http") for field in report["invalidFields"])
    assert read_records(out) == []


def test_a_chosen_folder_that_holds_files_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "report.json").write_text("an earlier run's report")

    assert main(["--out", str(out), "--quiet"]) == 2

    captured = capsys.readouterr()
    assert "already holds files" in captured.err and str(out) in captured.err
    assert "Execution" not in captured.out
    assert files_of(out) == {"report.json": b"an earlier run's report"}


def top_level_path(path_md: str) -> list[str]:
    table = path_md.split("```text\n")[1].split("```")[0]
    return [line.split()[1] for line in table.splitlines()]


def allowed(definition: Mapping, source: str, target: str) -> bool:
    return any(way.target == target for way in exits(definition["States"][source]))


@pytest.mark.parametrize(
    ("arguments", "final_type"),
    [([], "Succeed"), (["--input", str(REPO_ROOT / "examples/inputs/fail.json"), "--samples"], "Fail")],
    ids=["succeeded", "failed"],
)
def test_path_md_follows_the_state_machine_from_its_start_to_the_end_of_the_run(
    tmp_path: Path, arguments: list[str], final_type: str
) -> None:
    out = tmp_path / "run"
    main([*arguments, "--out", str(out), "--quiet"])
    definition = load_definition()

    path_md = (out / "path.md").read_text()
    states = top_level_path(path_md)

    assert states[0] == definition["StartAt"]
    assert definition["States"][states[-1]]["Type"] == final_type
    for source, target in itertools.pairwise(states):
        assert allowed(definition, source, target), f"{source} -> {target} is not a transition of the ASL"
    diagram = path_md.split("```mermaid\n")[1]
    visited = re.search(r"^    class (\S+) visited$", diagram, re.MULTILINE).group(1).split(",")
    assert set(states) <= set(visited)
    assert "linkStyle " in diagram


def make_dry_run(*arguments: str) -> list[str]:
    """The commands ``make -n`` would run, whether or not this test itself runs under make."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", "-n", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


def runner_command(lines: list[str]) -> list[str]:
    return next(line.split() for line in lines if " -m local_runner" in line)


def test_make_run_passes_out_allow_private_and_log_level_to_the_runner() -> None:
    command = runner_command(
        make_dry_run("run", "OUT=/tmp/my-run", "ALLOW_PRIVATE=1", "INPUT=my.json", "LOG_LEVEL=DEBUG")
    )

    assert " ".join(command[1:]) == (
        "-m local_runner --input my.json --out /tmp/my-run --allow-private-addresses --log-level DEBUG"
    )
    assert runner_command(make_dry_run("run"))[1:] == ["-m", "local_runner"]
    hosts = runner_command(make_dry_run("run", "ALLOWED_HOSTS=example.com,127.0.0.1"))
    assert hosts[1:] == ["-m", "local_runner", "--allowed-hosts", "example.com,127.0.0.1"]


def test_the_first_run_says_what_it_installs_before_pip_starts(tmp_path: Path) -> None:
    lines = make_dry_run("run", f"VENV={tmp_path}/.venv")

    pip = next(index for index, line in enumerate(lines) if "pip install" in line)
    announcements = [line for line in lines[:pip] if line.startswith("echo ")]
    assert len(announcements) == 1
    assert "requirements-dev.txt" in announcements[0] and "moto" in announcements[0]


def event(number: int, previous: int, kind: str, seconds: float, **details: object) -> dict:
    return {
        "id": number,
        "previousEventId": previous,
        "type": kind,
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
        **details,
    }


def test_the_path_tells_a_caught_error_from_a_normal_transition() -> None:
    machine = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "x",
                "Catch": [{"ErrorEquals": ["E"], "Next": "Explain"}],
                "Next": "Done",
            },
            "Explain": {"Type": "Pass", "Next": "Stop"},
            "Stop": {"Type": "Fail", "Error": "E"},
            "Done": {"Type": "Succeed"},
        },
    }
    events = [
        event(1, 0, "ExecutionStarted", 0.0),
        event(2, 1, "TaskStateEntered", 0.0, stateEnteredEventDetails={"name": "Work"}),
        event(3, 2, "TaskFailed", 0.5, taskFailedEventDetails={"error": "E"}),
        event(4, 3, "TaskStateExited", 0.5, stateExitedEventDetails={"name": "Work"}),
        event(5, 4, "PassStateEntered", 0.5, stateEnteredEventDetails={"name": "Explain"}),
        event(6, 5, "PassStateExited", 0.75, stateExitedEventDetails={"name": "Explain"}),
        event(7, 6, "FailStateEntered", 0.75, stateEnteredEventDetails={"name": "Stop"}),
        event(8, 7, "ExecutionFailed", 0.75, executionFailedEventDetails={"error": "E"}),
    ]

    path = execution_path(events, machine)

    assert path.overlay.transitions == {
        (None, "Work", False),
        ("Work", "Explain", True),
        ("Explain", "Stop", False),
    }
    assert [(step.name, step.seconds, step.note) for step in path.steps] == [
        ("Work", 0.5, ""),
        ("Explain", 0.25, ""),
        ("Stop", None, "E"),
    ]
    assert path.line() == "Work → Explain → Stop (E)"
    diagram = flowchart(machine, path.overlay)
    assert 'Work -.->|"catch E"| Explain' in diagram and "class Work,Explain,Stop visited" in diagram
