variable "name" {
  description = "Name of the state machine; its role is `<name>-<region>-state-machine` and its log group `/aws/vendedlogs/states/<name>`."
  type        = string
}

variable "role_name" {
  description = "Name of the state machine's IAM role; null names it `<name>-<region>-state-machine` (IAM is global: the region keeps the name unique)."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be an IAM role name: 1-64 letters, digits and +=,.@_- characters."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "definition_template_path" {
  description = "Path of the ASL template (sfn/image_downloader.asl.json of this repository) that templatefile renders into the definition."
  type        = string
}

variable "function_arns" {
  description = "Unqualified ARNs of the three functions the state machine invokes; its role may invoke exactly these and their versions and aliases."
  type = object({
    batch       = string
    download    = string
    consolidate = string
  })
}

variable "function_timeouts" {
  description = "Timeout in seconds of each function; each Task's timeout is this plus a 15-second margin."
  type = object({
    batch       = number
    download    = number
    consolidate = number
  })
}

variable "topic_arn" {
  description = "SNS topic the state machine publishes failure reports to."
  type        = string
}

variable "topic_kms_key_arn" {
  description = "Customer managed KMS key of the topic, or null when the topic uses the AWS managed key; when set, the role may use it to publish."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "Bucket of the images and of each execution's working data (the Distributed Map reads its manifest of batches there and writes its results there); echoed in the execution output."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of that bucket, for the role's Distributed Map permissions."
  type        = string
}

variable "run_key_prefix" {
  description = "Key prefix of each execution's working data: the role may read `<prefix>*/manifest.json` and write the Map's results under `<prefix>map-results/`."
  type        = string
  default     = "runs/"
}

variable "storage_kms_key_arn" {
  description = "Customer managed KMS key of the bucket, or null for SSE-S3; when set, the role may use it to read the manifest and write the Map's results."
  type        = string
  default     = null
}

variable "table_name" {
  description = "Table of the image records, echoed in the execution output."
  type        = string
}

variable "map_execution_type" {
  description = "Workflow type of the Distributed Map's child executions, one per batch: STANDARD (billed per state transition, each child's history kept 90 days) or EXPRESS (billed per request and GB-second, at most 5 minutes per batch). The local run always runs STANDARD children."
  type        = string
  default     = "STANDARD"
}

variable "execution_timeout_seconds" {
  description = "Longest time one execution may run before Step Functions stops it."
  type        = number
  default     = 3600
}

variable "log_level" {
  description = "Which execution history events go to CloudWatch Logs: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ERROR"
}

variable "include_execution_data" {
  description = "Log the input and output of each state as well (contains the requested URLs)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days the state machine's log group keeps its events."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group, or null for CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "Trace executions with AWS X-Ray (adds the AWSXRayDaemonWriteAccess managed policy to the role)."
  type        = bool
  default     = false
}

variable "iam_role_permissions_boundary" {
  description = "ARN of a policy set as permissions boundary on the state machine's role, or null."
  type        = string
  default     = null
}

variable "alarm" {
  description = "A CloudWatch alarm on the sum of failed, timed-out and aborted executions: enabled, threshold (executions), period_seconds, evaluation_periods (periods in a row) and alarm_actions (ARNs notified when it fires)."
  type = object({
    enabled            = optional(bool, false)
    threshold          = optional(number, 1)
    period_seconds     = optional(number, 300)
    evaluation_periods = optional(number, 1)
    alarm_actions      = optional(list(string), [])
  })
  default = {}
}
