variable "create" {
  description = "Whether to create anything: false plans no resource at all (the terraform-aws-modules toggle for conditional stacks)."
  type        = bool
  default     = true
}

variable "create_api" {
  description = "Whether to create the HTTP API. false leaves the state machine and what it runs; callers then start executions with states:StartExecution (caller_policy_json allows it)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of every resource (lowercase letters, digits, hyphens; at most 32 characters, so that every derived name, such as the IAM role `<name>-<region>-state-machine`, stays within AWS limits)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be 1-32 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = <<-EOT
    ARN of a customer managed KMS key that encrypts the bucket (SSE-KMS with an S3 Bucket Key), the table, the
    topic and the log groups. Null (the default) uses SSE-S3, the AWS managed keys of DynamoDB and SNS and
    CloudWatch Logs' own encryption. The key policy must let the CloudWatch Logs service principal of the
    region use the key; the module grants its roles kms:GenerateDataKey and kms:Decrypt on it.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)."
  }
}

variable "iam_role_permissions_boundary" {
  description = "ARN of a policy set as permissions boundary on every IAM role the module creates, or null."
  type        = string
  default     = null

  validation {
    condition     = var.iam_role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/", var.iam_role_permissions_boundary))
    error_message = "iam_role_permissions_boundary must be an IAM policy ARN."
  }
}

variable "log_retention_days" {
  description = "Days every CloudWatch log group of the module (functions, state machine, API access logs) keeps its events."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "tracing_enabled" {
  description = "Trace the functions and the state machine with AWS X-Ray."
  type        = bool
  default     = false
}

variable "storage" {
  description = <<-EOT
    Bucket and table settings.
    - bucket_name: exact bucket name; null derives a unique one from `<name>-`.
    - force_destroy: let `terraform destroy` delete a bucket that still holds objects.
    - versioning_enabled: keep overwritten objects (noncurrent versions expire after noncurrent_version_expiration_days).
    - image_key_prefix / report_key_prefix: key prefixes of images and execution reports (non-empty, ending in "/", neither inside the other).
    - run_key_prefix: key prefix of each execution's working data (batches, manifest, batch results, the Distributed Map's results).
    - run_expiration_days: days after which that working data is deleted (reports and images stay).
    - input_key_prefix: where requests too large for the 256 KiB execution input put their paths file (see request_sources).
    - glacier_ir_transition_days: days after upload at which images move to Glacier Instant Retrieval.
    - glacier_ir_min_object_size_bytes: only images larger than this move. The default, 131072 (128 KiB), is
      where the move starts to pay: S3 lifecycle skips objects under 128 KB by default, and Glacier IR bills
      every object as at least 128 KB plus a transition request, so a 2 KB flag costs more there than in
      S3 Standard. Set 1 to move every image as the original project did.
    - abort_incomplete_multipart_upload_days: days after which unfinished multipart uploads are removed.
    - table_deletion_protection_enabled: refuse to delete the table until set to false (point-in-time recovery is always on).
  EOT
  type = object({
    bucket_name                            = optional(string)
    force_destroy                          = optional(bool, false)
    versioning_enabled                     = optional(bool, false)
    image_key_prefix                       = optional(string, "images/")
    report_key_prefix                      = optional(string, "reports/")
    run_key_prefix                         = optional(string, "runs/")
    input_key_prefix                       = optional(string, "inputs/")
    run_expiration_days                    = optional(number, 7)
    glacier_ir_transition_days             = optional(number, 1)
    glacier_ir_min_object_size_bytes       = optional(number, 131072)
    abort_incomplete_multipart_upload_days = optional(number, 1)
    noncurrent_version_expiration_days     = optional(number, 30)
    table_deletion_protection_enabled      = optional(bool, true)
  })
  default = {}

  validation {
    condition = alltrue([
      for prefix in [var.storage.image_key_prefix, var.storage.report_key_prefix, var.storage.run_key_prefix, var.storage.input_key_prefix] :
      can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", prefix))
    ])
    error_message = "storage.image_key_prefix, report_key_prefix, run_key_prefix and input_key_prefix must be non-empty key prefixes ending with '/' (e.g. \"images/\")."
  }

  validation {
    condition = alltrue([
      for pair in setproduct([var.storage.image_key_prefix, var.storage.report_key_prefix, var.storage.run_key_prefix, var.storage.input_key_prefix], [var.storage.image_key_prefix, var.storage.report_key_prefix, var.storage.run_key_prefix, var.storage.input_key_prefix]) :
      pair[0] == pair[1] || !startswith(pair[0], pair[1])
    ]) && length(distinct([var.storage.image_key_prefix, var.storage.report_key_prefix, var.storage.run_key_prefix, var.storage.input_key_prefix])) == 4
    error_message = "storage.image_key_prefix, report_key_prefix, run_key_prefix and input_key_prefix must differ and not contain one another: the functions' permissions are split by prefix."
  }
}

