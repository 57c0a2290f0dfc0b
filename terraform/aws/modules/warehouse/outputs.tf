output "address" {
  description = "DNS name of the cluster endpoint (without port), as reached from inside the VPC."
  value       = aws_redshift_cluster.this.dns_name
}

output "port" {
  description = "TCP port of the cluster."
  value       = aws_redshift_cluster.this.port
}

output "database" {
  description = "Name of the database created in the cluster."
  value       = aws_redshift_cluster.this.database_name
}

output "cluster_identifier" {
  description = "Identifier of the cluster."
  value       = aws_redshift_cluster.this.cluster_identifier
}

output "security_group_id" {
  description = "ID of the cluster's security group."
  value       = aws_security_group.warehouse.id
}
