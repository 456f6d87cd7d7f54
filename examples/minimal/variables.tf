variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix of every resource (lowercase letters, digits, hyphens; at most 32 characters)."
  type        = string
  default     = "image-downloader"
}

variable "ci_principal_arn" {
  description = "Principal allowed to assume the CI role, e.g. the ARN of an account root or of a GitHub OIDC role."
  type        = string
}
