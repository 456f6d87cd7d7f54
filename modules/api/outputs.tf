output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the HTTP API (https://{api-id}.execute-api.{region}.amazonaws.com)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "executions_url" {
  description = "Full URL to POST a download request to."
  value       = "${aws_apigatewayv2_api.this.api_endpoint}/executions"
}

output "executions_route_arn" {
  description = "execute-api ARN of POST /executions on the $default stage: the resource to allow execute-api:Invoke on for callers when authorization_type is AWS_IAM."
  value       = "${aws_apigatewayv2_api.this.execution_arn}/${aws_apigatewayv2_stage.default.name}/POST/executions"
}

output "execution_status_route_arn" {
  description = "execute-api ARN of GET /executions/{name} on the $default stage (any name): allow execute-api:Invoke on it too for AWS_IAM callers that follow their executions."
  value       = "${aws_apigatewayv2_api.this.execution_arn}/${aws_apigatewayv2_stage.default.name}/GET/executions/*"
}

output "access_log_group_name" {
  description = "CloudWatch log group of the API's access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "stage_id" {
  description = "ID of the $default stage."
  value       = aws_apigatewayv2_stage.default.id
}

output "invoke_url" {
  description = "Invoke URL of the $default stage."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "role_arn" {
  description = "ARN of the role the API assumes to start executions."
  value       = aws_iam_role.api.arn
}
