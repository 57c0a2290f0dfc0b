# Looked up only when no baked AMI is given.
data "aws_ami" "debian" {
  count = var.host_ami_id == "" ? 1 : 0

  most_recent = true
  owners      = [var.ami_owner]

  filter {
    name   = "name"
    values = [var.ami_name_pattern]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  # Rendered as YAML by Terraform itself (yamlencode), so the key material can
  # never break the document's indentation.
  cloud_config = {
    # The driver generated this env's host key and publishes its public half
    # in the contract; installing it here means the first SSH connection can
    # already be checked against known_hosts (StrictHostKeyChecking=yes).
    # cloud-init (22.4 on Debian 12) deletes the image's host keys and, when
    # ssh_keys is given, writes those and generates no others: the host
    # serves only the pinned ed25519 key.
    ssh_deletekeys = true
    ssh_keys = {
      ed25519_private = var.ssh_host_key_private
      ed25519_public  = trimspace(var.ssh_host_key_public)
    }

    write_files = [
      {
        # Fallback of the power-off time when the metadata service does not
        # answer; the instance's `backstop_at` tag is what normally counts.
        path        = "/etc/shadowops/backstop_at"
        permissions = "0644"
        content     = "${var.power_off_at}\n"
      },
      {
        path        = "/usr/local/sbin/shadowops-expiry"
        permissions = "0755"
        content     = file("${path.module}/files/shadowops-expiry.py")
      },
      {
        path        = "/etc/systemd/system/shadowops-expiry.service"
        permissions = "0644"
        content     = <<-UNIT
          [Unit]
          Description=Power off when the shadowops lease has expired

          [Service]
          Type=oneshot
          ExecStart=/usr/local/sbin/shadowops-expiry
        UNIT
      },
      {
        path        = "/etc/systemd/system/shadowops-expiry.timer"
        permissions = "0644"
        content     = <<-UNIT
          [Unit]
          Description=Check the shadowops lease every few minutes

          [Timer]
          OnBootSec=1min
          OnUnitActiveSec=3min
          AccuracySec=30s

          [Install]
          WantedBy=timers.target
        UNIT
      },
    ]

    runcmd = [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "shadowops-expiry.timer"],
    ]
  }
}

resource "aws_key_pair" "this" {
  key_name   = var.name_prefix
  public_key = trimspace(var.ssh_public_key)
}

resource "aws_security_group" "host" {
  name        = "${var.name_prefix}-host"
  description = "shadowops host: SSH and Airflow from the operator only"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.name_prefix}-host"
  }
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  security_group_id = aws_security_group.host.id
  description       = "SSH from the operator (Ansible)"
  cidr_ipv4         = var.operator_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
}

# No ingress for Airflow: its API is reached through an SSH tunnel over the
# pinned-host-key connection (the contract's airflow.tunnel = true; the
# driver's src/tunnel.rs, `shadowops tunnel` for a browser). Only SSH is open,
# and only to the operator's CIDR.

resource "aws_vpc_security_group_egress_rule" "all" {
  # checkov:skip=CKV_AWS_382: the host installs Debian packages, Python wheels and the Redshift JDBC jar and relays mail over SMTP at configure/run time; the mirrors and the relay have no fixed address ranges to narrow this to.
  security_group_id = aws_security_group.host.id
  description       = "Outbound: apt, PyPI, JDBC jar download, SMTP relay, Redshift"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_instance" "host" {
  # checkov:skip=CKV_AWS_88: the operator's machine reaches SSH and Airflow directly over the public address; the security group admits only operator_cidr, and a bastion or VPN would outlive a throwaway env.
  # checkov:skip=CKV_AWS_126: detailed monitoring bills per metric and adds nothing to a host that lives for hours and is checked by the DAG run itself.
  ami                         = var.host_ami_id != "" ? var.host_ami_id : data.aws_ami.debian[0].id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.host.id]
  key_name                    = aws_key_pair.this.key_name
  iam_instance_profile        = var.instance_profile_name
  associate_public_ip_address = true
  ebs_optimized               = true

  # Backstop: powering off from inside (the expiry timer above, at
  # power_off_at = expires_at + backstop_grace) terminates the instance, so
  # billing stops even if nobody runs `destroy`.
  instance_initiated_shutdown_behavior = "terminate"

  user_data                   = "#cloud-config\n${yamlencode(local.cloud_config)}"
  user_data_replace_on_change = false

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled" # the expiry timer reads its backstop_at tag here
  }

  root_block_device {
    encrypted             = true
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    delete_on_termination = true
  }

  tags = {
    Name = "${var.name_prefix}-host"
  }

  lifecycle {
    # user_data only matters at first boot: a new expires_at (from `extend`)
    # reaches the running instance through its tags, and must not replace or
    # stop it. A newer Debian AMI must not replace a running env either.
    ignore_changes = [user_data, ami]

    # Null only on the state-only destroy path, which never creates a host.
    precondition {
      condition     = var.ssh_host_key_private != null
      error_message = "The host key's private half is missing: pass ssh_host_key_private or ssh_host_key_private_file (only a destroy may omit both)."
    }
  }
}

# `shadowops bake --target aws`: an image of the configured host, so that
# `up --image baked` only converges. AWS reboots the instance for a
# consistent file system (the bake disabled Airflow before). The snapshot of
# the encrypted root volume stays encrypted. The driver removes this
# resource from the state right after the apply: the AMI must outlive the
# bake env (deregister it by hand: docs/aws.md, "Baked AMI").
resource "aws_ami_from_instance" "baked" {
  count = var.bake_ami_name == "" ? 0 : 1

  name               = var.bake_ami_name
  description        = "shadowops baked host (Debian 12 + R + JDBC + Airflow), made from ${aws_instance.host.id}"
  source_instance_id = aws_instance.host.id

  tags = {
    Name              = var.bake_ami_name
    "shadowops:baked" = "true"
  }

  # The name carries the plan's timestamp (modules/names): unique per bake,
  # and a later plan must not want to replace the AMI over it.
  lifecycle {
    ignore_changes = [name, description]
  }
}
