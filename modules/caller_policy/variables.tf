variable "state_machine_arn" {
  description = "ARN of the state machine whose executions the caller starts and follows."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]+$", var.state_machine_arn))
    error_message = "state_machine_arn must be a Step Functions state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)."
  }
}

variable "route_arns" {
  description = "execute-api ARNs of the API routes the caller may invoke; empty when there is no API or it does not use AWS_IAM authorization."
  type        = list(string)
  default     = []
}

variable "allow_start_execution" {
  description = "Whether the caller may start executions directly (states:StartExecution), for stacks without the HTTP API."
  type        = bool
  default     = false
}

variable "bucket_arn" {
  description = "ARN of the bucket holding the failure reports."
  type        = string
}

variable "report_key_prefix" {
  description = "Key prefix of the failure reports; the caller may read below it only."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed KMS key encrypting the bucket, or null for the AWS managed key; when set, the caller may decrypt with it to read reports."
  type        = string
  default     = null
}

variable "input_key_prefix" {
  description = "Key prefix the caller may upload the paths of large requests to (resourcePathsFrom), or null for no upload permission."
  type        = string
  default     = null
}
