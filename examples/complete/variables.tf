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

variable "notification_emails" {
  description = "Addresses that receive failure reports (each must confirm the subscription mail from AWS)."
  type        = list(string)
  default     = []
}

variable "allowed_hosts" {
  description = "Hosts the downloader may fetch from; empty allows any public host."
  type        = list(string)
  default     = []
}

variable "map_max_concurrency" {
  description = "Download Lambdas the Distributed Map runs at once (1-10000); requests in flight = this x lambdaConcur."
  type        = number
  default     = 10
}

variable "api_authorization_type" {
  description = "AWS_IAM (SigV4-signed calls), JWT (bearer tokens of jwt_issuer) or NONE (open: demos only)."
  type        = string
  default     = "AWS_IAM"
}

variable "jwt_issuer" {
  description = "JWT issuer URL when api_authorization_type is JWT, e.g. \"https://token.actions.githubusercontent.com\"."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted JWT audiences when api_authorization_type is JWT."
  type        = list(string)
  default     = []
}
