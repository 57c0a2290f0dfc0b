terraform {
  # 1.9: cross-variable validation; 1.10: the S3 backend's native locking
  # (use_lockfile) when the team backend is chosen (backend.tf).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}
