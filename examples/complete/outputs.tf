output "executions_url" {
  description = "URL to POST a download request to (the image-downloader client, run by scripts/success.sh, reads it from here)."
  value       = module.image_downloader.executions_url
}

output "api_authorization_type" {
  description = "How the API authorizes callers; the image-downloader client signs or sends a token accordingly."
  value       = module.image_downloader.api_authorization_type
}

output "executions_route_arn" {
  description = "Resource to allow execute-api:Invoke on for callers when the API uses AWS_IAM."
  value       = module.image_downloader.executions_route_arn
}

output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = module.image_downloader.state_machine_arn
}

output "bucket_name" {
  description = "Bucket holding the images and failure reports."
  value       = module.image_downloader.bucket_name
}

output "table_name" {
  description = "DynamoDB table of image records."
  value       = module.image_downloader.table_name
}

output "topic_arn" {
  description = "SNS topic of the failure reports."
  value       = module.image_downloader.topic_arn
}

output "function_names" {
  description = "Lambda function names by role: batch, download, consolidate, status, notify."
  value       = module.image_downloader.function_names
}

output "log_group_names" {
  description = "CloudWatch log group names: batch, download, consolidate, status, notify, state_machine, api_access."
  value       = module.image_downloader.log_group_names
}

output "execution_status_route_arn" {
  description = "Resource to allow execute-api:Invoke on as well: the client polls GET /executions/{name} (AWS_IAM)."
  value       = module.image_downloader.execution_status_route_arn
}

output "caller_policy_json" {
  description = "Least-privilege IAM policy (JSON) for a principal that calls the pipeline, e.g. a CI role: both routes, the reports, large requests' paths."
  value       = module.image_downloader.caller_policy_json
}
