output "instance_profile_name" {
  description = "Name of the host's instance profile (a role with no permissions)."
  value       = aws_iam_instance_profile.host.name
}

output "redshift_scheduler_role_arn" {
  description = "ARN of the role the Redshift scheduler assumes to pause the env's cluster; null without a cluster of the env's own."
  value       = one(aws_iam_role.redshift_scheduler[*].arn)
}
