resource "aws_security_group" "warehouse" {
  name        = "${var.name_prefix}-warehouse"
  description = "shadowops warehouse: Redshift port from the host only"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.name_prefix}-warehouse"
  }
}

# The only way in. No egress rules: the cluster needs no outbound traffic
# (no COPY/UNLOAD from S3 in a shadow env), and a group without egress rules
# allows none.
resource "aws_vpc_security_group_ingress_rule" "from_host" {
  security_group_id            = aws_security_group.warehouse.id
  description                  = "Redshift from the shadowops host"
  referenced_security_group_id = var.client_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
}

resource "aws_redshift_subnet_group" "this" {
  name        = var.name_prefix
  description = "shadowops private subnets"
  subnet_ids  = var.subnet_ids
}

# require_ssl makes the server refuse unencrypted connections; the Redshift
# JDBC driver negotiates TLS by default, so the pipeline needs no change.
resource "aws_redshift_parameter_group" "this" {
  name        = "${var.name_prefix}-ssl"
  description = "shadowops: TLS required"
  family      = "redshift-1.0"

  parameter {
    name  = "require_ssl"
    value = "true"
  }
}

resource "aws_redshift_cluster" "this" {
  # checkov:skip=CKV_AWS_71: audit logging needs an S3 bucket or CloudWatch log group that outlives the env; a throwaway env holding only generated test data has nothing to audit the account's CloudTrail does not already record.
  # checkov:skip=CKV_AWS_142: the AWS-managed key encrypts at rest at no cost; a customer-managed KMS key costs per month and cannot be deleted sooner than 7 days, outliving every env.
  cluster_identifier = var.name_prefix
  # A restore (warehouse_mode = snapshot) keeps the snapshot's databases and
  # admin user; these two then only name them (docs/aws.md).
  snapshot_identifier = var.snapshot_identifier
  owner_account       = var.snapshot_owner_account
  database_name       = var.database
  master_username     = var.master_username
  master_password     = var.master_password
  node_type           = var.node_type
  cluster_type        = var.number_of_nodes == 1 ? "single-node" : "multi-node"
  number_of_nodes     = var.number_of_nodes
  port                = var.port

  cluster_subnet_group_name    = aws_redshift_subnet_group.this.name
  cluster_parameter_group_name = aws_redshift_parameter_group.this.name
  vpc_security_group_ids       = [aws_security_group.warehouse.id]
  publicly_accessible          = false # provider 5.x defaults to true
  encrypted                    = true
  enhanced_vpc_routing         = true

  # `destroy` must never wait for, or leave behind, a final snapshot.
  skip_final_snapshot                 = true
  automated_snapshot_retention_period = 1
  allow_version_upgrade               = true

  lifecycle {
    # Both force a new cluster, and a restored cluster reads back the
    # snapshot's own: without this every apply after a restore would plan a
    # replacement. The `database` output still reports the real name.
    ignore_changes = [database_name, master_username]
  }
}

data "aws_region" "current" {}

# Destroy path: a paused (or pausing) cluster cannot be deleted. Terraform
# destroys this before the cluster and after the scheduled pause (which
# depends on it), and its destroy-time provisioner resumes a paused cluster
# and waits until DeleteCluster will accept it. On create it does nothing.
# Destroy-time provisioners may read only `self`: what the script needs is in
# `input`, with the script's path relative to the root module (the working
# directory of local-exec), so a destroy from another checkout works too.
resource "terraform_data" "ready_for_delete" {
  input = {
    cluster_identifier = aws_redshift_cluster.this.cluster_identifier
    region             = data.aws_region.current.name
    script             = "${path.module}/files/redshift-ready-for-delete.sh"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "exec \"$SCRIPT\" \"$CLUSTER\""
    environment = {
      SCRIPT     = self.input.script
      CLUSTER    = self.input.cluster_identifier
      AWS_REGION = self.input.region
    }
  }
}

# Backstop: pause the cluster backstop_grace after the lease's end, whatever
# happens to the driver. Never at expires_at itself: the reaper's destroy
# runs then, and a cluster paused under it could not be deleted. A paused
# cluster bills storage only; `destroy`/`reap` resume and delete it.
resource "aws_redshift_scheduled_action" "pause" {
  name        = var.scheduled_action_name
  description = "shadowops lease end: pause ${var.name_prefix}"
  schedule    = "at(${formatdate("YYYY-MM-DD'T'hh:mm:ss", var.pause_at)})"
  iam_role    = var.scheduler_role_arn

  target_action {
    pause_cluster {
      cluster_identifier = aws_redshift_cluster.this.cluster_identifier
    }
  }

  # Destroyed first: no pause can start while the cluster is resumed and
  # deleted.
  depends_on = [terraform_data.ready_for_delete]
}
