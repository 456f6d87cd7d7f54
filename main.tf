locals {
  # IAM is global: every role name holds the region, `<name>-<region>-<purpose>`, so that one name deploys
  # in several regions. modules/compute builds the prefix from the provider's region (not from a role).
  role_name_prefix = var.create ? module.compute[0].role_name_prefix : var.name

  # Named here and handed to both modules, so the topic policy (notification) and the role (state_machine)
  # agree on it without either module waiting for the other.
  state_machine_role_name = "${local.role_name_prefix}-state-machine"

  # Default: the module's own bucket, under storage.input_key_prefix (none when create = false). It names
  # the bucket_name output, not module.storage[*]: a reference to the whole module would make the
  # functions wait for every storage resource, the lifecycle configuration the provider polls for a
  # minute included.
  request_sources = var.request_sources != null ? var.request_sources : var.create ? [
    { bucket = module.storage[0].bucket_name, prefix = var.storage.input_key_prefix }
  ] : []

  # The notify function's role (modules/compute names each function's role `<name>-<region>-<function>`).
  notify_role_name = "${local.role_name_prefix}-notify"
}

module "storage" {
  source = "./modules/storage"
  count  = var.create ? 1 : 0

  name        = var.name
  tags        = var.tags
  kms_key_arn = var.kms_key_arn

  bucket_name                            = var.storage.bucket_name
  force_destroy                          = var.storage.force_destroy
  versioning_enabled                     = var.storage.versioning_enabled
  image_key_prefix                       = var.storage.image_key_prefix
  run_key_prefix                         = var.storage.run_key_prefix
  run_expiration_days                    = var.storage.run_expiration_days
  glacier_ir_transition_days             = var.storage.glacier_ir_transition_days
  glacier_ir_min_object_size_bytes       = var.storage.glacier_ir_min_object_size_bytes
  abort_incomplete_multipart_upload_days = var.storage.abort_incomplete_multipart_upload_days
  noncurrent_version_expiration_days     = var.storage.noncurrent_version_expiration_days
  table_deletion_protection_enabled      = var.storage.table_deletion_protection_enabled
}

module "compute" {
  source = "./modules/compute"
  count  = var.create ? 1 : 0

  source_dir          = "${path.module}/lambda_src"
  package_output_path = "${path.module}/build/lambda_src.zip"

  name        = var.name
  tags        = var.tags
  kms_key_arn = var.kms_key_arn

  bucket_name       = module.storage[0].bucket_name
  bucket_arn        = module.storage[0].bucket_arn
  table_name        = module.storage[0].table_name
  table_arn         = module.storage[0].table_arn
  image_key_prefix  = var.storage.image_key_prefix
  report_key_prefix = var.storage.report_key_prefix
  run_key_prefix    = var.storage.run_key_prefix
  request_sources   = local.request_sources

  runtime               = var.lambda.runtime
  architecture          = var.lambda.architecture
  application_log_level = var.lambda.application_log_level
  functions = {
    batch       = var.lambda.batch
    download    = var.lambda.download
    consolidate = var.lambda.consolidate
    status      = var.lambda.status
  }
  state_machine_name             = var.name
  topic_arn                      = module.notification[0].topic_arn
  notify_unsuccessful_executions = var.notifications.unsuccessful_executions
  downloader                     = var.downloader
  limits                         = var.limits
  max_concurrent_batches         = var.state_machine.map_max_concurrency

  log_retention_days            = var.log_retention_days
  tracing_enabled               = var.tracing_enabled
  iam_role_permissions_boundary = var.iam_role_permissions_boundary
}

module "notification" {
  source = "./modules/notification"
  count  = var.create ? 1 : 0

  name        = var.name
  tags        = var.tags
  kms_key_arn = var.kms_key_arn

  publisher_role_names = [local.state_machine_role_name, local.notify_role_name]
  email_addresses      = var.notification_emails
}

module "state_machine" {
  source = "./modules/state_machine"
  count  = var.create ? 1 : 0

  definition_template_path = "${path.module}/sfn/image_downloader.asl.json"

  name        = var.name
  role_name   = local.state_machine_role_name
  tags        = var.tags
  kms_key_arn = var.kms_key_arn

  function_arns       = module.compute[0].function_arns
  function_timeouts   = module.compute[0].function_timeouts
  topic_arn           = module.notification[0].topic_arn
  topic_kms_key_arn   = var.kms_key_arn
  storage_kms_key_arn = var.kms_key_arn
  bucket_name         = module.storage[0].bucket_name
  bucket_arn          = module.storage[0].bucket_arn
  table_name          = module.storage[0].table_name
  run_key_prefix      = var.storage.run_key_prefix

  map_execution_type        = var.state_machine.map_execution_type
  execution_timeout_seconds = var.state_machine.execution_timeout_seconds
  log_level                 = var.state_machine.log_level
  include_execution_data    = var.state_machine.include_execution_data
  alarm                     = var.notifications.alarm

  log_retention_days            = var.log_retention_days
  tracing_enabled               = var.tracing_enabled
  iam_role_permissions_boundary = var.iam_role_permissions_boundary
}

module "api" {
  source = "./modules/api"
  count  = var.create && var.create_api ? 1 : 0

  name = var.name
  tags = var.tags

  state_machine_arn        = module.state_machine[0].state_machine_arn
  status_function_name     = module.compute[0].function_names.status
  status_function_arn      = module.compute[0].function_arns.status
  authorization_type       = var.api.authorization_type
  jwt_issuer               = var.api.jwt_issuer
  jwt_audience             = var.api.jwt_audience
  jwt_authorization_scopes = var.api.jwt_authorization_scopes
  throttling_burst_limit   = var.api.throttling_burst_limit
  throttling_rate_limit    = var.api.throttling_rate_limit

  log_retention_days            = var.log_retention_days
  kms_key_arn                   = var.kms_key_arn
  iam_role_permissions_boundary = var.iam_role_permissions_boundary
}

module "caller_policy" {
  source = "./modules/caller_policy"
  count  = var.create ? 1 : 0

  state_machine_arn     = module.state_machine[0].state_machine_arn
  route_arns            = var.create_api && var.api.authorization_type == "AWS_IAM" ? [module.api[0].executions_route_arn, module.api[0].execution_status_route_arn] : []
  allow_start_execution = !var.create_api
  bucket_arn            = module.storage[0].bucket_arn
  report_key_prefix     = var.storage.report_key_prefix
  input_key_prefix      = var.storage.input_key_prefix
  kms_key_arn           = var.kms_key_arn
}
