variable "env_name" {
  description = "Name of the shadow env: a lowercase DNS label of at most 30 characters without `--`."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", var.env_name)) && !strcontains(var.env_name, "--")
    error_message = "env_name must be a lowercase DNS label of at most 30 characters without '--'."
  }
}

variable "owner" {
  description = "Who asked for the env (free text, as tagged). Folded into every name so that two people's envs of the same name never collide."
  type        = string

  validation {
    condition     = length(var.owner) >= 1 && length(var.owner) <= 128
    error_message = "owner must be 1-128 characters."
  }
}

variable "expires_at" {
  description = "End of the env's lease (RFC 3339 UTC): the reaper's deadline."
  type        = string

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", var.expires_at)) && can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be RFC 3339 UTC with a Z suffix, e.g. 2026-11-28T01:00:00Z."
  }
}

variable "backstop_grace" {
  description = "How long after expires_at the in-cloud backstops (Redshift pause, instance power-off) fire: a Terraform duration of whole hours and minutes, 10m to 24h."
  type        = string
  default     = "30m"

  validation {
    condition = try(
      can(regex("^([0-9]+h)?([0-9]+m)?$", var.backstop_grace)) && var.backstop_grace != ""
      && timecmp(timeadd("2000-01-01T00:00:00Z", var.backstop_grace), "2000-01-01T00:10:00Z") >= 0
      && timecmp(timeadd("2000-01-01T00:00:00Z", var.backstop_grace), "2000-01-02T00:00:00Z") <= 0,
      false
    )
    error_message = "backstop_grace must be whole hours and/or minutes (e.g. 30m, 1h, 1h30m) between 10m and 24h."
  }
}

variable "bake_ami_name" {
  description = "Base name of the AMI `bake --target aws` makes (empty: no bake). A UTC timestamp is appended, so every bake gets a new name."
  type        = string
  default     = ""

  validation {
    condition     = var.bake_ami_name == "" || can(regex("^[A-Za-z0-9()\\[\\]./'@_ -]{3,100}$", var.bake_ami_name))
    error_message = "bake_ami_name must be empty or 3-100 characters of letters, digits and ()[]./'@_- (AWS's AMI name rule, leaving room for the timestamp)."
  }
}
