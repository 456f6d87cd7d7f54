variable "name" {
  description = "Name prefix: the topic is named `<name>-notifications`."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for the topic. Null uses the AWS managed key `alias/aws/sns`. A customer managed key must let the publisher roles use kms:GenerateDataKey and kms:Decrypt."
  type        = string
  default     = null
}

variable "publisher_role_names" {
  description = "Names of the only IAM roles (of this account, path /) allowed to publish to the topic: the state machine's role and the notify function's."
  type        = list(string)

  validation {
    condition     = length(var.publisher_role_names) > 0 && alltrue([for name in var.publisher_role_names : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", name))])
    error_message = "publisher_role_names must hold IAM role names: 1-64 letters, digits and +=,.@_- characters."
  }
}

variable "email_addresses" {
  description = "Addresses subscribed to the failure reports; each must confirm the subscription mail from AWS."
  type        = list(string)
  default     = []
}
