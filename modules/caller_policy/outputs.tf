output "json" {
  description = "The caller's IAM policy document (JSON), to attach to the role or user that calls the pipeline."
  value       = data.aws_iam_policy_document.caller.json
}
