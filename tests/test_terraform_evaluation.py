"""Terraform's own evaluator, offline: ``terraform console`` on a copy of the variable blocks (and the
compute module's locals) needs no provider, so the validations and the computed environment are checked
with real Terraform semantics wherever a terraform binary exists. Skips with the reason elsewhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from local_runner.emulator import DeploymentConfig
from tests.terraform.support import console_value, terraform_console
from tools.tfdocs import REPO_ROOT, closing_brace

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="no terraform binary on PATH: validations not evaluated"
)

VALID_NAME = "image-downloader"


def locals_block(text: str) -> str:
    """The first top-level ``locals { ... }`` block of a file."""
    start = text.index("locals {")
    return text[start : closing_brace(text, text.index("{", start)) + 1]


def console(workdir: Path, expression: str, variables: dict[str, Any]) -> str:
    (workdir / "test.auto.tfvars.json").write_text(json.dumps(variables))
    return terraform_console(workdir, expression)


def evaluate(workdir: Path, expression: str, variables: dict[str, Any]) -> Any:
    return console_value(console(workdir, expression, variables))


@pytest.fixture
def root_variables(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "variables.tf", tmp_path)
    return tmp_path


@pytest.fixture
def compute_locals(tmp_path: Path) -> Path:
    module = REPO_ROOT / "modules" / "compute"
    shutil.copy(module / "variables.tf", tmp_path)
    # The pipeline's locals; the ARN the module builds from data sources (which need a provider) stubbed.
    (tmp_path / "locals.tf").write_text(locals_block(pipeline_locals((module / "main.tf").read_text())))
    (tmp_path / "stub.tf").write_text(f'locals {{\n  state_machine_arn = "{STATE_MACHINE_ARN}"\n}}\n')
    return tmp_path


def pipeline_locals(text: str) -> str:
    """The compute module from its second locals block on (the first builds the state machine's ARN)."""
    first = text.index("locals {")
    return text[closing_brace(text, text.index("{", first)) + 1 :]


STATE_MACHINE_ARN = f"arn:aws:states:eu-west-1:123456789012:stateMachine:{VALID_NAME}"
COMPUTE_INPUTS = {
    "name": VALID_NAME,
    "state_machine_name": VALID_NAME,
    "topic_arn": f"arn:aws:sns:eu-west-1:123456789012:{VALID_NAME}-notifications",
    "bucket_name": "images-bucket",
    "bucket_arn": "arn:aws:s3:::images-bucket",
    "table_name": "images-table",
    "table_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/images-table",
    # what the root module passes by default: its own bucket under storage.input_key_prefix
    "request_sources": [{"bucket": "images-bucket", "prefix": "inputs/"}],
}


def test_root_defaults_pass_every_validation(root_variables: Path) -> None:
    downloader = evaluate(root_variables, "var.downloader", {"name": VALID_NAME})
    assert downloader["allow_private_addresses"] is False
    assert downloader["max_image_bytes"] == 50 * 1024 * 1024


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"name": "Bad_Name!"}, "name must be 1-32 characters"),
        ({"name": "a" * 33}, "name must be 1-32 characters"),
        ({"log_retention_days": 10}, "log_retention_days must be one of the values"),
        ({"lambda": {"runtime": "python3.9"}}, "lambda.runtime must be a Python runtime"),
        ({"lambda": {"download": {"timeout": 901}}}, "its timeout 1-900 seconds"),
        ({"lambda": {"download": {"ephemeral_storage_mb": 100}}}, "ephemeral_storage_mb must be null"),
        ({"storage": {"image_key_prefix": "images"}}, "must be non-empty key prefixes ending with '/'"),
        ({"downloader": {"allowed_hosts": ["https://example.com/"]}}, "bare host names"),
        ({"downloader": {"image_time_limit_seconds": 0}}, "image_time_limit_seconds must be greater than 0"),
        (
            {"downloader": {"allowed_content_types": ["text/html"]}},
            "allowed_content_types must list one or more",
        ),
        ({"downloader": {"allowed_content_types": []}}, "allowed_content_types must list one or more"),
        ({"limits": {"max_lambda_concur": 0}}, "Every limit must be a whole number"),
        ({"state_machine": {"map_max_concurrency": 10001}}, "between 1 and 10000"),
        ({"state_machine": {"map_execution_type": "express"}}, "STANDARD or EXPRESS"),
        ({"storage": {"run_key_prefix": "images/runs/"}}, "must differ and not contain one another"),
        ({"request_sources": [{"bucket": "b", "prefix": "inputs"}]}, "ends with '/'"),
        ({"api": {"authorization_type": "BASIC"}}, "must be AWS_IAM, JWT or NONE"),
        ({"api": {"authorization_type": "JWT"}}, "JWT needs api.jwt_issuer"),
        ({"notification_emails": ["not-an-address"]}, "must be an e-mail address"),
    ],
)
def test_bad_values_are_refused_at_plan_time_with_their_message(
    root_variables: Path, variables: dict[str, Any], message: str
) -> None:
    output = console(root_variables, "var.name", {"name": VALID_NAME, **variables})
    assert "Invalid value for variable" in output
    assert message in " ".join(output.replace("│", " ").split())