variable "request_sources" {
  description = <<-EOT
    Where a request's resourcePathsFrom (an s3:// URL of a paths file, for requests over the 256 KiB
    execution input) may point: the batch function may read s3://<bucket>/<prefix>* of each entry and
    nothing else. Null (the default) allows the module's own bucket under storage.input_key_prefix; []
    refuses every reference. A bucket encrypted with another KMS key also needs that key's grant.
  EOT
  type = list(object({
    bucket = string
    prefix = string
  }))
  default = null

  validation {
    condition = var.request_sources == null ? true : alltrue([
      for source in var.request_sources :
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", source.bucket)) && (source.prefix == "" || endswith(source.prefix, "/"))
    ])
    error_message = "Each request_sources entry needs a bucket name and a prefix that is \"\" or ends with '/' (e.g. \"inputs/\")."
  }
}

variable "notification_emails" {
  description = "E-mail addresses subscribed to the failure reports. Each receives a confirmation mail from AWS first."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "Every entry of notification_emails must be an e-mail address."
  }
}

variable "notifications" {
  description = <<-EOT
    What reaches the notification topic besides the failed-URL report of an execution whose images failed.
    - unsuccessful_executions: a short message for every execution that ends FAILED (for another reason
      than failed images: an invalid request, a States.* error), TIMED_OUT or ABORTED; an EventBridge rule
      calls the notify function, which publishes it.
    - alarm: a CloudWatch alarm on the sum of the state machine's failed, timed-out and aborted executions
      (off by default), firing once it reaches threshold in evaluation_periods periods of period_seconds
      in a row, with alarm_actions (e.g. an SNS topic of your paging tool encrypted with a customer
      managed key that lets cloudwatch.amazonaws.com use it).
  EOT
  type = object({
    unsuccessful_executions = optional(bool, true)
    alarm = optional(object({
      enabled            = optional(bool, false)
      threshold          = optional(number, 1)
      period_seconds     = optional(number, 300)
      evaluation_periods = optional(number, 1)
      alarm_actions      = optional(list(string), [])
    }), {})
  })
  default = {}

  validation {
    condition     = var.notifications.alarm.threshold >= 1 && var.notifications.alarm.evaluation_periods >= 1 && contains([60, 300, 900, 3600, 21600, 86400], var.notifications.alarm.period_seconds)
    error_message = "notifications.alarm.threshold and evaluation_periods must be at least 1, and period_seconds one of 60, 300, 900, 3600, 21600, 86400."
  }
}

