data "aws_region" "current" {}

locals {
  route_key        = "POST /executions"
  status_route_key = "GET /executions/{name}"
  jwt              = var.authorization_type == "JWT"

  # Both routes authorize alike: a caller that may start an execution may follow it.
  authorizer_id        = local.jwt ? aws_apigatewayv2_authorizer.jwt[0].id : null
  authorization_scopes = local.jwt && length(var.jwt_authorization_scopes) > 0 ? var.jwt_authorization_scopes : null
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "Starts an image download (POST /executions with the request as JSON body) and tells how it goes (GET /executions/{name})."
  protocol_type = "HTTP"

  tags = var.tags
}

################################################################################
# Integration: the request body becomes the input of a new execution
################################################################################

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api" {
  # IAM is global: the region in the name lets the same name deploy in another region.
  name                 = "${var.name}-${data.aws_region.current.id}-api"
  description          = "Lets the ${var.name} HTTP API start executions of its state machine."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.iam_role_permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "StartExecutions"
    actions   = ["states:StartExecution"]
    resources = [var.state_machine_arn]
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "start-execution"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

resource "aws_apigatewayv2_integration" "start_execution" {
  api_id              = aws_apigatewayv2_api.this.id
  description         = "Starts an execution of the state machine with the request body as input."
  integration_type    = "AWS_PROXY"
  integration_subtype = "StepFunctions-StartExecution"
  credentials_arn     = aws_iam_role.api.arn

  # AWS service integrations take payload format 1.0.
  payload_format_version = "1.0"

  # The Idempotency-Key header names the execution: a retried start with the same key and body returns
  # the running execution, and is refused (ExecutionAlreadyExists) once it has ended. Standard workflows
  # keep a name taken for 90 days after its execution ended.
  request_parameters = {
    StateMachineArn = var.state_machine_arn
    Input           = "$request.body"
    Name            = "$request.header.Idempotency-Key"
  }
}

resource "aws_apigatewayv2_integration" "execution_status" {
  api_id                 = aws_apigatewayv2_api.this.id
  description            = "Answers GET /executions/{name} with the status function."
  integration_type       = "AWS_PROXY"
  integration_uri        = var.status_function_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_lambda_permission" "execution_status" {
  statement_id  = "AllowHttpApiGetExecution"
  action        = "lambda:InvokeFunction"
  function_name = var.status_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/GET/executions/*"
}

################################################################################
# Route and authorization
################################################################################

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.jwt ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  authorizer_type  = "JWT"
  name             = "${var.name}-jwt"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_route" "start_execution" {
  api_id    = aws_apigatewayv2_api.this.id
  route_key = local.route_key
  target    = "integrations/${aws_apigatewayv2_integration.start_execution.id}"

  authorization_type   = var.authorization_type
  authorizer_id        = local.authorizer_id
  authorization_scopes = local.authorization_scopes

  lifecycle {
    precondition {
      condition     = !local.jwt || (var.jwt_issuer != null && length(var.jwt_audience) > 0)
      error_message = "authorization_type JWT needs jwt_issuer and at least one jwt_audience."
    }
  }
}

resource "aws_apigatewayv2_route" "execution_status" {
  api_id    = aws_apigatewayv2_api.this.id
  route_key = local.status_route_key
  target    = "integrations/${aws_apigatewayv2_integration.execution_status.id}"

  authorization_type   = var.authorization_type
  authorizer_id        = local.authorizer_id
  authorization_scopes = local.authorization_scopes
}

################################################################################
# Stage with throttling and access logs
################################################################################

resource "aws_cloudwatch_log_group" "access" {
  # Access logs are vended logs: under /aws/vendedlogs/ they do not grow the account's CloudWatch Logs
  # resource policy with every API.
  name              = "/aws/vendedlogs/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      jwtSubject         = "$context.authorizer.claims.sub"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      errorMessage       = "$context.error.message"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }

  tags = var.tags
}
