output "instance_id" {
  description = "ID of the host instance."
  value       = aws_instance.host.id
}

output "public_ip" {
  description = "Public IPv4 address of the host, as reached from the operator's machine."
  value       = aws_instance.host.public_ip
}

output "security_group_id" {
  description = "ID of the host's security group (the warehouse admits its port from this group only)."
  value       = aws_security_group.host.id
}

output "ami_id" {
  description = "ID of the Debian 12 image the host was launched from."
  value       = aws_instance.host.ami
}
