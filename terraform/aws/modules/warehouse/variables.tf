variable "name_prefix" {
  description = "Prefix of every resource name in this module; also the cluster identifier (modules/names), e.g. `shadowops-alice-1a2b-ci-42`."
  type        = string

  validation {
    # Redshift cluster identifiers: lowercase, start with a letter, no two
    # consecutive hyphens, no trailing hyphen, at most 63 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,52}[a-z0-9]$", var.name_prefix)) && !strcontains(var.name_prefix, "--")
    error_message = "name_prefix must be 2-54 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "scheduled_action_name" {
  description = "Name of the Redshift scheduled action that pauses the cluster (modules/names: <prefix>-pause, at most 60 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,59}$", var.scheduled_action_name))
    error_message = "scheduled_action_name must be 1-60 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the cluster's security group belongs to."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Private subnets (two or more availability zones) for the cluster's subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must hold at least two subnet IDs (subnet-0123abcd)."
  }
}

variable "client_security_group_id" {
  description = "Security group whose members (the host) may reach the cluster's port; nothing else may."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.client_security_group_id))
    error_message = "client_security_group_id must look like sg-0123abcd."
  }
}

variable "database" {
  description = "Name of the database created in the cluster."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,63}$", var.database)) && !contains(["dev", "padb_harvest", "template0", "template1", "sys:internal"], var.database)
    error_message = "database must be 1-64 lowercase letters, digits and underscores starting with a letter, and not a reserved name (dev is the Redshift default and is refused on purpose)."
  }
}

variable "master_username" {
  description = "Admin user of the cluster (the pipeline connects as this user)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,127}$", var.master_username)) && !contains(["awsuser", "rdsdb", "public", "user"], var.master_username)
    error_message = "master_username must be lowercase letters, digits and underscores starting with a letter, and not a default or reserved name."
  }
}

variable "master_password" {
  description = "Admin password (from the driver's 0600 secrets file). Redshift rules: 8-64 printable ASCII, at least one upper-case letter, one lower-case letter and one digit, none of ' \" \\ / @ or space."
  type        = string
  sensitive   = true

  validation {
    condition = (
      length(var.master_password) >= 8 && length(var.master_password) <= 64
      && can(regex("[A-Z]", var.master_password))
      && can(regex("[a-z]", var.master_password))
      && can(regex("[0-9]", var.master_password))
      && can(regex("^[!#-&(-.0-?A-\\[\\]-~]+$", var.master_password))
    )
    error_message = "master_password does not meet Redshift's rules (8-64 printable ASCII with upper, lower and digit; no ' \" \\ / @ or space)."
  }
}

variable "node_type" {
  description = "Redshift node type. DC2 is deprecated by AWS (April 2025), so the default is the smallest RA3 type."
  type        = string
  default     = "ra3.large"

  validation {
    condition     = contains(["ra3.large", "ra3.xlplus", "ra3.4xlarge", "ra3.16xlarge", "dc2.large", "dc2.8xlarge"], var.node_type)
    error_message = "node_type must be one of ra3.large, ra3.xlplus, ra3.4xlarge, ra3.16xlarge, dc2.large, dc2.8xlarge."
  }
}

variable "number_of_nodes" {
  description = "Compute nodes; 1 makes a single-node cluster (the default: a shadow env only proves the pipeline)."
  type        = number
  default     = 1

  validation {
    condition     = var.number_of_nodes >= 1 && var.number_of_nodes <= 4 && floor(var.number_of_nodes) == var.number_of_nodes
    error_message = "number_of_nodes must be a whole number from 1 to 4."
  }
}

variable "port" {
  description = "TCP port the cluster listens on."
  type        = number
  default     = 5439

  validation {
    condition     = var.port >= 1150 && var.port <= 65535 && floor(var.port) == var.port
    error_message = "port must be between 1150 and 65535 (Redshift's allowed range)."
  }
}

variable "pause_at" {
  description = "RFC 3339 UTC instant at which a Redshift scheduled action pauses the cluster (the env's expires_at plus backstop_grace, never expires_at itself): compute billing stops even if nobody runs `destroy`."
  type        = string

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", var.pause_at)) && can(formatdate("YYYY", var.pause_at))
    error_message = "pause_at must be RFC 3339 UTC with a Z suffix, e.g. 2026-11-28T01:00:00Z."
  }
}

variable "scheduler_role_arn" {
  description = "ARN of the IAM role the Redshift scheduler assumes to pause the cluster."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::\\d{12}:role/.+$", var.scheduler_role_arn))
    error_message = "scheduler_role_arn must be an IAM role ARN."
  }
}

variable "snapshot_identifier" {
  description = "Cluster snapshot to restore the cluster from (warehouse_mode = snapshot); null creates an empty cluster."
  type        = string
  default     = null

  validation {
    condition     = var.snapshot_identifier == null || try(can(regex("^(rs:)?[a-zA-Z][a-zA-Z0-9-]{0,254}$", var.snapshot_identifier)), false)
    error_message = "snapshot_identifier must be null or a Redshift snapshot identifier."
  }
}

variable "snapshot_owner_account" {
  description = "Account that shared snapshot_identifier with this one (12 digits); null for an own snapshot."
  type        = string
  default     = null

  validation {
    condition     = var.snapshot_owner_account == null || try(can(regex("^\\d{12}$", var.snapshot_owner_account)), false)
    error_message = "snapshot_owner_account must be null or a 12-digit account ID."
  }
}