variable "lambda" {
  description = <<-EOT
    Runtime, architecture, log level and the memory (MB) and timeout (seconds) of each function.
    download.ephemeral_storage_mb is the download function's /tmp (512-10240 MB), where image bodies over
    256 KiB are spooled while they stream to S3; null (the default) sizes it for the worst case,
    limits.max_lambda_concur x downloader.max_image_bytes (2,500 MB with the defaults).
  EOT
  type = object({
    runtime               = optional(string, "python3.13")
    architecture          = optional(string, "arm64")
    application_log_level = optional(string, "INFO")
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

  validation {
    condition     = can(regex("^python3\\.(1[2-9]|[2-9][0-9])$", var.lambda.runtime))
    error_message = "lambda.runtime must be a Python runtime of version 3.12 or later (e.g. \"python3.13\")."
  }

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda.architecture)
    error_message = "lambda.architecture must be \"arm64\" or \"x86_64\"."
  }

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.lambda.application_log_level)
    error_message = "lambda.application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }

  validation {
    condition = alltrue([
      for function in [var.lambda.batch, var.lambda.download, var.lambda.consolidate, var.lambda.status] :
      function.memory_size >= 128 && function.memory_size <= 10240 && function.timeout >= 1 && function.timeout <= 900
    ])
    error_message = "Each function's memory_size must be 128-10240 MB and its timeout 1-900 seconds."
  }

  validation {
    condition     = var.lambda.download.ephemeral_storage_mb == null ? true : (var.lambda.download.ephemeral_storage_mb >= 512 && var.lambda.download.ephemeral_storage_mb <= 10240)
    error_message = "lambda.download.ephemeral_storage_mb must be null (sized automatically) or 512-10240 MB."
  }
}

variable "downloader" {
  description = <<-EOT
    What the download function may fetch.
    - allowed_hosts: host names it may download from; empty allows any public host.
    - allow_private_addresses: let it reach private, loopback and link-local addresses (the instance
      metadata service among them). Keep false on AWS; the local runner and the tests set it.
    - max_image_bytes: largest image accepted (default 50 MiB).
    - connect_timeout_seconds / read_timeout_seconds: per-request timeouts.
    - time_budget_margin_seconds: stop starting downloads when less than this remains of the function's timeout.
    - image_time_limit_seconds: hard wall-clock limit of one image, retries and redirects included; a server
      that trickles or stalls fails that URL (timed_out) and holds up nothing else. Keep it well under
      lambda.download.timeout minus time_budget_margin_seconds.
    - allowed_content_types: image formats stored, checked on the Content-Type and on the bytes. SVG
      (image/svg+xml) is off by default: it can carry scripts that run when a browser opens it; when you
      allow it, SVG objects are stored with Content-Disposition: attachment.
  EOT
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

  validation {
    condition     = alltrue([for host in var.downloader.allowed_hosts : can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host))])
    error_message = "downloader.allowed_hosts must hold bare host names such as \"fluentpython.com\" (no scheme, port or path)."
  }

  validation {
    condition     = var.downloader.image_time_limit_seconds > 0 && var.downloader.image_time_limit_seconds <= 900
    error_message = "downloader.image_time_limit_seconds must be greater than 0 and at most 900 (the longest Lambda timeout)."
  }

  validation {
    condition     = length(var.downloader.allowed_content_types) > 0 && alltrue([for type in var.downloader.allowed_content_types : contains(["image/gif", "image/png", "image/jpeg", "image/webp", "image/avif", "image/bmp", "image/tiff", "image/x-icon", "image/svg+xml"], type)])
    error_message = "downloader.allowed_content_types must list one or more of image/gif, image/png, image/jpeg, image/webp, image/avif, image/bmp, image/tiff, image/x-icon, image/svg+xml."
  }

  validation {
    condition     = var.downloader.max_image_bytes >= 1 && var.downloader.connect_timeout_seconds > 0 && var.downloader.read_timeout_seconds > 0 && var.downloader.time_budget_margin_seconds > 0
    error_message = "downloader.max_image_bytes must be at least 1 and the timeouts and margin greater than 0."
  }
}

variable "limits" {
  description = "Per-request limits: highest lambdaConcur a request may ask for, most paths per execution, paths per download Lambda when the request gives no batchSize, failures listed in the notification."
  type = object({
    max_lambda_concur       = optional(number, 50)
    max_paths_per_execution = optional(number, 1000000)
    default_batch_size      = optional(number, 100)
    max_listed_failures     = optional(number, 50)
  })
  default = {}

  validation {
    condition = alltrue([
      for limit in [var.limits.max_lambda_concur, var.limits.max_paths_per_execution, var.limits.default_batch_size, var.limits.max_listed_failures] :
      limit >= 1 && floor(limit) == limit
    ])
    error_message = "Every limit must be a whole number, at least 1."
  }
}

