"""The tier that runs terraform itself, offline: init + validate of every module, then plan and apply of
examples/complete against a moto server on 127.0.0.1 through pytest-terraform, a second plan that must
show no change, executions of the applied state machine, the applied API integration, and a destroy that
leaves the state empty. The fixtures are in tests/terraform/conftest.py.

The apply mostly waits on the provider's polling, so it starts first, on a thread of its own, and the
tests that need no apply (validate, the plans of other roots) run in the meantime.

Replay: the tests of the applied *state* (outputs, resources, policies, the API's integration mapping)
also run where there is no terraform, from the recording pytest-terraform made of the last apply
(tests/terraform/complete/tf_resources.json, refreshed by an apply when the module changed); the tests
that need terraform or the stack on moto skip there in one line. ``make test-replay`` runs them so.

Providers come from filesystem mirrors only (tools/offline_terraform.py): hashicorp/aws from the
machine's mirror, hashicorp/archive from the repository's stand-in. With IMAGE_DOWNLOADER_TF_PROVIDERS=
registry (the GitHub workflow) terraform installs the real ones. Where terraform or the aws provider is
missing, the tier says so in one line and skips; in CI (CI=true) it fails instead.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_downloader.settings import ENV_BY_FUNCTION
from local_runner.packaging import build_lambda_zip
from local_runner.sample_images import flag_gif
from tests.support.image_server import ImageServer, Route
from tests.terraform import iam_tier, recording
from tests.terraform.conftest import ACCOUNT, NAME, REGION, Deployed, Moto, Tier, Workspace, replaying
from tests.terraform.deployed import applied_functions, resources_of_type, state_resources
from tests.terraform.support import REPO_ROOT, moto_provider_override

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(900)]

# Where the tier writes its IAM ledger; tests/conftest.py prints it at the end of the run.
LEDGER = REPO_ROOT / "build" / "iam-ledger.txt"
EXAMPLE = Path("examples") / "complete"
MODULE_DIRS = (".", *(f"modules/{name}" for name in ("api", "caller_policy", "compute", "notification")))
MODULE_DIRS += ("modules/state_machine", "modules/storage", str(EXAMPLE), "examples/minimal")


@pytest.fixture(scope="module", autouse=True)
def _apply_while_the_other_tests_run(request: pytest.FixtureRequest) -> None:
    """Start the apply before the tier's first test, if a selected test needs it."""
    uses = ("tier", "deployed")
    if not replaying(request.config) and any(
        name in item.fixturenames for item in request.session.items for name in uses
    ):
        request.getfixturevalue("applying")


@pytest.mark.parametrize("module", MODULE_DIRS)
def test_module_initialises_and_validates(workspace: Workspace, module: str) -> None:
    directory = workspace.root / module
    workspace.must("init", "-backend=false", "-input=false", cwd=directory)
    assert "The configuration is valid" in workspace.must("validate", cwd=directory)


def test_root_module_refuses_an_invalid_name(workspace: Workspace) -> None:
    caller = workspace.root / "invalid-name-caller"
    caller.mkdir(exist_ok=True)
    (caller / "main.tf").write_text(
        'module "image_downloader" {\n  source = "../"\n  name   = "Not_Valid"\n}\n'
    )
    # Nothing may reach AWS: every endpoint is a closed local port.
    (caller / "provider.tf").write_text(moto_provider_override("http://127.0.0.1:9", REGION))
    workspace.must("init", "-backend=false", "-input=false", cwd=caller)
    plan = workspace.terraform("plan", "-input=false", "-refresh=false", cwd=caller)
    assert plan.returncode != 0
    assert "name must be 1-32 characters" in plan.stdout + plan.stderr, plan.stdout + plan.stderr


# --- plans of other roots: the module as other roots call it -------------------------------------------


def planned_changes(workspace: Workspace, root: Path, *variables: str) -> list[dict[str, Any]]:
    """What ``terraform plan -json`` in ``root`` would do: one ``{"resource": {"addr", "resource_type",
    ...}, "action"}`` per resource it would create, update, replace, delete or read. One terraform run;
    a saved plan and ``show -json`` would load the provider once more."""
    workspace.must("init", "-backend=false", "-input=false", cwd=root)
    output = workspace.must("plan", "-input=false", "-json", *variables, cwd=root)
    messages = [json.loads(line) for line in output.splitlines()]
    return [message["change"] for message in messages if message["type"] == "planned_change"]


