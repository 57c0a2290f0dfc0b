# shadowops target `aws`: one VPC, one Debian 12 host, one Redshift cluster per
# env. Everything after `terraform output -json shadow` is target-blind.

provider "aws" {
  region = var.region

  # On every resource that takes tags (and, from provider 5.2x on, the
  # instance's root volume): `reap` sweeps by these, and a human reading the
  # bill can tell whose env it was and when it should have gone.
  default_tags {
    tags = {
      owner        = var.owner
      env          = var.env_name
      expires_at   = var.expires_at
      "managed-by" = "shadowops"
    }
  }
}

locals {
  name_prefix = "shadowops-${var.env_name}"

  # Fixed by docs/interfaces.md: the Debian AMI's default user, Airflow's port,
  # and where the jdbc role puts the Redshift jar.
  ssh_user         = "admin"
  airflow_port     = 8080
  jdbc_driver_path = "/opt/shadowops/jdbc/redshift-jdbc42.jar"
}

module "network" {
  source = "./modules/network"

  name_prefix = local.name_prefix
  vpc_cidr    = var.vpc_cidr
}

module "iam" {
  source = "./modules/iam"

  name_prefix = local.name_prefix
  # The warehouse module names its cluster after name_prefix too.
  redshift_cluster_identifier = local.name_prefix
}

module "compute" {
  source = "./modules/compute"

  name_prefix           = local.name_prefix
  vpc_id                = module.network.vpc_id
  subnet_id             = module.network.public_subnet_id
  operator_cidr         = var.operator_cidr
  airflow_port          = local.airflow_port
  instance_type         = var.instance_type
  root_volume_size_gb   = var.root_volume_size_gb
  ssh_public_key        = var.ssh_public_key
  ssh_host_key_private  = sensitive(file(var.ssh_host_key_private_file))
  ssh_host_key_public   = var.ssh_host_key_public
  expires_at            = var.expires_at
  instance_profile_name = module.iam.instance_profile_name
  host_ami_id           = var.host_ami_id
  bake_ami_name         = var.bake_ami_name
}

module "warehouse" {
  source = "./modules/warehouse"

  name_prefix              = local.name_prefix
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.compute.security_group_id
  database                 = var.warehouse_database
  master_username          = var.warehouse_user
  master_password          = var.warehouse_password
  node_type                = var.redshift_node_type
  number_of_nodes          = var.redshift_number_of_nodes
  pause_at                 = var.expires_at
  scheduler_role_arn       = module.iam.redshift_scheduler_role_arn
}
