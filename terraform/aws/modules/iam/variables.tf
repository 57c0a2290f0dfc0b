variable "name_prefix" {
  description = "Prefix of every IAM name in this module, e.g. `shadowops-ci-42`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-40 characters of lowercase letters, digits and hyphens, starting with a letter."
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
