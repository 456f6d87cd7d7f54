"""The ASL template: renders to valid JSON for any values, passes statelint, and has the retries,
timeouts and error handling the pipeline relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_runner.template import ASL_TEMPLATE, TemplateError, placeholders, render, render_asl
from tests.terraform.support import console_value, terraform_console

TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
NUMBER_VARIABLES = {
    "map_max_concurrency",
    "batch_timeout_seconds",
    "download_timeout_seconds",
    "consolidate_timeout_seconds",
    "execution_timeout_seconds",
}
STRING_VARIABLES = {
    "batch_function_arn",
    "download_function_arn",
    "consolidate_function_arn",
    "topic_arn",
    "bucket_name",
    "table_name",
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
        "map_max_concurrency": 10,
        "batch_timeout_seconds": 40,
        "download_timeout_seconds": 330,
        "consolidate_timeout_seconds": 130,
        "execution_timeout_seconds": 3600,
    }


def statelint(definition: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "asl.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True, check=False
    )


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
    result = statelint(render_asl(module_like_values()), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_catches_a_broken_definition(tmp_path: Path) -> None:
    definition = render_asl(module_like_values())
    del definition["States"]["Consolidate"]["Next"]
    result = statelint(definition, tmp_path)
    assert result.returncode != 0
    assert "Consolidate" in result.stdout


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
    assert definition["States"]["DownloadBatches"]["MaxConcurrency"] == numbers["map_max_concurrency"]


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
    assert states[notify["Next"]]["Type"] == "Fail"
    assert states[notify["Catch"][0]["Next"]]["Type"] == "Fail"
    assert states[states[choice["Choices"][0]["Next"]]["Next"]]["Type"] == "Succeed"


def test_a_crashed_download_batch_is_recorded_not_lost() -> None:
    processor = render_asl(module_like_values())["States"]["DownloadBatches"]["ItemProcessor"]["States"]
    catch = processor["DownloadBatch"]["Catch"][0]
    assert catch["ErrorEquals"] == ["States.ALL"]
    recorded = processor[catch["Next"]]["Parameters"]
    assert {"resourcePaths.$", "batchInput.$", "crash.$"} <= set(recorded)


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
