terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }

  # Local state by default: the driver runs
  #   terraform init -backend-config=path=<env>/tf/terraform.tfstate
  # so each env's state lives in its env directory. A team that wants shared,
  # locked state adds a `backend "s3"` override file (docs/aws.md).
  backend "local" {}
}
