variable "name" {
  description = "Name prefix: functions are named `<name>-batch`, `<name>-download`, `<name>-consolidate`, `<name>-status` and `<name>-notify`, their roles `<name>-<region>-<function>` (IAM is global)."
  type        = string
}

variable "state_machine_name" {
  description = "Name of the state machine (in this account and region) whose executions the status function may describe."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.state_machine_name))
    error_message = "state_machine_name must be 1-80 letters, digits, '-' or '_'."
  }
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "topic_arn" {
  description = "SNS topic the notify function publishes unsuccessful executions to."
  type        = string
}

variable "notify_unsuccessful_executions" {
  description = "Route every execution of the state machine that ends FAILED, TIMED_OUT or ABORTED to the notify function (an EventBridge rule); executions whose images failed are left to the state machine's own report."
  type        = bool
  default     = true
}

variable "source_dir" {
  description = "Folder whose contents become the functions' zip: the image_downloader package (lambda_src/ of this repository)."
  type        = string
}

variable "package_output_path" {
  description = "Where the functions' zip is written at plan time."
  type        = string

  validation {
    condition     = endswith(var.package_output_path, ".zip")
    error_message = "package_output_path must name a .zip file."
  }
}

variable "bucket_name" {
  description = "Bucket of the images, each execution's working data (batches, results) and the reports."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of that bucket, for the functions' IAM policies."
  type        = string
}

variable "table_name" {
  description = "DynamoDB table the download function records each image in (and the batch function reads for skipExisting)."
  type        = string
}

variable "table_arn" {
  description = "ARN of that table, for the download and batch functions' IAM policies."
  type        = string
}

variable "image_key_prefix" {
  description = "Key prefix of the images; the download function may write and delete below it only."
  type        = string
  default     = "images/"
}

variable "report_key_prefix" {
  description = "Key prefix of the reports the consolidate function writes (`<prefix><execution>.json`), which the status function reads, and the batch function for retryFailuresOf."
  type        = string
  default     = "reports/"
}

variable "run_key_prefix" {
  description = "Key prefix of each execution's working data: its batches and manifest (written by the batch function), and each batch's result (written by the download function, read by the consolidate function)."
  type        = string
  default     = "runs/"
}

variable "request_sources" {
  description = "Where a request's resourcePathsFrom may point: the batch function may read s3://<bucket>/<prefix>* of each entry and nothing else. Empty refuses every reference."
  type = list(object({
    bucket = string
    prefix = string
  }))
  default = []
}

variable "max_concurrent_batches" {
  description = "Download functions the Distributed Map runs at once, unless a request asks for fewer (maxConcurrentBatches); the batch function passes it on as the Map's MaxConcurrencyPath."
  type        = number
  default     = 10
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of the bucket, table and log groups, or null. When set, the download and consolidate roles may use it (kms:GenerateDataKey, kms:Decrypt) and the log groups are encrypted with it."
  type        = string
  default     = null
}

variable "runtime" {
  description = "Lambda runtime of the functions."
  type        = string
  default     = "python3.13"
}

variable "architecture" {
  description = "Instruction set of the functions: arm64 (Graviton, cheaper per GB-second) or x86_64. The package is pure Python, so both work."
  type        = string
  default     = "arm64"
}

variable "functions" {
  description = "Memory (MB) and timeout (seconds) of each function (the status function answers the API, which waits at most 30 s); the download function's /tmp size (MB; null sizes it for lambdaConcur x the largest image)."
  type = object({
    batch = optional(object({
      memory_size = optional(number, 1024)
      timeout     = optional(number, 60)
    }), {})
    download = optional(object({
      memory_size          = optional(number, 512)
      timeout              = optional(number, 300)
      ephemeral_storage_mb = optional(number)
    }), {})
    consolidate = optional(object({
      memory_size = optional(number, 512)
      timeout     = optional(number, 120)
    }), {})
    status = optional(object({
      memory_size = optional(number, 256)
      timeout     = optional(number, 10)
    }), {})
  })
  default = {}
}

variable "downloader" {
  description = "What the download function may fetch and how long it waits. allow_private_addresses = true lets it reach private, loopback and link-local addresses (the instance metadata service among them): keep false on AWS. image_time_limit_seconds bounds each image, retries and redirects included. allowed_content_types lists the image formats stored (SVG is off by default: it can carry scripts)."
  type = object({
    allowed_hosts              = optional(list(string), [])
    allow_private_addresses    = optional(bool, false)
    max_image_bytes            = optional(number, 52428800)
    connect_timeout_seconds    = optional(number, 5)
    read_timeout_seconds       = optional(number, 30)
    time_budget_margin_seconds = optional(number, 20)
    image_time_limit_seconds   = optional(number, 60)
    allowed_content_types      = optional(list(string), ["image/gif", "image/png", "image/jpeg", "image/webp", "image/avif", "image/bmp", "image/tiff", "image/x-icon"])
  })
  default = {}
}

variable "limits" {
  description = "Limits the batch and consolidate functions enforce on each request."
  type = object({
    max_lambda_concur       = optional(number, 50)
    max_paths_per_execution = optional(number, 1000000)
    default_batch_size      = optional(number, 100)
    max_listed_failures     = optional(number, 50)
  })
  default = {}
}

variable "log_retention_days" {
  description = "Days the functions' CloudWatch log groups keep their events."
  type        = number
  default     = 365
}

variable "application_log_level" {
  description = "Lowest level of the handlers' own log records that reaches CloudWatch (JSON log format)."
  type        = string
  default     = "INFO"
}

variable "tracing_enabled" {
  description = "Trace the functions with AWS X-Ray (adds the AWSXRayDaemonWriteAccess managed policy to their roles)."
  type        = bool
  default     = false
}

variable "iam_role_permissions_boundary" {
  description = "ARN of a policy set as permissions boundary on the functions' roles, or null."
  type        = string
  default     = null
}
