output "prefix" {
  description = "Name prefix of the env's resources: shadowops-<owner slug>-<owner hash>-<env> (<= 54 characters)."
  value       = local.prefix
}

output "owner_id" {
  description = "The owner part of every name: <slug, <= 8>-<4 hex of sha256(owner)>."
  value       = local.owner_id
}

output "cluster_identifier" {
  description = "Redshift cluster identifier (<= 63, lowercase, no `--`, no trailing hyphen)."
  value       = local.prefix
}

output "iam_role_host" {
  description = "IAM role (and instance profile) name of the host (<= 64)."
  value       = "${local.prefix}-host"
}

output "iam_role_scheduler" {
  description = "IAM role name the Redshift scheduler assumes (<= 64)."
  value       = "${local.prefix}-rs-pause"
}

output "key_pair" {
  description = "EC2 key pair name (<= 255)."
  value       = local.prefix
}

output "scheduled_action" {
  description = "Redshift scheduled action name (<= 60)."
  value       = "${local.prefix}-pause"
}

output "backstop_at" {
  description = "When the in-cloud backstops fire: expires_at + backstop_grace (RFC 3339 UTC)."
  value       = local.backstop_at
}

output "ami_name" {
  description = "Name of the baked AMI, unique per bake (base name + UTC plan time), or null without a bake."
  value       = var.bake_ami_name == "" ? null : "${var.bake_ami_name}-${formatdate("YYYYMMDD'T'hhmmss'Z'", plantimestamp())}"
}