def planned_types(changes: list[dict[str, Any]]) -> set[str]:
    return {change["resource"]["resource_type"] for change in changes}


def of_module(changes: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [change for change in changes if change["resource"]["addr"].startswith(f"module.{name}.")]


def test_a_root_attaching_the_caller_policy_to_a_ci_role_plans_cleanly(
    workspace: Workspace, moto_server: Moto
) -> None:
    minimal = workspace.root / "examples" / "minimal"
    (minimal / "moto_override.tf").write_text(moto_provider_override(moto_server.endpoint, REGION))
    changes = planned_changes(workspace, minimal, "-var=ci_principal_arn=arn:aws:iam::123456789012:root")
    (policy,) = [change for change in changes if change["resource"]["addr"] == "aws_iam_role_policy.ci"]
    assert policy["action"] == "create"
    assert {"aws_sfn_state_machine", "aws_apigatewayv2_api", "aws_iam_role_policy"} <= planned_types(changes)


# One root calling the module twice, each call as a user would write it: one plan shows both.
CALLERS = """module "without_api" {
  source     = "../"
  name       = "no-api"
  create_api = false
}

module "disabled" {
  source = "../"
  name   = "disabled"
  create = false
}
"""


@pytest.fixture(scope="module")
def callers_plan(workspace: Workspace, moto_server: Moto) -> list[dict[str, Any]]:
    root = workspace.root / "callers"
    root.mkdir()
    (root / "main.tf").write_text(CALLERS)
    (root / "provider.tf").write_text(moto_provider_override(moto_server.endpoint, REGION))
    return planned_changes(workspace, root)


def test_without_the_api_the_plan_has_no_api_resource(callers_plan: list[dict[str, Any]]) -> None:
    types = planned_types(of_module(callers_plan, "without_api"))
    assert "aws_sfn_state_machine" in types
    assert not any(resource_type.startswith("aws_apigatewayv2") for resource_type in types), types


def test_create_false_plans_nothing(callers_plan: list[dict[str, Any]]) -> None:
    assert of_module(callers_plan, "without_api"), "the other call of the same plan plans its resources"
    assert of_module(callers_plan, "disabled") == []


# --- plan and apply of examples/complete against moto ------------------------------------------------


# --- the applied state: from the apply, or replayed from its recording ---------------------------------


def test_the_recording_describes_this_module(tier: Tier) -> None:
    """The recording replay runs from must be of the module as it is: a change to its Terraform, its ASL
    or its Lambda sources makes it stale. An apply refreshes a stale one (commit it)."""
    current = recording.module_hash()
    where = recording.RECORDING.relative_to(recording.REPO_ROOT)
    if tier.live is None:
        fix = "run the terraform tier with terraform (make test) to refresh it, and commit it"
    else:
        fix = "this run's apply refreshed it: commit it"
    assert tier.recorded_hash == current, f"{where} was recorded from another version of the module; {fix}"


def test_apply_outputs_the_endpoint_and_the_resources(tier: Tier) -> None:
    assert tier.output("executions_url").endswith("/executions")
    assert tier.output("api_authorization_type") == "AWS_IAM"
    assert set(tier.output("function_names")) == {"batch", "download", "consolidate", "status", "notify"}
    assert tier.output("state_machine_arn").startswith(f"arn:aws:states:{REGION}:")


def test_applied_functions_have_the_contract_handlers_and_environment(tier: Tier) -> None:
    functions = {values["function_name"]: values for values in state_values(tier, "aws_lambda_function")}
    for function, name in tier.output("function_names").items():
        values = functions[name]
        assert values["handler"] == f"image_downloader.{function}.handler"
        assert (values["runtime"], values["architectures"]) == ("python3.13", ["arm64"])
        (environment,) = values["environment"]
        assert set(environment["variables"]) == set(ENV_BY_FUNCTION[function])


def test_applied_bucket_is_private_tls_only_and_archives_images(tier: Tier) -> None:
    bucket = tier.output("bucket_name")
    (block,) = [v for v in state_values(tier, "aws_s3_bucket_public_access_block") if v["bucket"] == bucket]
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert all(block[flag] is True for flag in flags), block
    (policy,) = [v for v in state_values(tier, "aws_s3_bucket_policy") if v["bucket"] == bucket]
    statements = json.loads(policy["policy"])["Statement"]
    assert any(
        statement["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(statement.get("Condition"))
        for statement in statements
    ), statements
    (lifecycle,) = state_values(tier, "aws_s3_bucket_lifecycle_configuration")
    classes = {t["storage_class"] for rule in lifecycle["rule"] for t in rule.get("transition", [])}
    assert "GLACIER_IR" in classes


def test_applied_state_machine_api_table_and_failure_rule(tier: Tier) -> None:
    (machine,) = state_values(tier, "aws_sfn_state_machine")
    assert machine["arn"] == tier.output("state_machine_arn")
    assert machine["type"] == "STANDARD"
    assert json.loads(machine["definition"])["StartAt"]
    assert [logging["level"] for logging in machine["logging_configuration"]] == ["ERROR"]
    routes = sorted(
        (r["route_key"], r["authorization_type"]) for r in state_values(tier, "aws_apigatewayv2_route")
    )
    assert routes == [("GET /executions/{name}", "AWS_IAM"), ("POST /executions", "AWS_IAM")]
    (table,) = state_values(tier, "aws_dynamodb_table")
    assert (table["name"], table["billing_mode"]) == (tier.output("table_name"), "PAY_PER_REQUEST")
    (rule,) = state_values(tier, "aws_cloudwatch_event_rule")
    assert rule["name"] == f"{NAME}-unsuccessful-executions"
    assert json.loads(rule["event_pattern"])["detail"] == {
        "stateMachineArn": [tier.output("state_machine_arn")],
        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
    }
    (target,) = state_values(tier, "aws_cloudwatch_event_target")
    assert target["arn"].endswith(f":function:{tier.output('function_names')['notify']}")


def test_applied_api_maps_the_request_body_to_the_execution_input(tier: Tier) -> None:
    # pytest-terraform's lookup (a jmespath over type.name), the same live and replayed.
    values = tier.resources["aws_apigatewayv2_integration.start_execution"]
    assert (values["integration_type"], values["integration_subtype"]) == (
        "AWS_PROXY",
        "StepFunctions-StartExecution",
    )
    assert values["request_parameters"] == {
        "StateMachineArn": tier.output("state_machine_arn"),
        "Input": "$request.body",
        "Name": "$request.header.Idempotency-Key",
    }


def test_applied_status_function_may_be_invoked_by_its_route_only(tier: Tier) -> None:
    permissions = resources_of_type(tier.state, "aws_lambda_permission")
    (permission,) = [resource for resource in permissions if resource["name"] == "execution_status"]
    (api,) = state_values(tier, "aws_apigatewayv2_api")
    assert permission["values"]["function_name"] == tier.output("function_names")["status"]
    assert permission["values"]["principal"] == "apigateway.amazonaws.com"
    assert permission["values"]["source_arn"] == f"{api['execution_arn']}/*/GET/executions/*"


def test_applied_role_policies_grant_no_wildcard_action(tier: Tier) -> None:
    policies = state_values(tier, "aws_iam_role_policy")
    assert policies, "the functions, the state machine and the API have inline role policies"
    for policy in policies:
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if a == "*" or a.endswith(":*")], (policy["name"], statement)


def test_every_policy_the_module_renders_passes_parliament(tier: Tier) -> None:
    """Each finding is a failure unless tests/terraform/policy_lint.py's JUSTIFIED gives it a reason."""
    from tests.terraform import policy_lint

    result = policy_lint.lint(tier.state)
    print(f"parliament: {len(result.documents)} policy documents, {len(result.findings)} findings")
    assert len(result.documents) >= 10, sorted(result.documents)
    assert result.unjustified == [], "\n".join(map(str, result.unjustified))
    assert result.stale == []


# --- the applied stack on moto: live only ---------------------------------------------------------------


def state_values(tier: Tier, resource_type: str) -> list[dict[str, Any]]:
    return [resource["values"] for resource in resources_of_type(tier.state, resource_type)]


def test_a_second_plan_after_apply_shows_no_changes(tier: Tier) -> None:
    plan = tier.require_live().second_plan
    # -detailed-exitcode: 0 no changes, 1 error, 2 changes.
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_the_package_terraform_zipped_is_the_local_runners(tier: Tier, tmp_path: Path) -> None:
    functions = applied_functions(tier.state, NAME)
    zipped = tier.require_live().workdir / functions.zip_path
    local = build_lambda_zip(tmp_path / "local.zip")
    with zipfile.ZipFile(zipped) as terraform_zip, zipfile.ZipFile(local) as local_zip:
        assert sorted(terraform_zip.namelist()) == sorted(local_zip.namelist())
        for name in local_zip.namelist():
            assert terraform_zip.read(name) == local_zip.read(name), name


def test_moto_holds_the_applied_functions_bucket_machine_and_api(tier: Tier) -> None:
    moto = tier.require_live().moto
    lambda_ = moto.client("lambda")
    for function, name in tier.output("function_names").items():
        configuration = lambda_.get_function_configuration(FunctionName=name)
        assert configuration["Handler"] == f"image_downloader.{function}.handler"
        assert set(configuration["Environment"]["Variables"]) == set(ENV_BY_FUNCTION[function])
    s3 = moto.client("s3")
    bucket = tier.output("bucket_name")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert any(t["StorageClass"] == "GLACIER_IR" for rule in rules for t in rule.get("Transitions", []))
    machine = moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=tier.output("state_machine_arn")
    )
    assert (machine["type"], machine["loggingConfiguration"]["level"]) == ("STANDARD", "ERROR")
    api = moto.client("apigatewayv2")
    (http_api,) = api.get_apis()["Items"]
    routes = api.get_routes(ApiId=http_api["ApiId"])["Items"]
    assert sorted((route["RouteKey"], route["AuthorizationType"]) for route in routes) == [
        ("GET /executions/{name}", "AWS_IAM"),
        ("POST /executions", "AWS_IAM"),
    ]
    table = moto.client("dynamodb").describe_table(TableName=tier.output("table_name"))["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (target,) = moto.client("events").list_targets_by_rule(Rule=f"{NAME}-unsuccessful-executions")["Targets"]
    assert target["Arn"].endswith(f":function:{tier.output('function_names')['notify']}")


# --- the applied state machine, executed --------------------------------------------------------------


@pytest.fixture
def images(image_server: ImageServer) -> ImageServer:
    image_server.add_image("/img/a.gif")
    image_server.add_image("/img/b.gif")
    return image_server


def test_applied_state_machine_stores_and_records_every_image(
    deployed: Deployed, images: ImageServer
) -> None:
    paths = ["img/a.gif", "img/b.gif"]
    execution = deployed.execute({"baseUrl": images.base_url, "resourcePaths": paths, "lambdaConcur": 2})
    assert execution["status"] == "SUCCEEDED", execution
    bucket, table = deployed.tier.output("bucket_name"), deployed.tier.output("table_name")
    objects = deployed.moto.client("s3").list_objects_v2(Bucket=bucket, Prefix="images/").get("Contents", [])
    items = deployed.moto.client("dynamodb").scan(TableName=table)["Items"]
    urls = {images.url("/" + path) for path in paths}
    recorded = {item["url"]["S"]: item for item in items}
    assert urls <= set(recorded)
    stored = {entry["Key"] for entry in objects}
    assert {recorded[url]["key"]["S"] for url in urls} <= stored


def test_applied_state_machine_fails_and_notifies_when_an_image_fails(
    deployed: Deployed, images: ImageServer
) -> None:
    sqs, sns = deployed.moto.client("sqs"), deployed.moto.client("sns")
    queue_url = sqs.create_queue(QueueName="tier-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=deployed.tier.output("topic_arn"), Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    request = {
        "baseUrl": images.base_url,
        "resourcePaths": ["img/a.gif", "img/missing.gif"],
        "lambdaConcur": 2,
    }
    execution = deployed.execute(request)
    assert (execution["status"], execution.get("error")) == ("FAILED", "ImagesFailed"), execution
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    assert images.url("/img/missing.gif") in json.loads(messages[0]["Body"])["Message"]


def test_applied_api_starts_an_execution_with_the_request_body_as_input(
    deployed: Deployed, images: ImageServer
) -> None:
    values = deployed.tier.resources["aws_apigatewayv2_integration.start_execution"]
    parameters = values["request_parameters"]
    api = deployed.moto.client("apigatewayv2")
    deployed_integration = api.get_integration(ApiId=values["api_id"], IntegrationId=values["id"])
    assert deployed_integration["RequestParameters"] == parameters

    body = json.dumps({"baseUrl": images.base_url, "resourcePaths": ["img/a.gif"], "lambdaConcur": 1})
    headers = {"Idempotency-Key": f"api-{time.monotonic_ns()}"}
    mapped = {
        "$request.body": body,
        **{f"$request.header.{name}": value for name, value in headers.items()},
    }
    start = {name: mapped.get(value, value) for name, value in parameters.items()}
    sfn = deployed.moto.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=start["StateMachineArn"], input=start["Input"], name=start["Name"]
    )["executionArn"]
    assert arn.endswith(f":{headers['Idempotency-Key']}")
    assert sfn.describe_execution(executionArn=arn)["input"] == body


