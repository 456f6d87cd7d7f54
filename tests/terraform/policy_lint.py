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

POLICY_ATTRIBUTES = ("policy", "assume_role_policy")

# (statement Sid, parliament issue) -> why the module grants it anyway.
JUSTIFIED: dict[tuple[str, str], str] = {}


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
    document = json.loads(text)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    header = {key: value for key, value in document.items() if key != "Statement"}
    # Statement i on line i + 2: parliament's line numbers tell which statement a finding is about.
    lines = json.dumps(header)[:-1] + (", " if header else "") + '"Statement": [\n'
    lines += ",\n".join(json.dumps(statement) for statement in statements) + "\n]}"
    policy = parliament.analyze_policy_string(lines, include_community_auditors=True)
    findings = []
    for finding in map(parliament.enhance_finding, policy.findings):
        line = finding.location.get("line") if isinstance(finding.location, dict) else None
        index = line - 2 if isinstance(line, int) else -1
        statement = statements[index] if 0 <= index < len(statements) else {}
        if finding.severity == "MUTE" or (finding.issue == "MALFORMED" and _is_trust(statement)):
            continue
        sid = statement.get("Sid")
        detail = json.dumps(finding.detail, sort_keys=True, default=str)
        findings.append(Finding(address, sid, finding.issue, finding.severity, detail))
    return findings


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
            names = ("json",) if resource.get("type") == "aws_iam_policy_document" else POLICY_ATTRIBUTES
            for name in names:
                text = attributes.get(name)
                if isinstance(text, str) and text.strip().startswith("{"):
                    yield (resource["address"] if name == "json" else f"{resource['address']}.{name}"), text


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)
