"""The tier's IAM enforcement (iam_enforcement.py) on a moto server of its own, without terraform: calls
made with a role's minted credentials are judged on the role's policies as they are now, and denied as
AWS denies them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.terraform import iam_enforcement
from tests.terraform.iam_enforcement import Enforcer, Session, credentials_of

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@dataclass
class Server:
    endpoint: str
    enforcer: Enforcer

    def client(self, service: str, session: Session | None = None) -> Any:
        keys = (
            {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            if session is None
            else {
                "aws_access_key_id": session.access_key_id,
                "aws_secret_access_key": session.secret_access_key,
                "aws_session_token": session.session_token,
            }
        )
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **keys)

    def role(self, name: str, *statements: dict[str, Any]) -> Session:
        iam = self.client("iam")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
        return self.enforcer.mint(name, name)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from moto.server import ThreadedMotoServer

    enforcer = Enforcer(ACCOUNT, REGION)
    with pytest.MonkeyPatch.context() as patch:
        iam_enforcement.install(patch, enforcer)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        try:
            yield Server(f"http://{host}:{port}", enforcer)
        finally:
            moto.stop()


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def bucket(server: Server) -> str:
    server.client("s3").create_bucket(Bucket="enforced")
    server.client("s3").put_object(Bucket="enforced", Key="runs/a.json", Body=b"{}")
    return "enforced"


def test_s3_allows_the_granted_prefix_and_denies_the_rest_as_s3_does(server: Server, bucket: str) -> None:
    session = server.role(
        "reader", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/runs/*"}
    )
    s3 = server.client("s3", session)
    assert s3.get_object(Bucket=bucket, Key="runs/a.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as put:
        s3.put_object(Bucket=bucket, Key="runs/b.json", Body=b"{}")
    assert code(put) == "AccessDenied"
    assert "s3:PutObject" in str(put.value) and session.session_arn in str(put.value)
    with pytest.raises(ClientError) as other:
        s3.get_object(Bucket=bucket, Key="reports/a.json")
    assert code(other) == "AccessDenied"


def test_a_missing_key_without_listbucket_is_access_denied_and_with_it_no_such_key(
    server: Server, bucket: str
) -> None:
    objects = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    without = server.client("s3", server.role("no-list", objects))
    with pytest.raises(ClientError) as get:
        without.get_object(Bucket=bucket, Key="runs/missing.json")
    assert code(get) == "AccessDenied" and "s3:ListBucket" in str(get.value)
    with pytest.raises(ClientError) as head:
        without.head_object(Bucket=bucket, Key="runs/missing.json")
    assert code(head) == "403"  # HEAD has no body: botocore reads the status, as from S3
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    with_list = server.client("s3", server.role("with-list", objects, listing))
    with pytest.raises(ClientError) as missing:
        with_list.get_object(Bucket=bucket, Key="runs/missing.json")
    assert code(missing) == "NoSuchKey"


def test_a_prefix_condition_on_listbucket_is_not_met_by_a_get_of_a_missing_key(
    server: Server, bucket: str
) -> None:
    objects = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringLike": {"s3:prefix": "runs/*"}},
    }
    s3 = server.client("s3", server.role("prefixed-list", objects, listing))
    assert s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["KeyCount"] == 1
    with pytest.raises(ClientError) as outside:
        s3.list_objects_v2(Bucket=bucket, Prefix="reports/")
    assert code(outside) == "AccessDenied"
    # AWS does not document that s3:prefix is set in the ListBucket check of a GetObject: not relied on.
    with pytest.raises(ClientError) as get:
        s3.get_object(Bucket=bucket, Key="runs/missing.json")
    assert code(get) == "AccessDenied"


def test_dynamodb_is_judged_on_the_table_arn_and_denied_with_access_denied_exception(server: Server) -> None:
    dynamodb = server.client("dynamodb")
    for name in ("granted", "other"):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "url", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "url", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/granted"
    session = server.role("recorder", {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table})
    recorder = server.client("dynamodb", session)
    recorder.put_item(TableName="granted", Item={"url": {"S": "a"}})
    with pytest.raises(ClientError) as other:
        recorder.put_item(TableName="other", Item={"url": {"S": "a"}})
    assert code(other) == "AccessDeniedException" and "dynamodb:PutItem" in str(other.value)
    with pytest.raises(ClientError) as batch:
        recorder.batch_get_item(RequestItems={"granted": {"Keys": [{"url": {"S": "a"}}]}})
    assert code(batch) == "AccessDeniedException" and "dynamodb:BatchGetItem" in str(batch.value)
    assert ("recorder", "dynamodb:PutItem", table, "role/recorder:inline/inline:#0") in {
        (e.principal, e.action, e.resource, e.statement) for e in server.enforcer.entries()
    }


def test_sns_honours_the_topic_policy_deny_and_answers_authorization_error(server: Server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="notes")["TopicArn"]
    publisher = f"arn:aws:iam::{ACCOUNT}:role/publisher"
    deny_others = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": publisher}},
    }
    policy = {"Version": "2012-10-17", "Statement": [deny_others]}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    grant = {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}
    server.client("sns", server.role("publisher", grant)).publish(TopicArn=topic, Message="hi")
    with pytest.raises(ClientError) as other:
        server.client("sns", server.role("stranger", grant)).publish(TopicArn=topic, Message="hi")
    assert code(other) == "AuthorizationError" and "explicit deny in a resource-based policy" in str(
        other.value
    )


def test_step_functions_calls_are_judged_on_the_execution_arn(server: Server) -> None:
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:machine:run-1"
    session = server.role(
        "describer",
        {
            "Effect": "Allow",
            "Action": "states:DescribeExecution",
            "Resource": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:other:*",
        },
    )
    with pytest.raises(ClientError) as describe:
        server.client("stepfunctions", session).describe_execution(executionArn=execution)
    assert code(describe) == "AccessDeniedException" and execution in str(describe.value)


def test_a_policy_changed_through_iam_applies_to_the_next_call_without_new_credentials(
    server: Server, bucket: str
) -> None:
    session = server.role(
        "changing", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    s3 = server.client("s3", session)
    s3.get_object(Bucket=bucket, Key="runs/a.json")
    server.client("iam").delete_role_policy(RoleName="changing", PolicyName="inline")
    with pytest.raises(ClientError) as after:
        s3.get_object(Bucket=bucket, Key="runs/a.json")
    assert code(after) == "AccessDenied"


def test_clients_created_in_a_role_thread_sign_as_the_role_and_others_are_refused(
    server: Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    session = server.role(
        "threaded", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    iam_enforcement.install_client_credentials(monkeypatch)
    # tests/conftest.py's autouse fixture set "testing" keys in the environment: a client outside every
    # role is refused all the same.
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    results: list[Any] = []

    def in_a_child_thread() -> None:
        client = boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION)
        try:
            client.put_object(Bucket=bucket, Key="runs/c.json", Body=b"{}")
        except ClientError as error:
            results.append(error.response["Error"]["Code"])

    with credentials_of(session):
        child = threading.Thread(target=in_a_child_thread)
        child.start()
        child.join()
    assert results == ["AccessDenied"]  # judged as the role (which may only read), not unjudged
    with pytest.raises(ClientError) as unknown:
        boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION).get_object(
            Bucket=bucket, Key="runs/a.json"
        )
    assert code(unknown) == "InvalidClientTokenId"


def test_the_moto_and_botocore_names_the_enforcement_uses_still_exist() -> None:
    """Guards each internal name iam_enforcement.py patches or reads (moto is pinned; a new moto that
    renames one fails here, by name, instead of silently judging nothing)."""
    import inspect

    import botocore.session
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.responses import BaseResponse
    from moto.iam.models import ManagedPolicy, PolicyVersion, Role
    from moto.s3.models import S3Backend
    from moto.sns.models import SNSBackend, Topic
    from moto.sts.models import STSBackend

    assert (
        "resource"
        in inspect.signature(ActionAuthenticatorMixin._authenticate_and_authorize_action).parameters
    )
    assert "_authenticate_and_authorize_normal_action" in inspect.getsource(BaseResponse.call_action)
    for name in ("get_access_key", "_get_action"):
        assert callable(getattr(BaseResponse, name)), name
    assert {"role_session_name", "role_arn", "policy", "duration", "external_id"} <= set(
        inspect.signature(STSBackend.assume_role).parameters
    )
    role_init = inspect.getsource(Role.__init__)
    for attribute in ("self.policies", "self.managed_policies", "self.permissions_boundary"):
        assert attribute in role_init, attribute
    assert "self.versions" in inspect.getsource(ManagedPolicy.__mro__[1].__init__)
    assert isinstance(PolicyVersion.is_default_version, property)
    assert callable(S3Backend.get_bucket_policy) and callable(S3Backend.get_object)
    assert callable(SNSBackend.get_topic) and isinstance(Topic.policy, property)
    assert callable(botocore.session.Session.create_client)