def test_applied_status_function_answers_for_an_execution_of_the_applied_state_machine(
    deployed: Deployed, images: ImageServer
) -> None:
    request = {"baseUrl": images.base_url, "resourcePaths": ["img/a.gif", "img/gone.gif"], "lambdaConcur": 2}
    execution = deployed.execute(request)
    assert execution["status"] == "FAILED", execution
    name = execution["executionArn"].rsplit(":", 1)[-1]
    function = deployed.tier.output("function_names")["status"]
    event = {"version": "2.0", "routeKey": "GET /executions/{name}", "pathParameters": {"name": name}}
    answer = deployed.moto.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))
    response = json.loads(answer["Payload"].read())
    assert response["statusCode"] == 200, response
    status = json.loads(response["body"])
    assert (status["executionArn"], status["status"], status["error"]) == (
        execution["executionArn"],
        "FAILED",
        "ImagesFailed",
    )
    assert status["counts"] == {"requested": 2, "succeeded": 1, "failed": 1, "skipped": 0}
    assert status["report"]["key"] == f"reports/{name}.json"


# --- IAM as AWS enforces it (issue 17) -------------------------------------------------------------------
# Every function ran above, and runs here, with its applied role's credentials; its calls were judged on
# the role's policies as they are in moto's IAM (tests/terraform/iam_enforcement.py). What moto does not
# judge (Step Functions' own calls, the API's integration, the runtime's logs, the functions' resource
# policies) is derived from the applied configuration and judged alike (tests/terraform/iam_tier.py).


