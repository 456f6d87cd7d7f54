locals {
  # arn:<partition>:states:<region>:<account>:stateMachine:<name> -> the ARNs of its executions.
  execution_arns = "${replace(var.state_machine_arn, ":stateMachine:", ":execution:")}:*"
}

# A policy for the principal that calls the pipeline (a CI role): nothing beyond starting executions,
# following them, reading their reports and uploading the paths of large requests.
data "aws_iam_policy_document" "caller" {
  dynamic "statement" {
    for_each = length(var.route_arns) > 0 ? [var.route_arns] : []

    content {
      sid       = "InvokeRoutes"
      actions   = ["execute-api:Invoke"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.allow_start_execution ? [var.state_machine_arn] : []

    content {
      sid       = "StartExecutions"
      actions   = ["states:StartExecution"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "FollowExecutions"
    actions   = ["states:DescribeExecution"]
    resources = [local.execution_arns]
  }

  statement {
    sid       = "ReadReports"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.report_key_prefix}*"]
  }

  # The client uploads the paths of a request over the 256 KiB execution input here and passes them by
  # reference (resourcePathsFrom).
  dynamic "statement" {
    for_each = var.input_key_prefix == null ? [] : [var.input_key_prefix]

    content {
      sid       = "UploadLargeRequests"
      actions   = ["s3:PutObject"]
      resources = ["${var.bucket_arn}/${statement.value}*"]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "DecryptReports"
      actions   = var.input_key_prefix == null ? ["kms:Decrypt"] : ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}
