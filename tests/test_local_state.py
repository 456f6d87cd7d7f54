"""A local deployment that persists: the bucket and table outlive a run (``--state``), so skipExisting,
retryFailuresOf and resourcePathsFrom work across two local runs as on AWS; ``--fresh`` starts empty
(issue 21, item 1)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from local_runner.__main__ import main
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer

ROOT = Path(__file__).resolve().parent.parent


class Runs:
    def __init__(self, tmp_path: Path, server: ImageServer, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.capsys = capsys
        self.state = tmp_path / "state"
        self.count = 0

    def run(self, *extra: str, **fields: object) -> tuple[int, str, str, Path]:
        """(exit code, stdout, stderr, run folder) of one local run of a request with ``fields``."""
        self.count += 1
        request = self.tmp_path / f"request-{self.count}.json"
        request.write_text(json.dumps({"baseUrl": self.server.base_url, "lambdaConcur": 2, **fields}))
        out = self.tmp_path / f"run-{self.count}"
        arguments = ["--input", str(request), "--allow-private-addresses", "--out", str(out), "--quiet"]
        code = main([*arguments, "--state", str(self.state), *extra])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err, out


@pytest.fixture
def runs(tmp_path: Path, image_server: ImageServer, capsys: pytest.CaptureFixture[str]) -> Runs:
    for path in ("a.gif", "b.gif"):
        image_server.add_image(path)
    return Runs(tmp_path, image_server, capsys)


def execution_name(printed: str) -> str:
    match = re.search(r"^Execution  (\S+):", printed, re.MULTILINE)
    assert match, printed
    return match.group(1)


def test_skip_existing_skips_what_an_earlier_run_stored(runs: Runs) -> None:
    assert runs.run(resourcePaths=["a.gif", "b.gif"])[0] == 0

    code, printed, err, out = runs.run(resourcePaths=["a.gif", "b.gif"], skipExisting=True)

    assert code == 0, printed
    assert re.search(r"\(\d+ objects, 2 records kept from earlier runs", err), err
    assert runs.server.hits("a.gif") == runs.server.hits("b.gif") == 1
    assert json.loads((out / "report.json").read_text())["imagesSaved"] == 0
    assert (out / "records.jsonl").read_text() == ""  # this run's records only


def test_fresh_starts_from_an_empty_deployment(runs: Runs) -> None:
    assert runs.run(resourcePaths=["a.gif"])[0] == 0

    code, printed, err, out = runs.run("--fresh", resourcePaths=["a.gif"], skipExisting=True)

    assert code == 0, printed
    assert "0 objects, 0 records kept from earlier runs" in err
    assert runs.server.hits("a.gif") == 2
    assert (out / "images" / "127.0.0.1" / "a.gif").read_bytes() == flag_gif("a.gif")


def test_retry_failures_of_an_earlier_local_execution(runs: Runs) -> None:
    code, printed, _, _ = runs.run(resourcePaths=["a.gif", "missing.gif"])
    assert code == 1, printed
    first = execution_name(printed)
    runs.server.add_image("missing.gif")

    code, printed, _, out = runs.run(retryFailuresOf=first)

    assert code == 0, printed
    assert runs.server.hits("a.gif") == 1 and runs.server.hits("missing.gif") == 2
    assert [
        record["url"] for record in map(json.loads, (out / "records.jsonl").read_text().splitlines())
    ] == [runs.server.url("missing.gif")]


def test_resource_paths_from_a_local_file_and_then_from_the_local_bucket(runs: Runs) -> None:
    (runs.tmp_path / "paths.txt").write_text("a.gif\nb.gif\n")
    code, printed, err, _ = runs.run(resourcePathsFrom="paths.txt")
    assert code == 0, printed
    staged = re.search(r"^Paths file paths\.txt staged at (s3://\S+)$", err, re.MULTILINE)
    assert staged, err

    code, printed, _, out = runs.run(resourcePathsFrom=staged.group(1))

    assert code == 0, printed
    assert json.loads((out / "report.json").read_text())["succeeded"] == 2
    code, printed, _, out = runs.run("--fresh", resourcePathsFrom=staged.group(1))
    assert code == 2
    assert (
        "does not exist: upload the paths file first"
        in json.loads((out / "report.json").read_text())["cause"]
    )


def test_a_missing_local_paths_file_is_exit_2(runs: Runs) -> None:
    code, _, err, _ = runs.run(resourcePathsFrom="nowhere.txt")
    assert code == 2
    assert "resourcePathsFrom: nowhere.txt is neither an s3:// URL nor a file" in err


def test_make_run_passes_state_and_fresh_to_the_runner() -> None:
    lines = subprocess.run(
        ["make", "--dry-run", "run", "STATE=/tmp/st", "FRESH=1"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    command = next(line for line in lines if "-m local_runner" in line)
    assert command.split("-m local_runner", 1)[1].split() == ["--state", "/tmp/st", "--fresh"]


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_make_runs_light_virtualenv_pins_what_the_dev_one_pins_and_no_test_tool() -> None:
    run, dev = pins(ROOT / "requirements-run.txt"), pins(ROOT / "requirements-dev.txt")
    assert {name: dev.get(name) for name in run} == run
    assert not {"pytest", "ruff", "hypothesis", "Flask", "grpcio", "python-hcl2"} & set(run)