class IamScenarios:
    """The calls of every principal, in steps the mutation run can replay one at a time: each returns
    what it observed, which a removed statement must change."""

    def __init__(self, deployed: Deployed, images: ImageServer) -> None:
        self.deployed, self.images = deployed, images
        self.names: dict[str, str] = {}

    def _execute(self, key: str, request: dict[str, Any]) -> tuple[Any, ...]:
        execution = self.deployed.execute(request)
        self.names[key] = execution["executionArn"].rsplit(":", 1)[-1]
        return execution["status"], execution.get("error")

    def store(self) -> tuple[Any, ...]:
        return self._execute("store", self.request(["img/a.gif", "img/b.gif"]))

    def from_reference(self) -> tuple[Any, ...]:
        bucket = self.deployed.tier.output("bucket_name")
        key = f"inputs/paths-{time.monotonic_ns()}.txt"
        self.deployed.moto.client("s3").put_object(Bucket=bucket, Key=key, Body=b"img/b.gif\n")
        request = {
            "baseUrl": self.images.base_url,
            "resourcePathsFrom": f"s3://{bucket}/{key}",
            "lambdaConcur": 1,
        }
        return self._execute("reference", request)

    def fail_and_report(self) -> tuple[Any, ...]:
        return self._execute("fail", self.request(["img/a.gif", "img/missing.gif"]))

    def rerun(self) -> tuple[Any, ...]:
        request = {"retryFailuresOf": self.names["fail"], "skipExisting": True, "lambdaConcur": 1}
        return self._execute("rerun", request)

    def invalid_input(self) -> tuple[Any, ...]:
        return self._execute("invalid", self.request(["img/a.gif"], lambdaConcur=0))

    def aborted(self) -> tuple[Any, ...]:
        """An execution stopped while its download waits on a slow image."""
        self.images.add("/img/slow.gif", Route(body=flag_gif("slow.gif"), delay=1.5))
        sfn = self.deployed.moto.client("stepfunctions")
        name = f"tier-aborted-{time.monotonic_ns()}"
        arn = sfn.start_execution(
            stateMachineArn=self.deployed.tier.output("state_machine_arn"),
            name=name,
            input=json.dumps(self.request(["img/slow.gif"])),
        )["executionArn"]
        deadline = time.monotonic() + 60
        while not self.images.hits("/img/slow.gif"):
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        sfn.stop_execution(executionArn=arn, cause="stopped by the tier")
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the stopped execution never ended"
            time.sleep(0.1)
        self.names["aborted"] = name
        return (execution["status"],)

    def status_without_report(self) -> tuple[Any, ...]:
        """GET /executions/{name} of executions that wrote no report: S3 answers the status function
        (which may not list the bucket) AccessDenied for the missing report; the route still answers."""
        answers, causes = [], []
        for key in ("invalid", "aborted"):
            response = self.invoke("status", self.status_event(self.names[key]))
            body = json.loads(response.get("body") or "{}")
            answers.append((response.get("statusCode"), body.get("status"), body.get("error")))
            causes.append(body.get("cause") or "")
        return (*answers, "lambdaConcur: 0 is out of range" in causes[0])

    def status(self) -> tuple[Any, ...]:
        response = self.invoke("status", self.status_event(self.names["fail"]))
        body = json.loads(response.get("body") or "{}")
        return response.get("statusCode"), body.get("status"), body.get("counts")

    def notify(self) -> tuple[Any, ...]:
        name = self.names["invalid"]
        machine = self.deployed.tier.output("state_machine_arn")
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
        detail = {"name": name, "status": "FAILED", "executionArn": arn}
        return (
            self.invoke(
                "notify", {"detail-type": "Step Functions Execution Status Change", "detail": detail}
            ),
        )

    STEPS = (
        "store",
        "from_reference",
        "fail_and_report",
        "rerun",
        "invalid_input",
        "aborted",
        "status",
        "status_without_report",
        "notify",
    )

    def run(self, step: str) -> tuple[Any, ...]:
        with self.deployed.moto.enforcer.running(step):
            return getattr(self, step)()

    def request(self, paths: list[str], **fields: Any) -> dict[str, Any]:
        return {"baseUrl": self.images.base_url, "resourcePaths": paths, "lambdaConcur": 2, **fields}

    @staticmethod
    def status_event(name: str) -> dict[str, Any]:
        return {"version": "2.0", "routeKey": "GET /executions/{name}", "pathParameters": {"name": name}}

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        name = self.deployed.tier.output("function_names")[function]
        answer = self.deployed.moto.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
        return json.loads(answer["Payload"].read())


