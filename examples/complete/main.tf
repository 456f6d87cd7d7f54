provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = var.name
      ManagedBy = "terraform"
    }
  }
}

module "image_downloader" {
  source = "../.."

  name                = var.name
  notification_emails = var.notification_emails

  # A demo stack: `terraform destroy` removes the bucket with its images and the table with its records.
  # Leave both at their defaults (false / true) for anything you want to keep.
  storage = {
    force_destroy                     = true
    table_deletion_protection_enabled = false
  }

  downloader = {
    allowed_hosts = var.allowed_hosts
  }

  state_machine = {
    map_max_concurrency = var.map_max_concurrency
  }

  api = {
    authorization_type = var.api_authorization_type
    jwt_issuer         = var.jwt_issuer
    jwt_audience       = var.jwt_audience
  }

  tags = {
    Example = "complete"
  }
}
