data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Built from the roles' names, not read from the roles: the topic and its policy do not wait for the
  # modules that create them, and a condition (unlike a Principal) may name a role that does not exist yet.
  publisher_role_arns = [
    for name in var.publisher_role_names :
    "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${name}"
  ]
}

resource "aws_sns_topic" "notifications" {
  name = "${var.name}-notifications"

  # Encrypted at rest either way: the caller's key, or the AWS managed key for SNS, which any principal of
  # the account may use through SNS, so the publisher needs no KMS permission for it.
  kms_master_key_id = coalesce(var.kms_key_arn, "alias/aws/sns")

  tags = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "AllowPublishers"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = local.publisher_role_arns
    }
  }

  statement {
    sid       = "DenyPublishByAnyoneElse"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.publisher_role_arns
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "notifications" {
  arn    = aws_sns_topic.notifications.arn
  policy = data.aws_iam_policy_document.topic.json
}

# Each address receives a confirmation mail from AWS and gets nothing until the link in it is followed.
resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}
