"""The tier's policy evaluator (iam_policy.py) against the answers AWS documents: one row per case, each
naming the page of the IAM User Guide (or service reference) it comes from. Needs no apply."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.iam_policy import Policy, Request, Unsupported, evaluate, wildcard_match

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tier-download"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/tier-download/tier"
BUCKET = "arn:aws:s3:::images"
OBJECT = f"{BUCKET}/images/ab/cd.gif"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/tier-images"


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def identity(*statements: dict[str, Any]) -> Policy:
    return Policy("role/tier-download:inline/test", {"Version": "2012-10-17", "Statement": list(statements)})


def resource(*statements: dict[str, Any]) -> Policy:
    return Policy(
        "bucket-policy:images", {"Version": "2012-10-17", "Statement": list(statements)}, "resource"
    )


def boundary(*statements: dict[str, Any]) -> Policy:
    return Policy("boundary", {"Version": "2012-10-17", "Statement": list(statements)}, "boundary")


def reader_and_bucket_deny(condition: dict[str, Any]) -> list[Policy]:
    """A role that may read the object, and a bucket policy denying everyone every s3 action under
    ``condition`` (the module's TLS-only bucket policy)."""
    return [
        identity(allow("s3:GetObject", OBJECT)),
        resource(deny("s3:*", f"{BUCKET}/*", Principal="*", Condition=condition)),
    ]


def request(action: str, resource_arn: str, **context: Any) -> Request:
    return Request(ROLE, SESSION, ACCOUNT, action, resource_arn, context)


EVAL = "reference_policies_evaluation-logic.html"
ELEMENTS = "reference_policies_elements_"
CONDITIONS = "reference_policies_elements_condition_operators.html"
# (id, policies, request, allowed, documented at)
CASES = [
    ("no-statement-implicit-deny", [identity()], request("s3:GetObject", OBJECT), False, EVAL),
    (
        "exact-action-allows",
        [identity(allow("s3:GetObject", OBJECT))],
        request("s3:GetObject", OBJECT),
        True,
        EVAL,
    ),
    (
        "action-wildcard",
        [identity(allow("s3:Get*", f"{BUCKET}/*"))],
        request("s3:GetObject", OBJECT),
        True,
        ELEMENTS + "action.html",
    ),
    (
        "action-case-insensitive",
        [identity(allow("S3:getobject", OBJECT))],
        request("s3:GetObject", OBJECT),
        True,
        ELEMENTS + "action.html",
    ),
    (
        "other-action-not-allowed",
        [identity(allow("s3:PutObject", OBJECT))],
        request("s3:GetObject", OBJECT),
        False,
        EVAL,
    ),
    (
        "explicit-deny-wins",
        [identity(allow("s3:*", "*"), deny("s3:GetObject", OBJECT))],
        request("s3:GetObject", OBJECT),
        False,
        EVAL,
    ),
    (
        "notaction-allows-the-rest",
        [identity({"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"})],
        request("s3:GetObject", OBJECT),
        True,
        ELEMENTS + "notaction.html",
    ),
    (
        "notaction-excludes-its-action",
        [identity({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"})],
        request("s3:GetObject", OBJECT),
        False,
        ELEMENTS + "notaction.html",
    ),
    (
        "resource-wildcard-crosses-slashes",
        [identity(allow("s3:GetObject", f"{BUCKET}/images/*"))],
        request("s3:GetObject", OBJECT),
        True,
        ELEMENTS + "resource.html",
    ),
    (
        "resource-other-prefix",
        [identity(allow("s3:GetObject", f"{BUCKET}/reports/*"))],
        request("s3:GetObject", OBJECT),
        False,
        ELEMENTS + "resource.html",
    ),
    (
        "resource-case-sensitive",
        [identity(allow("dynamodb:PutItem", TABLE.replace("tier-images", "Tier-Images")))],
        request("dynamodb:PutItem", TABLE),
        False,
        ELEMENTS + "resource.html",
    ),
    (
        "bucket-arn-is-not-its-objects",
        [identity(allow("s3:ListBucket", f"{BUCKET}/*"))],
        request("s3:ListBucket", BUCKET),
        False,
        "s3 list_amazons3.html (ListBucket: resource type bucket)",
    ),
    (
        "notresource",
        [identity({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": f"{BUCKET}/reports/*"})],
        request("s3:GetObject", OBJECT),
        True,
        ELEMENTS + "notresource.html",
    ),
    (
        "stringlike-prefix-met",
        [identity(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "runs/*"}}))],
        request("s3:ListBucket", BUCKET, **{"s3:prefix": "runs/a/"}),
        True,
        CONDITIONS,
    ),
    (
        "condition-on-missing-key-not-met",
        [identity(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "runs/*"}}))],
        request("s3:ListBucket", BUCKET),
        False,
        CONDITIONS + " (the key is not present: the condition is false)",
    ),
    (
        "negated-operator-on-missing-key-is-true",
        [
            identity(allow("sns:Publish")),
            resource(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},
                }
            ),
        ],
        request("sns:Publish", "arn:aws:sns:us-east-1:123456789012:topic"),
        False,
        CONDITIONS + " (StringNotLike/ArnNotLike with the key absent: true)",
    ),
    (
        "ifexists-on-missing-key-is-true",
        [
            identity(
                allow(
                    "s3:GetObject",
                    OBJECT,
                    Condition={"StringEqualsIfExists": {"s3:ExistingObjectTag/x": "y"}},
                )
            )
        ],
        request("s3:GetObject", OBJECT),
        True,
        CONDITIONS + " (...IfExists)",
    ),
    (
        "bool-securetransport-deny-plain-http",
        reader_and_bucket_deny({"Bool": {"aws:SecureTransport": "false"}}),
        request("s3:GetObject", OBJECT, **{"aws:SecureTransport": "false"}),
        False,
        "reference_policies_condition-keys.html#condition-keys-securetransport",
    ),
    (
        "bool-securetransport-https-passes",
        reader_and_bucket_deny({"Bool": {"aws:SecureTransport": "false"}}),
        request("s3:GetObject", OBJECT, **{"aws:SecureTransport": "true"}),
        True,
        "reference_policies_condition-keys.html#condition-keys-securetransport",
    ),
    (
        "numeric-tls-1.3-not-below-1.2",
        reader_and_bucket_deny({"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
        request("s3:GetObject", OBJECT, **{"s3:TlsVersion": "1.3"}),
        True,
        "AmazonS3 amazon-s3-policy-keys.html#example-object-tls-version",
    ),
    (
        "numeric-tls-1.0-denied",
        reader_and_bucket_deny({"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
        request("s3:GetObject", OBJECT, **{"s3:TlsVersion": "1.0"}),
        False,
        "AmazonS3 amazon-s3-policy-keys.html#example-object-tls-version",
    ),
    (
        "values-or-keys-and",
        [
            identity(
                allow(
                    "s3:ListBucket",
                    BUCKET,
                    Condition={"StringLike": {"s3:prefix": ["a/*", "b/*"], "s3:delimiter": "/"}},
                )
            )
        ],
        request("s3:ListBucket", BUCKET, **{"s3:prefix": "b/x"}),
        False,
        "reference_policies_condition-logic-multiple-context-keys-or-values.html",
    ),
    (
        "null-condition-key-absent",
        [identity(allow("s3:GetObject", OBJECT, Condition={"Null": {"aws:TokenIssueTime": "true"}}))],
        request("s3:GetObject", OBJECT),
        True,
        CONDITIONS + "#Conditions_Null",
    ),
    (
        "forallvalues-empty-set-true",
        [
            identity(
                allow(
                    "dynamodb:PutItem",
                    TABLE,
                    Condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": ["url"]}},
                )
            )
        ],
        request("dynamodb:PutItem", TABLE),
        True,
        "reference_policies_condition-single-vs-multi-valued-context-keys.html",
    ),
    (
        "foranyvalue-missing-key-false",
        [
            identity(
                allow(
                    "dynamodb:PutItem",
                    TABLE,
                    Condition={"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["url"]}},
                )
            )
        ],
        request("dynamodb:PutItem", TABLE),
        False,
        "reference_policies_condition-single-vs-multi-valued-context-keys.html",
    ),
    (
        "arnlike-wildcard-region",
        [
            identity(
                allow(
                    "sns:Publish",
                    "*",
                    Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/tier-*"}},
                )
            )
        ],
        request("sns:Publish", "arn:aws:sns:us-east-1:123456789012:topic"),
        True,
        CONDITIONS + "#Conditions_ARN",
    ),
    (
        "arnnotequals-deny-other-principal",
        [
            identity(allow("sns:Publish")),
            resource(
                deny(
                    "sns:Publish",
                    Principal="*",
                    Condition={
                        "ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/tier-notify"}
                    },
                )
            ),
        ],
        request("sns:Publish", "arn:aws:sns:us-east-1:123456789012:topic"),
        False,
        CONDITIONS + "#Conditions_ARN",
    ),
    (
        "same-account-resource-policy-naming-the-role-allows-alone",
        [
            identity(),
            resource(
                {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECT}
            ),
        ],
        request("s3:GetObject", OBJECT),
        True,
        EVAL + " (within an account: identity-based or resource-based allow)",
    ),
    (
        "resource-policy-naming-the-account-delegates-to-iam",
        [
            identity(),
            resource(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "s3:GetObject",
                    "Resource": OBJECT,
                }
            ),
        ],
        request("s3:GetObject", OBJECT),
        False,
        ELEMENTS + "principal.html#principal-accounts",
    ),
    (
        "resource-policy-deny-wins-over-identity-allow",
        [identity(allow("s3:GetObject", OBJECT)), resource(deny("s3:GetObject", OBJECT, Principal="*"))],
        request("s3:GetObject", OBJECT),
        False,
        EVAL,
    ),
    (
        "boundary-limits-identity-allow",
        [identity(allow("s3:*", "*")), boundary(allow("dynamodb:*", "*"))],
        request("s3:GetObject", OBJECT),
        False,
        "access_policies_boundaries.html",
    ),
    (
        "boundary-and-identity-both-allow",
        [identity(allow("s3:GetObject", OBJECT)), boundary(allow("s3:*", "*"))],
        request("s3:GetObject", OBJECT),
        True,
        "access_policies_boundaries.html",
    ),
    (
        "condition-key-name-case-insensitive-value-sensitive",
        [identity(allow("s3:ListBucket", BUCKET, Condition={"StringEquals": {"S3:Prefix": "Runs/"}}))],
        request("s3:ListBucket", BUCKET, **{"s3:prefix": "runs/"}),
        False,
        CONDITIONS + " (key names are not case-sensitive; StringEquals values are)",
    ),
]


@pytest.mark.parametrize(
    ("policies", "req", "expected", "documented"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_evaluator_agrees_with_the_documented_answer(
    policies: list[Policy], req: Request, expected: bool, documented: str
) -> None:
    decision = evaluate(req, policies)
    assert decision.allowed is expected, (decision, documented)


def test_an_allow_names_the_statement_that_allowed() -> None:
    policy = identity(allow("s3:PutObject", OBJECT, Sid="Other"), allow("s3:GetObject", OBJECT, Sid="ReadIt"))
    decision = evaluate(request("s3:GetObject", OBJECT), [policy])
    assert (
        decision.statement is not None
        and decision.statement.label() == "role/tier-download:inline/test:ReadIt"
    )


def test_an_unknown_operator_or_a_policy_variable_is_refused_not_ignored() -> None:
    odd = identity(
        allow("s3:GetObject", OBJECT, Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01"}})
    )
    with pytest.raises(Unsupported, match="DateLessThan"):
        evaluate(request("s3:GetObject", OBJECT), [odd])
    with pytest.raises(Unsupported, match="policy variables"):
        wildcard_match("arn:aws:s3:::b/${aws:username}/*", OBJECT)
