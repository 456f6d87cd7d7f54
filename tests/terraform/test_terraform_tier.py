"""The tier that runs terraform itself: init + validate of the root module and the example, then a plan
and apply of examples/complete against a moto server, driven by pytest-terraform's runner.

Runs where a terraform binary is on PATH and IMAGE_DOWNLOADER_TERRAFORM_TIER=1 says that `terraform init`
may install the hashicorp/aws and hashicorp/archive providers (from the registry or a mirror); skips with
the reason otherwise. IMAGE_DOWNLOADER_REQUIRE_TERRAFORM=1 (CI) runs it and fails instead of skipping.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_terraform.tf import TerraformRunner, TerraformState

from image_downloader.settings import ENV_BY_FUNCTION
from tests.terraform import moto_shims
from tests.terraform.support import (
    ENABLE_ENV,
    copy_module_tree,
    error_summary,
    moto_provider_override,
    run_terraform,
    terraform_binary,
    terraform_env,
    tier_enabled,
    unavailable,
)

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(1800)]

REGION = "us-east-1"
EXAMPLE = Path("examples") / "complete"


@dataclass(frozen=True)
class Workspace:
    binary: str
    root: Path
    env: dict[str, str]

    @property
    def example(self) -> Path:
        return self.root / EXAMPLE

    def terraform(self, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_terraform(self.binary, list(arguments), cwd or self.root, self.env)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    binary = terraform_binary()
    if binary is None:
        unavailable("no terraform binary on PATH: init/validate/plan/apply not run")
    if not tier_enabled():
        pytest.skip(
            f"terraform init needs the provider registry or a mirror: set {ENABLE_ENV}=1 to run "
            "init/validate/plan/apply"
        )
    base = tmp_path_factory.mktemp("terraform")
    space = Workspace(binary, copy_module_tree(base / "repo"), terraform_env(base / "plugin-cache"))
    init = space.terraform("init", "-backend=false", "-input=false")
    if init.returncode != 0:
        unavailable(
            "terraform init cannot install the hashicorp/aws and hashicorp/archive providers "
            f"(no registry access?): {error_summary(init.stdout + init.stderr)}"
        )
    return space


def test_root_module_validates(workspace: Workspace) -> None:
    validate = workspace.terraform("validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_example_validates(workspace: Workspace) -> None:
    init = workspace.terraform("init", "-backend=false", "-input=false", cwd=workspace.example)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = workspace.terraform("validate", cwd=workspace.example)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_root_module_refuses_an_invalid_name(workspace: Workspace) -> None:
    caller = workspace.root / "invalid-name-caller"
    caller.mkdir(exist_ok=True)
    (caller / "main.tf").write_text(
        'module "image_downloader" {\n  source = "../"\n  name   = "Not_Valid"\n}\n'
    )
    # Nothing may reach AWS: every endpoint is a closed local port.
    (caller / "provider.tf").write_text(moto_provider_override("http://127.0.0.1:9", REGION))
    init = workspace.terraform("init", "-backend=false", "-input=false", cwd=caller)
    assert init.returncode == 0, init.stdout + init.stderr
    plan = workspace.terraform("plan", "-input=false", "-refresh=false", cwd=caller)
    assert plan.returncode != 0
    assert "name must be 1-32 characters" in plan.stdout + plan.stderr, plan.stdout + plan.stderr


# --- plan and apply against moto --------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        unavailable(
            f"the moto server needs moto[server] (flask, flask-cors, openapi-spec-validator): {error}"
        )
    with pytest.MonkeyPatch.context() as patch:
        moto_shims.apply(patch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def applied(
    workspace: Workspace, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TerraformState]:
    (workspace.example / "moto_override.tf").write_text(moto_provider_override(moto_endpoint, REGION))
    runner = TerraformRunner(
        str(tmp_path_factory.mktemp("moto-apply") / "work"),
        module_dir=str(workspace.example),
        tf_bin=workspace.binary,
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in workspace.env.items():
            patch.setenv(name, value)
        runner.init()
        state = runner.apply()  # plan -out, then apply the plan; destroys what it made if apply fails
        try:
            yield state
        finally:
            runner.destroy()


def moto(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_apply_outputs_the_endpoint_and_the_resources(applied: TerraformState) -> None:
    outputs = {name: output["value"] for name, output in applied.outputs.items()}
    assert outputs["executions_url"].endswith("/executions")
    assert outputs["api_authorization_type"] == "AWS_IAM"
    assert set(outputs["function_names"]) == {"batch", "download", "consolidate"}
    assert outputs["state_machine_arn"].startswith(f"arn:aws:states:{REGION}:")


def test_applied_functions_run_their_handlers_with_the_contract_environment(
    applied: TerraformState, moto_endpoint: str
) -> None:
    lambda_ = moto("lambda", moto_endpoint)
    for function, name in applied.outputs["function_names"]["value"].items():
        configuration = lambda_.get_function_configuration(FunctionName=name)
        assert configuration["Handler"] == f"image_downloader.{function}.handler"
        assert (configuration["Runtime"], configuration["Architectures"]) == ("python3.13", ["arm64"])
        assert set(configuration["Environment"]["Variables"]) == set(ENV_BY_FUNCTION[function])


def test_applied_bucket_is_private_and_archives_images(applied: TerraformState, moto_endpoint: str) -> None:
    s3 = moto("s3", moto_endpoint)
    bucket = applied.outputs["bucket_name"]["value"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert any(
        transition["StorageClass"] == "GLACIER_IR"
        for rule in rules
        for transition in rule.get("Transitions", [])
    )


def test_applied_state_machine_and_api(applied: TerraformState, moto_endpoint: str) -> None:
    sfn = moto("stepfunctions", moto_endpoint)
    machine = sfn.describe_state_machine(stateMachineArn=applied.outputs["state_machine_arn"]["value"])
    assert machine["type"] == "STANDARD"
    definition = json.loads(machine["definition"])
    assert definition["StartAt"]
    assert machine["loggingConfiguration"]["level"] == "ERROR"
    api = moto("apigatewayv2", moto_endpoint)
    (http_api,) = api.get_apis()["Items"]
    routes = api.get_routes(ApiId=http_api["ApiId"])["Items"]
    assert [(route["RouteKey"], route["AuthorizationType"]) for route in routes] == [
        ("POST /executions", "AWS_IAM")
    ]
    table = moto("dynamodb", moto_endpoint).describe_table(TableName=applied.outputs["table_name"]["value"])[
        "Table"
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
