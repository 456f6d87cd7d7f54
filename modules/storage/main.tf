locals {
  kms_encrypted = var.kms_key_arn != null
}

################################################################################
# Bucket: downloaded images and failure reports
################################################################################

resource "aws_s3_bucket" "images" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket; only the module's own roles write here, and CloudTrail data events are the caller's audit trail for S3.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for images that can be downloaded again from their source; a caller who needs it can add it to this bucket.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications: the state machine reports each execution's outcome to SNS itself.
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name}-" : null
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "images" {
  bucket = aws_s3_bucket.images.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.kms_encrypted ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = local.kms_encrypted
  }
}

resource "aws_s3_bucket_versioning" "images" {
  count = var.versioning_enabled ? 1 : 0

  bucket = aws_s3_bucket.images.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.images.arn, "${aws_s3_bucket.images.arn}/*"]

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

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.images.arn, "${aws_s3_bucket.images.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "images" {
  bucket = aws_s3_bucket.images.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 rejects a bucket policy while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.images]
}

resource "aws_s3_bucket_lifecycle_configuration" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    id     = "images-to-glacier-instant-retrieval"
    status = "Enabled"

    filter {
      and {
        prefix                   = var.image_key_prefix
        object_size_greater_than = var.glacier_ir_min_object_size_bytes
      }
    }

    transition {
      days          = var.glacier_ir_transition_days
      storage_class = "GLACIER_IR"
    }
  }

  rule {
    id     = "expire-run-data"
    status = "Enabled"

    filter {
      prefix = var.run_key_prefix
    }

    expiration {
      days = var.run_expiration_days
    }
  }

  rule {
    id     = "housekeeping"
    status = "Enabled"

    # The whole bucket. Not `filter {}`: hashicorp/aws 5.90-5.99 warn on an empty filter that "a future
    # version" makes it an error (terraform-provider-aws#42714); an empty prefix means the same on 5.x and 6.x.
    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }

    # Only has an effect while versioning is (or was) enabled.
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  # A lifecycle rule on a bucket whose versioning is changing is applied against the old state.
  depends_on = [aws_s3_bucket_versioning.images]
}

################################################################################
# Table: one record per downloaded image, keyed by its URL
################################################################################

resource "aws_dynamodb_table" "records" {
  name         = "${var.name}-images"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "url"

  deletion_protection_enabled = var.table_deletion_protection_enabled

  attribute {
    name = "url"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
