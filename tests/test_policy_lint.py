"""tests/terraform/policy_lint.py on sample policies and sample ``terraform show -json`` documents: it finds
every policy document of a state or a plan, names the statement of each parliament finding, and lets a
finding pass only with a reason. The terraform tier lints the module's applied state with it."""

from __future__ import annotations

import json
from typing import Any

from tests.terraform import policy_lint

LEAST_PRIVILEGE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadReports",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::images/reports/*",
        },
        {
            "Sid": "ListBatchResults",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::images",
            "Condition": {"StringLike": {"s3:prefix": ["runs/*/results/"]}},
        },
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
    ],
}


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def allow(sid: str, actions: list[str], resource: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}


def state(*resources: dict[str, Any], children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"values": {"root_module": {"resources": list(resources), "child_modules": children or []}}}


def data_document(address: str, document: dict[str, Any] | str) -> dict[str, Any]:
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    return {"address": address, "mode": "data", "type": "aws_iam_policy_document", "values": {"json": text}}


def test_a_least_privilege_policy_and_a_trust_policy_have_no_finding() -> None:
    assert policy_lint.lint_document("least", json.dumps(LEAST_PRIVILEGE)) == []
    assert policy_lint.lint_document("trust", json.dumps(TRUST)) == []


def test_each_finding_names_the_statement_it_is_about() -> None:
    text = policy(
        allow("Fine", ["s3:GetObject"], "arn:aws:s3:::images/reports/*"),
        allow("ObjectActionOnTheBucket", ["s3:GetObject"], "arn:aws:s3:::images"),
        allow("Misspelled", ["s3:GetObjects"], "arn:aws:s3:::images/*"),
    )

    findings = policy_lint.lint_document("data.aws_iam_policy_document.x", text)

    assert [(item.sid, item.issue) for item in findings] == [
        ("ObjectActionOnTheBucket", "RESOURCE_MISMATCH"),
        ("Misspelled", "UNKNOWN_ACTION"),
    ]
    assert all(item.address == "data.aws_iam_policy_document.x" for item in findings)
    assert "arn:*:s3:::*/*" in findings[0].detail


def test_a_finding_about_the_whole_policy_names_the_statements_that_raise_it() -> None:
    text = policy(
        allow("ReadReports", ["s3:GetObject"], "arn:aws:s3:::images/reports/*"),
        allow("DeliverLogs", ["logs:PutResourcePolicy"], "*"),
    )

    findings = policy_lint.lint_document("p", text)

    assert [(item.sid, item.issue) for item in findings] == [
        ("DeliverLogs", "PERMISSIONS_MANAGEMENT_ACTIONS")
    ]


def test_a_statement_without_resource_outside_a_trust_policy_is_malformed() -> None:
    (finding,) = policy_lint.lint_document(
        "p", policy({"Sid": "NoResource", "Effect": "Allow", "Action": "s3:*"})
    )
    assert (finding.sid, finding.issue) == ("NoResource", "MALFORMED")


def test_every_document_of_a_state_is_found_once_in_nested_modules_and_resource_attributes() -> None:
    role = {
        "address": 'module.a.aws_iam_role.lambda["batch"]',
        "mode": "managed",
        "type": "aws_iam_role",
        "values": {"assume_role_policy": json.dumps(TRUST), "name": "r"},
    }
    inline = {
        "address": "module.a.aws_iam_role_policy.batch",
        "mode": "managed",
        "type": "aws_iam_role_policy",
        # The same document as the data source's, serialized differently: linted once.
        "values": {"policy": json.dumps(LEAST_PRIVILEGE)},
    }
    # What AWS (or moto) keeps as the topic's policy, read back: not a policy the configuration renders.
    topic = {
        "address": "aws_sns_topic.t",
        "type": "aws_sns_topic",
        "values": {"policy": policy(allow("__default_statement_ID", ["SNS:Publish"], "*"))},
    }
    show = state(
        data_document("data.aws_iam_policy_document.root", TRUST),
        topic,
        children=[
            {
                "address": "module.a",
                "resources": [role, inline],
                "child_modules": [
                    {
                        "address": "module.a.module.b",
                        "resources": [data_document("module.a.b.data", LEAST_PRIVILEGE)],
                    }
                ],
            }
        ],
    )

    documents = policy_lint.policy_documents(show)

    assert list(documents) == [
        "data.aws_iam_policy_document.root",
        "module.a.aws_iam_role_policy.batch.policy",
    ]


def test_a_plan_is_linted_from_its_prior_state_and_planned_values() -> None:
    bad = policy(allow("ObjectActionOnTheBucket", ["s3:PutObject"], "arn:aws:s3:::images"))
    plan = {
        "prior_state": state(data_document("data.aws_iam_policy_document.d", bad)),
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_iam_policy.p",
                        "type": "aws_iam_policy",
                        "values": {"policy": json.dumps(TRUST)},
                    }
                ]
            }
        },
    }

    result = policy_lint.lint(plan)

    assert list(result.documents) == ["data.aws_iam_policy_document.d", "aws_iam_policy.p.policy"]
    assert [(item.sid, item.issue) for item in result.unjustified] == [
        ("ObjectActionOnTheBucket", "RESOURCE_MISMATCH")
    ]


def test_only_a_justified_finding_passes_and_an_unused_reason_is_stale() -> None:
    show = state(
        data_document(
            "data.aws_iam_policy_document.d",
            policy(
                allow("ObjectActionOnTheBucket", ["s3:GetObject"], "arn:aws:s3:::images"),
                allow("Misspelled", ["s3:GetObjects"], "arn:aws:s3:::images/*"),
            ),
        )
    )
    justified = {
        ("ObjectActionOnTheBucket", "RESOURCE_MISMATCH"): "a reason",
        ("Gone", "RESOURCE_STAR"): "a statement that no longer exists",
    }

    result = policy_lint.lint(show, justified)

    assert [(item.sid, item.issue) for item in result.unjustified] == [("Misspelled", "UNKNOWN_ACTION")]
    assert result.stale == [("Gone", "RESOURCE_STAR")]
    assert "[Misspelled] UNKNOWN_ACTION (LOW)" in str(result.unjustified[0])


def test_every_justification_the_module_keeps_has_a_reason() -> None:
    assert all(reason.strip() for reason in policy_lint.JUSTIFIED.values())
