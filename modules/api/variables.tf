variable "name" {
  description = "Name of the HTTP API; its role is `<name>-<region>-api` (IAM is global) and its access log group `/aws/vendedlogs/apigateway/<name>/access`."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "state_machine_arn" {
  description = "ARN of the state machine that POST /executions starts; the API's role may start this one only."
  type        = string
}

variable "status_function_name" {
  description = "Name of the Lambda function answering GET /executions/{name}; the API may invoke it on that route only."
  type        = string
}

variable "status_function_arn" {
  description = "ARN of that function."
  type        = string
}

variable "authorization_type" {
  description = "Who may call POST /executions and GET /executions/{name}: AWS_IAM (SigV4-signed requests of principals allowed execute-api:Invoke), JWT (bearer tokens of jwt_issuer for jwt_audience) or NONE (anyone who knows the URL)."
  type        = string
  default     = "AWS_IAM"
}

variable "jwt_issuer" {
  description = "Issuer URL of the accepted JWTs when authorization_type is JWT (GitHub Actions OIDC: \"https://token.actions.githubusercontent.com\")."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted `aud` values of the JWTs when authorization_type is JWT; a token must carry one of them."
  type        = list(string)
  default     = []
}

variable "jwt_authorization_scopes" {
  description = "Scopes a JWT must carry (any one of them) when authorization_type is JWT; empty accepts any scope."
  type        = list(string)
  default     = []
}

variable "throttling_burst_limit" {
  description = "Requests the stage accepts in a burst before it throttles."
  type        = number
  default     = 20
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the stage accepts."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "Days the access log group keeps its events."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the access log group, or null for CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "iam_role_permissions_boundary" {
  description = "ARN of a policy set as permissions boundary on the API's role, or null."
  type        = string
  default     = null
}
