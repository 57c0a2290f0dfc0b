# shadowops target `aws`: one VPC, one Debian 12 host, one Redshift cluster per
# env (warehouse_mode new or snapshot); or, with warehouse_mode = existing, a
# host in the team's VPC beside the team's running warehouse, where the driver
# makes a database per env. Everything after `terraform output -json shadow`
# is target-blind.

provider "aws" {
  # null: the standard chain picks the region (AWS_REGION, AWS_DEFAULT_REGION,
  # the profile's `region`), like the AWS CLI and the driver do.
  region = var.region

  # On every resource that takes tags (and, from provider 5.2x on, the
  # instance's root volume): `reap` sweeps by these, and a human reading the
  # bill can tell whose env it was and when it should have gone.
  default_tags {
    tags = {
      owner        = var.owner
      env          = var.env_name
      expires_at   = var.expires_at
      backstop_at  = module.names.backstop_at
      "managed-by" = "shadowops"
    }
  }
}

# Every account-unique name, and when the backstops fire, derived without a
# provider (tests/contract/check_aws_names.py proves the length limits).
module "names" {
  source = "./modules/names"

  env_name       = var.env_name
  owner          = var.owner
  expires_at     = var.expires_at
  backstop_grace = var.backstop_grace
  bake_ami_name  = var.bake_ami_name
}

data "aws_region" "current" {}

locals {
  name_prefix = module.names.prefix

  # The SMTP relay follows the env's region unless one is named: SES's
  # endpoint in the region the standard chain resolved.
  smtp_host = coalesce(var.smtp_host, "email-smtp.${data.aws_region.current.name}.amazonaws.com")

  # The host key's private half: from the secrets var file when the driver
  # passes it as text, else read from its file. Neither is set on the
  # state-only destroy path (docs/aws.md), and then no local file is read at
  # all: the conditional never evaluates file(). The instance's precondition
  # refuses to *create* a host without it.
  ssh_host_key_private = (
    var.ssh_host_key_private != null ? var.ssh_host_key_private :
    var.ssh_host_key_private_file != null ? sensitive(file(var.ssh_host_key_private_file)) : null
  )

  # Fixed by docs/interfaces.md: the Debian AMI's default user, Airflow's port,
  # and where the jdbc role puts the Redshift jar.
  ssh_user = "admin"

  # existing: no cluster, no VPC of the env's own (the host sits in the
  # team's VPC, beside its warehouse). one()/try() rather than [0] and
  # attribute access, which would fail on the branch not taken.
  own_cluster = var.warehouse_mode != "existing"
  existing    = var.warehouse_mode == "existing" ? var.existing_warehouse : null
  host_vpc_id = local.own_cluster ? one(module.network[*].vpc_id) : try(local.existing.vpc_id, null)
  host_subnet = local.own_cluster ? one(module.network[*].public_subnet_id) : try(local.existing.host_subnet_id, null)
  warehouse = local.own_cluster ? {
    host     = one(module.warehouse[*].address)
    port     = one(module.warehouse[*].port)
    database = one(module.warehouse[*].database)
    } : {
    host     = try(local.existing.endpoint, null)
    port     = try(local.existing.port, null)
    database = var.warehouse_database # made by the driver (src/targets/aws/existing.rs)
  }
  airflow_port     = 8080
  jdbc_driver_path = "/opt/shadowops/jdbc/redshift-jdbc42.jar"
}

module "network" {
  source = "./modules/network"
  count  = local.own_cluster ? 1 : 0

  name_prefix = local.name_prefix
  vpc_cidr    = var.vpc_cidr
}

module "iam" {
  source = "./modules/iam"

  host_role_name      = module.names.iam_role_host
  scheduler_role_name = module.names.iam_role_scheduler
  redshift_scheduler  = local.own_cluster
  # The warehouse module names its cluster the same way.
  redshift_cluster_identifier = module.names.cluster_identifier
}

module "compute" {
  source = "./modules/compute"

  name_prefix           = local.name_prefix
  vpc_id                = local.host_vpc_id
  subnet_id             = local.host_subnet
  operator_cidr         = var.operator_cidr
  instance_type         = var.instance_type
  root_volume_size_gb   = var.root_volume_size_gb
  ssh_public_key        = var.ssh_public_key
  ssh_host_key_private  = local.ssh_host_key_private
  ssh_host_key_public   = var.ssh_host_key_public
  power_off_at          = module.names.backstop_at
  instance_profile_name = module.iam.instance_profile_name
  host_ami_id           = var.host_ami_id
  bake_ami_name         = module.names.ami_name == null ? "" : module.names.ami_name
}

module "warehouse" {
  source = "./modules/warehouse"
  count  = local.own_cluster ? 1 : 0

  name_prefix              = local.name_prefix
  vpc_id                   = module.network[0].vpc_id
  subnet_ids               = module.network[0].private_subnet_ids
  client_security_group_id = module.compute.security_group_id
  database                 = var.warehouse_database
  master_username          = var.warehouse_user
  master_password          = var.warehouse_password
  node_type                = var.redshift_node_type
  number_of_nodes          = var.redshift_number_of_nodes
  pause_at                 = module.names.backstop_at
  scheduled_action_name    = module.names.scheduled_action
  scheduler_role_arn       = module.iam.redshift_scheduler_role_arn
  snapshot_identifier      = var.redshift_snapshot_identifier
  snapshot_owner_account   = var.redshift_snapshot_owner_account
}

# existing: the team's warehouse admits this env's host on its port for the
# env's life (only when the team names the warehouse's security group; else
# the team admits the subnet itself). Destroyed with the env.
resource "aws_vpc_security_group_ingress_rule" "existing_warehouse_from_host" {
  count = try(local.existing.security_group_id, null) != null ? 1 : 0

  security_group_id            = local.existing.security_group_id
  description                  = "shadowops ${local.name_prefix}: Redshift from the env's host"
  referenced_security_group_id = module.compute.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.existing.port
  to_port                      = local.existing.port
}

# States written before the network and the cluster became optional keep
# them.
moved {
  from = module.network
  to   = module.network[0]
}

moved {
  from = module.warehouse
  to   = module.warehouse[0]
}
