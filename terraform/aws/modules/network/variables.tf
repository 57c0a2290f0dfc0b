variable "name_prefix" {
  description = "Prefix of every resource name in this module, e.g. `shadowops-ci-42`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-40 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the env's VPC. Each env gets its own VPC, so the default never collides with another env."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(regex("^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /20 (the module carves /20../24 subnets out of it)."
  }
}

variable "availability_zone_count" {
  description = "How many availability zones the private (Redshift) subnets span. Redshift subnet groups are expected to span two."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 3 && floor(var.availability_zone_count) == var.availability_zone_count
    error_message = "availability_zone_count must be 2 or 3."
  }
}
