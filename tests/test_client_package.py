"""The client as another repository's CI gets it: a wheel of the client alone, installed into a fresh
virtualenv with its dependencies resolved offline, and the repository's success.sh / fail.sh running it
against a scripted API on 127.0.0.1."""

from __future__ import annotations

import base64
import email
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from image_downloader_client.auth import region_from_url
from image_downloader_client.cli import build_parser
from tools.tfdocs import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"
STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:image-downloader"


@dataclass
class ScriptedApi:
    """POST /executions names the execution after the Idempotency-Key; GET answers the scripted statuses
    in turn (the last one forever)."""

    statuses: list[dict] = field(default_factory=lambda: [{"status": "SUCCEEDED"}])
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def api() -> Iterator[ScriptedApi]:
    scripted = ScriptedApi()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def answer(self, document: dict) -> None:
            payload = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            scripted.requests.append(("POST", self.path, dict(self.headers.items()), body))
            name = self.headers["Idempotency-Key"]
            arn = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
            self.answer({"executionArn": arn, "startDate": 1.7e9})

        def do_GET(self) -> None:
            scripted.requests.append(("GET", self.path, dict(self.headers.items()), b""))
            status = scripted.statuses.pop(0) if len(scripted.statuses) > 1 else scripted.statuses[0]
            self.answer({"name": self.path.rsplit("/", 1)[-1], **status})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install <repository>` builds, from a copy of what it reads (nothing written here)."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    shutil.copy(REPO_ROOT / "README.md", source)
    shutil.copytree(REPO_ROOT / "client", source / "client", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("*.whl")
    return built


def requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_string(archive.read(metadata_name).decode())
    return metadata.get_all("Requires-Dist") or []


def repack(name: str, into: Path) -> None:
    """A wheel of the distribution installed here (the pinned dev virtualenv): what PyPI would give pip,
    offline. Files outside site-packages (console scripts) are left out; pip writes those anew."""
    distribution = importlib.metadata.distribution(name)
    site = Path(str(distribution.locate_file("")))
    (metadata,) = [file for file in distribution.files or [] if file.name == "METADATA"]
    info = site / metadata.parent
    tag = next(
        line.split(": ", 1)[1]
        for line in (info / "WHEEL").read_text().splitlines()
        if line.startswith("Tag:")
    )
    stem = f"{distribution.metadata['Name'].replace('-', '_')}-{distribution.version}"
    skip = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
    record = []
    with zipfile.ZipFile(into / f"{stem}-{tag}.whl", "w") as archive:
        for file in distribution.files or []:
            relative = str(file)
            if relative.startswith("..") or "__pycache__" in relative or Path(relative).name in skip:
                continue
            data = (site / relative).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            archive.writestr(relative, data)
            record.append(f"{relative},sha256={digest},{len(data)}")
        record.append(f"{info.name}/RECORD,,")
        archive.writestr(f"{info.name}/RECORD", "\n".join(record) + "\n")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """Wheels of the client's dependencies but botocore (requests and what it needs), repacked."""
    house = tmp_path_factory.mktemp("wheelhouse")
    pending = [Requirement(text) for text in requires(wheel)]
    seen = {"botocore"}
    while pending:
        requirement = pending.pop()
        if requirement.name.lower() in seen or (requirement.marker and not requirement.marker.evaluate()):
            continue
        seen.add(requirement.name.lower())
        repack(requirement.name, house)
        pending += [Requirement(text) for text in importlib.metadata.requires(requirement.name) or []]
    return house


def test_the_wheel_holds_the_client_only_and_needs_botocore_and_requests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packages = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert packages == {"image_downloader_client"}
    assert "image_downloader_client/cli.py" in names
    assert requires(wheel) == ["botocore>=1.31", "requests>=2.32", "urllib3>=2"]
    assert "image-downloader = image_downloader_client.cli:entry_point" in scripts


@pytest.mark.slow
def test_installed_in_a_fresh_virtualenv_it_lists_the_subcommands_and_exit_codes_and_starts_unsigned(
    wheel: Path, wheelhouse: Path, tmp_path: Path, api: ScriptedApi
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    subprocess.run([*pip, "--no-index", "--no-deps", str(wheel)], check=True, timeout=300)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # Run from a checkout without its dependencies (scripts/client.sh), it says what to install.
    bare = [venv / "bin" / "python", "-m", "image_downloader_client", "--help"]
    missing = subprocess.run(bare, capture_output=True, text=True, env=env, timeout=60)
    assert (missing.returncode, missing.stderr.count("\n")) == (4, 1), missing.stderr
    assert "the client needs requests: pip install" in missing.stderr
    # The wheel's own requirements but botocore, resolved by pip from the wheelhouse alone.
    others = [text for text in requires(wheel) if Requirement(text).name != "botocore"]
    subprocess.run([*pip, "--no-index", "--find-links", str(wheelhouse), *others], check=True, timeout=300)
    command = venv / "bin" / "image-downloader"
    shown = subprocess.run([command, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0
    for word in ("start", "wait", "status", "report", "run", "5  still running"):
        assert word in shown.stdout
    # No botocore in this virtualenv: an unsigned start works, a signed one says what to install.
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"baseUrl": "https://example.com/", "resourcePaths": ["a.gif"]}))
    base = [command, "start", str(request), "--url", api.url]
    started = subprocess.run([*base, "--auth", "NONE"], capture_output=True, text=True, env=env, timeout=60)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().startswith("run-")
    signed = subprocess.run([*base, "--auth", "AWS_IAM"], capture_output=True, text=True, env=env, timeout=60)
    assert signed.returncode == 4
    assert "pip install botocore" in signed.stderr


def run_script(name: str, api: ScriptedApi, tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """The script with the API's URL from a fake `terraform output` and no installed client on PATH."""
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir(exist_ok=True)
    outputs = {"api_endpoint": {"value": api.url}, "api_authorization_type": {"value": "NONE"}}
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n")
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "PYTHON": sys.executable,
        "HOME": str(tmp_path),
    }
    env.update({key: value for key, value in os.environ.items() if key.startswith("AWS_")})
    return subprocess.run(
        [str(SCRIPTS / name), "--interval", "0", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_success_sh_posts_the_flags_and_exits_0_when_every_image_is_stored(
    api: ScriptedApi, tmp_path: Path
) -> None:
    api.statuses = [
        {"status": "RUNNING"},
        {"status": "SUCCEEDED", "counts": {"requested": 20, "succeeded": 20}},
    ]
    completed = run_script("success.sh", api, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "SUCCEEDED, 20 stored, 0 failed of 20" in completed.stdout
    method, path, headers, body = api.requests[0]
    assert (method, path) == ("POST", "/executions")
    assert json.loads(body) == json.loads((REPO_ROOT / "examples" / "inputs" / "success.json").read_text())
    assert "Authorization" not in headers


def test_fail_sh_exits_0_when_the_missing_image_failed(api: ScriptedApi, tmp_path: Path) -> None:
    api.statuses = [
        {"status": "FAILED", "error": "ImagesFailed", "cause": "1 of 21 images failed: zz/zz.gif"}
    ]
    completed = run_script("fail.sh", api, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "1 of 21 images failed" in completed.stdout
    assert "as expected" in completed.stderr


def test_fail_sh_exits_1_when_the_execution_succeeded_or_failed_otherwise(
    api: ScriptedApi, tmp_path: Path
) -> None:
    api.statuses = [{"status": "SUCCEEDED"}]
    assert run_script("fail.sh", api, tmp_path).returncode == 1
    api.statuses = [{"status": "TIMED_OUT", "error": "States.Timeout"}]
    completed = run_script("fail.sh", api, tmp_path)
    assert completed.returncode == 1
    assert "the client exited 3" in completed.stderr


def test_region_is_read_from_an_execute_api_url() -> None:
    assert region_from_url("https://a1b2c3.execute-api.ap-south-2.amazonaws.com/executions") == "ap-south-2"
    assert region_from_url("http://127.0.0.1:8080/executions") is None


def test_the_github_action_installs_the_client_and_passes_only_options_it_has() -> None:
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    install, run = action["runs"]["steps"]
    assert 'pip" install' in install["run"] and "$ACTION_PATH" in install["run"]
    script = run["run"]
    used = set(re.findall(r"\$\{\{ inputs\.([\w-]+) \}\}", yaml.safe_dump(run["env"])))
    assert used == set(action["inputs"]), "every input reaches the client, and only inputs"
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    options = {
        command: {option for action in commands[command]._actions for option in action.option_strings}
        for command in ("run", "start")
    }
    assert set(re.findall(r"(--[a-z][a-z-]+)", script)) <= options["run"]
    assert options["run"] - options["start"] == {"--timeout", "--interval"}
    assert 'if [ "$COMMAND" = run ]; then args+=(--timeout' in script
    assert set(re.findall(r"IMAGE_DOWNLOADER_\w+", yaml.safe_dump(run["env"]))) <= set(
        re.findall(
            r"IMAGE_DOWNLOADER_\w+", (REPO_ROOT / "client" / "image_downloader_client" / "cli.py").read_text()
        )
    ) | {"IMAGE_DOWNLOADER_TOKEN"}
    for output in action["outputs"].values():
        assert output["value"].startswith("${{ steps.client.outputs.")


def test_what_pip_install_leaves_in_the_checkout_is_ignored_and_the_readme_names_the_package() -> None:
    name = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["name"]
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for left in (
        f"client/{name.replace('-', '_')}.egg-info/PKG-INFO",
        "build/lib/image_downloader_client/cli.py",
    ):
        ignored = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", left], check=False)
        assert ignored.returncode == 0, f"{left} is not ignored"
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Calling it from CI", 1)[1].split("\n## ", 1)[0]
    assert f"pip uninstall {name}" in section
