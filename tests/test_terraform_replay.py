"""The terraform tier's state assertions pass where there is no terraform: pytest in a subprocess, with
every folder holding terraform taken off PATH, replays them from tests/terraform/complete/tf_resources.json
(pytest-terraform's replay mode) and skips the tests that need terraform or the applied stack, in one
line each. Runs with or without terraform on this machine."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.terraform.support import REPO_ROOT, path_without_terraform, replay_command, replay_environment

# The tier's tests of the applied state, which replay must run (and pass), not skip.
REPLAYED = (
    "test_the_recording_describes_this_module",
    "test_apply_outputs_the_endpoint_and_the_resources",
    "test_applied_functions_have_the_contract_handlers_and_environment",
    "test_applied_bucket_is_private_tls_only_and_archives_images",
    "test_applied_state_machine_api_table_and_failure_rule",
    "test_applied_api_maps_the_request_body_to_the_execution_input",
    "test_applied_status_function_may_be_invoked_by_its_route_only",
    "test_applied_role_policies_grant_no_wildcard_action",
    "test_every_policy_the_module_renders_passes_parliament",
)


def test_path_without_terraform_drops_only_the_folders_holding_it(tmp_path: Path) -> None:
    with_terraform, without = tmp_path / "tf", tmp_path / "other"
    with_terraform.mkdir()
    without.mkdir()
    binary = with_terraform / "terraform"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert path_without_terraform(f"{with_terraform}:{without}") == str(without)


def test_the_tier_replays_its_state_assertions_without_terraform() -> None:
    environment = replay_environment()
    assert shutil.which("terraform", path=environment["PATH"]) is None
    result = subprocess.run(
        replay_command("-v"),
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for test in REPLAYED:
        assert re.search(rf"::{test} PASSED", output), f"{test} did not pass in replay:\n{output}"
    skipped = re.findall(r"^SKIPPED \[\d+\] \S+: (.*)$", output, re.MULTILINE)
    assert skipped, output
    assert all(reason.startswith("replay") for reason in skipped), skipped