def test_compute_sets_the_environment_the_local_runner_uses(compute_locals: Path) -> None:
    environment = evaluate(compute_locals, "local.environment", COMPUTE_INPUTS)
    config = DeploymentConfig(name=VALID_NAME)
    for spec in config.functions():
        expected = {
            **spec.environment,
            **{
                key: COMPUTE_INPUTS[key.lower()]
                for key in ("BUCKET_NAME", "TABLE_NAME")
                if key in spec.environment
            },
            **({"INPUT_LOCATIONS": "images-bucket/inputs/"} if "INPUT_LOCATIONS" in spec.environment else {}),
        }
        assert environment[spec.name] == expected, spec.name
    assert environment["status"] == {
        "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
        "BUCKET_NAME": COMPUTE_INPUTS["bucket_name"],
        "REPORT_KEY_PREFIX": config.report_key_prefix,
    }


@pytest.mark.parametrize(
    ("overrides", "expected_mb"),
    [
        ({}, 50 * 50 + 64),
        ({"downloader": {"max_image_bytes": 5 * 1024 * 1024}}, 512),
        ({"limits": {"max_lambda_concur": 300}}, 10240),
        ({"functions": {"download": {"ephemeral_storage_mb": 1024}}}, 1024),
    ],
)
def test_download_tmp_is_sized_for_lambda_concur_times_the_largest_image(
    compute_locals: Path, overrides: dict[str, Any], expected_mb: int
) -> None:
    assert evaluate(
        compute_locals, "local.download_ephemeral_storage_mb", {**COMPUTE_INPUTS, **overrides}
    ) == (expected_mb)


def downloader_hosts(count: int, length: int) -> list[str]:
    return [f"h{index:0{length - 1}d}" for index in range(count)]


def test_each_function_environment_is_measured_as_lambda_measures_it(compute_locals: Path) -> None:
    """The JSON of every name and value, the generated bucket name counted at its longest (63)."""
    longest = evaluate(compute_locals, "local.environment_at_longest", COMPUTE_INPUTS)
    measured = evaluate(compute_locals, "local.environment_bytes", COMPUTE_INPUTS)
    assert longest["download"]["BUCKET_NAME"] == "0" * 63
    assert longest["batch"]["INPUT_LOCATIONS"] == "0" * 63 + "/inputs/"
    for function in ("batch", "download", "consolidate", "status", "notify"):
        assert measured[function] == len(json.dumps(longest[function], separators=(",", ":"))), function
    assert evaluate(compute_locals, "local.environment_problems", COMPUTE_INPUTS) == dict.fromkeys(measured)


def test_allowed_hosts_over_lambdas_4_kb_are_refused_with_the_budget_left(compute_locals: Path) -> None:
    base = evaluate(compute_locals, "local.environment_bytes", COMPUTE_INPUTS)["download"]
    # Each 19-character host and its comma take 20 bytes; the default ALLOWED_HOSTS is empty.
    fits = (4096 - base + 1) // 20
    at_limit = {**COMPUTE_INPUTS, "downloader": {"allowed_hosts": downloader_hosts(fits, 19)}}
    over = {**COMPUTE_INPUTS, "downloader": {"allowed_hosts": downloader_hosts(fits + 1, 19)}}

    assert evaluate(compute_locals, "local.environment_bytes", at_limit)["download"] <= 4096
    assert evaluate(compute_locals, "local.environment_problems", at_limit)["download"] is None
    problem = evaluate(compute_locals, "local.environment_problems", over)["download"]
    types = len(",".join(evaluate(compute_locals, "var.downloader", over)["allowed_content_types"]))
    hosts = 20 * (fits + 1) - 1
    assert problem == (
        f"The download function's environment would be {base + hosts} bytes as Lambda measures it (the JSON "
        "of every name and value, a bucket name counted at 63 characters), over Lambda's 4096-byte limit: "
        f"downloader.allowed_content_types takes {types} bytes in ALLOWED_CONTENT_TYPES and "
        f"downloader.allowed_hosts takes {hosts} bytes in ALLOWED_HOSTS; the other variables leave "
        f"{4096 - base + types} bytes for them: shorten the lists."
    )


def test_request_sources_over_lambdas_4_kb_are_refused_naming_the_setting(compute_locals: Path) -> None:
    sources = [{"bucket": f"b{index}", "prefix": "p" * 60 + "/"} for index in range(40)]
    inputs = {**COMPUTE_INPUTS, "request_sources": sources}
    problem = evaluate(compute_locals, "local.environment_problems", inputs)

    assert problem["download"] is None
    assert "The batch function's environment would be" in problem["batch"]
    assert f"request_sources takes {40 * (63 + 1 + 61) + 39} bytes in INPUT_LOCATIONS" in problem["batch"]
    assert problem["batch"].endswith("bytes for it: shorten the list.")
