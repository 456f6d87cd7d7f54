"""Helpers of the tier that runs the real terraform binary (tests/terraform/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tools.offline_terraform import NoAwsMirror
from tools.offline_terraform import prepare as prepare_offline_terraform

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI sets this so that a missing terraform, provider or moto server fails the run instead of skipping.
REQUIRE_ENV = "IMAGE_DOWNLOADER_REQUIRE_TERRAFORM"
# What a copy of the module needs: the root module, its submodules and everything they read.
MODULE_TREE = (
    "main.tf",
    "variables.tf",
    "outputs.tf",
    "versions.tf",
    "modules",
    "sfn",
    "lambda_src",
    "examples",
)
IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".terraform", ".terraform.lock.hcl", "*.tfstate*", "terraform.tfvars", "tfplan"
)


def terraform_binary() -> str | None:
    return shutil.which("terraform") or shutil.which("tofu")


# Where the providers come from: "offline" (the default) writes a CLI config of filesystem mirrors only
# (tools/offline_terraform.py: hashicorp/aws from the machine's mirror, hashicorp/archive from the
# repository's stand-in), so the tier never reaches the network; "registry" uses terraform's own
# configuration, as the GitHub workflow does with the real providers.
PROVIDERS_ENV = "IMAGE_DOWNLOADER_TF_PROVIDERS"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() not in ("", "0", "false")


def tier_required() -> bool:
    """CI must run the tier: a missing terraform or provider fails there instead of skipping."""
    return _flag(REQUIRE_ENV) or _flag("CI")


def providers_mode() -> str:
    mode = os.environ.get(PROVIDERS_ENV, "offline")
    if mode not in ("offline", "registry"):
        pytest.fail(f"{PROVIDERS_ENV} must be offline or registry, not {mode!r}", pytrace=False)
    return mode


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it where the tier is required (CI)."""
    if tier_required():
        pytest.fail(f"{reason} (required in CI: CI or {REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(reason)


def copy_module_tree(destination: Path) -> Path:
    """A copy of the repository's Terraform (and what it packages) to run terraform in, so that no
    .terraform directory, lock file, state or zip lands in the working tree."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in MODULE_TREE:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=IGNORED)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    return destination


def terraform_env(work: Path) -> dict[str, str]:
    """The environment terraform runs in: no prompts, no update check, a plugin cache, and the providers
    from the offline mirrors (or, in registry mode, from the registry).

    The cache matters offline too: from an unpacked mirror, ``init`` copies the 700 MB aws provider into
    each directory's .terraform, while through a cache it links to it. The cache is not safe for two
    ``init`` at once, so the tier runs every ``init`` from the tests' own thread."""
    environment = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    plugin_cache = work / "plugin-cache"
    plugin_cache.mkdir(parents=True, exist_ok=True)
    environment.setdefault("TF_PLUGIN_CACHE_DIR", str(plugin_cache))
    if providers_mode() == "registry":
        return environment
    try:
        offline = prepare_offline_terraform(work / "offline")
    except NoAwsMirror as error:
        unavailable(str(error))
    environment.update(offline.environment())
    return environment


def run_terraform(
    binary: str, arguments: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *arguments, "-no-color"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def error_summary(text: str) -> str:
    """Terraform's first ``Error:`` line and the sentence after it, on one line."""
    lines = [line.strip(" │╷╵") for line in text.splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            return " ".join(lines[index : index + 3])
    return lines[-1] if lines else "no output"


MOTO_SERVICES = (
    "apigatewayv2",
    "cloudwatch",
    "dynamodb",
    "events",
    "iam",
    "lambda",
    "logs",
    "s3",
    "sfn",
    "sns",
    "sts",
)


def moto_provider_override(endpoint: str, region: str = "us-east-1") -> str:
    """An override file for examples/complete that points the AWS provider at a moto server (the pattern
    tflocal uses): fake keys, no account lookup, path-style S3, an endpoint for every service used."""
    endpoints = "\n".join(f'    {service:<12} = "{endpoint}"' for service in MOTO_SERVICES)
    return f"""provider "aws" {{
  region                      = "{region}"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def terraform_console(workdir: Path, expression: str) -> str:
    """What ``terraform console`` in ``workdir`` prints for ``jsonencode(expression)``, colours removed.
    Needs no provider for variables, locals and built-in functions. It exits 0 even when a variable is
    refused, printing the error instead of the value, so callers read the text."""
    environment = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    result = subprocess.run(
        ["terraform", "console"],
        input=f"jsonencode({expression})",
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return _ANSI.sub("", result.stdout + result.stderr)


def console_value(output: str) -> Any:
    """The value of a successful ``terraform_console`` call."""
    assert "Error:" not in output, output
    return json.loads(json.loads(output.strip().splitlines()[-1]))


def path_without_terraform(path: str) -> str:
    """``path`` without the folders that hold a terraform or tofu executable."""
    folders = [folder for folder in path.split(os.pathsep) if folder]
    kept = [f for f in folders if not any(shutil.which(name, path=f) for name in ("terraform", "tofu"))]
    return os.pathsep.join(kept)


def replay_environment() -> dict[str, str]:
    """The environment of a machine without terraform, where the tier is not required (a laptop)."""
    environment = {**os.environ, "PATH": path_without_terraform(os.environ.get("PATH", ""))}
    for name in (REQUIRE_ENV, "CI", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):
        environment.pop(name, None)
    return environment


def replay_command(*options: str) -> list[str]:
    """pytest on the tier's file; run with ``replay_environment()``, it replays."""
    return [sys.executable, "-m", "pytest", "tests/terraform/test_terraform_tier.py", "-rs", *options]


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.terraform.support [pytest options]``: the tier's tests with terraform off PATH,
    so in replay (make test-replay)."""
    command = replay_command(*(argv or []))
    return subprocess.run(command, cwd=REPO_ROOT, env=replay_environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
