data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # Built from the name, as modules/state_machine builds it: the state machine needs these functions'
  # ARNs first, so the status function cannot take the state machine's own ARN.
  state_machine_arn = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.state_machine_name}"

  # IAM is global: the region in every role name lets the same name deploy in another region.
  role_name_prefix = "${var.name}-${data.aws_region.current.id}"
}

locals {

  # Kept equal to local_runner/packaging.py ARCHIVE_EXCLUDES (a test compares them): the zip the local
  # runner builds is the zip Lambda runs. Glob patterns relative to source_dir (doublestar syntax).
  archive_excludes = ["**/__pycache__/**", "**/*.pyc"]

  # The environment of each function: exactly the names image_downloader/settings.py reads
  # (ENV_BY_FUNCTION; tests/test_terraform_consistency.py holds both sides together).
  environment = {
    batch = {
      BUCKET_NAME             = var.bucket_name
      RUN_KEY_PREFIX          = var.run_key_prefix
      INPUT_LOCATIONS         = join(",", [for source in var.request_sources : "${source.bucket}/${source.prefix}"])
      MAX_LAMBDA_CONCUR       = tostring(var.limits.max_lambda_concur)
      MAX_PATHS_PER_EXECUTION = tostring(var.limits.max_paths_per_execution)
      DEFAULT_BATCH_SIZE      = tostring(var.limits.default_batch_size)
      MAX_CONCURRENT_BATCHES  = tostring(var.max_concurrent_batches)
      IMAGE_KEY_PREFIX        = var.image_key_prefix
      TABLE_NAME              = var.table_name
      REPORT_KEY_PREFIX       = var.report_key_prefix
    }
    download = {
      BUCKET_NAME                = var.bucket_name
      TABLE_NAME                 = var.table_name
      IMAGE_KEY_PREFIX           = var.image_key_prefix
      RUN_KEY_PREFIX             = var.run_key_prefix
      MAX_IMAGE_BYTES            = tostring(var.downloader.max_image_bytes)
      ALLOWED_HOSTS              = join(",", var.downloader.allowed_hosts)
      ALLOW_PRIVATE_ADDRESSES    = tostring(var.downloader.allow_private_addresses)
      CONNECT_TIMEOUT_SECONDS    = tostring(var.downloader.connect_timeout_seconds)
      READ_TIMEOUT_SECONDS       = tostring(var.downloader.read_timeout_seconds)
      TIME_BUDGET_MARGIN_SECONDS = tostring(var.downloader.time_budget_margin_seconds)
      IMAGE_TIME_LIMIT_SECONDS   = tostring(var.downloader.image_time_limit_seconds)
      ALLOWED_CONTENT_TYPES      = join(",", var.downloader.allowed_content_types)
    }
    consolidate = {
      BUCKET_NAME         = var.bucket_name
      REPORT_KEY_PREFIX   = var.report_key_prefix
      RUN_KEY_PREFIX      = var.run_key_prefix
      MAX_LISTED_FAILURES = tostring(var.limits.max_listed_failures)
    }
    status = {
      STATE_MACHINE_ARN = local.state_machine_arn
      BUCKET_NAME       = var.bucket_name
      REPORT_KEY_PREFIX = var.report_key_prefix
    }
    notify = {
      TOPIC_ARN = var.topic_arn
    }
  }

  # Lambda refuses a function whose environment passes 4 KB, measured as the JSON of every name and value
  # together ({"NAME":"value",...}; its error quotes the "String measured"). Measured here at plan time,
  # with the one value that may be unknown until apply, a generated bucket name, at its longest (63
  # characters, in INPUT_LOCATIONS too), so that an oversize list fails the plan, not the apply.
  environment_limit_bytes = 4096
  longest_bucket_name     = format("%063d", 0)
  environment_at_longest = {
    for function, variables in local.environment : function => merge(variables, {
      for name, value in {
        BUCKET_NAME     = local.longest_bucket_name
        INPUT_LOCATIONS = join(",", [for source in var.request_sources : "${local.longest_bucket_name}/${source.prefix}"])
      } : name => value if contains(keys(variables), name)
    })
  }
  environment_bytes = { for function, variables in local.environment_at_longest : function => length(jsonencode(variables)) }
  # The values that grow with a list the user sets, and the setting that holds it.
  environment_lists = {
    batch    = { INPUT_LOCATIONS = "request_sources" }
    download = { ALLOWED_HOSTS = "downloader.allowed_hosts", ALLOWED_CONTENT_TYPES = "downloader.allowed_content_types" }
  }
  environment_problems = {
    for function, bytes in local.environment_bytes : function => bytes <= local.environment_limit_bytes ? null : format(
      "The %s function's environment would be %d bytes as Lambda measures it (the JSON of every name and value, a bucket name counted at 63 characters), over Lambda's %d-byte limit: %s; the other variables leave %d bytes for %s.",
      function,
      bytes,
      local.environment_limit_bytes,
      join(" and ", [for name, setting in lookup(local.environment_lists, function, {}) : "${setting} takes ${length(local.environment_at_longest[function][name])} bytes in ${name}"]),
      local.environment_limit_bytes - bytes + sum(concat([0], [for name, setting in lookup(local.environment_lists, function, {}) : length(local.environment_at_longest[function][name])])),
      length(lookup(local.environment_lists, function, {})) == 1 ? "it: shorten the list" : "them: shorten the lists",
    )
  }

  # One execution's working data (image_downloader/runs.py): runs/<execution>/batches/* and runs/<execution>/results/*.
  batch_objects  = "${var.bucket_arn}/${var.run_key_prefix}*/batches/*"
  result_objects = "${var.bucket_arn}/${var.run_key_prefix}*/results/*"
  # Every failed URL of a run, unmasked: Consolidate writes it, a later retryFailuresOf reads it.
  failed_url_lists = "${var.bucket_arn}/${var.run_key_prefix}*/failed-urls.json"

  # Bodies over 256 KiB spool to /tmp while they stream to S3: at worst every request in flight holds
  # one image of the largest size allowed.
  download_spool_mb = ceil(var.limits.max_lambda_concur * var.downloader.max_image_bytes / 1048576)
  download_ephemeral_storage_mb = coalesce(
    var.functions.download.ephemeral_storage_mb,
    min(10240, max(512, local.download_spool_mb + 64)),
  )

  # -1: no concurrency reserved (the account's unreserved pool). With a reservation, the Map's invocations
  # past it are throttled (TooManyRequestsException), so the Map may not run more batches at once.
  download_reserved_concurrency = coalesce(var.functions.download.reserved_concurrency, -1)
  map_fits_reserved_concurrency = local.download_reserved_concurrency < 0 || var.max_concurrent_batches <= local.download_reserved_concurrency

  functions = {
    batch = {
      handler     = "image_downloader.batch.handler"
      description = "Validates a download request and writes its batches and their manifest to S3."
      memory_size = var.functions.batch.memory_size
      timeout     = var.functions.batch.timeout
      ephemeral   = 512
    }
    download = {
      handler     = "image_downloader.download.handler"
      description = "Downloads one batch of images into S3 and records each in DynamoDB."
      memory_size = var.functions.download.memory_size
      timeout     = var.functions.download.timeout
      ephemeral   = local.download_ephemeral_storage_mb
    }
    consolidate = {
      handler     = "image_downloader.consolidate.handler"
      description = "Reads the batch results from S3 into one report, a summary and the notification text."
      memory_size = var.functions.consolidate.memory_size
      timeout     = var.functions.consolidate.timeout
      ephemeral   = 512
    }
    status = {
      handler     = "image_downloader.status.handler"
      description = "Answers GET /executions/{name}: an execution's status, counts and report link."
      memory_size = var.functions.status.memory_size
      timeout     = var.functions.status.timeout
      ephemeral   = 512
    }
    notify = {
      handler     = "image_downloader.notify.handler"
      description = "Notifies the topic of executions that ended FAILED, TIMED_OUT or ABORTED."
      memory_size = 128
      timeout     = 30
      ephemeral   = 512
    }
  }
}