EXPECTED_STEPS = {
    "store": ("SUCCEEDED", None),
    "from_reference": ("SUCCEEDED", None),
    "fail_and_report": ("FAILED", "ImagesFailed"),
    "rerun": ("FAILED", "ImagesFailed"),
    "invalid_input": ("FAILED", "InvalidInput"),
    "aborted": ("ABORTED",),
    "status": (200, "FAILED", {"requested": 2, "succeeded": 1, "failed": 1, "skipped": 0}),
    "status_without_report": (
        (200, "FAILED", "InvalidInput"),
        (200, "ABORTED", None),  # moto keeps no cause for a stopped execution
        True,  # the InvalidInput answer's cause names the refused field
    ),
    "notify": ({"published": True},),
}


@pytest.fixture(scope="module")
def live_iam_scenarios(deployed: Deployed) -> Iterator[IamScenarios]:
    with ImageServer() as server:
        server.add_image("/img/a.gif")
        server.add_image("/img/b.gif")
        yield IamScenarios(deployed, server)


@pytest.fixture
def iam_scenarios(request: pytest.FixtureRequest) -> IamScenarios:
    """Every IAM test takes this: in replay they skip in one line (the enforcement judges requests on the
    live moto server; the recording has none)."""
    if replaying(request.config):
        pytest.skip("replay: the IAM enforcement judges calls on the live moto server, not the recording")
    return request.getfixturevalue("live_iam_scenarios")


