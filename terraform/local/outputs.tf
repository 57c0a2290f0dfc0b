# The contract (docs/interfaces.md), version 1. Same keys, recursively, as
# terraform/aws/outputs.tf: tests/contract/check_shape.py enforces it.
output "shadow" {
  description = "shadowops contract v1: everything the driver, Ansible and the pipeline need to reach this env."
  sensitive   = true # holds the warehouse password

  # Read only after every container answered (see main.tf).
  depends_on = [terraform_data.host, terraform_data.warehouse, terraform_data.mail]

  value = {
    contract_version = 1
    env              = var.env_name
    target           = "local"
    expires_at       = var.expires_at

    host = {
      address              = local.ip.host # the machine reaches the env network directly
      ssh_port             = 22
      ssh_user             = "admin" # as on the Debian 12 AMI
      ssh_private_key_file = var.ssh_private_key_file
      ssh_host_key         = trimspace(var.ssh_host_key_public)
    }

    warehouse = {
      kind              = "postgres"
      host              = local.ip.warehouse
      port              = 5432
      database          = var.warehouse_database
      user              = var.warehouse_user
      password          = var.warehouse_password
      jdbc_url          = "jdbc:postgresql://${local.ip.warehouse}:5432/${var.warehouse_database}"
      jdbc_driver_class = "org.postgresql.Driver"
      jdbc_driver = {
        source  = "apt"
        package = "libpostgresql-jdbc-java"
        url     = null
        sha256  = null
        path    = "/usr/share/java/postgresql.jar"
      }
    }

    mail = {
      smtp_host = local.ip.mail
      smtp_port = 25
      from      = var.mail_from
      to        = var.mail_to
      starttls  = false # a sink on a private network; nothing to protect in transit
      user      = null
      password  = null
      inbox_dir = local.inbox_dir
    }

    # The machine reaches the host directly on the env's network.
    airflow = {
      url    = "http://${local.ip.host}:8080"
      tunnel = false
    }

    packages = {
      apt_proxy  = local.apt_proxy
      wheelhouse = "/opt/shadowops/wheelhouse" # bind mount of var.wheelhouse_dir
    }
  }
}
