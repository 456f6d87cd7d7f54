"""The offline stand-in for `terraform validate`: tools/schema_check.py and the schema file it reads."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tools.provider_schema import (
    CDKTF_VERSION,
    EXTRA_TYPES,
    PROVIDER_VERSION,
    REPO_ROOT,
    SCHEMA_PATH,
    TF_BLOCK_HEADER,
    iter_tf_files,
    render,
    used_types,
)
from tools.schema_check import Report, check_file, check_tree, load_schema, main


@pytest.fixture(scope="module")
def repository() -> Report:
    return check_tree()


def findings(tmp_path: Path, hcl: str) -> list[str]:
    """`path: message` of every finding in the snippet, checked as a .tf file."""
    path = tmp_path / "main.tf"
    path.write_text(textwrap.dedent(hcl))
    return [f"{finding.path}: {finding.message}" for finding in check_file(path).findings]


# --- the repository ----------------------------------------------------------------------------


def test_repository_terraform_matches_the_aws_provider_schema(repository: Report) -> None:
    if repository.blocks == 0:
        pytest.skip(f"no aws_* resource or data blocks yet in {repository.files} .tf files")
    report = "\n".join(map(str, repository.findings))
    summary = f"{repository.blocks} aws_* blocks in {repository.files} .tf files"
    assert repository.findings == [], f"{summary}:\n{report}"


def test_every_aws_block_of_the_repository_is_checked(repository: Report) -> None:
    headers = sum(len(TF_BLOCK_HEADER.findall(path.read_text())) for path in iter_tf_files(REPO_ROOT))
    assert repository.blocks == headers


def test_schema_file_covers_every_aws_type_the_repository_uses() -> None:
    schema = load_schema()
    missing = {kind: sorted(types - schema[kind].keys()) for kind, types in used_types(REPO_ROOT).items()}
    assert missing == {"data": [], "resource": []}, "run `make schema`"


# --- planted mistakes --------------------------------------------------------------------------


def test_misspelled_argument_is_named_with_a_suggestion(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket" "images" {
          bukcet = "images"
        }
    """
    assert findings(tmp_path, hcl) == ['bukcet: unknown argument "bukcet"; did you mean "bucket"?']


def test_misspelled_meta_argument_is_named_with_a_suggestion(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket" "images" {
          depend_on = []
        }
    """
    assert findings(tmp_path, hcl) == ['depend_on: unknown argument "depend_on"; did you mean "depends_on"?']


def test_block_written_as_attribute_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_lambda_function" "download" {
          function_name = "download"
          role          = "arn:aws:iam::123456789012:role/download"
          environment = {
            variables = { BUCKET = "images" }
          }
        }
    """
    assert findings(tmp_path, hcl) == [
        'environment: "environment" is a block: write `environment { ... }`, not `environment = ...`'
    ]


def test_attribute_written_as_block_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket" "images" {
          tags {
            Name = "images"
          }
        }
    """
    assert findings(tmp_path, hcl) == ['tags: "tags" is an argument: write `tags = ...`, not a block']


def test_missing_required_argument_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_iam_role" "download" {
          name = "download"
        }
    """
    assert findings(tmp_path, hcl) == [': missing required argument "assume_role_policy"']


def test_every_missing_required_argument_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_lambda_function" "download" {
          runtime = "python3.12"
        }
    """
    assert findings(tmp_path, hcl) == [
        ': missing required argument "function_name"',
        ': missing required argument "role"',
    ]


def test_missing_required_block_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket_versioning" "images" {
          bucket = "images"
        }
    """
    assert findings(tmp_path, hcl) == [': missing required block "versioning_configuration"']


def test_unknown_nested_block_is_named_with_a_suggestion(tmp_path: Path) -> None:
    hcl = """
        resource "aws_sfn_state_machine" "pipeline" {
          definition = "{}"
          role_arn   = "arn:aws:iam::123456789012:role/sfn"
          logging_config {
            level = "ALL"
          }
        }
    """
    assert findings(tmp_path, hcl) == [
        'logging_config: unknown block type "logging_config"; did you mean "logging_configuration"?'
    ]