def test_every_principal_runs_its_steps_under_its_applied_role(iam_scenarios: IamScenarios) -> None:
    observed = {step: iam_scenarios.run(step) for step in IamScenarios.STEPS}
    assert observed == EXPECTED_STEPS
    roles = iam_tier.function_roles(iam_scenarios.deployed.tier.state, NAME)
    denials = iam_scenarios.deployed.moto.enforcer.entries(allowed=False)
    # The one denial by design: S3's "may this caller list?" check of a GetObject of a missing report.
    assert {(entry.scenario, entry.principal, entry.action) for entry in denials} == {
        ("status_without_report", roles["status"], "s3:ListBucket")
    }, denials
    judged = {entry.principal for entry in iam_scenarios.deployed.moto.enforcer.entries()}
    assert judged == set(roles.values())


def derived_needs(deployed: Deployed) -> list[iam_tier.Need]:
    machine = deployed.moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed.tier.output("state_machine_arn")
    )
    manifests = sorted(
        {result["manifestKey"] for result in deployed.invocations.of("batch") if "manifestKey" in result}
    )
    role = machine["roleArn"].rsplit("/", 1)[-1]
    roles = iam_tier.function_roles(deployed.tier.state, NAME)
    return [
        *iam_tier.state_machine_needs(machine, role, manifests, ACCOUNT, REGION),
        *iam_tier.api_needs(deployed.tier.state),
        *iam_tier.function_platform_needs(deployed.tier.state, roles, ACCOUNT, REGION),
    ]


