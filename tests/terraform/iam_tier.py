"""What the terraform tier asks of the applied roles, and what it prints: the functions run with their
roles' credentials (iam_enforcement.py judges their calls), and what moto does not judge — Step
Functions' own calls, the API's integration, the Lambda runtime's logs, the resource policies of the
functions — is derived from the applied configuration and judged the same way.

A statement no recorded call and no derived need uses is refused by the tier's test unless the Terraform
that writes it carries a comment on the line(s) above its ``statement {`` (its reason).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.terraform.deployed import resources_of_type
from tests.terraform.iam_enforcement import Enforcer, Session, credentials_of
from tests.terraform.iam_policy import Policy, Request, Statement, conditions_met

Handler = Callable[[dict, Any], Any]


def role_session(enforcer: Enforcer, role_name: str, session_name: str) -> Session:
    """The session AWS's service would act as (Step Functions, API Gateway): judged, never signed with."""
    arn = f"arn:aws:iam::{enforcer.account}:role/{role_name}"
    return Session(
        role_name, arn, f"arn:aws:sts::{enforcer.account}:assumed-role/{role_name}/{session_name}", "", "", ""
    )


def function_roles(state: dict[str, Any], name_prefix: str) -> dict[str, str]:
    """Each applied function (batch, download, ...) and the name of the role it runs as."""
    return {
        function["values"]["function_name"].removeprefix(f"{name_prefix}-"): function["values"][
            "role"
        ].rsplit("/", 1)[-1]
        for function in resources_of_type(state, "aws_lambda_function")
    }


def run_as_roles(
    handlers: Mapping[str, Handler], roles: Mapping[str, str], enforcer: Enforcer
) -> dict[str, Handler]:
    """Each handler running with credentials minted for its function's applied role."""
    wrapped = {}
    for name, handler in handlers.items():
        session = enforcer.mint(roles[name], f"{roles[name]}-invocation")

        def as_the_role(
            event: dict, context: Any, handler: Handler = handler, session: Session = session
        ) -> Any:
            with credentials_of(session):
                return handler(event, context)

        wrapped[name] = as_the_role
    return wrapped


# --- needs derived from the applied configuration ------------------------------------------------------


@dataclass(frozen=True)
class Need:
    role: str
    action: str
    resource: str
    why: str


