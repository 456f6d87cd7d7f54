"""Lint every IAM policy document a Terraform state or plan holds with parliament (PyPI, BSD-3-Clause),
its community auditors included.

The documents are what ``terraform show -json`` holds: the ``json`` of every ``aws_iam_policy_document``
data source (role policies, trust policies, the topic's and the bucket's policies, the caller policy) and
every ``policy``/``assume_role_policy`` attribute of a resource, once per distinct text. Each statement
is linted on a line of its own, so that a finding names the statement (its Sid) it is about.

A finding passes only if ``JUSTIFIED`` gives its (Sid, issue) a reason; a reason no finding uses is
stale and reported too, so that the table stays the list of what the module does on purpose.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # parliament 1.6.4 imports pkg_resources, which setuptools deprecates.
    warnings.simplefilter("ignore", UserWarning)
    import parliament

parliament.override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")

# The resource arguments that carry a policy a configuration sets (not one read back: a topic's `policy`
# attribute is the topic policy AWS or moto keeps, whatever resource set it).
POLICY_ATTRIBUTES = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_iam_user_policy": "policy",
    "aws_iam_group_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_sqs_queue_policy": "policy",
}

# (statement Sid, parliament issue) -> why the module grants it anyway.
_DESCRIBE_EXECUTION = (
    "states:DescribeExecution takes a standard execution (execution:) or an express one (express:); "
    "parliament wants a match for each. The state machine is STANDARD, so its executions are execution: "
    "ARNs, and AWS's Distributed Map example policy names the children execution:<name>:* too."
)
JUSTIFIED: dict[tuple[str, str], str] = {
    ("FollowExecutions", "RESOURCE_MISMATCH"): _DESCRIBE_EXECUTION,
    ("DescribeExecutions", "RESOURCE_MISMATCH"): _DESCRIBE_EXECUTION,
    ("ManageChildExecutions", "RESOURCE_MISMATCH"): _DESCRIBE_EXECUTION,
    ("DeliverExecutionLogs", "PERMISSIONS_MANAGEMENT_ACTIONS"): (
        "logs:PutResourcePolicy (and the log delivery actions) on *: what Step Functions needs to deliver "
        "execution logs to CloudWatch Logs (Step Functions developer guide, 'IAM policies for logging'); "
        "these actions take no resource ARN."
    ),
    ("DenyOutdatedTls", "MISMATCHED_TYPE"): (
        'aws_iam_policy_document renders every condition value as a string; S3 reads "1.2" as the number '
        "in a Numeric condition (parliament 1.6.4 accepts only integers there)."
    ),
    ("DenyOutdatedTls", "UNKNOWN_CONDITION_FOR_ACTION"): (
        "The deny names s3:* so that no request over TLS < 1.2 reaches the bucket; the two actions that "
        "have no s3:TlsVersion (replication's InitiateReplication, the account's access point public "
        "access block) are not requests a client sends to this bucket."
    ),
}


@dataclass(frozen=True)
class Finding:
    address: str
    sid: str | None
    issue: str
    severity: str
    detail: str

    def __str__(self) -> str:
        return f"{self.address} [{self.sid or 'policy'}] {self.issue} ({self.severity}): {self.detail}"


@dataclass(frozen=True)
class Lint:
    documents: dict[str, str]
    findings: list[Finding]
    justified: dict[tuple[str, str], str]

    @property
    def unjustified(self) -> list[Finding]:
        return [item for item in self.findings if (item.sid or "", item.issue) not in self.justified]

    @property
    def stale(self) -> list[tuple[str, str]]:
        used = {(item.sid or "", item.issue) for item in self.findings}
        return sorted(set(self.justified) - used)


def policy_documents(show: Mapping[str, Any]) -> dict[str, str]:
    """address -> policy JSON of every policy document in ``terraform show -json`` of a state or a plan
    (a plan's data sources are in its prior state), the first address of each distinct text."""
    documents: dict[str, str] = {}
    seen: set[str] = set()
    for address, text in _documents(show):
        canonical = json.dumps(json.loads(text), sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            documents[address] = text
    return documents


def lint_document(address: str, text: str) -> list[Finding]:
    """parliament's findings on one document, each once, each with the Sid of its statement: from the
    finding's line, or, for a finding about the whole policy (the community auditors' kind), from the
    statements that raise it alone."""
    document = json.loads(text)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    header = {key: value for key, value in document.items() if key != "Statement"}
    findings: list[Finding] = []
    for finding, index in _findings(header, statements):
        statement = statements[index] if index is not None else {}
        if finding.severity == "MUTE" or (finding.issue == "MALFORMED" and _is_trust(statement)):
            continue
        if index is None and len(statements) > 1:
            alone = [i for i, one in enumerate(statements) if finding.issue in _issues(header, one)]
        else:
            alone = [index] if index is not None else []
        detail = json.dumps(finding.detail, sort_keys=True, default=str)
        for sid in [statements[i].get("Sid") for i in alone] or [None]:
            item = Finding(address, sid, finding.issue, finding.severity, detail)
            if item not in findings:
                findings.append(item)
    return findings


def _findings(header: Mapping[str, Any], statements: list[Any]) -> Iterator[tuple[Any, int | None]]:
    """(parliament finding, index of its statement or None)."""
    # Statement i on line i + 2: parliament's line numbers tell which statement a finding is about.
    text = json.dumps(header)[:-1] + (", " if header else "") + '"Statement": [\n'
    text += ",\n".join(json.dumps(statement) for statement in statements) + "\n]}"
    policy = parliament.analyze_policy_string(text, include_community_auditors=True)
    for finding in map(parliament.enhance_finding, policy.findings):
        line = finding.location.get("line") if isinstance(finding.location, dict) else None
        index = line - 2 if isinstance(line, int) and 0 <= line - 2 < len(statements) else None
        yield finding, index


def _issues(header: Mapping[str, Any], statement: Any) -> set[str]:
    return {finding.issue for finding, _ in _findings(header, [statement])}


def lint(show: Mapping[str, Any], justified: Mapping[tuple[str, str], str] = JUSTIFIED) -> Lint:
    documents = policy_documents(show)
    findings = [item for address, text in documents.items() for item in lint_document(address, text)]
    return Lint(documents, findings, dict(justified))


def _is_trust(statement: Mapping[str, Any]) -> bool:
    """A trust policy's statement: a principal may assume the role, which is its resource, so it names no
    Resource (parliament, a linter of identity policies, calls that malformed)."""
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    return (
        "Principal" in statement
        and "Resource" not in statement
        and all(a.startswith("sts:") for a in actions)
    )


def _documents(show: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for values in (
        show.get("values"),
        (show.get("prior_state") or {}).get("values"),
        show.get("planned_values"),
    ):
        for resource in _resources((values or {}).get("root_module") or {}):
            attributes = resource.get("values") or {}
            if resource.get("type") == "aws_iam_policy_document":
                address, text = resource["address"], attributes.get("json")
            else:
                name = POLICY_ATTRIBUTES.get(resource.get("type", ""))
                address, text = f"{resource['address']}.{name}", attributes.get(name) if name else None
            if isinstance(text, str) and text.strip().startswith("{"):
                yield address, text


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)