variable "state_machine" {
  description = <<-EOT
    State machine settings.
    - map_max_concurrency: download Lambdas the Distributed Map runs at once (1 to 10000); a request may ask
      for fewer (maxConcurrentBatches). Requests in flight to the origin = this x lambdaConcur.
    - map_execution_type: the Map's child executions, one per batch: STANDARD or EXPRESS (see the cost
      model in docs/design.md; the local run always runs STANDARD children).
    - execution_timeout_seconds: longest time one execution may run.
    - log_level: execution history events sent to CloudWatch Logs (ALL, ERROR, FATAL, OFF).
    - include_execution_data: log each state's input and output too (they contain the requested URLs).
  EOT
  type = object({
    map_max_concurrency       = optional(number, 10)
    map_execution_type        = optional(string, "STANDARD")
    execution_timeout_seconds = optional(number, 3600)
    log_level                 = optional(string, "ERROR")
    include_execution_data    = optional(bool, false)
  })
  default = {}

  validation {
    condition     = var.state_machine.map_max_concurrency >= 1 && var.state_machine.map_max_concurrency <= 10000 && floor(var.state_machine.map_max_concurrency) == var.state_machine.map_max_concurrency
    error_message = "state_machine.map_max_concurrency must be a whole number between 1 and 10000."
  }

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.state_machine.map_execution_type)
    error_message = "state_machine.map_execution_type must be STANDARD or EXPRESS."
  }

  validation {
    condition     = var.state_machine.execution_timeout_seconds >= 60 && var.state_machine.execution_timeout_seconds <= 31536000 && floor(var.state_machine.execution_timeout_seconds) == var.state_machine.execution_timeout_seconds
    error_message = "state_machine.execution_timeout_seconds must be a whole number between 60 and 31536000 (one year)."
  }

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine.log_level)
    error_message = "state_machine.log_level must be one of ALL, ERROR, FATAL, OFF."
  }
}

variable "api" {
  description = <<-EOT
    HTTP API settings.
    - authorization_type: AWS_IAM (default: SigV4-signed requests of principals allowed execute-api:Invoke on
      the executions_route_arn output), JWT (bearer tokens of jwt_issuer for one of jwt_audience, e.g. GitHub
      Actions OIDC) or NONE (anyone who knows the URL can start downloads: demos only).
    - jwt_issuer, jwt_audience, jwt_authorization_scopes: the JWT authorizer (JWT only).
    - throttling_burst_limit / throttling_rate_limit: stage throttling (requests, requests per second).
  EOT
  type = object({
    authorization_type       = optional(string, "AWS_IAM")
    jwt_issuer               = optional(string)
    jwt_audience             = optional(list(string), [])
    jwt_authorization_scopes = optional(list(string), [])
    throttling_burst_limit   = optional(number, 20)
    throttling_rate_limit    = optional(number, 10)
  })
  default = {}

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.api.authorization_type)
    error_message = "api.authorization_type must be AWS_IAM, JWT or NONE."
  }

  validation {
    condition     = var.api.authorization_type != "JWT" || (can(regex("^https://", var.api.jwt_issuer)) && length(var.api.jwt_audience) > 0)
    error_message = "api.authorization_type JWT needs api.jwt_issuer (an https:// URL) and at least one api.jwt_audience."
  }

  validation {
    condition     = var.api.throttling_burst_limit >= 0 && floor(var.api.throttling_burst_limit) == var.api.throttling_burst_limit && var.api.throttling_rate_limit >= 0
    error_message = "api.throttling_burst_limit must be a whole number, 0 or more, and api.throttling_rate_limit 0 or more."
  }
}
