variable "name_prefix" {
  description = "Prefix of every resource name in this module (modules/names), e.g. `shadowops-alice-1a2b-ci-42`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,52}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-54 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the instance's security group belongs to."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_id" {
  description = "ID of the public subnet the instance runs in."
  type        = string

  validation {
    condition     = can(regex("^subnet-[0-9a-f]+$", var.subnet_id))
    error_message = "subnet_id must look like subnet-0123abcd."
  }
}

variable "operator_cidr" {
  description = "The only IPv4 CIDR allowed to reach SSH and the Airflow API (the driver's --allow-cidr)."
  type        = string

  validation {
    condition     = can(regex("^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$", var.operator_cidr)) && can(cidrhost(var.operator_cidr, 0)) && var.operator_cidr != "0.0.0.0/0"
    error_message = "operator_cidr must be an IPv4 CIDR such as 203.0.113.7/32, and not 0.0.0.0/0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the host. Airflow 3 (api-server, scheduler, dag-processor, triggerer) plus R and a JVM want about 4 GiB."
  type        = string
  default     = "t3.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.large."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume in GiB (Airflow's virtualenv, R, the JDK and logs)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size_gb >= 10 && var.root_volume_size_gb <= 200 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "root_volume_size_gb must be a whole number between 10 and 200."
  }
}

variable "ssh_public_key" {
  description = "Client public key authorised for the `admin` user (OpenSSH format)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line, e.g. `ssh-ed25519 AAAA...`."
  }
}

variable "ssh_host_key_private" {
  description = "PEM/OpenSSH text of the env's ed25519 host private key, installed by cloud-init so the host key is known before the first connection. Null only on the state-only destroy path (the instance's precondition refuses to create a host without it)."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.ssh_host_key_private == null || can(regex("-----BEGIN OPENSSH PRIVATE KEY-----", var.ssh_host_key_private))
    error_message = "ssh_host_key_private must be an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)."
  }
}

variable "ssh_host_key_public" {
  description = "The matching `ssh-ed25519 AAAA...` host public key."
  type        = string

  validation {
    condition     = can(regex("^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_host_key_public)))
    error_message = "ssh_host_key_public must be an `ssh-ed25519 AAAA...` line."
  }
}

variable "power_off_at" {
  description = "RFC 3339 UTC instant after which the instance powers itself off (and, with shutdown behaviour `terminate`, is terminated): the env's expires_at plus backstop_grace, also tagged `backstop_at` on the instance."
  type        = string

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", var.power_off_at)) && can(formatdate("YYYY", var.power_off_at))
    error_message = "power_off_at must be RFC 3339 UTC with a Z suffix, e.g. 2026-11-28T01:30:00Z."
  }
}

variable "instance_profile_name" {
  description = "Name of the IAM instance profile attached to the instance."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,128}$", var.instance_profile_name))
    error_message = "instance_profile_name must be a valid IAM name (1-128 of letters, digits and +=,.@_-)."
  }
}

variable "ami_owner" {
  description = "AWS account that publishes the official Debian cloud images (Debian's own account)."
  type        = string
  default     = "136693071363"

  validation {
    condition     = can(regex("^\\d{12}$", var.ami_owner))
    error_message = "ami_owner must be a 12-digit AWS account ID."
  }
}

variable "ami_name_pattern" {
  description = "Name filter for the Debian image; the newest match is used."
  type        = string
  default     = "debian-12-amd64-*"

  validation {
    condition     = length(var.ami_name_pattern) > 0 && length(var.ami_name_pattern) <= 128
    error_message = "ami_name_pattern must be a non-empty AMI name filter."
  }
}

variable "host_ami_id" {
  description = "AMI to launch the host from instead of the newest official Debian 12 image: the one `shadowops bake --target aws` made (`up --image baked`). Empty for Debian's."
  type        = string
  default     = ""

  validation {
    condition     = var.host_ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.host_ami_id))
    error_message = "host_ami_id must be empty or an AMI ID like ami-0123456789abcdef0."
  }
}

variable "bake_ami_name" {
  description = "When set, make an AMI of this name from the (configured) host: the second apply of `shadowops bake --target aws`, which then takes the AMI out of the state so that destroying the bake env keeps it. Empty for none."
  type        = string
  default     = ""

  validation {
    condition     = var.bake_ami_name == "" || can(regex("^[A-Za-z0-9()\\[\\]./'@_ -]{3,128}$", var.bake_ami_name))
    error_message = "bake_ami_name must be empty or 3-128 characters of letters, digits and ()[]./'@_- (AWS's rule for AMI names)."
  }
}
