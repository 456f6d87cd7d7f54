output "api_endpoint" {
  description = "Base URL of the HTTP API (https://{api-id}.execute-api.{region}.amazonaws.com)."
  value       = module.api.api_endpoint
}

output "executions_url" {
  description = "Full URL to POST a download request to (the route POST /executions on the $default stage)."
  value       = module.api.executions_url
}

output "executions_route_arn" {
  description = "execute-api ARN of POST /executions: allow execute-api:Invoke on it for the callers when api.authorization_type is AWS_IAM."
  value       = module.api.executions_route_arn
}

output "api_authorization_type" {
  description = "How POST /executions authorizes callers (AWS_IAM, JWT or NONE); scripts/invoke.py signs or sends a token accordingly."
  value       = var.api.authorization_type
}

output "state_machine_arn" {
  description = "ARN of the state machine (for DescribeExecution, ListExecutions and CloudWatch alarms)."
  value       = module.state_machine.state_machine_arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = module.state_machine.state_machine_name
}

output "bucket_name" {
  description = "Bucket holding the images (under storage.image_key_prefix) and failure reports (under storage.report_key_prefix)."
  value       = module.storage.bucket_name
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = module.storage.bucket_arn
}

output "table_name" {
  description = "DynamoDB table with one record per downloaded image, keyed by URL."
  value       = module.storage.table_name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = module.storage.table_arn
}

output "topic_arn" {
  description = "SNS topic receiving the failure reports; subscribe further endpoints to it."
  value       = module.notification.topic_arn
}

output "function_names" {
  description = "Lambda function names by role: batch, download, consolidate."
  value       = module.compute.function_names
}

output "function_arns" {
  description = "Lambda function ARNs by role: batch, download, consolidate."
  value       = module.compute.function_arns
}

output "log_group_names" {
  description = "CloudWatch log groups: one per function (batch, download, consolidate), the state machine's and the API's access logs."
  value = merge(module.compute.log_group_names, {
    state_machine = module.state_machine.log_group_name
    api_access    = module.api.access_log_group_name
  })
}
