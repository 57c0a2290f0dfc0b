# Where the env's state lives. Terraform allows no variables here, so the
# choice is made by files, not by inputs:
#
# - local (this block, the default): the driver runs
#     terraform init -backend-config=path=<env>/tf/terraform.tfstate
#   and each env's state lives in its env directory.
#
# - S3, shared and locked (teams, CI): `scripts/aws-state-backend.sh s3`
#   copies backends/s3/backend_override.tf next to this file (git ignores
#   it). Terraform's override rules make its `backend "s3" {}` replace this
#   block. The settings come from a partial backend configuration file (see
#   backends/s3/example.s3.tfbackend: bucket, region, encrypt,
#   use_lockfile = true) named by SHADOWOPS_TF_BACKEND_CONFIG; the driver
#   passes it as -backend-config=FILE plus a per-env key. docs/aws.md, "State".
terraform {
  backend "local" {}
}
