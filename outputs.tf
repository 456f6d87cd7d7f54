output "api_endpoint" {
  description = "Base URL of the HTTP API (https://{api-id}.execute-api.{region}.amazonaws.com)."
  value       = try(module.api[0].api_endpoint, null)
}

output "executions_url" {
  description = "Full URL to POST a download request to (the route POST /executions on the $default stage)."
  value       = try(module.api[0].executions_url, null)
}

output "executions_route_arn" {
  description = "execute-api ARN of POST /executions: allow execute-api:Invoke on it for the callers when api.authorization_type is AWS_IAM."
  value       = try(module.api[0].executions_route_arn, null)
}

output "execution_status_route_arn" {
  description = "execute-api ARN of GET /executions/{name}, which the client polls: allow execute-api:Invoke on it too when api.authorization_type is AWS_IAM (caller_policy_json does)."
  value       = try(module.api[0].execution_status_route_arn, null)
}

output "api_authorization_type" {
  description = "How POST /executions authorizes callers (AWS_IAM, JWT or NONE); null without the API. The image-downloader client signs or sends a token accordingly."
  value       = var.create && var.create_api ? var.api.authorization_type : null
}

output "api_id" {
  description = "ID of the HTTP API (null when create_api is false)."
  value       = try(module.api[0].api_id, null)
}

output "api_stage_id" {
  description = "ID of the API's $default stage."
  value       = try(module.api[0].stage_id, null)
}

output "api_invoke_url" {
  description = "Invoke URL of the API's $default stage."
  value       = try(module.api[0].invoke_url, null)
}

output "api_role_arn" {
  description = "ARN of the role the API assumes to start executions."
  value       = try(module.api[0].role_arn, null)
}

output "state_machine_arn" {
  description = "ARN of the state machine (for DescribeExecution, ListExecutions and CloudWatch alarms)."
  value       = try(module.state_machine[0].state_machine_arn, null)
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's role."
  value       = try(module.state_machine[0].role_arn, null)
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = try(module.state_machine[0].state_machine_name, null)
}

output "bucket_name" {
  description = "Bucket holding the images (under storage.image_key_prefix) and failure reports (under storage.report_key_prefix)."
  value       = try(module.storage[0].bucket_name, null)
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = try(module.storage[0].bucket_arn, null)
}

output "table_name" {
  description = "DynamoDB table with one record per downloaded image, keyed by URL."
  value       = try(module.storage[0].table_name, null)
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = try(module.storage[0].table_arn, null)
}

output "unsuccessful_executions_alarm_arn" {
  description = "ARN of the CloudWatch alarm on failed, timed-out and aborted executions (null unless notifications.alarm.enabled)."
  value       = try(module.state_machine[0].alarm_arn, null)
}

output "topic_arn" {
  description = "SNS topic receiving the failure reports and the notices of unsuccessful executions; subscribe further endpoints to it."
  value       = try(module.notification[0].topic_arn, null)
}

output "function_names" {
  description = "Lambda function names by role: batch, download, consolidate, status, notify."
  value       = try(module.compute[0].function_names, null)
}

output "function_arns" {
  description = "Lambda function ARNs by role: batch, download, consolidate, status, notify."
  value       = try(module.compute[0].function_arns, null)
}

output "function_role_arns" {
  description = "ARNs of the functions' roles by function: batch, download, consolidate, status, notify."
  value       = try(module.compute[0].role_arns, null)
}

output "caller_policy_json" {
  description = "Least-privilege IAM policy document (JSON) for a principal that calls the pipeline, e.g. a CI role: invoke POST /executions and GET /executions/{name} (AWS_IAM authorization) or start executions directly (create_api = false), describe this state machine's executions, read the reports, upload the paths of large requests under storage.input_key_prefix."
  value       = try(module.caller_policy[0].json, null)
}

output "log_group_names" {
  description = "CloudWatch log groups (seven): one per function (batch, download, consolidate, status, notify), the state machine's and the API's access logs."
  value = var.create ? merge(
    module.compute[0].log_group_names,
    { state_machine = module.state_machine[0].log_group_name },
    var.create_api ? { api_access = module.api[0].access_log_group_name } : {},
  ) : {}
}
