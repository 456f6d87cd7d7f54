output "executions_url" {
  description = "URL to POST a download request to (SigV4-signed by a principal holding the CI role)."
  value       = module.image_downloader.executions_url
}

output "ci_role_arn" {
  description = "Role to assume in CI to call the pipeline."
  value       = aws_iam_role.ci.arn
}
