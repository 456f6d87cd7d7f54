data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  state_machine_name = var.name
  # Built from its parts so the role's trust policy can name the state machine before it exists.
  state_machine_arn = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:stateMachine:${local.state_machine_name}"

  function_arns = [var.function_arns.batch, var.function_arns.download, var.function_arns.consolidate]

  # The Distributed Map's children are executions of this state machine, named <state machine>/<map run>:<id>.
  # AWS's Distributed Map example policy names them execution:<state machine>:*, the ARNs the API returns
  # have execution:<state machine>/<map run>:<id>: both forms are granted (as the CDK does since
  # aws/aws-cdk#35390), so neither reading of the ARN leaves the map unable to describe or stop a child.
  execution_arns       = replace(local.state_machine_arn, ":stateMachine:", ":execution:")
  child_execution_arns = ["${local.execution_arns}/*", "${local.execution_arns}:*"]
  map_results_prefix   = "${var.run_key_prefix}map-results"

  # A Task waits a little longer than its Lambda function may run, so the function's own timeout error
  # (which the template can tell apart) arrives first.
  task_timeout_margin_seconds = 15

  # Longest run of an Express workflow, so of an EXPRESS child of the Distributed Map.
  express_max_seconds = 300
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "state_machine" {
  # Under /aws/vendedlogs/ so CloudWatch Logs does not grow its account-wide resource policy per log group.
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# IAM
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.state_machine_arn]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name                 = coalesce(var.role_name, "${var.name}-${data.aws_region.current.id}-state-machine")
  description          = "Role of the ${local.state_machine_name} state machine."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.iam_role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokePipelineFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(local.function_arns, [for arn in local.function_arns : "${arn}:*"])
  }

  # What a Distributed Map needs: run its child executions, read the manifest of batches, write its results.
  statement {
    sid       = "StartChildExecutions"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid       = "ManageChildExecutions"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = local.child_execution_arns
  }

  # Redriving a parent whose Map Run failed redrives the map run's unsuccessful children.
  statement {
    sid       = "RedriveChildExecutions"
    actions   = ["states:RedriveExecution"]
    resources = ["${local.execution_arns}/*:*"]
  }

  statement {
    sid       = "ReadBatchManifest"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.run_key_prefix}*/manifest.json"]
  }

  statement {
    sid       = "WriteMapResults"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/${local.map_results_prefix}/*"]
  }

  dynamic "statement" {
    for_each = var.storage_kms_key_arn == null ? [] : [var.storage_kms_key_arn]

    content {
      sid       = "UseStorageKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "PublishNotifications"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }

  dynamic "statement" {
    for_each = var.topic_kms_key_arn == null ? [] : [var.topic_kms_key_arn]

    content {
      sid       = "EncryptNotifications"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }

  # CloudWatch Logs delivery for Step Functions: these actions do not support resource-level permissions.
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "state-machine"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

resource "aws_iam_role_policy_attachment" "xray" {
  count = var.tracing_enabled ? 1 : 0

  role       = aws_iam_role.state_machine.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

################################################################################
# State machine
################################################################################

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_284:X-Ray tracing is opt-in (tracing_enabled): it is billed per trace and adds nothing to the execution history Step Functions keeps anyway.
  #checkov:skip=CKV_AWS_285:Execution data (every state's input and output, i.e. all requested URLs) is opt-in (include_execution_data); the events themselves are logged at log_level.
  name     = local.state_machine_name
  role_arn = aws_iam_role.state_machine.arn
  type     = "STANDARD"

  definition = templatefile(var.definition_template_path, {
    batch_function_arn          = var.function_arns.batch
    download_function_arn       = var.function_arns.download
    consolidate_function_arn    = var.function_arns.consolidate
    topic_arn                   = var.topic_arn
    bucket_name                 = var.bucket_name
    table_name                  = var.table_name
    map_execution_type          = var.map_execution_type
    map_results_prefix          = local.map_results_prefix
    batch_timeout_seconds       = var.function_timeouts.batch + local.task_timeout_margin_seconds
    download_timeout_seconds    = var.function_timeouts.download + local.task_timeout_margin_seconds
    consolidate_timeout_seconds = var.function_timeouts.consolidate + local.task_timeout_margin_seconds
    execution_timeout_seconds   = var.execution_timeout_seconds
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    level                  = var.log_level
    include_execution_data = var.include_execution_data
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.map_execution_type != "EXPRESS" || var.function_timeouts.download + local.task_timeout_margin_seconds <= local.express_max_seconds
      error_message = "An EXPRESS child execution runs at most ${local.express_max_seconds} seconds, but a batch may take the download function's timeout (${var.function_timeouts.download} s) plus ${local.task_timeout_margin_seconds} s: lower lambda.download.timeout to ${local.express_max_seconds - local.task_timeout_margin_seconds} or use STANDARD children."
    }
  }

  # Step Functions checks at creation that the role may deliver logs and invoke the functions.
  depends_on = [aws_iam_role_policy.state_machine]
}

################################################################################
# Optional alarm on unsuccessful executions
################################################################################

resource "aws_cloudwatch_metric_alarm" "unsuccessful_executions" {
  count = var.alarm.enabled ? 1 : 0

  alarm_name          = "${local.state_machine_name}-unsuccessful-executions"
  alarm_description   = "Executions of ${local.state_machine_name} that failed, timed out or were aborted."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.alarm.threshold
  evaluation_periods  = var.alarm.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm.alarm_actions

  metric_query {
    id          = "unsuccessful"
    expression  = "failed + timed_out + aborted"
    label       = "Unsuccessful executions"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { failed = "ExecutionsFailed", timed_out = "ExecutionsTimedOut", aborted = "ExecutionsAborted" }

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        dimensions  = { StateMachineArn = aws_sfn_state_machine.this.arn }
        period      = var.alarm.period_seconds
        stat        = "Sum"
      }
    }
  }

  tags = var.tags
}
