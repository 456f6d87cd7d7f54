output "function_names" {
  description = "Name of each function, by role: batch, download, consolidate, status, notify."
  value       = { for key, function in aws_lambda_function.handler : key => function.function_name }
}

output "function_arns" {
  description = "Unqualified ARN of each function, by role: batch, download, consolidate, status, notify."
  value       = { for key, function in aws_lambda_function.handler : key => function.arn }
}

output "function_timeouts" {
  description = "Timeout in seconds of each function, by role, for the state machine's task timeouts."
  value       = { for key, function in aws_lambda_function.handler : key => function.timeout }
}

output "role_arns" {
  description = "ARN of each function's execution role, by role."
  value       = { for key, role in aws_iam_role.lambda : key => role.arn }
}

output "log_group_names" {
  description = "CloudWatch log group of each function, by role."
  value       = { for key, group in aws_cloudwatch_log_group.lambda : key => group.name }
}

output "role_name_prefix" {
  description = "Prefix of the functions' role names, `<name>-<region>` (IAM is global): `<prefix>-<function>`. Built from the region, so it does not wait for the roles."
  value       = local.role_name_prefix
}
