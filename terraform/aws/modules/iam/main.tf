data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

# --- the host's instance profile --------------------------------------------
# The host calls no AWS API: it installs packages, runs Airflow and talks to
# Redshift with a database password. The role therefore carries no policy at
# all; it exists so the instance has an explicit, empty identity rather than
# none (which invites someone to attach a broad one later), and so a team that
# needs, say, S3 reads attaches exactly that here.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    sid     = "Ec2AssumesHostRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "host" {
  name                 = var.host_role_name
  description          = "shadowops host: no permissions by design"
  assume_role_policy   = data.aws_iam_policy_document.ec2_assume.json
  max_session_duration = 3600
}

resource "aws_iam_instance_profile" "host" {
  name = var.host_role_name
  role = aws_iam_role.host.name
}

# --- the Redshift scheduler's role --------------------------------------------
# Assumed by the Redshift scheduler to run the pause-at-expiry action; may pause
# the env's own cluster and nothing else.

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "RedshiftSchedulerAssumes"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.redshift.amazonaws.com"]
    }

    # No aws:SourceAccount condition: it is not documented that the Redshift
    # scheduler sets it, and a condition it does not meet would silently
    # disable the backstop. The role's only permission is scoped to one
    # cluster ARN, which bounds what a confused deputy could do.
  }
}

data "aws_iam_policy_document" "pause_cluster" {
  statement {
    sid       = "PauseOwnClusterOnly"
    actions   = ["redshift:PauseCluster"]
    resources = ["arn:${data.aws_partition.current.partition}:redshift:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:cluster:${var.redshift_cluster_identifier}"]
  }
}

resource "aws_iam_role" "redshift_scheduler" {
  # No cluster of the env's own (warehouse_mode = existing): nothing to pause.
  count = var.redshift_scheduler ? 1 : 0

  name                 = var.scheduler_role_name
  description          = "shadowops: Redshift scheduler pauses the env's cluster at expiry"
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "pause_cluster" {
  count = var.redshift_scheduler ? 1 : 0

  name   = "pause-own-cluster"
  role   = aws_iam_role.redshift_scheduler[0].id
  policy = data.aws_iam_policy_document.pause_cluster.json
}

# States written before the role became optional keep it.
moved {
  from = aws_iam_role.redshift_scheduler
  to   = aws_iam_role.redshift_scheduler[0]
}

moved {
  from = aws_iam_role_policy.pause_cluster
  to   = aws_iam_role_policy.pause_cluster[0]
}