def test_misspelled_argument_inside_nested_blocks_names_the_path(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket_lifecycle_configuration" "images" {
          bucket = "images"
          rule {
            id     = "archive"
            status = "Enabled"
            transition {
              dayz          = 1
              storage_class = "GLACIER"
            }
          }
        }
    """
    assert findings(tmp_path, hcl) == [
        'rule[0].transition[0].dayz: unknown argument "dayz"; did you mean "days"?'
    ]


def test_misspelling_inside_dynamic_block_content_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_s3_bucket_lifecycle_configuration" "images" {
          bucket = "images"
          dynamic "rule" {
            for_each = var.rules
            content {
              id     = rule.key
              staus  = "Enabled"
              status = "Enabled"
            }
          }
        }
    """
    assert findings(tmp_path, hcl) == [
        'rule[dynamic].staus: unknown argument "staus"; did you mean "status"?'
    ]


def test_dynamic_block_of_an_argument_does_not_satisfy_it(tmp_path: Path) -> None:
    hcl = """
        resource "aws_iam_role" "download" {
          dynamic "assume_role_policy" {
            for_each = [1]
            content {}
          }
        }
    """
    assert findings(tmp_path, hcl) == [
        'assume_role_policy[dynamic]: "assume_role_policy" is an argument, and dynamic only generates blocks',
        ': missing required argument "assume_role_policy"',
    ]


def test_second_block_where_only_one_is_allowed_is_reported(tmp_path: Path) -> None:
    hcl = """
        resource "aws_dynamodb_table" "runs" {
          name = "runs"
          point_in_time_recovery { enabled = true }
          point_in_time_recovery { enabled = false }
        }
    """
    assert findings(tmp_path, hcl) == [
        'point_in_time_recovery: at most one "point_in_time_recovery" block is allowed, found 2'
    ]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ('resource "aws_s3_buckt" "images" {}', 'resource type "aws_s3_buckt"'),
        ('data "aws_iam_policy_documnt" "download" {}', 'data type "aws_iam_policy_documnt"'),
    ],
)
def test_unknown_type_points_to_make_schema(tmp_path: Path, block: str, expected: str) -> None:
    (message,) = findings(tmp_path, block)
    assert expected in message
    assert "run `make schema`" in message
    assert "did you mean" in message


def test_unparseable_file_is_a_finding(tmp_path: Path) -> None:
    (message,) = findings(tmp_path, 'resource "aws_s3_bucket" "images" {\n  bucket =\n}\n')
    assert message.startswith(": cannot parse:")


def test_command_line_prints_findings_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "main.tf"
    path.write_text('resource "aws_iam_role" "download" {}\n')
    assert main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == f'{path}:1: aws_iam_role.download: missing required argument "assume_role_policy"\n'
    assert "checked 1 aws_* blocks in 1 .tf files: 1 findings" in err


# --- correct Terraform -------------------------------------------------------------------------

CORRECT = {
    "meta_arguments": """
        resource "aws_lambda_function" "download" {
          count         = var.enabled ? 1 : 0
          provider      = aws.replica
          function_name = "download-${count.index}"
          role          = aws_iam_role.download.arn
          depends_on    = [aws_cloudwatch_log_group.download]
          environment {
            variables = { BUCKET = var.bucket }
          }
          lifecycle {
            ignore_changes = [tags]
          }
        }
    """,
    "for_each_and_dynamic_blocks": """
        resource "aws_s3_bucket_lifecycle_configuration" "images" {
          for_each = var.buckets
          bucket   = each.value
          dynamic "rule" {
            for_each = var.rules
            iterator = r
            content {
              id     = r.key
              status = "Enabled"
              filter {
                prefix = r.value.prefix
              }
              dynamic "transition" {
                for_each = r.value.transitions
                content {
                  days          = transition.value
                  storage_class = "GLACIER"
                }
              }
            }
          }
        }
    """,
    "required_block_from_dynamic": """
        resource "aws_s3_bucket_versioning" "images" {
          bucket = "images"
          dynamic "versioning_configuration" {
            for_each = [1]
            content {
              status = "Enabled"
            }
          }
        }
    """,
    "policy_document": """
        data "aws_iam_policy_document" "download" {
          statement {
            sid       = "StoreImages"
            actions   = ["s3:PutObject"]
            resources = ["${var.bucket_arn}/${var.key_prefix}*"]
            principals {
              type        = "Service"
              identifiers = ["lambda.amazonaws.com"]
            }
            condition {
              test     = "StringEquals"
              variable = "aws:SourceAccount"
              values   = [data.aws_caller_identity.current.account_id]
            }
          }
        }
        data "aws_caller_identity" "current" {}
        data "aws_region" "current" {}
        data "aws_partition" "current" {}
    """,
    "required_arguments_as_expressions": """
        resource "aws_iam_role" "download" {
          name               = "download"
          assume_role_policy = data.aws_iam_policy_document.assume.json
        }
        resource "aws_sfn_state_machine" "pipeline" {
          definition = templatefile("${path.module}/asl.json", { arn = var.arn })
          role_arn   = aws_iam_role.sfn.arn
          logging_configuration {
            level                  = "ERROR"
            include_execution_data = false
            log_destination        = "${aws_cloudwatch_log_group.sfn.arn}:*"
          }
        }
    """,
    "provisioner_and_non_aws_types": """
        resource "aws_cloudwatch_log_group" "download" {
          name = "/aws/lambda/download"
          provisioner "local-exec" {
            command = "echo created"
          }
        }
        resource "terraform_data" "anything" {
          bukcet = "not checked: not an aws_* type"
        }
        data "archive_file" "code" {
          type = "zip"
        }
    """,
}


