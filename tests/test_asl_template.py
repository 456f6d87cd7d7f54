"""The ASL template: renders to valid JSON for any values, passes statelint, and has the retries,
timeouts and error handling the pipeline relies on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_runner.template import ASL_TEMPLATE, TemplateError, placeholders, render, render_asl
from tests.support.statelint import statelint_findings
from tests.terraform.support import console_value, terraform_console

TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
NUMBER_VARIABLES = {
    "batch_timeout_seconds",
    "download_timeout_seconds",
    "consolidate_timeout_seconds",
    "execution_timeout_seconds",
    "download_window_seconds",
}
STRING_VARIABLES = {
    "batch_function_arn",
    "download_function_arn",
    "consolidate_function_arn",
    "topic_arn",
    "bucket_name",
    "table_name",
    "map_execution_type",
    "map_results_prefix",
}


def module_like_values() -> dict[str, Any]:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:imgdl-{}"
    return {
        "batch_function_arn": arn.format("batch"),
        "download_function_arn": arn.format("download"),
        "consolidate_function_arn": arn.format("consolidate"),
        "topic_arn": "arn:aws:sns:eu-west-1:123456789012:imgdl-failures",
        "bucket_name": "imgdl-images-123456789012",
        "table_name": "imgdl-images",
        "map_execution_type": "STANDARD",
        "map_results_prefix": "runs/map-results",
        "batch_timeout_seconds": 40,
        "download_timeout_seconds": 330,
        "consolidate_timeout_seconds": 130,
        "execution_timeout_seconds": 3600,
        "download_window_seconds": 3090,
    }


def lambda_tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            found[name] = state
        if state["Type"] == "Map":
            found.update(lambda_tasks(state["ItemProcessor"]["States"]))
    return found


def test_template_placeholders_are_exactly_the_documented_variables() -> None:
    assert placeholders(ASL_TEMPLATE.read_text()) == NUMBER_VARIABLES | STRING_VARIABLES


def test_rendered_definition_passes_statelint(tmp_path: Path) -> None:
    assert statelint_findings(render_asl(module_like_values()), tmp_path) == []


def test_statelint_catches_a_broken_definition(tmp_path: Path) -> None:
    definition = render_asl(module_like_values())
    del definition["States"]["Consolidate"]["Next"]
    definition["States"]["DownloadBatches"]["ToleratedFailurePercentage"] = "all"
    findings = statelint_findings(definition, tmp_path)
    assert any("Consolidate" in finding for finding in findings)
    assert any("ToleratedFailurePercentage" in finding for finding in findings)


@settings(max_examples=60, deadline=None)
@given(
    strings=st.fixed_dictionaries({name: st.text() for name in STRING_VARIABLES}),
    numbers=st.fixed_dictionaries(
        {name: st.integers(min_value=0, max_value=10**9) for name in NUMBER_VARIABLES}
    ),
)
def test_any_values_render_to_valid_json_that_keeps_them(
    strings: dict[str, str], numbers: dict[str, int]
) -> None:
    definition = json.loads(render(ASL_TEMPLATE.read_text(), {**strings, **numbers}))
    assert definition["States"]["NotifyFailures"]["Parameters"]["TopicArn"] == strings["topic_arn"]
    writer = definition["States"]["DownloadBatches"]["ResultWriter"]["Parameters"]
    assert writer["Prefix"] == strings["map_results_prefix"]


def test_renderer_refuses_missing_and_unused_variables() -> None:
    values = module_like_values()
    del values["topic_arn"]
    with pytest.raises(TemplateError, match="missing: \\['topic_arn'\\]"):
        render(ASL_TEMPLATE.read_text(), values)
    with pytest.raises(TemplateError, match="unused: \\['extra'\\]"):
        render(ASL_TEMPLATE.read_text(), {**module_like_values(), "extra": 1})


@pytest.mark.parametrize("text", ['{"a": "${name}"}', '{"a": "%{ if x }y%{ endif }"}'])
def test_renderer_refuses_template_syntax_it_does_not_implement(text: str) -> None:
    with pytest.raises(TemplateError, match="only"):
        render(text, {})


def test_every_lambda_task_retries_transient_errors_and_has_a_timeout() -> None:
    tasks = lambda_tasks(render_asl(module_like_values())["States"])
    assert set(tasks) == {"ValidateAndBatch", "DownloadBatch", "Consolidate"}
    for name, task in tasks.items():
        retry = task["Retry"][0]
        assert set(retry["ErrorEquals"]) == TRANSIENT_LAMBDA_ERRORS, name
        assert (retry["IntervalSeconds"], retry["BackoffRate"], retry["MaxAttempts"]) == (2, 2.0, 6), name
        # Throttled invocations spread their retries (full jitter) and never wait past a minute.
        assert (retry["JitterStrategy"], retry["MaxDelaySeconds"]) == ("FULL", 60), name
        assert task["TimeoutSeconds"] > 0, name


def test_invalid_input_ends_in_a_fail_carrying_the_validation_error() -> None:
    states = render_asl(module_like_values())["States"]
    catch = states["ValidateAndBatch"]["Catch"][0]
    assert catch["ErrorEquals"] == ["InvalidInput"]
    explain = states[catch["Next"]]
    fail = states[explain["Next"]]
    assert fail == {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$.details.errorMessage"}


def test_failures_are_published_to_sns_before_the_execution_fails() -> None:
    states = render_asl(module_like_values())["States"]
    choice = states["AllImagesStored"]
    notify = states[choice["Default"]]
    assert notify["Resource"] == "arn:aws:states:::sns:publish"
    assert notify["Parameters"]["Message.$"] == "$.message"
    assert states[notify["Next"]] == {"Type": "Fail", "Error": "ImagesFailed", "CausePath": "$.cause"}
    # A failed publish must not end as ImagesFailed, which the notify function skips as already told.
    unnotified = states[notify["Catch"][0]["Next"]]
    assert unnotified == {"Type": "Fail", "Error": "ImagesFailedUnnotified", "CausePath": "$.cause"}
    assert states[states[choice["Choices"][0]["Next"]]["Next"]]["Type"] == "Succeed"


def test_a_crashed_download_batch_ends_its_child_quietly_so_consolidate_reports_it() -> None:
    """The crashed batch has no result in S3; Consolidate lists its URLs. The child must not fail, or a
    Distributed Map on moto (which ignores ToleratedFailurePercentage) would fail the whole Map."""
    processor = render_asl(module_like_values())["States"]["DownloadBatches"]["ItemProcessor"]["States"]
    catch = processor["DownloadBatch"]["Catch"][0]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert catch["ResultPath"] is None
    recorded = processor[catch["Next"]]
    assert (recorded["Type"], recorded["End"]) == ("Pass", True)


def test_the_batches_run_in_a_distributed_map_fed_from_s3_and_only_counts_travel_in_the_state() -> None:
    states = render_asl(module_like_values())["States"]
    batch = states["ValidateAndBatch"]
    assert batch["Parameters"]["Payload"] == {
        "request.$": "$",
        "executionName.$": "$$.Execution.Name",
        "executionStartTime.$": "$$.Execution.StartTime",
        "downloadWindowSeconds": 3090,
    }
    assert "tasks.$" not in batch["ResultSelector"]
    download = states["DownloadBatches"]
    assert download["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert download["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert download["ItemReader"]["Parameters"] == {
        "Bucket": "imgdl-images-123456789012",
        "Key.$": "$.manifestKey",
    }
    assert download["ItemSelector"]["batchKey.$"] == "$$.Map.Item.Value.batchKey"
    assert download["MaxConcurrencyPath"] == "$.maxConcurrentBatches"
    assert download["ToleratedFailurePercentage"] == 100.0
    assert download["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert download["ResultPath"] is None
    assert "batches.$" not in states["Consolidate"]["Parameters"]["Payload"]


def test_every_error_of_the_distributed_map_still_reaches_consolidate_with_the_error() -> None:
    states = render_asl(module_like_values())["States"]
    [catch] = states["DownloadBatches"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    assert (catch["ResultPath"], catch["Next"]) == ("$.mapError", "Consolidate")
    # Present (null) on the path without an error, so Consolidate's Parameters always resolve.
    assert states["ValidateAndBatch"]["ResultSelector"]["mapError"] is None
    assert states["Consolidate"]["Parameters"]["Payload"]["mapError.$"] == "$.mapError"
    assert states["DownloadBatches"]["ItemSelector"]["downloadDeadline.$"] == "$.downloadDeadline"


def test_invalid_input_replaces_the_request_so_a_large_request_cannot_overflow_the_error_path() -> None:
    catch = render_asl(module_like_values())["States"]["ValidateAndBatch"]["Catch"][0]
    assert catch["ResultPath"] == "$"


def test_express_children_render_and_pass_statelint(tmp_path: Path) -> None:
    definition = render_asl({**module_like_values(), "map_execution_type": "EXPRESS"})
    config = definition["States"]["DownloadBatches"]["ItemProcessor"]["ProcessorConfig"]
    assert config["ExecutionType"] == "EXPRESS"
    assert statelint_findings(definition, tmp_path) == []


def hcl_literal(value: object) -> str:
    """A JSON literal is an HCL literal once template sequences are escaped."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def terraform_templatefile(values: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The template as Terraform's own ``templatefile`` renders it (``terraform console``, no providers)."""
    arguments = ", ".join(f"{name} = {hcl_literal(value)}" for name, value in values.items())
    expression = f'templatefile("{ASL_TEMPLATE.as_posix()}", {{{arguments}}})'
    return json.loads(console_value(terraform_console(tmp_path, expression)))


@pytest.mark.skipif(
    shutil.which("terraform") is None,
    reason="no terraform binary on PATH: Terraform's templatefile not compared",
)
@pytest.mark.parametrize(
    "strings",
    [
        {},
        {
            "topic_arn": 'quote " backslash \\ <&> ${not.a.placeholder} %{x} ünïcödé',
            "bucket_name": "tab\there",
        },
    ],
)
def test_terraform_renders_the_template_exactly_as_the_local_runner_does(
    strings: dict[str, str], tmp_path: Path
) -> None:
    values = {**module_like_values(), **strings}
    assert terraform_templatefile(values, tmp_path) == render_asl(values)