def test_what_step_functions_the_api_and_lambda_do_is_granted_to_their_applied_roles(
    iam_scenarios: IamScenarios,
) -> None:
    needs = derived_needs(iam_scenarios.deployed)
    actions = {need.action for need in needs}
    assert {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:DescribeExecution",
        "s3:GetObject",
    } <= actions
    assert {
        "s3:ListMultipartUploadParts",
        "sns:Publish",
        "logs:CreateLogDelivery",
        "logs:PutLogEvents",
    } <= actions
    assert iam_tier.judge(iam_scenarios.deployed.moto.enforcer, needs) == []


def test_the_topic_policy_lets_exactly_the_publishers_publish(iam_scenarios: IamScenarios) -> None:
    deployed = iam_scenarios.deployed
    enforcer, topic = deployed.moto.enforcer, deployed.tier.output("topic_arn")
    machine = deployed.moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed.tier.output("state_machine_arn")
    )
    roles = iam_tier.function_roles(deployed.tier.state, NAME)
    publishers = {machine["roleArn"].rsplit("/", 1)[-1], roles["notify"]}
    for role in {*publishers, *roles.values()}:
        decision = enforcer.check(iam_tier.role_session(enforcer, role, "probe"), "sns:Publish", topic)
        # Only the publishers' own policies grant sns:Publish; the topic policy denies every other role.
        assert decision.allowed is (role in publishers), (role, decision)
        if role not in publishers:
            assert decision.reason == "explicit deny" and decision.statement is not None
            assert decision.statement.policy.source.startswith("topic-policy:")


def test_eventbridge_and_the_api_may_invoke_exactly_their_functions(iam_scenarios: IamScenarios) -> None:
    deployed = iam_scenarios.deployed
    lambda_ = deployed.moto.client("lambda")
    names = deployed.tier.output("function_names")
    rule = deployed.moto.client("events").describe_rule(Name=f"{NAME}-unsuccessful-executions")
    (api,) = resources_of_type(deployed.tier.state, "aws_apigatewayv2_api")
    route = f"{api['values']['execution_arn']}/$default/GET/executions/tier-1"
    other_route = f"{api['values']['execution_arn']}/$default/POST/executions"
    for function, service, source, refused in (
        ("notify", "events.amazonaws.com", rule["Arn"], rule["Arn"] + "-other"),
        ("status", "apigateway.amazonaws.com", route, other_route),
    ):
        configuration = lambda_.get_function(FunctionName=names[function])["Configuration"]
        policy = json.loads(lambda_.get_policy(FunctionName=names[function])["Policy"])
        arn = configuration["FunctionArn"]
        assert iam_tier.service_may_invoke(policy, service, arn, source), (function, policy)
        assert not iam_tier.service_may_invoke(policy, service, arn, refused), (function, refused)
        assert not iam_tier.service_may_invoke(policy, "sns.amazonaws.com", arn, source)