################################################################################
# Package: one zip of lambda_src/ for every handler
################################################################################

data "archive_file" "package" {
  type             = "zip"
  source_dir       = var.source_dir
  excludes         = local.archive_excludes
  output_path      = var.package_output_path
  output_file_mode = "0644"
}

################################################################################
# Logs: created before the functions, so Lambda never creates an unmanaged group
################################################################################

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# IAM: one role per function, each allowed only what its handler does
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.functions

  name                 = "${local.role_name_prefix}-${each.key}"
  description          = "Execution role of the ${var.name}-${each.key} Lambda function."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.iam_role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "logs" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  for_each = local.functions

  name   = "logs"
  role   = aws_iam_role.lambda[each.key].id
  policy = data.aws_iam_policy_document.logs[each.key].json
}

data "aws_iam_policy_document" "batch" {
  statement {
    sid       = "WriteBatches"
    actions   = ["s3:PutObject"]
    resources = [local.batch_objects, "${var.bucket_arn}/${var.run_key_prefix}*/manifest.json"]
  }

  dynamic "statement" {
    for_each = length(var.request_sources) == 0 ? [] : [var.request_sources]

    content {
      sid       = "ReadRequestPaths"
      actions   = ["s3:GetObject"]
      resources = [for source in statement.value : "arn:${data.aws_partition.current.partition}:s3:::${source.bucket}/${source.prefix}*"]
    }
  }

  statement {
    sid       = "SkipRecordedImages"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "ReadFailedUrlsToRetry"
    actions   = ["s3:GetObject"]
    resources = [local.failed_url_lists]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseStorageKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "batch" {
  name   = "batch"
  role   = aws_iam_role.lambda["batch"].id
  policy = data.aws_iam_policy_document.batch.json
}

data "aws_iam_policy_document" "download" {
  statement {
    sid       = "StoreImages"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arn}/${var.image_key_prefix}*"]
  }

  # HeadObject of an image whose record replaced another: the record must describe the object under its
  # key when two executions store one URL at once.
  statement {
    sid       = "CheckStoredImages"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.image_key_prefix}*"]
  }

  statement {
    sid       = "ReadBatches"
    actions   = ["s3:GetObject"]
    resources = [local.batch_objects]
  }

  statement {
    sid       = "WriteBatchResults"
    actions   = ["s3:PutObject"]
    resources = [local.result_objects]
  }

  statement {
    sid       = "RecordImages"
    actions   = ["dynamodb:PutItem"]
    resources = [var.table_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseStorageKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "download" {
  name   = "download"
  role   = aws_iam_role.lambda["download"].id
  policy = data.aws_iam_policy_document.download.json
}

data "aws_iam_policy_document" "consolidate" {
  statement {
    sid       = "ReadBatchesAndResults"
    actions   = ["s3:GetObject"]
    resources = [local.batch_objects, local.result_objects]
  }

  # Consolidate lists runs/<execution>/results/ to find the batches that crashed before writing a result
  # and never reads a missing key, so the s3:prefix condition is evaluated only on the ListObjectsV2
  # request it is documented for (not on the undocumented "may list?" check of a GetObject 404).
  statement {
    sid       = "ListBatchResults"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.run_key_prefix}*/results/"]
    }
  }

  statement {
    sid       = "WriteReports"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arn}/${var.report_key_prefix}*", local.failed_url_lists]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseStorageKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "consolidate" {
  name   = "consolidate"
  role   = aws_iam_role.lambda["consolidate"].id
  policy = data.aws_iam_policy_document.consolidate.json
}

data "aws_iam_policy_document" "status" {
  statement {
    sid       = "DescribeExecutions"
    actions   = ["states:DescribeExecution", "states:ListMapRuns"]
    resources = ["${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*"]
  }

  # While an execution runs there is no report yet: its counts come from its Distributed Map run.
  statement {
    sid       = "DescribeMapRuns"
    actions   = ["states:DescribeMapRun"]
    resources = ["${replace(local.state_machine_arn, ":stateMachine:", ":mapRun:")}/*"]
  }

  statement {
    sid       = "ReadReports"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${var.report_key_prefix}*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "DecryptReports"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "status" {
  name   = "status"
  role   = aws_iam_role.lambda["status"].id
  policy = data.aws_iam_policy_document.status.json
}

data "aws_iam_policy_document" "notify" {
  statement {
    sid       = "DescribeExecutions"
    actions   = ["states:DescribeExecution"]
    resources = ["${replace(local.state_machine_arn, ":stateMachine:", ":execution:")}:*"]
  }

  statement {
    sid       = "PublishNotifications"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "EncryptNotifications"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "notify" {
  name   = "notify"
  role   = aws_iam_role.lambda["notify"].id
  policy = data.aws_iam_policy_document.notify.json
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = var.tracing_enabled ? local.functions : {}

  role       = aws_iam_role.lambda[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

################################################################################
# Functions
################################################################################

resource "aws_lambda_function" "handler" {
  #checkov:skip=CKV_AWS_116:Step Functions invokes these functions synchronously and handles their errors (Retry/Catch); a dead-letter queue only receives failed asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The functions reach only AWS APIs and public image hosts; a VPC would add a NAT gateway and no isolation (the downloader refuses private addresses itself).
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the Distributed Map's concurrency (state_machine.map_max_concurrency) and the API's throttling; reserving it (opt-in: lambda.download.reserved_concurrency) takes capacity from the account pool and fails on accounts with a low quota.
  #checkov:skip=CKV_AWS_272:The package is zipped from source by archive_file at plan time, so there is no signed artifact for a code-signing configuration to verify.
  #checkov:skip=CKV_AWS_173:The environment holds only bucket/table names, prefixes and limits, no secrets; Lambda encrypts it at rest with its AWS managed key.
  for_each = local.functions

  function_name = "${var.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.lambda[each.key].arn

  filename                       = data.archive_file.package.output_path
  source_code_hash               = data.archive_file.package.output_base64sha256
  handler                        = each.value.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = each.key == "download" ? local.download_reserved_concurrency : -1

  ephemeral_storage {
    size = each.value.ephemeral
  }

  environment {
    variables = local.environment[each.key]
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda[each.key].name
    application_log_level = var.application_log_level
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = each.key != "download" || each.value.timeout > var.downloader.time_budget_margin_seconds + var.downloader.connect_timeout_seconds
      error_message = "functions.download.timeout must exceed downloader.time_budget_margin_seconds + downloader.connect_timeout_seconds, or the function stops before downloading anything."
    }
    precondition {
      condition     = local.environment_problems[each.key] == null
      error_message = coalesce(local.environment_problems[each.key], "The environment fits Lambda's 4 KB.")
    }
    precondition {
      condition     = each.key != "download" || local.map_fits_reserved_concurrency
      error_message = "state_machine.map_max_concurrency (${var.max_concurrent_batches}) exceeds lambda.download.reserved_concurrency (${local.download_reserved_concurrency}): the Map's invocations past the reservation would be throttled. Raise the reservation or lower map_max_concurrency."
    }
    precondition {
      condition     = each.key != "download" || local.download_spool_mb <= each.value.ephemeral
      error_message = "limits.max_lambda_concur x downloader.max_image_bytes needs ${local.download_spool_mb} MB of /tmp in the download function, more than its ${each.value.ephemeral} MB: lower one of them, or raise lambda.download.ephemeral_storage_mb (at most 10240)."
    }
  }

  # The role must be able to write logs before the first invocation.
  depends_on = [aws_iam_role_policy.logs]
}

################################################################################
# Unsuccessful executions reach the notify function
################################################################################

resource "aws_cloudwatch_event_rule" "unsuccessful_executions" {
  count = var.notify_unsuccessful_executions ? 1 : 0

  name        = "${var.name}-unsuccessful-executions"
  description = "Executions of ${var.state_machine_name} that ended FAILED, TIMED_OUT or ABORTED."
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      stateMachineArn = [local.state_machine_arn]
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "unsuccessful_executions" {
  count = var.notify_unsuccessful_executions ? 1 : 0

  rule      = aws_cloudwatch_event_rule.unsuccessful_executions[0].name
  target_id = "notify"
  arn       = aws_lambda_function.handler["notify"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }
}

resource "aws_lambda_permission" "unsuccessful_executions" {
  count = var.notify_unsuccessful_executions ? 1 : 0

  statement_id  = "AllowUnsuccessfulExecutionEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler["notify"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.unsuccessful_executions[0].arn
}
