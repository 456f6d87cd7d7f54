"""The moto gaps the terraform tier fills (tests/terraform/moto_shims.py) are filled: checked with moto's
in-process mock, which dispatches through the same classes as its server."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.iam.access_control import PermissionResult
from moto.s3.models import s3_backends

from tests.terraform import moto_shims

REGION = "us-east-1"
ARCHIVE_RULE = {
    "ID": "images-to-glacier-instant-retrieval",
    "Status": "Enabled",
    "Filter": {"And": {"Prefix": "images/", "ObjectSizeGreaterThan": 131072}},
    "Transitions": [{"Days": 1, "StorageClass": "GLACIER_IR"}],
}


@pytest.fixture
def shimmed_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    moto_shims.apply(monkeypatch)
    with mock_aws():
        yield


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def create_function(name: str, **extra: object) -> dict:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )
    return boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Role=role["Role"]["Arn"],
        Runtime="python3.13",
        Handler="handler.handler",
        Code={"ZipFile": function_zip()},
        **extra,
    )


def test_lifecycle_and_filter_keeps_its_object_size(shimmed_aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="image-downloader-test")
    s3.put_bucket_lifecycle_configuration(
        Bucket="image-downloader-test", LifecycleConfiguration={"Rules": [ARCHIVE_RULE]}
    )
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket="image-downloader-test")["Rules"]
    assert rule["Filter"] == {"And": {"Prefix": "images/", "ObjectSizeGreaterThan": 131072}}


def test_lambda_keeps_its_logging_config(shimmed_aws: None) -> None:
    logging = {
        "LogFormat": "JSON",
        "LogGroup": "/aws/lambda/f",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
    }
    assert create_function("f", LoggingConfig=logging)["LoggingConfig"] == logging
    client = boto3.client("lambda", region_name=REGION)
    client.update_function_configuration(FunctionName="f", LoggingConfig={"ApplicationLogLevel": "DEBUG"})
    assert client.get_function(FunctionName="f")["Configuration"]["LoggingConfig"] == {
        **logging,
        "ApplicationLogLevel": "DEBUG",
    }
    assert create_function("g")["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/g"}


def test_step_functions_validates_and_lists_no_versions(shimmed_aws: None) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    assert sfn.validate_state_machine_definition(definition="{}")["result"] == "OK"
    arn = f"arn:aws:states:{REGION}:123456789012:stateMachine:x"
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []


def test_without_the_shims_moto_drops_the_object_size() -> None:
    """The reason the shim exists: when this starts failing, moto keeps the size and the shim can go."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="image-downloader-test")
        s3.put_bucket_lifecycle_configuration(
            Bucket="image-downloader-test", LifecycleConfiguration={"Rules": [ARCHIVE_RULE]}
        )
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket="image-downloader-test")["Rules"]
    assert rule["Filter"] == {"And": {"Prefix": "images/"}}


TLS_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::image-downloader-test", "arn:aws:s3:::image-downloader-test/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def bucket_policy_denies_a_put() -> bool:
    """Whether moto's bucket policy check (what its S3 responses consult before a PutObject) denies a put
    into a bucket whose policy only denies plain HTTP."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="image-downloader-test")
    s3.put_bucket_policy(Bucket="image-downloader-test", Policy=json.dumps(TLS_ONLY_POLICY))
    bucket = s3_backends["123456789012"]["aws"].get_bucket("image-downloader-test")
    permission = bucket.get_permission("s3:PutObject", "arn:aws:s3:::image-downloader-test/a.gif")
    return permission == PermissionResult.DENIED


def test_a_deny_conditioned_on_a_key_the_request_lacks_does_not_apply(shimmed_aws: None) -> None:
    assert not bucket_policy_denies_a_put()


def test_without_the_shims_moto_applies_every_conditional_deny() -> None:
    """The reason the shim exists: when this starts failing, moto no longer treats a condition on a missing
    key as met, and the shim can go."""
    with mock_aws():
        assert bucket_policy_denies_a_put()