def test_every_statement_of_every_role_is_used_or_says_why_and_the_ledger_is_printed(
    iam_scenarios: IamScenarios,
) -> None:
    deployed = iam_scenarios.deployed
    enforcer = deployed.moto.enforcer
    assert iam_tier.judge(enforcer, derived_needs(deployed)) == []
    statements = iam_tier.role_statements(enforcer, applied_role_names(deployed))
    reasons = iam_tier.statement_reasons(REPO_ROOT)
    report = iam_tier.ledger_report(enforcer, statements, reasons)
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    LEDGER.write_text(report + "\n")
    print(report)
    used = {entry.statement for entry in enforcer.entries()}
    unexplained = [s.label() for s in statements if s.label() not in used and s.sid not in reasons]
    assert unexplained == [], report


def test_each_statement_taken_away_fails_a_call_with_a_denial_naming_its_action(
    iam_scenarios: IamScenarios,
) -> None:
    """Every statement of every applied role, in turn: taken away through the IAM API (no re-apply), the
    step that used it replayed (or the derived needs judged again), then put back. All 30 take 7-15 s:
    the Lambda roles' steps are one execution or invocation each."""
    deployed = iam_scenarios.deployed
    enforcer, iam = deployed.moto.enforcer, deployed.moto.client("iam")
    if not {entry.scenario for entry in enforcer.entries()} & set(IamScenarios.STEPS):
        for step in IamScenarios.STEPS:
            iam_scenarios.run(step)
        iam_tier.judge(enforcer, derived_needs(deployed))
    statements = iam_tier.role_statements(enforcer, applied_role_names(deployed))
    reasons = iam_tier.statement_reasons(REPO_ROOT)
    probes = {
        statement.label(): iam_tier.replay_of(statement, enforcer, IamScenarios.STEPS)
        for statement in statements
    }
    lines, failures = [], []
    for statement in statements:
        probe = probes[statement.label()]
        if probe is None:
            lines.append(f"kept, used by no step, reason: {reasons.get(statement.sid)}: {statement.label()}")
            if statement.sid not in reasons:
                failures.append(f"{statement.label()}: used by no step and no reason")
            continue
        role = statement.policy.source.split(":", 1)[0].removeprefix("role/")
        policy_name = iam_tier.inline_policy_name(statement)
        assert policy_name is not None, f"{statement.label()}: only inline policies are taken away"
        reduced = iam_tier.without(statement)
        if reduced is None:
            iam.delete_role_policy(RoleName=role, PolicyName=policy_name)
        else:
            iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(reduced))
        mark = len(enforcer.ledger)
        try:
            if probe == "derived needs":
                changed = bool(iam_tier.judge(enforcer, derived_needs(deployed)))
            else:
                observed = iam_scenarios.run(probe)
                changed = observed != EXPECTED_STEPS[probe]
        finally:
            original = json.dumps(statement.policy.document)
            iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=original)
        denied = sorted({e.action for e in enforcer.ledger[mark:] if not e.allowed and e.principal == role})
        named = iam_tier.names_an_action_of(statement, denied)
        outcome = "changed" if changed else "UNCHANGED"
        lines.append(f"taken away: {statement.label()} -> {probe} {outcome}, denied {named}")
        if not (changed and named):
            failures.append(f"{statement.label()}: {probe} changed={changed}, denials {denied}")
    with LEDGER.open("a") as ledger:
        ledger.write("\n".join(["IAM mutation run:", *lines]) + "\n")
    print("\n".join(lines))
    assert failures == [], "\n".join(lines)


def applied_role_names(deployed: Deployed) -> list[str]:
    return sorted(
        resource["values"]["name"] for resource in resources_of_type(deployed.tier.state, "aws_iam_role")
    )


def test_destroy_leaves_the_state_empty(deployed: Deployed) -> None:
    live = deployed.tier.require_live()
    live.destroy()
    assert list(state_resources(live.state())) == []
    assert deployed.moto.client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert deployed.moto.client("lambda").list_functions()["Functions"] == []
