variable "name" {
  description = "Name prefix of every resource: the bucket is named `<name>-<random suffix>` unless bucket_name is set, the table `<name>-images`."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Exact name of the bucket. Leave null to let AWS derive a unique name from `<name>-`."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket while it still holds objects. Keep false outside of demos."
  type        = bool
  default     = false
}

variable "versioning_enabled" {
  description = "Keep previous versions of overwritten objects (they expire after noncurrent_version_expiration_days)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the bucket (SSE-KMS with an S3 Bucket Key) and the table. Null uses SSE-S3 for the bucket and the AWS managed key for the table."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:<partition>:kms:...)."
  }
}

variable "image_key_prefix" {
  description = "Key prefix of the downloaded images; the Glacier Instant Retrieval transition applies to it only."
  type        = string
  default     = "images/"
}

variable "run_key_prefix" {
  description = "Key prefix of each execution's working data (batches, manifest, batch results, the Distributed Map's results); it expires after run_expiration_days."
  type        = string
  default     = "runs/"
}

variable "run_expiration_days" {
  description = "Days after which an execution's working data under run_key_prefix is deleted (the reports and images stay). An execution must end within this time."
  type        = number
  default     = 7

  validation {
    condition     = var.run_expiration_days >= 1 && floor(var.run_expiration_days) == var.run_expiration_days
    error_message = "run_expiration_days must be a whole number of days, at least 1."
  }
}

variable "glacier_ir_transition_days" {
  description = "Days after upload at which images move to S3 Glacier Instant Retrieval (millisecond reads, lower storage price, 90-day minimum billing)."
  type        = number
  default     = 1

  validation {
    condition     = var.glacier_ir_transition_days >= 0 && floor(var.glacier_ir_transition_days) == var.glacier_ir_transition_days
    error_message = "glacier_ir_transition_days must be a whole number of days, 0 or more."
  }
}

variable "glacier_ir_min_object_size_bytes" {
  description = <<-EOT
    Only images larger than this many bytes move to Glacier Instant Retrieval. The default, 131072 (128 KiB),
    is where the move starts to pay: S3 lifecycle skips objects under 128 KB by default, and Glacier IR bills
    every object as at least 128 KB plus a per-object transition request, so a 2 KB flag GIF costs more there
    than in S3 Standard. Set 1 to move every non-empty image as the original project did.
  EOT
  type        = number
  default     = 131072

  validation {
    condition     = var.glacier_ir_min_object_size_bytes >= 1 && floor(var.glacier_ir_min_object_size_bytes) == var.glacier_ir_min_object_size_bytes
    error_message = "glacier_ir_min_object_size_bytes must be a whole number of bytes, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which S3 removes the parts of multipart uploads that never completed."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which a noncurrent object version is deleted (only matters with versioning_enabled)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "table_deletion_protection_enabled" {
  description = "Refuse to delete the DynamoDB table (including from `terraform destroy`) until this is set to false."
  type        = bool
  default     = true
}
