variable "host_role_name" {
  description = "Name of the host's IAM role and instance profile (modules/names: shadowops-<owner>-<env>-host)."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.host_role_name))
    error_message = "host_role_name must be 1-64 characters of letters, digits and +=,.@_- (IAM's role name rule)."
  }
}

variable "scheduler_role_name" {
  description = "Name of the role the Redshift scheduler assumes (modules/names: shadowops-<owner>-<env>-rs-pause)."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.scheduler_role_name))
    error_message = "scheduler_role_name must be 1-64 characters of letters, digits and +=,.@_- (IAM's role name rule)."
  }
}

variable "redshift_cluster_identifier" {
  description = "Identifier of the env's Redshift cluster: the scheduler role may pause this cluster and no other. Passed as a name (not the cluster's ARN) so the role exists before the cluster and the modules do not depend on each other in a cycle."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.redshift_cluster_identifier)) && !strcontains(var.redshift_cluster_identifier, "--") && !endswith(var.redshift_cluster_identifier, "-")
    error_message = "redshift_cluster_identifier must be a valid Redshift cluster identifier."
  }
}

variable "redshift_scheduler" {
  description = "Whether the env has a cluster of its own to pause at the backstop (false for warehouse_mode = existing): creates the scheduler's role."
  type        = bool
  default     = true

  validation {
    condition     = var.redshift_scheduler != null
    error_message = "redshift_scheduler must be true or false."
  }
}
