"""The notify function: what the topic's subscribers read when an execution ends FAILED, TIMED_OUT or
ABORTED, and that an execution whose images failed (already reported by the state machine) gets no
second message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from image_downloader import notify
from image_downloader.errors import InvalidInput
from image_downloader.problems import cause_document

ARN = "arn:aws:states:eu-west-1:123456789012:execution:image-downloader:gh-1-2-abc"


def event(status: str, name: str = "gh-1-2-abc", arn: str = ARN) -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": arn,
            "name": name,
            "status": status,
            "startDate": 1_767_225_600_000,
            "stopDate": 1_767_225_612_000,
        },
    }


def described(**fields: str) -> Any:
    return lambda arn: {"executionArn": arn, **fields}


def test_an_invalid_request_says_what_to_fix_with_the_validation_message() -> None:
    cause = "resourcePaths[0]: must not contain '..': '../x.gif'"
    text = notify.message_for(event("FAILED"), described(error="InvalidInput", cause=cause))
    assert text is not None
    assert text["subject"] == "Image download failed: gh-1-2-abc"
    assert "Image download gh-1-2-abc ended FAILED at 2026-01-01T00:00:12Z, after 12 s." in text["message"]
    assert "fix the fields the cause names" in text["message"]
    assert f"Cause: {cause}" in text["message"]
    assert "image-downloader status gh-1-2-abc" in text["message"]
    assert "https://eu-west-1.console.aws.amazon.com/states/" in text["message"]


def test_a_refusal_carried_as_data_is_shown_as_its_message_not_its_json() -> None:
    refused = InvalidInput("resourcePaths[0]: must not contain '..'")
    cause = cause_document(refused)
    text = notify.message_for(event("FAILED"), described(error="InvalidInput", cause=cause))
    assert text is not None
    assert "Cause: resourcePaths[0]: must not contain '..'" in text["message"]
    assert '"problems"' not in text["message"]


def test_a_timeout_and_an_abort_say_what_happened() -> None:
    timed_out = notify.message_for(event("TIMED_OUT"), described(error="States.Timeout"))
    aborted = notify.message_for(event("ABORTED"), described())
    assert timed_out is not None and aborted is not None
    assert "ended TIMED_OUT" in timed_out["message"] and "execution_timeout_seconds" in timed_out["message"]
    assert aborted["subject"] == "Image download aborted: gh-1-2-abc"
    assert "someone stopped it" in aborted["message"]


def test_a_states_error_is_reported_as_a_failure_of_the_state_machine() -> None:
    text = notify.message_for(event("FAILED"), described(error="States.Runtime", cause="x" * 5000))
    assert text is not None
    assert "the state machine itself failed" in text["message"] and "Error: States.Runtime" in text["message"]
    assert len(text["message"]) < 2000


def test_failed_images_are_left_to_the_state_machines_own_report() -> None:
    assert notify.message_for(event("FAILED"), described(error="ImagesFailed", cause="1 of 2 failed")) is None


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="image-downloader-notifications")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
        monkeypatch.setenv("TOPIC_ARN", topic_arn)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="image-downloader",
            definition=json.dumps(
                {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/image-downloader-state-machine",
        )
        yield {"sqs": sqs, "queue": queue, "sfn": sfn, "machine": machine["stateMachineArn"]}


def received(topic: dict[str, Any]) -> list[dict[str, str]]:
    messages = (
        topic["sqs"].receive_message(QueueUrl=topic["queue"], MaxNumberOfMessages=10).get("Messages", [])
    )
    return [json.loads(message["Body"]) for message in messages]


def test_the_handler_publishes_an_aborted_execution_to_the_topic(topic: dict[str, Any]) -> None:
    arn = topic["sfn"].start_execution(stateMachineArn=topic["machine"], name="stopped-one")["executionArn"]
    topic["sfn"].stop_execution(executionArn=arn, cause="stopped from the console")
    assert notify.handler(event("ABORTED", name="stopped-one", arn=arn), None) == {"published": True}
    (message,) = received(topic)
    assert message["Subject"] == "Image download aborted: stopped-one"
    assert "Image download stopped-one ended ABORTED" in message["Message"]
    assert f"Execution: {arn}" in message["Message"]
