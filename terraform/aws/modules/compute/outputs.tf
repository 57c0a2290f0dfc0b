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
  description = "ID of the image the host was launched from (Debian 12, or a baked AMI)."
  value       = aws_instance.host.ami
}

output "baked_ami_id" {
  description = "ID of the AMI made from the host when bake_ami_name is set, else null."
  value       = one(aws_ami_from_instance.baked[*].id)
}
