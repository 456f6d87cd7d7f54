provider "aws" {
  region = var.region
}

# Everything at its default: AWS_IAM on the API, private encrypted storage kept on destroy, any public
# image host allowed, no e-mail subscription.
module "image_downloader" {
  source = "../.."

  name = var.name
}

# The role a CI system assumes to call the pipeline, allowed exactly what that takes.
data "aws_iam_policy_document" "ci_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.ci_principal_arn]
    }
  }
}

resource "aws_iam_role" "ci" {
  name               = "${var.name}-ci"
  description        = "Calls the ${var.name} image downloader from CI."
  assume_role_policy = data.aws_iam_policy_document.ci_assume_role.json
}

resource "aws_iam_role_policy" "ci" {
  name   = "call-image-downloader"
  role   = aws_iam_role.ci.id
  policy = module.image_downloader.caller_policy_json
}
