# Copied to terraform/aws/backend_override.tf by `scripts/aws-state-backend.sh s3`
# (and removed by `... local`): replaces backend.tf's `backend "local" {}`.
# Empty on purpose: a partial configuration. Every setting comes from the
# file SHADOWOPS_TF_BACKEND_CONFIG names (example.s3.tfbackend) and the key
# from the driver (-backend-config=key=shadowops/<env>/terraform.tfstate), so
# nothing account-specific is committed.
terraform {
  backend "s3" {}
}
