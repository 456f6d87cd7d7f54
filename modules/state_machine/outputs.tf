output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "role_arn" {
  description = "ARN of the state machine's role, the only principal allowed to publish to the topic."
  value       = aws_iam_role.state_machine.arn
}

output "role_name" {
  description = "Name of the state machine's role."
  value       = aws_iam_role.state_machine.name
}

output "log_group_name" {
  description = "CloudWatch log group of the state machine's execution logs."
  value       = aws_cloudwatch_log_group.state_machine.name
}

output "alarm_arn" {
  description = "ARN of the unsuccessful-executions alarm, or null when alarm.enabled is false."
  value       = try(aws_cloudwatch_metric_alarm.unsuccessful_executions[0].arn, null)
}
