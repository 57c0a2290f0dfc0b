terraform {
  # No provider: tests/contract/check_aws_names.py applies this module alone
  # with the real Terraform to prove every name stays within AWS's limits.
  # plantimestamp() needs Terraform >= 1.5.
  required_version = ">= 1.5.0"
}
