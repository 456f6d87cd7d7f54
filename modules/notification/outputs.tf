output "topic_arn" {
  description = "ARN of the SNS topic that receives the failure reports and the notices of unsuccessful executions."
  value       = aws_sns_topic.notifications.arn
}

output "topic_name" {
  description = "Name of the SNS topic."
  value       = aws_sns_topic.notifications.name
}
