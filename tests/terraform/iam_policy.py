"""IAM policy evaluation as AWS documents it, for the terraform tier's enforcement (iam_enforcement.py).

Written here (standard library only, the project's licence) instead of taken from a package: moto's own
``IAMPolicy`` judges every non-S3 call on resource ``"*"`` and knows only ``StringEquals``
(11 of 22 documented cases); principalmapper (21/22) and @cloud-copilot/iam-simulate (22/22) are AGPL-3.0,
the latter needs node, which a fresh machine may lack. tests/terraform/test_iam_policy.py holds the
documented cases this evaluator is checked against, each with the page of AWS's documentation it comes from.

What it evaluates (the AWS policy evaluation logic for a request within one account):
an explicit Deny in any policy wins; otherwise an Allow in an identity policy, or in a resource policy
naming the principal itself, allows, provided the permissions boundary (if any) allows too; otherwise the
request is implicitly denied. Action/NotAction (case-insensitive wildcards), Resource/NotResource
(case-sensitive wildcards), Principal/NotPrincipal of resource policies, and the condition operators
listed in ``OPERATORS`` with ``...IfExists``, ``Null``, ``ForAnyValue:``/``ForAllValues:``.
Not evaluated (refused with ``Unsupported``, so that a policy using them cannot pass silently): policy
variables (``${...}``), other operators.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

ContextValue = str | Sequence[str]


class Unsupported(ValueError):
    """A policy element this evaluator does not implement."""


@dataclass(frozen=True)
class Policy:
    """One policy document and where it comes from (``role/<name>:inline/<policy>``, a managed policy's
    ARN, ``bucket-policy:<bucket>``...)."""

    source: str
    document: Mapping[str, Any]
    kind: str = "identity"  # identity, resource or boundary

    @classmethod
    def parse(cls, source: str, text: str | Mapping[str, Any], kind: str = "identity") -> Policy:
        return cls(source, json.loads(text) if isinstance(text, str) else text, kind)

    def statements(self) -> list[Statement]:
        raw = self.document.get("Statement", [])
        listed = [raw] if isinstance(raw, Mapping) else list(raw)
        return [Statement(self, index, statement) for index, statement in enumerate(listed)]


@dataclass(frozen=True)
class Statement:
    policy: Policy
    index: int
    body: Mapping[str, Any] = field(compare=False)

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid") or f"#{self.index}")

    @property
    def effect(self) -> str:
        return str(self.body["Effect"])

    def label(self) -> str:
        return f"{self.policy.source}:{self.sid}"


@dataclass(frozen=True)
class Request:
    """One authorization request: who (the role and the session), what, on what, and its context keys."""

    principal_arn: str  # the role's ARN: aws:PrincipalArn
    session_arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    account: str
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        for name, value in self.context.items():
            if name.lower() == key.lower():
                return [value] if isinstance(value, str) else list(value)
        if key.lower() == "aws:principalarn":
            return [self.principal_arn]
        if key.lower() == "aws:principalaccount":
            return [self.account]
        return None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # "allowed", "explicit deny", "implicit deny" or "boundary"
    reason: str
    statement: Statement | None = None


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str | Mapping) or not isinstance(value, Iterable) else list(value)


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise Unsupported(f"policy variables are not evaluated: {pattern!r}")
    translated = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(translated, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own, wildcards within a part."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _number(text: str) -> float:
    return float(text)


def _boolean(text: str) -> str:
    return text.lower()


Compare = Callable[[str, str], bool]
OPERATORS: dict[str, tuple[Compare, bool]] = {
    # name: (value matches policy value, negated)
    "StringEquals": (lambda policy, value: value == policy, False),
    "StringNotEquals": (lambda policy, value: value == policy, True),
    "StringEqualsIgnoreCase": (lambda policy, value: value.lower() == policy.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda policy, value: value.lower() == policy.lower(), True),
    "StringLike": (lambda policy, value: wildcard_match(policy, value), False),
    "StringNotLike": (lambda policy, value: wildcard_match(policy, value), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda policy, value: _boolean(value) == _boolean(policy), False),
    "NumericEquals": (lambda policy, value: _number(value) == _number(policy), False),
    "NumericNotEquals": (lambda policy, value: _number(value) == _number(policy), True),
    "NumericLessThan": (lambda policy, value: _number(value) < _number(policy), False),
    "NumericLessThanEquals": (lambda policy, value: _number(value) <= _number(policy), False),
    "NumericGreaterThan": (lambda policy, value: _number(value) > _number(policy), False),
    "NumericGreaterThanEquals": (lambda policy, value: _number(value) >= _number(policy), False),
    "IpAddress": (lambda policy, value: ipaddress.ip_address(value) in ipaddress.ip_network(policy), False),
    "NotIpAddress": (lambda policy, value: ipaddress.ip_address(value) in ipaddress.ip_network(policy), True),
}


def _condition_met(operator: str, key: str, policy_values: list[str], request: Request) -> bool:
    values = request.value(key)
    if operator == "Null":
        (expected,) = {_boolean(str(v)) for v in policy_values}
        return (values is None) == (expected == "true")
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in OPERATORS:
        raise Unsupported(f"condition operator {operator} is not evaluated")
    compare, negated = OPERATORS[name]
    if values is None:
        # AWS: a key missing from the request context does not match, so a negated operator is true;
        # ...IfExists is true; ForAllValues over no values is true, ForAnyValue false.
        if if_exists or qualifier == "ForAllValues":
            return True
        return False if qualifier == "ForAnyValue" else negated
    strings = [str(v) for v in policy_values]

    def matches(value: str) -> bool:
        return any(compare(policy, value) for policy in strings)

    if qualifier == "":
        return any(map(matches, values)) != negated
    if qualifier == "ForAnyValue":
        return any(matches(value) != negated for value in values)
    if qualifier == "ForAllValues":
        return all(matches(value) != negated for value in values)
    raise Unsupported(f"condition qualifier {qualifier} is not evaluated")


def conditions_met(statement: Statement, request: Request) -> bool:
    for operator, keys in (statement.body.get("Condition") or {}).items():
        for key, policy_values in keys.items():
            if not _condition_met(operator, key, _as_list(policy_values), request):
                return False
    return True


def _matches_action(statement: Statement, action: str) -> bool:
    if "Action" in statement.body:
        return any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement.body["Action"]))
    return not any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement.body["NotAction"]))


def _matches_resource(statement: Statement, resource: str) -> bool:
    if "Resource" in statement.body:
        return any(wildcard_match(p, resource) for p in _as_list(statement.body["Resource"]))
    if "NotResource" in statement.body:
        return not any(wildcard_match(p, resource) for p in _as_list(statement.body["NotResource"]))
    # A resource policy may leave Resource out only where the resource is implied; identity ones may not.
    return statement.policy.kind == "resource"


def _principals(value: Any) -> list[str]:
    if value == "*":
        return ["*"]
    return [item for kind, items in value.items() if kind == "AWS" for item in _as_list(items)]


def _principal_named(statement: Statement, request: Request) -> str | None:
    """How a resource policy's statement names the request's principal: "direct" (the role, its session
    or everyone), "account" (the account: delegates to the identity policies), or None."""
    body = statement.body
    if "NotPrincipal" in body:
        named = _principal_named(
            Statement(statement.policy, statement.index, {"Principal": body["NotPrincipal"]}), request
        )
        return None if named else "direct"
    names = _principals(body.get("Principal", {}))
    if {"*", request.principal_arn, request.session_arn} & set(names):
        return "direct"
    if {request.account, f"arn:aws:iam::{request.account}:root"} & set(names):
        return "account"
    return None


def applies(statement: Statement, request: Request) -> bool:
    if statement.policy.kind == "resource" and _principal_named(statement, request) is None:
        return False
    return (
        _matches_action(statement, request.action)
        and _matches_resource(statement, request.resource)
        and conditions_met(statement, request)
    )


def evaluate(request: Request, policies: Sequence[Policy]) -> Decision:
    """The decision for one request, and the statement that decided it (None for an implicit deny)."""
    matching = [s for policy in policies for s in policy.statements() if applies(s, request)]
    for statement in matching:
        if statement.effect == "Deny" and statement.policy.kind != "boundary":
            return Decision(False, "explicit deny", statement)
    boundaries = [policy for policy in policies if policy.kind == "boundary"]
    if boundaries and not any(s.effect == "Allow" and s.policy.kind == "boundary" for s in matching):
        return Decision(False, "boundary")
    if any(s.effect == "Deny" and s.policy.kind == "boundary" for s in matching):
        return Decision(False, "boundary")
    for statement in matching:
        if statement.effect != "Allow":
            continue
        if statement.policy.kind == "identity":
            return Decision(True, "allowed", statement)
        if statement.policy.kind == "resource" and _principal_named(statement, request) == "direct":
            return Decision(True, "allowed", statement)
    return Decision(False, "implicit deny")
