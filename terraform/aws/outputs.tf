# The contract (docs/interfaces.md), version 1. Same keys, recursively, as
# terraform/local/outputs.tf: tests/contract/check_shape.py enforces it.
output "shadow" {
  description = "shadowops contract v1: everything the driver, Ansible and the pipeline need to reach this env."
  sensitive   = true # holds the warehouse and SMTP passwords

  value = {
    contract_version = 1
    env              = var.env_name
    target           = "aws"
    expires_at       = var.expires_at

    host = {
      address              = module.compute.public_ip
      ssh_port             = 22
      ssh_user             = local.ssh_user
      ssh_private_key_file = var.ssh_private_key_file
      ssh_host_key         = trimspace(var.ssh_host_key_public)
    }

    warehouse = {
      kind              = "redshift"
      host              = local.warehouse.host # private DNS name, reached from the host
      port              = local.warehouse.port
      database          = local.warehouse.database
      user              = var.warehouse_user
      password          = var.warehouse_password
      jdbc_url          = "jdbc:redshift://${local.warehouse.host}:${local.warehouse.port}/${local.warehouse.database}"
      jdbc_driver_class = "com.amazon.redshift.Driver"
      jdbc_driver = {
        source  = "url"
        package = null
        url     = var.redshift_jdbc_driver_url
        sha256  = var.redshift_jdbc_driver_sha256
        path    = local.jdbc_driver_path
      }
    }

    mail = {
      smtp_host = local.smtp_host
      smtp_port = var.smtp_port
      from      = var.mail_from
      to        = var.mail_to
      starttls  = true # a relay on the internet: never send credentials in clear
      # "" from the driver means "no authentication": publish null, as the
      # contract (Option<String>) expects.
      user      = var.smtp_user == "" ? null : var.smtp_user
      password  = var.smtp_password == "" ? null : var.smtp_password
      inbox_dir = null # no sink to read on AWS; the relay delivers the mail
    }

    # Airflow as the host sees it; private, reached through an SSH tunnel.
    airflow = {
      url    = "http://127.0.0.1:${local.airflow_port}"
      tunnel = true
    }

    # The host reaches Debian's mirrors and PyPI directly on AWS.
    packages = {
      apt_proxy  = null
      wheelhouse = null
    }
  }
}

# Not part of the contract: read by `shadowops bake --target aws`.
output "baked_ami_id" {
  description = "ID of the AMI made from the configured host when bake_ami_name is set, else null."
  value       = module.compute.baked_ami_id
}

# Not part of the contract: what the driver reports, and what a person looks
# for in the console.
output "resource_names" {
  description = "Account-unique names of the env's resources (modules/names): cluster, IAM roles, key pair, scheduled action."
  value = {
    prefix             = module.names.prefix
    cluster_identifier = module.names.cluster_identifier
    iam_role_host      = module.names.iam_role_host
    iam_role_scheduler = module.names.iam_role_scheduler
    key_pair           = module.names.key_pair
    scheduled_action   = module.names.scheduled_action
  }
}

output "backstop_at" {
  description = "When the in-cloud backstops fire: expires_at + backstop_grace."
  value       = module.names.backstop_at
}

output "baked_ami_name" {
  description = "Name of the AMI made by this apply (bake_ami_name plus the plan's UTC time), else null."
  value       = module.names.ami_name
}

# Not part of the contract: what the driver needs to drop the env's database
# from the team's warehouse at destroy (src/targets/aws/existing.rs), kept in
# the state so a destroy from shared state on another machine finds it. Holds
# no secret (a secret's ARN is not its value). Null unless warehouse_mode is
# existing. Depends on variables only, so it is in the state from the first
# moment of an apply, even one that fails.
output "existing_warehouse" {
  description = "warehouse_mode = existing: the team's warehouse (cluster_identifier or workgroup_name, admin_database, db_user or secret_arn) and the env's database and user in it, for the driver's drop at destroy; else null."
  value = local.existing == null ? null : {
    cluster_identifier = local.existing.cluster_identifier
    workgroup_name     = local.existing.workgroup_name
    admin_database     = local.existing.admin_database
    db_user            = local.existing.db_user
    secret_arn         = local.existing.secret_arn
    database           = var.warehouse_database
    user               = var.warehouse_user
  }
}

output "warehouse_mode" {
  description = "new, existing or snapshot (variable warehouse_mode)."
  value       = var.warehouse_mode
}
