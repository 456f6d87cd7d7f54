"""The tier's recording: pytest-terraform's tf_resources.json of the applied examples/complete, checked in,
so that the tier's assertions about the applied state also run where there is no terraform (replay).

pytest-terraform records each resource's first instance by type and name, and the outputs. The tier adds,
under ``KEY``: the hash of the module it was applied from and the full state as ``terraform show -json``
gives it (every instance, child modules included). Not through the plugin's ``pytest_terraform_modify_state``
hook: the plugin re-reads what the hook returns keeping only ``resources`` and ``outputs``; pytest-terraform
ignores the extra key when it replays.
A test fails when the hash is not the module's current one, in both modes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tests.terraform.support import REPO_ROOT

ROOT = "complete"
RECORDING = Path(__file__).resolve().parent / ROOT / "tf_resources.json"
KEY = "image-downloader"
# Set (to anything but 0/false) to rewrite the recording from this run's apply even when it is current.
REFRESH_ENV = "IMAGE_DOWNLOADER_TF_RECORD"
NAME = "tier"
# examples/complete as a user applies it, with what a test against moto and a local image server needs:
# a short name, and the downloader allowed to reach 127.0.0.1 (the documented opt-out).
EXAMPLE_OVERRIDE = f"""variable "name" {{
  default = "{NAME}"
}}

module "image_downloader" {{
  downloader = {{
    allow_private_addresses = true
  }}
}}
"""
# What the applied state derives from: the module's Terraform, the ASL template and the Lambda sources.
HASHED = ("*.tf", "modules/**/*.tf", "examples/complete/*.tf", "sfn/**/*", "lambda_src/**/*.py")


def module_files() -> list[Path]:
    files = {path for pattern in HASHED for path in REPO_ROOT.glob(pattern) if path.is_file()}
    return sorted(path for path in files if "__pycache__" not in path.parts and "build" not in path.parts)


def module_hash() -> str:
    """sha256 over the module's files (names and bytes) and the tier's override of examples/complete."""
    digest = hashlib.sha256(EXAMPLE_OVERRIDE.encode())
    for path in module_files():
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def read(path: Path = RECORDING) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def recorded_hash(data: dict[str, Any] | None) -> str | None:
    return (data or {}).get(KEY, {}).get("module_hash")


def stamped(data: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """pytest-terraform's recording with the module hash and the full ``terraform show -json`` state."""
    return {**data, KEY: {"module_hash": module_hash(), "state": state}}


def write(data: dict[str, Any], path: Path = RECORDING) -> None:
    """Atomically: a replay running meanwhile (tests/test_terraform_replay.py) reads the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    partial.replace(path)


def refresh_requested() -> bool:
    return os.environ.get(REFRESH_ENV, "").lower() not in ("", "0", "false")