def _states(states: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _states(processor["States"])


def state_machine_needs(
    machine: Mapping[str, Any], role: str, manifest_keys: list[str], account: str, region: str
) -> list[Need]:
    """What Step Functions itself does for the rendered ASL, with the role (Step Functions developer
    guide: "IAM policies for ... integrated services", "Distributed Map state IAM policies", logging and
    X-Ray): each function it invokes, the Distributed Map's children, its ItemReader and ResultWriter,
    sns:Publish, log delivery, X-Ray."""
    definition = json.loads(machine["definition"])
    machine_arn = machine["stateMachineArn"]
    execution = machine_arn.replace(":stateMachine:", ":execution:")
    needs = []
    for name, state in _states(definition["States"]):
        resource = state.get("Resource", "")
        parameters = state.get("Parameters") or {}
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            needs.append(
                Need(role, "lambda:InvokeFunction", parameters["FunctionName"], f"{name}: lambda:invoke")
            )
        elif resource.startswith("arn:aws:states:::sns:publish"):
            needs.append(Need(role, "sns:Publish", parameters["TopicArn"], f"{name}: sns:publish"))
        elif resource:
            raise AssertionError(f"{name}: the tier derives no IAM need of {resource}")
        if state.get("Type") != "Map":
            continue
        if (state.get("ItemProcessor") or {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            child = f"{execution}/{state.get('Label', name)}:{uuid.uuid4()}"
            needs.append(
                Need(role, "states:StartExecution", machine_arn, f"{name}: Distributed Map children")
            )
            for action in ("states:DescribeExecution", "states:StopExecution"):
                needs.append(Need(role, action, child, f"{name}: Distributed Map children"))
        reader = state.get("ItemReader")
        if reader:
            assert reader["Resource"] == "arn:aws:states:::s3:getObject", reader
            bucket = reader["Parameters"]["Bucket"]
            keys = [reader["Parameters"]["Key"]] if "Key" in reader["Parameters"] else manifest_keys
            assert keys, f"{name}: no execution wrote a manifest, so the ItemReader's objects are unknown"
            for key in keys:
                needs.append(
                    Need(role, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", f"{name}: ItemReader")
                )
        writer = state.get("ResultWriter")
        if writer:
            assert writer["Resource"] == "arn:aws:states:::s3:putObject", writer
            prefix = writer["Parameters"].get("Prefix", "").rstrip("/")
            run = f"arn:aws:s3:::{writer['Parameters']['Bucket']}/{prefix}/{uuid.uuid4()}"
            for action in (
                "s3:PutObject",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:AbortMultipartUpload",
            ):
                for key in ("manifest.json", "SUCCEEDED_0.json"):
                    needs.append(Need(role, action, f"{run}/{key}", f"{name}: ResultWriter"))
    level = (machine.get("loggingConfiguration") or {}).get("level", "OFF")
    if level != "OFF":
        for action in (
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        ):
            needs.append(Need(role, action, "*", f"logging at {level}"))
    if (machine.get("tracingConfiguration") or {}).get("enabled"):
        needs.extend(_xray_needs(role))
    return needs


def _xray_needs(role: str) -> list[Need]:
    actions = (
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    )
    return [Need(role, action, "*", "tracing") for action in actions]


def function_platform_needs(
    state: dict[str, Any], roles: Mapping[str, str], account: str, region: str
) -> list[Need]:
    """What the Lambda service does with each function's role: write the function's logs to its log
    group (and traces, with tracing on)."""
    needs = []
    for function in resources_of_type(state, "aws_lambda_function"):
        values = function["values"]
        role = values["role"].rsplit("/", 1)[-1]
        logging = (values.get("logging_config") or [{}])[0]
        group = logging.get("log_group") or f"/aws/lambda/{values['function_name']}"
        stream = f"2026/01/01/[$LATEST]{uuid.uuid4().hex}"
        stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            needs.append(Need(role, action, stream, "the Lambda runtime writes the function's logs"))
        if (values.get("tracing_config") or [{}])[0].get("mode") == "Active":
            needs.extend(_xray_needs(role))
    return needs


def api_needs(state: dict[str, Any]) -> list[Need]:
    """The HTTP API's StartExecution integration calls Step Functions with its credentials_arn."""
    needs = []
    for integration in resources_of_type(state, "aws_apigatewayv2_integration"):
        values = integration["values"]
        if values.get("integration_subtype") == "StepFunctions-StartExecution":
            role = values["credentials_arn"].rsplit("/", 1)[-1]
            arn = values["request_parameters"]["StateMachineArn"]
            needs.append(
                Need(role, "states:StartExecution", arn, "API integration StepFunctions-StartExecution")
            )
    return needs


def judge(enforcer: Enforcer, needs: list[Need]) -> list[str]:
    """Each need judged as the role's session would be; the problems, one line each."""
    problems = []
    with enforcer.running("derived needs"):
        for need in needs:
            decision = enforcer.check(
                role_session(enforcer, need.role, "service"), need.action, need.resource
            )
            if not decision.allowed:
                problems.append(
                    f"{need.role} may not {need.action} on {need.resource} ({need.why}): {decision.reason}"
                )
    return problems


def service_may_invoke(policy: Mapping[str, Any], service: str, function_arn: str, source_arn: str) -> bool:
    """A function's resource policy lets ``service`` invoke it on behalf of ``source_arn``."""
    document = Policy("function-policy", policy, "resource")
    request = Request("", "", "", "lambda:InvokeFunction", function_arn, {"aws:SourceArn": source_arn})
    for statement in document.statements():
        principal = statement.body.get("Principal") or {}
        services = principal.get("Service", []) if isinstance(principal, Mapping) else []
        services = [services] if isinstance(services, str) else services
        if statement.effect == "Allow" and service in services and _statement_covers(statement, request):
            return True
    return False


def _statement_covers(statement: Statement, request: Request) -> bool:
    from tests.terraform.iam_policy import wildcard_match

    actions = statement.body.get("Action", [])
    resources = statement.body.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    return (
        any(wildcard_match(a, request.action, ignore_case=True) for a in actions)
        and any(wildcard_match(r, request.resource) for r in resources)
        and conditions_met(statement, request)
    )


# --- statements and their reasons ----------------------------------------------------------------------

_STATEMENT = re.compile(r'^(?P<indent>\s*)(?:dynamic\s+"statement"|statement)\s*\{', re.MULTILINE)
_SID = re.compile(r'sid\s*=\s*"(?P<sid>[^"]+)"')


def statement_reasons(repo_root: Path) -> dict[str, str]:
    """Each statement ``sid`` of the module's Terraform with the comment right above its block."""
    reasons: dict[str, str] = {}
    for path in sorted((repo_root / "modules").glob("*/*.tf")):
        text = path.read_text()
        lines = text.splitlines()
        for match in _STATEMENT.finditer(text):
            line = text.count("\n", 0, match.start())
            comment = []
            above = line - 1
            while above >= 0 and lines[above].strip().startswith("#"):
                comment.insert(0, lines[above].strip().lstrip("# "))
                above -= 1
            sid = _SID.search(text, match.end())
            if sid and comment:
                reasons[sid["sid"]] = " ".join(comment)
    return reasons


def role_statements(enforcer: Enforcer, roles: list[str]) -> list[Statement]:
    return [
        statement
        for role in roles
        for policy in enforcer.role_policies(role)
        if policy.kind == "identity"
        for statement in policy.statements()
    ]


def ledger_report(enforcer: Enforcer, statements: list[Statement], reasons: Mapping[str, str]) -> str:
    entries = enforcer.entries()
    used = {entry.statement for entry in entries}
    principals = sorted({entry.principal for entry in entries})
    calls = {(e.principal, e.action, e.resource) for e in entries if e.scenario != "derived needs"}
    derived = {(e.principal, e.action, e.resource) for e in entries if e.scenario == "derived needs"}
    in_use = len([statement for statement in statements if statement.label() in used])
    lines = [
        f"IAM ledger: {len(principals)} principals, {len(calls)} distinct calls judged, "
        f"{len(derived)} derived needs, {len(statements)} statements ({in_use} used)",
        enforcer.ledger_table(),
    ]
    for statement in statements:
        if statement.label() not in used:
            lines.append(f"unused: {statement.label()} (reason: {reasons.get(statement.sid, 'none')})")
    return "\n".join(lines)


# --- the mutation run: each statement taken away, its need shown ---------------------------------------


def inline_policy_name(statement: Statement) -> str | None:
    """The inline policy a statement belongs to (``role/<role>:inline/<name>``), None for attached ones."""
    role_part, _, policy = statement.policy.source.partition(":inline/")
    return policy if role_part.startswith("role/") and policy else None


def without(statement: Statement) -> dict[str, Any] | None:
    """The statement's policy document without it; None when it was the only statement."""
    document = dict(statement.policy.document)
    listed = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    rest = [body for index, body in enumerate(listed) if index != statement.index]
    return {**document, "Statement": rest} if rest else None


def names_an_action_of(statement: Statement, actions: list[str]) -> list[str]:
    """The actions among ``actions`` the statement grants (its Action patterns)."""
    from tests.terraform.iam_policy import wildcard_match

    granted = statement.body.get("Action", [])
    granted = [granted] if isinstance(granted, str) else granted
    return [action for action in actions if any(wildcard_match(p, action, ignore_case=True) for p in granted)]


def replay_of(statement: Statement, enforcer: Enforcer, steps: tuple[str, ...]) -> str | None:
    """What shows the statement's need: "derived needs", the first step that used it, or None."""
    used_by = {entry.scenario for entry in enforcer.entries() if entry.statement == statement.label()}
    if "derived needs" in used_by:
        return "derived needs"
    return next((step for step in steps if step in used_by), None)
