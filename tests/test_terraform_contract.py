"""The Terraform module keeps the contract of docs/design.md (handlers, environment, IAM per function)
and the defaults the README promises (private encrypted storage, least privilege, AWS_IAM on the API)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from image_downloader.settings import ENV_BY_FUNCTION
from tests.support.statelint import statelint_findings
from tools.tfdocs import REPO_ROOT, Block, Module, expression_text, interpolations, load_module

MODULES = REPO_ROOT / "modules"
FUNCTIONS = ("batch", "download", "consolidate")
SCHEMA = REPO_ROOT / "tests" / "data" / "aws_provider_schema.json"
IAM_ROLE_NAME_LIMIT = 64
S3_BUCKET_PREFIX_LIMIT = 37
LAMBDA_NAME_LIMIT = 64
SFN_NAME_LIMIT = 80


def module(name: str) -> Module:
    return load_module(REPO_ROOT if name == "root" else MODULES / name)


def only(module_: Module, tf_type: str, name: str | None = None, kind: str = "resource") -> Block:
    found = [
        block
        for block in (module_.resources if kind == "resource" else module_.data)
        if block.type == tf_type and (name is None or block.name == name)
    ]
    assert len(found) == 1, f"{tf_type}.{name}: {len(found)} blocks"
    return found[0]


def nested(body: dict, *path: str) -> dict:
    """The single nested block at path (`rule`, `apply_server_side_encryption_by_default`, ...)."""
    for name in path:
        value = body[name]
        assert isinstance(value, list) and len(value) == 1, f"{name}: expected one block"
        body = value[0]
    return body


def statements(document: Block) -> dict[str, dict]:
    """The statements of an aws_iam_policy_document by sid, dynamic ones included."""
    found = list(document.body.get("statement", []))
    for dynamic in document.body.get("dynamic", []):
        if "statement" in dynamic:
            found += dynamic["statement"]["content"]
    return {statement.get("sid", f"#{index}"): statement for index, statement in enumerate(found)}


def all_modules() -> list[Module]:
    return [module("root"), *(module(path.name) for path in sorted(MODULES.iterdir()))]


# --- handlers and environment (docs/design.md) -----------------------------------------------------


def test_compute_sets_exactly_the_environment_each_handler_reads() -> None:
    environment = module("compute").locals["environment"]
    assert {function: sorted(variables) for function, variables in environment.items()} == {
        function: sorted(names) for function, names in ENV_BY_FUNCTION.items()
    }


def test_each_function_gets_its_own_environment() -> None:
    function = only(module("compute"), "aws_lambda_function", "handler")
    assert nested(function.body, "environment")["variables"] == "${local.environment[each.key]}"
    assert function.body["for_each"] == "${local.functions}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_runs_its_handler_from_lambda_src(function: str) -> None:
    handler = module("compute").locals["functions"][function]["handler"]
    assert handler == f"image_downloader.{function}.handler"
    source = REPO_ROOT / "lambda_src" / "image_downloader" / f"{function}.py"
    if not source.is_file():
        pytest.skip(f"{source.relative_to(REPO_ROOT)} is not written yet")
    assert re.search(r"^def handler\(", source.read_text(), re.MULTILINE)


def test_the_package_is_lambda_src_without_caches() -> None:
    package = only(module("compute"), "archive_file", "package", kind="data")
    assert package.body["source_dir"] == "${var.source_dir}"
    assert module("root").module_calls["compute"].arguments["source_dir"] == "${path.module}/lambda_src"
    assert package.body["type"] == "zip"
    assert package.body["excludes"] == "${local.archive_excludes}"
    assert module("compute").locals["archive_excludes"] == ["**/__pycache__/**", "**/*.pyc"]
    function = only(module("compute"), "aws_lambda_function", "handler")
    assert function.body["source_code_hash"] == "${data.archive_file.package.output_base64sha256}"


def test_downloader_is_locked_down_by_default() -> None:
    for name in ("root", "compute"):
        downloader = module(name).variables["downloader"].type
        assert "allow_private_addresses = optional(bool, false)" in downloader
        assert "allowed_hosts = optional(list(string), [])" in downloader
        assert "max_image_bytes = optional(number, 52428800)" in downloader


def test_functions_default_to_python_3_13_on_arm64_with_json_logs_into_their_own_log_group() -> None:
    compute = module("compute")
    assert (compute.variables["runtime"].default, compute.variables["architecture"].default) == (
        "python3.13",
        "arm64",
    )
    root_lambda = module("root").variables["lambda"].type
    assert 'runtime = optional(string, "python3.13")' in root_lambda
    assert 'architecture = optional(string, "arm64")' in root_lambda
    function = only(compute, "aws_lambda_function", "handler")
    logging = nested(function.body, "logging_config")
    assert logging["log_format"] == "JSON"
    # Referencing the group makes Terraform create it (with its retention) before the function.
    assert logging["log_group"] == "${aws_cloudwatch_log_group.lambda[each.key].name}"
    group = only(compute, "aws_cloudwatch_log_group", "lambda")
    assert group.body["retention_in_days"] == "${var.log_retention_days}"


# --- IAM: least privilege, as docs/design.md lists it -----------------------------------------------


def test_no_module_uses_exclusive_policy_attachments_or_inline_wildcards() -> None:
    types = {block.type for each in all_modules() for block in each.resources}
    assert "aws_iam_policy_attachment" not in types
    for each in all_modules():
        for document in (block for block in each.data if block.type == "aws_iam_policy_document"):
            for sid, statement in statements(document).items():
                if statement.get("effect", "Allow") != "Allow":
                    continue
                assert not [action for action in statement["actions"] if "*" in action], (
                    document.address,
                    sid,
                )
                resources = statement.get("resources", [])
                if isinstance(resources, list) and "*" in resources:
                    assert (each.path.name, sid) == ("state_machine", "DeliverExecutionLogs")
                    assert all(action.startswith("logs:") for action in statement["actions"])


RUN_OBJECTS = {
    "batches": "${local.batch_objects}",
    "results": "${local.result_objects}",
}
STORAGE_KEY = (["kms:Decrypt", "kms:GenerateDataKey"], ["${statement.value}"])


def test_run_objects_are_each_executions_batches_and_results() -> None:
    compute = module("compute")
    assert compute.locals["batch_objects"] == "${var.bucket_arn}/${var.run_key_prefix}*/batches/*"
    assert compute.locals["result_objects"] == "${var.bucket_arn}/${var.run_key_prefix}*/results/*"


def test_batch_may_write_batches_read_the_request_sources_and_for_reruns_table_keys_and_reports() -> None:
    batch = statements(only(module("compute"), "aws_iam_policy_document", "batch", kind="data"))
    assert {sid: (sorted(s["actions"]), s["resources"]) for sid, s in batch.items()} == {
        "WriteBatches": (
            ["s3:PutObject"],
            [RUN_OBJECTS["batches"], "${var.bucket_arn}/${var.run_key_prefix}*/manifest.json"],
        ),
        "ReadRequestPaths": (
            ["s3:GetObject"],
            "${[for source in statement.value : "
            '"arn:${data.aws_partition.current.partition}:s3:::${source.bucket}/${source.prefix}*"]}',
        ),
        "SkipRecordedImages": (["dynamodb:BatchGetItem"], ["${var.table_arn}"]),
        "ReadReportsToRetry": (["s3:GetObject"], ["${var.bucket_arn}/${var.report_key_prefix}*"]),
        "UseStorageKey": STORAGE_KEY,
    }


def test_download_may_read_its_batch_write_its_result_store_images_and_record_items_only() -> None:
    download = statements(only(module("compute"), "aws_iam_policy_document", "download", kind="data"))
    assert {sid: (sorted(s["actions"]), s["resources"]) for sid, s in download.items()} == {
        "StoreImages": (["s3:DeleteObject", "s3:PutObject"], ["${var.bucket_arn}/${var.image_key_prefix}*"]),
        "ReadBatches": (["s3:GetObject"], [RUN_OBJECTS["batches"]]),
        "WriteBatchResults": (["s3:PutObject"], [RUN_OBJECTS["results"]]),
        "RecordImages": (["dynamodb:PutItem"], ["${var.table_arn}"]),
        "UseStorageKey": STORAGE_KEY,
    }


def test_consolidate_may_read_batches_and_results_and_write_reports_only() -> None:
    compute = module("compute")
    consolidate = statements(only(compute, "aws_iam_policy_document", "consolidate", kind="data"))
    assert {sid: (sorted(s["actions"]), s["resources"]) for sid, s in consolidate.items()} == {
        "ReadBatchesAndResults": (["s3:GetObject"], [RUN_OBJECTS["batches"], RUN_OBJECTS["results"]]),
        "ListBatchResults": (["s3:ListBucket"], ["${var.bucket_arn}"]),
        "WriteReports": (["s3:PutObject"], ["${var.bucket_arn}/${var.report_key_prefix}*"]),
        "UseStorageKey": STORAGE_KEY,
    }
    listing = nested(consolidate["ListBatchResults"], "condition")
    assert (listing["test"], listing["variable"], listing["values"]) == (
        "StringLike",
        "s3:prefix",
        ["${var.run_key_prefix}*/results/"],
    )
    role_policies = {
        (block.name, block.body["role"]) for block in compute.resources if block.type == "aws_iam_role_policy"
    }
    assert role_policies == {
        ("logs", "${aws_iam_role.lambda[each.key].id}"),
        ("batch", '${aws_iam_role.lambda["batch"].id}'),
        ("download", '${aws_iam_role.lambda["download"].id}'),
        ("consolidate", '${aws_iam_role.lambda["consolidate"].id}'),
        ("status", '${aws_iam_role.lambda["status"].id}'),
        ("notify", '${aws_iam_role.lambda["notify"].id}'),
    }
    logs = statements(only(compute, "aws_iam_policy_document", "logs", kind="data"))
    assert logs["WriteOwnLogs"]["resources"] == ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]


def test_state_machine_may_run_its_own_children_read_manifests_and_write_map_results_only() -> None:
    state_machine = module("state_machine")
    policy = statements(only(state_machine, "aws_iam_policy_document", "state_machine", kind="data"))
    distributed = {
        sid: (sorted(policy[sid]["actions"]), policy[sid]["resources"])
        for sid in (
            "StartChildExecutions",
            "ManageChildExecutions",
            "RedriveChildExecutions",
            "ReadBatchManifest",
            "WriteMapResults",
        )
    }
    assert distributed == {
        "StartChildExecutions": (["states:StartExecution"], ["${local.state_machine_arn}"]),
        "ManageChildExecutions": (
            ["states:DescribeExecution", "states:StopExecution"],
            "${local.child_execution_arns}",
        ),
        "RedriveChildExecutions": (["states:RedriveExecution"], ["${local.execution_arns}/*:*"]),
        "ReadBatchManifest": (["s3:GetObject"], ["${var.bucket_arn}/${var.run_key_prefix}*/manifest.json"]),
        "WriteMapResults": (
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            ["${var.bucket_arn}/${local.map_results_prefix}/*"],
        ),
    }
    assert state_machine.locals["execution_arns"] == (
        '${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}'
    )
    # Both ARN forms of a Distributed Map child: AWS's example policy's and the API's (aws/aws-cdk#35390).
    assert state_machine.locals["child_execution_arns"] == [
        "${local.execution_arns}/*",
        "${local.execution_arns}:*",
    ]
    assert state_machine.locals["map_results_prefix"] == "${var.run_key_prefix}map-results"
    assert policy["UseStorageKey"]["resources"] == ["${statement.value}"]


def test_status_may_describe_this_state_machines_executions_and_read_reports_only() -> None:
    compute = module("compute")
    status = statements(only(compute, "aws_iam_policy_document", "status", kind="data"))
    execution_arns = '${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*'
    map_run_arns = '${replace(local.state_machine_arn, ":stateMachine:", ":mapRun:")}/*'
    assert {sid: (sorted(s["actions"]), s["resources"]) for sid, s in status.items()} == {
        "DescribeExecutions": (["states:DescribeExecution", "states:ListMapRuns"], [execution_arns]),
        "DescribeMapRuns": (["states:DescribeMapRun"], [map_run_arns]),
        "ReadReports": (["s3:GetObject"], ["${var.bucket_arn}/${var.report_key_prefix}*"]),
        "DecryptReports": (["kms:Decrypt"], ["${statement.value}"]),
    }
    assert compute.locals["state_machine_arn"].endswith(":stateMachine:${var.state_machine_name}")
    # The same name the state machine module gives its state machine.
    assert module("root").module_calls["compute"].arguments["state_machine_name"] == "${var.name}"
    assert module("state_machine").locals["state_machine_name"] == "${var.name}"


def test_state_machine_may_invoke_exactly_the_three_functions_and_publish_to_the_topic() -> None:
    state_machine = module("state_machine")
    policy = statements(only(state_machine, "aws_iam_policy_document", "state_machine", kind="data"))
    assert policy["InvokePipelineFunctions"]["actions"] == ["lambda:InvokeFunction"]
    assert policy["InvokePipelineFunctions"]["resources"] == (
        '${concat(local.function_arns, [for arn in local.function_arns : "${arn}:*"])}'
    )
    assert state_machine.locals["function_arns"] == [
        "${var.function_arns.batch}",
        "${var.function_arns.download}",
        "${var.function_arns.consolidate}",
    ]
    assert (policy["PublishNotifications"]["actions"], policy["PublishNotifications"]["resources"]) == (
        ["sns:Publish"],
        ["${var.topic_arn}"],
    )
    assert sorted(policy["DeliverExecutionLogs"]["actions"]) == [
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
    ]


def test_only_the_state_machine_and_notify_roles_may_publish_to_the_topic() -> None:
    notification = module("notification")
    topic = statements(only(notification, "aws_iam_policy_document", "topic", kind="data"))
    allow = topic["AllowPublishers"]
    assert nested(allow, "condition")["values"] == "${local.publisher_role_arns}"
    deny = topic["DenyPublishByAnyoneElse"]
    assert (deny["effect"], deny["actions"], nested(deny, "condition")["test"]) == (
        "Deny",
        ["sns:Publish"],
        "ArnNotEquals",
    )
    assert nested(deny, "condition")["values"] == "${local.publisher_role_arns}"
    assert ":role/${name}" in notification.locals["publisher_role_arns"]
    root = module("root")
    assert root.module_calls["notification"].arguments["publisher_role_names"] == [
        "${local.state_machine_role_name}",
        "${local.notify_role_name}",
    ]
    assert root.module_calls["state_machine"].arguments["role_name"] == "${local.state_machine_role_name}"
    # IAM is global: every role name holds the region, so that one name deploys in several regions.
    compute = module("compute")
    assert root.locals["role_name_prefix"] == "${var.create ? module.compute[0].role_name_prefix : var.name}"
    assert compute.outputs["role_name_prefix"].value == "${local.role_name_prefix}"
    assert compute.locals["role_name_prefix"] == "${var.name}-${data.aws_region.current.id}"
    assert root.locals["state_machine_role_name"] == "${local.role_name_prefix}-state-machine"
    # modules/compute names each function's role <name>-<region>-<function>.
    assert root.locals["notify_role_name"] == "${local.role_name_prefix}-notify"
    assert only(compute, "aws_iam_role", "lambda").body["name"] == "${local.role_name_prefix}-${each.key}"


def test_notify_may_describe_executions_and_publish_to_the_topic_only() -> None:
    compute = module("compute")
    notify = statements(only(compute, "aws_iam_policy_document", "notify", kind="data"))
    execution_arns = '${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*'
    assert {sid: (sorted(s["actions"]), s["resources"]) for sid, s in notify.items()} == {
        "DescribeExecutions": (["states:DescribeExecution"], [execution_arns]),
        "PublishNotifications": (["sns:Publish"], ["${var.topic_arn}"]),
        "EncryptNotifications": (["kms:Decrypt", "kms:GenerateDataKey"], ["${statement.value}"]),
    }


def test_every_unsuccessful_end_of_an_execution_reaches_the_notify_function() -> None:
    compute = module("compute")
    rule = only(compute, "aws_cloudwatch_event_rule", "unsuccessful_executions").body
    pattern = rule["event_pattern"]
    for text in ('"aws.states"', '"Step Functions Execution Status Change"', "local.state_machine_arn"):
        assert text in pattern
    assert '["FAILED", "TIMED_OUT", "ABORTED"]' in pattern
    target = only(compute, "aws_cloudwatch_event_target", "unsuccessful_executions").body
    assert target["arn"] == '${aws_lambda_function.handler["notify"].arn}'
    permission = only(compute, "aws_lambda_permission", "unsuccessful_executions").body
    assert (permission["principal"], permission["source_arn"]) == (
        "events.amazonaws.com",
        "${aws_cloudwatch_event_rule.unsuccessful_executions[0].arn}",
    )
    assert compute.locals["functions"]["notify"]["handler"] == "image_downloader.notify.handler"


def test_the_caller_policy_invokes_both_routes_follows_executions_and_uploads_large_requests_only() -> None:
    caller = statements(only(module("caller_policy"), "aws_iam_policy_document", "caller", kind="data"))
    actions = {
        sid: s["actions"] if isinstance(s["actions"], str) else sorted(s["actions"])
        for sid, s in caller.items()
    }
    assert {sid: (actions[sid], s["resources"]) for sid, s in caller.items()} == {
        "InvokeRoutes": (["execute-api:Invoke"], "${statement.value}"),
        "StartExecutions": (["states:StartExecution"], ["${statement.value}"]),
        "FollowExecutions": (["states:DescribeExecution"], ["${local.execution_arns}"]),
        "ReadReports": (["s3:GetObject"], ["${var.bucket_arn}/${var.report_key_prefix}*"]),
        "UploadLargeRequests": (["s3:PutObject"], ["${var.bucket_arn}/${statement.value}*"]),
        "DecryptReports": (
            '${var.input_key_prefix == null ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:GenerateDataKey"]}',
            ["${statement.value}"],
        ),
    }
    call = module("root").module_calls["caller_policy"].arguments
    assert "module.api[0].execution_status_route_arn" in call["route_arns"]
    assert call["input_key_prefix"] == "${var.storage.input_key_prefix}"


def test_api_role_may_start_executions_of_its_state_machine_only() -> None:
    api = statements(only(module("api"), "aws_iam_policy_document", "api", kind="data"))
    assert {sid: (s["actions"], s["resources"]) for sid, s in api.items()} == {
        "StartExecutions": (["states:StartExecution"], ["${var.state_machine_arn}"])
    }


# --- storage ----------------------------------------------------------------------------------------


def test_bucket_is_private_owner_enforced_encrypted_and_tls_only() -> None:
    storage = module("storage")
    access = only(storage, "aws_s3_bucket_public_access_block").body
    assert [
        access[key]
        for key in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    ] == [True] * 4
    ownership = nested(only(storage, "aws_s3_bucket_ownership_controls").body, "rule")
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    encryption = nested(
        only(storage, "aws_s3_bucket_server_side_encryption_configuration").body,
        "rule",
        "apply_server_side_encryption_by_default",
    )
    assert encryption["sse_algorithm"] == '${local.kms_encrypted ? "aws:kms" : "AES256"}'
    policy = statements(only(storage, "aws_iam_policy_document", "bucket", kind="data"))
    tls = policy["DenyInsecureTransport"]
    assert (tls["effect"], tls["actions"], nested(tls, "condition")["variable"]) == (
        "Deny",
        ["s3:*"],
        "aws:SecureTransport",
    )
    assert nested(tls, "condition")["values"] == ["false"]


def test_images_move_to_glacier_instant_retrieval_and_unfinished_uploads_are_aborted() -> None:
    storage = module("storage")
    rules = {rule["id"]: rule for rule in only(storage, "aws_s3_bucket_lifecycle_configuration").body["rule"]}
    archive = rules["images-to-glacier-instant-retrieval"]
    assert nested(archive, "transition") == {
        "days": "${var.glacier_ir_transition_days}",
        "storage_class": "GLACIER_IR",
        "__is_block__": True,
    }
    size_filter = nested(archive, "filter", "and")
    assert size_filter["prefix"] == "${var.image_key_prefix}"
    assert size_filter["object_size_greater_than"] == "${var.glacier_ir_min_object_size_bytes}"
    run_data = rules["expire-run-data"]
    assert nested(run_data, "filter")["prefix"] == "${var.run_key_prefix}"
    assert nested(run_data, "expiration")["days"] == "${var.run_expiration_days}"
    assert storage.variables["run_expiration_days"].default == 7
    housekeeping = rules["housekeeping"]
    # An empty filter block warns on hashicorp/aws 5.90-5.99; an empty prefix is the whole bucket everywhere.
    assert nested(housekeeping, "filter") == {"prefix": "", "__is_block__": True}
    assert nested(housekeeping, "abort_incomplete_multipart_upload")["days_after_initiation"] == (
        "${var.abort_incomplete_multipart_upload_days}"
    )
    assert (
        storage.variables["glacier_ir_transition_days"].default,
        storage.variables["glacier_ir_min_object_size_bytes"].default,
    ) == (1, 131072)
    assert "128 KB" in storage.variables["glacier_ir_min_object_size_bytes"].description


def test_table_is_on_demand_keyed_by_url_with_recovery_encryption_and_deletion_protection() -> None:
    storage = module("storage")
    table = only(storage, "aws_dynamodb_table").body
    assert (table["billing_mode"], table["hash_key"]) == ("PAY_PER_REQUEST", "url")
    assert [(a["name"], a["type"]) for a in table["attribute"]] == [("url", "S")]
    assert nested(table, "point_in_time_recovery")["enabled"] is True
    assert nested(table, "server_side_encryption")["enabled"] is True
    assert table["deletion_protection_enabled"] == "${var.table_deletion_protection_enabled}"
    assert storage.variables["table_deletion_protection_enabled"].default is True


# --- state machine and API --------------------------------------------------------------------------


def test_state_machine_is_standard_and_logs_errors_to_a_vended_log_group() -> None:
    state_machine = module("state_machine")
    machine = only(state_machine, "aws_sfn_state_machine").body
    assert machine["type"] == "STANDARD"
    logging = nested(machine, "logging_configuration")
    assert logging["log_destination"] == "${aws_cloudwatch_log_group.state_machine.arn}:*"
    assert (logging["level"], logging["include_execution_data"]) == (
        "${var.log_level}",
        "${var.include_execution_data}",
    )
    assert nested(machine, "tracing_configuration")["enabled"] == "${var.tracing_enabled}"
    group = only(state_machine, "aws_cloudwatch_log_group", "state_machine").body
    assert group["name"].startswith("/aws/vendedlogs/states/")
    assert (
        state_machine.variables["log_level"].default,
        state_machine.variables["include_execution_data"].default,
    ) == ("ERROR", False)


def test_api_starts_executions_with_the_request_body_named_by_the_idempotency_key() -> None:
    api = module("api")
    integration = only(api, "aws_apigatewayv2_integration", "start_execution").body
    assert (
        integration["integration_type"],
        integration["integration_subtype"],
        integration["payload_format_version"],
    ) == (
        "AWS_PROXY",
        "StepFunctions-StartExecution",
        "1.0",
    )
    assert integration["request_parameters"] == {
        "StateMachineArn": "${var.state_machine_arn}",
        "Input": "$request.body",
        "Name": "$request.header.Idempotency-Key",
    }
    assert integration["credentials_arn"] == "${aws_iam_role.api.arn}"
    route = only(api, "aws_apigatewayv2_route", "start_execution").body
    assert route["route_key"] == "${local.route_key}"
    assert api.locals["route_key"] == "POST /executions"
    assert route["authorization_type"] == "${var.authorization_type}"
    assert api.variables["authorization_type"].default == "AWS_IAM"
    assert 'authorization_type = optional(string, "AWS_IAM")' in module("root").variables["api"].type


def test_status_route_is_authorized_like_the_start_route_and_invokes_the_status_function() -> None:
    api = module("api")
    start = only(api, "aws_apigatewayv2_route", "start_execution").body
    status = only(api, "aws_apigatewayv2_route", "execution_status").body
    assert api.locals["status_route_key"] == "GET /executions/{name}"
    for field in ("authorization_type", "authorizer_id", "authorization_scopes"):
        assert status[field] == start[field], field
    integration = only(api, "aws_apigatewayv2_integration", "execution_status").body
    assert (integration["integration_type"], integration["payload_format_version"]) == ("AWS_PROXY", "2.0")
    assert integration["integration_uri"] == "${var.status_function_arn}"
    permission = only(api, "aws_lambda_permission", "execution_status").body
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["source_arn"] == "${aws_apigatewayv2_api.this.execution_arn}/*/GET/executions/*"
    assert module("compute").locals["functions"]["status"]["handler"] == "image_downloader.status.handler"


def test_default_stage_auto_deploys_throttles_and_writes_access_logs() -> None:
    stage = only(module("api"), "aws_apigatewayv2_stage").body
    assert (stage["name"], stage["auto_deploy"]) == ("$default", True)
    throttling = nested(stage, "default_route_settings")
    assert set(throttling) - {"__is_block__"} == {"throttling_burst_limit", "throttling_rate_limit"}
    access = nested(stage, "access_log_settings")
    assert access["destination_arn"] == "${aws_cloudwatch_log_group.access.arn}"
    assert "$context.requestId" in expression_text(access["format"])


def module_default_template_values() -> dict[str, object]:
    """What modules/state_machine passes to templatefile when every variable keeps its default."""
    compute, state_machine = module("compute"), module("state_machine")
    timeouts = {
        function: int(timeout)
        for function, timeout in re.findall(
            r"(\w+) = optional\(object\(\{memory_size = optional\(number, \d+\), "
            r"timeout = optional\(number, (\d+)\)(?:, \w+ = optional\([^)]*\))*\}\), \{\}\)",
            compute.variables["functions"].type,
        )
    }
    # The status function answers the API; the state machine does not call it (nor notify, with its
    # fixed memory and timeout).
    assert set(timeouts) == {*FUNCTIONS, "status"}
    margin = state_machine.locals["task_timeout_margin_seconds"]
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:image-downloader-{}"
    return {
        **{f"{function}_function_arn": arn.format(function) for function in FUNCTIONS},
        **{f"{function}_timeout_seconds": timeouts[function] + margin for function in FUNCTIONS},
        "topic_arn": "arn:aws:sns:eu-west-1:123456789012:image-downloader-notifications",
        "bucket_name": "image-downloader-20240101000000000000000001",
        "table_name": "image-downloader-images",
        "map_execution_type": state_machine.variables["map_execution_type"].default,
        "map_results_prefix": state_machine.variables["run_key_prefix"].default + "map-results",
        "execution_timeout_seconds": state_machine.variables["execution_timeout_seconds"].default,
    }


def test_template_rendered_with_the_module_defaults_passes_statelint(tmp_path: Path) -> None:
    template = pytest.importorskip(
        "local_runner.template", reason="local_runner/template.py is not written yet"
    )
    definition = template.render_asl(module_default_template_values())
    assert statelint_findings(definition, tmp_path) == []
    assert definition["TimeoutSeconds"] == 3600


# --- naming and tags --------------------------------------------------------------------------------


def name_pattern() -> re.Pattern[str]:
    """The regex of the root module's `name` validation, compiled with Python's re."""
    root = module("root")
    document = root.documents[root.variables["name"].file]
    (body,) = [item["name"] for item in document["variable"] if "name" in item]
    code = interpolations(body["validation"][0]["condition"])[0]
    pattern = re.search(r'regex\("(.*)", var\.name\)', code).group(1)
    return re.compile(pattern.replace("\\\\", "\\"))


@pytest.mark.parametrize("name", ["image-downloader", "a", "x1", "a" * 32, "flags-2024"])
def test_name_validation_accepts(name: str) -> None:
    assert name_pattern().match(name)


@pytest.mark.parametrize("name", ["", "Image", "1abc", "-abc", "abc-", "a_b", "a" * 33, "a.b"])
def test_name_validation_refuses(name: str) -> None:
    assert not name_pattern().match(name)


# The longest region names AWS has (ap-southeast-7, eusc-de-east-1, us-isob-east-1, ...).
LONGEST_REGION = "a" * 14


def longest_rendering(template: str, keys: tuple[str, ...]) -> str:
    longest_name = "a" * 32
    template = template.replace("${local.role_name_prefix}", "${var.name}-${data.aws_region.current.id}")
    template = re.sub(r'^\$\{coalesce\(var\.role_name, "(.*)"\)\}$', r"\1", template)
    return max(
        (
            template.replace("${var.name}", longest_name)
            .replace("${data.aws_region.current.id}", LONGEST_REGION)
            .replace("${each.key}", key)
            for key in keys
        ),
        key=len,
    )


def test_names_derived_from_the_longest_allowed_name_stay_within_aws_limits() -> None:
    assert name_pattern().match("a" * 32) and not name_pattern().match("a" * 33)
    compute, state_machine, api = module("compute"), module("state_machine"), module("api")
    role_names = [
        longest_rendering(only(compute, "aws_iam_role", "lambda").body["name"], FUNCTIONS),
        longest_rendering(module("root").locals["state_machine_role_name"], ("",)),
        longest_rendering(only(api, "aws_iam_role", "api").body["name"], ("",)),
        longest_rendering(only(state_machine, "aws_iam_role", "state_machine").body["name"], ("",)),
    ]
    assert all(LONGEST_REGION in name for name in role_names), role_names
    assert max(map(len, role_names)) <= IAM_ROLE_NAME_LIMIT, role_names
    bucket_prefix = only(module("storage"), "aws_s3_bucket").body["bucket_prefix"]
    assert (
        len(longest_rendering(re.search(r'"(.*)"', bucket_prefix).group(1), ("",))) <= S3_BUCKET_PREFIX_LIMIT
    )
    function_name = only(compute, "aws_lambda_function").body["function_name"]
    assert len(longest_rendering(function_name, FUNCTIONS)) <= LAMBDA_NAME_LIMIT
    assert state_machine.locals["state_machine_name"] == "${var.name}"
    assert SFN_NAME_LIMIT >= 32


def test_every_taggable_resource_gets_the_tags() -> None:
    if not SCHEMA.is_file():
        pytest.skip("tests/data/aws_provider_schema.json is not generated yet")
    schema = json.loads(SCHEMA.read_text())["resource"]
    untagged = [
        f"{each.path.name}: {block.address}"
        for each in all_modules()
        for block in each.resources
        if "tags" in schema.get(block.type, {}).get("arguments", {})
        and block.body.get("tags") != "${var.tags}"
    ]
    assert untagged == []


def test_every_checkov_skip_gives_a_reason() -> None:
    skips = [
        (path.relative_to(REPO_ROOT), line.strip())
        for each in all_modules()
        for path in each.documents
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips, "expected the documented skips"
    malformed = [
        (path, line)
        for path, line in skips
        if not re.fullmatch(r"#checkov:skip=CKV2?_AWS_\d+:[A-Z].{40,}", line)
    ]
    assert malformed == []


# --- request bodies ---------------------------------------------------------------------------------

# The twenty most populous countries' flags, as in the original project.
FLAG_CODES = [
    "cn",
    "in",
    "us",
    "id",
    "br",
    "pk",
    "ng",
    "bd",
    "ru",
    "jp",
    "mx",
    "ph",
    "vn",
    "et",
    "eg",
    "de",
    "ir",
    "tr",
    "cd",
    "fr",
]


def load_input(name: str) -> dict:
    return json.loads((REPO_ROOT / "examples" / "inputs" / name).read_text())


def test_success_input_asks_for_the_twenty_flags() -> None:
    body = load_input("success.json")
    assert body["baseUrl"] == "https://www.fluentpython.com/data/flags/"
    assert body["resourcePaths"] == [f"{code}/{code}.gif" for code in FLAG_CODES]
    assert body["lambdaConcur"] == 5
    assert load_input("flags.json") == body


def test_fail_input_adds_one_missing_flag() -> None:
    success, fail = load_input("success.json"), load_input("fail.json")
    assert fail == {**success, "resourcePaths": [*success["resourcePaths"], "zz/zz.gif"]}


def test_example_inputs_are_valid_requests() -> None:
    batch = pytest.importorskip("image_downloader.batch", reason="the batch handler is not written yet")
    if not hasattr(batch, "handler"):
        pytest.skip("image_downloader.batch has no handler yet")
    request = batch.parse_request(load_input("fail.json"), batch.BatchSettings())
    assert len(request.resource_paths) == 21


def test_scripts_call_the_success_and_failure_bodies() -> None:
    for script, body in (
        ("success.sh", "examples/inputs/success.json"),
        ("fail.sh", "examples/inputs/fail.json"),
    ):
        text = (REPO_ROOT / "scripts" / script).read_text()
        assert body in text and 'client.sh" run' in text


def test_submodules_name_no_path_outside_their_folder() -> None:
    """A submodule sourced on its own (``//modules/compute`` of a git URL) finds everything it reads:
    paths outside its folder come in as variables."""
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in sorted((REPO_ROOT / "modules").rglob("*.tf"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "../" in line
    ]
    assert offenders == []


def test_every_submodule_says_what_it_is_and_that_the_root_is_the_entry_point() -> None:
    for folder in sorted(path for path in (REPO_ROOT / "modules").iterdir() if path.is_dir()):
        readme = folder / "README.md"
        assert readme.is_file(), f"{folder.name} has no README.md"
        first = readme.read_text().splitlines()[0]
        assert first == f"# {folder.name} (internal)", first
        assert "root module" in readme.read_text(), folder.name


# The root's object variables whose fields a submodule receives as variables of their own.
_ROOT_GROUPS = re.compile(r"var\.(?:lambda|state_machine|api|notifications|storage)\.")


def _conditions(path: Path, group: re.Pattern[str] | None = None) -> set[str]:
    found = re.findall(r"^\s*condition\s*=\s*(.+)$", path.read_text(), re.MULTILINE)
    single_line = (text for text in found if not text.rstrip().endswith(("[", "(")))
    return {re.sub(r"\s+", " ", group.sub("var.", text) if group else text).strip() for text in single_line}


def test_a_check_the_root_makes_is_not_repeated_in_a_submodule() -> None:
    """Shared validations live once, at the root (the submodules are internal)."""
    root = _conditions(REPO_ROOT / "variables.tf", _ROOT_GROUPS)
    repeated = {
        path.parent.name: sorted(conditions & root)
        for path in sorted(MODULES.glob("*/variables.tf"))
        if (conditions := _conditions(path)) & root
    }
    assert repeated == {}


def test_express_children_are_refused_at_plan_time_when_a_batch_may_outlast_them() -> None:
    state_machine = module("state_machine")
    machine = only(state_machine, "aws_sfn_state_machine").body
    [precondition] = nested(machine, "lifecycle")["precondition"]
    assert "var.map_execution_type" in precondition["condition"]
    assert "var.function_timeouts.download + local.task_timeout_margin_seconds" in precondition["condition"]
    assert state_machine.locals["express_max_seconds"] == 300


def test_an_environment_over_lambdas_4_kb_is_refused_by_a_precondition_of_every_function() -> None:
    """tests/test_terraform_evaluation.py evaluates the measure and the message with Terraform itself."""
    compute = module("compute")
    function = only(compute, "aws_lambda_function").body
    preconditions = nested(function, "lifecycle")["precondition"]
    [environment] = [item for item in preconditions if "environment_problems" in item["condition"]]
    assert environment["condition"] == "${local.environment_problems[each.key] == null}"
    assert "local.environment_problems[each.key]" in environment["error_message"]
    assert compute.locals["environment_limit_bytes"] == 4096
