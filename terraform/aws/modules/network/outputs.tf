output "vpc_id" {
  description = "ID of the env's VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_id" {
  description = "ID of the public subnet the instance runs in."
  value       = aws_subnet.public.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (one per availability zone) for the Redshift subnet group."
  value       = aws_subnet.private[*].id
}

output "availability_zones" {
  description = "Availability zones used, public subnet's first."
  value       = local.azs
}