@pytest.mark.parametrize("hcl", CORRECT.values(), ids=CORRECT.keys())
def test_correct_terraform_has_no_findings(tmp_path: Path, hcl: str) -> None:
    assert findings(tmp_path, hcl) == []


def test_only_aws_blocks_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "main.tf"
    path.write_text(textwrap.dedent(CORRECT["provisioner_and_non_aws_types"]))
    assert check_file(path).blocks == 1


# --- the schema file ---------------------------------------------------------------------------


def test_schema_file_is_what_the_generator_writes_for_the_pinned_versions() -> None:
    schema = load_schema()
    assert schema["_meta"]["provider"] == f"hashicorp/aws {PROVIDER_VERSION}"
    assert f"=={CDKTF_VERSION}" in schema["_meta"]["source"]
    assert SCHEMA_PATH.read_text() == render({kind: schema[kind] for kind in ("data", "resource")})


def test_schema_file_holds_the_types_the_module_is_written_with() -> None:
    schema = load_schema()
    for kind, types in EXTRA_TYPES.items():
        assert set(types) <= schema[kind].keys()


def test_every_schema_entry_is_well_formed() -> None:
    schema = load_schema()
    for kind in ("data", "resource"):
        for body in schema[kind].values():
            assert_well_formed(body)


def assert_well_formed(body: dict) -> None:
    assert set(body) >= {"arguments", "blocks"}
    assert all(isinstance(argument["required"], bool) for argument in body["arguments"].values())
    for block in body["blocks"].values():
        if block != "any":
            assert block["nesting"] in {"single", "list"}
            assert isinstance(block["required"], bool)
            assert_well_formed(block)


def required(body: dict) -> set[str]:
    return {name for name, argument in body["arguments"].items() if argument["required"]}


def test_schema_knows_what_the_provider_requires() -> None:
    resources = load_schema()["resource"]
    assert {"function_name", "role"} <= required(resources["aws_lambda_function"])
    assert "assume_role_policy" in required(resources["aws_iam_role"])
    assert "definition" in required(resources["aws_sfn_state_machine"])
    assert "bucket" not in required(resources["aws_s3_bucket"])


def test_schema_tells_blocks_from_arguments() -> None:
    resources = load_schema()["resource"]
    assert resources["aws_sfn_state_machine"]["blocks"]["logging_configuration"]["nesting"] == "single"
    assert resources["aws_dynamodb_table"]["blocks"]["attribute"]["nesting"] == "list"
    assert "point_in_time_recovery" in resources["aws_dynamodb_table"]["blocks"]
    assert "integration_subtype" in resources["aws_apigatewayv2_integration"]["arguments"]
    assert "environment" in resources["aws_lambda_function"]["blocks"]
    assert "tags" in resources["aws_lambda_function"]["arguments"]


def test_schema_keeps_nested_blocks() -> None:
    statement = load_schema()["data"]["aws_iam_policy_document"]["blocks"]["statement"]
    assert required(statement["blocks"]["principals"]) == {"type", "identifiers"}


def test_schema_file_has_one_line_per_type() -> None:
    schema = load_schema()
    lines = SCHEMA_PATH.read_text().splitlines()
    for kind in ("data", "resource"):
        for name in schema[kind]:
            assert sum(line.startswith(json.dumps(name) + ": {") for line in lines) == 1
