# Inputs shared with terraform/local (docs/interfaces.md, "Terraform inputs").

variable "env_name" {
  description = "Name of the shadow env: a short lowercase DNS label. Prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$", var.env_name))
    error_message = "env_name must be a lowercase DNS label of at most 30 characters: a-z first, then a-z, 0-9 or '-', not ending with '-'."
  }

  validation {
    # AWS-only: the Redshift cluster identifier is derived from it.
    condition     = !strcontains(var.env_name, "--")
    error_message = "env_name must not contain '--' on the aws target (Redshift cluster identifiers forbid two consecutive hyphens)."
  }
}

variable "owner" {
  description = "Who asked for the env ($USER, or the CI project). Carried as the `owner` tag on every resource."
  type        = string

  validation {
    # The character set AWS accepts in tag values.
    condition     = can(regex("^[\\p{L}\\p{N} _.:/=+@-]{1,128}$", var.owner))
    error_message = "owner must be 1-128 characters of letters, digits, spaces and _ . : / = + @ -."
  }
}

variable "expires_at" {
  description = "End of the env's lease, RFC 3339 UTC (e.g. 2026-11-28T01:00:00Z). Tagged on every resource; drives the instance's self-termination and the Redshift pause."
  type        = string

  validation {
    condition     = can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", var.expires_at)) && can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be RFC 3339 UTC with a Z suffix, e.g. 2026-11-28T01:00:00Z."
  }
}

variable "ssh_public_key" {
  description = "Client public key authorised for the host's `admin` user (`ssh-ed25519 AAAA...`)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line, e.g. `ssh-ed25519 AAAA...`."
  }
}

variable "ssh_private_key_file" {
  description = "Absolute path of the client private key; only echoed into the contract for Ansible."
  type        = string

  validation {
    condition     = startswith(var.ssh_private_key_file, "/")
    error_message = "ssh_private_key_file must be an absolute path."
  }
}

variable "ssh_host_key_private_file" {
  description = "Absolute path of the env's ed25519 host private key (0600), read at plan time and installed by cloud-init so the host key is pinned before the first connection. Ignored when ssh_host_key_private is set; null (and no file read at all) on the state-only destroy path."
  type        = string
  default     = null

  validation {
    condition     = var.ssh_host_key_private_file == null || try(startswith(var.ssh_host_key_private_file, "/"), false)
    error_message = "ssh_host_key_private_file must be null or an absolute path."
  }
}

variable "ssh_host_key_private" {
  description = "The env's ed25519 host private key as text, from the driver's 0600 secrets var file: preferred over ssh_host_key_private_file, so no plan reads a local key file. Null on the state-only destroy path."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.ssh_host_key_private == null || try(can(regex("-----BEGIN OPENSSH PRIVATE KEY-----", var.ssh_host_key_private)), false)
    error_message = "ssh_host_key_private must be null or an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)."
  }
}

variable "backstop_grace" {
  description = "How long after expires_at the in-cloud backstops fire (the Redshift scheduled pause and the instance's power-off): whole hours and/or minutes, 10m to 24h. The reaper's destroy runs at expires_at; the grace lets it finish before a pause could make the cluster undeletable without a resume."
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

variable "ssh_host_key_public" {
  description = "The env's host public key (`ssh-ed25519 AAAA...`), published as contract host.ssh_host_key."
  type        = string

  validation {
    condition     = can(regex("^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_host_key_public)))
    error_message = "ssh_host_key_public must be an `ssh-ed25519 AAAA...` line."
  }
}

variable "warehouse_database" {
  description = "Database created in the Redshift cluster."
  type        = string
  default     = "analytics"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,63}$", var.warehouse_database)) && var.warehouse_database != "dev"
    error_message = "warehouse_database must be 1-64 lowercase letters, digits and underscores starting with a letter, and not `dev`."
  }
}

variable "warehouse_user" {
  description = "Redshift admin user the pipeline connects as."
  type        = string
  default     = "shadow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,127}$", var.warehouse_user)) && !contains(["awsuser", "rdsdb", "public", "user"], var.warehouse_user)
    error_message = "warehouse_user must be lowercase letters, digits and underscores starting with a letter, and not a default or reserved name."
  }
}

variable "warehouse_password" {
  description = "Redshift admin password; from the driver's 0600 secrets file only. Redshift requires 8-64 printable ASCII with an upper-case letter, a lower-case letter and a digit, and none of ' \" \\ / @ or space."
  type        = string
  sensitive   = true

  validation {
    condition = (
      length(var.warehouse_password) >= 8 && length(var.warehouse_password) <= 64
      && can(regex("[A-Z]", var.warehouse_password))
      && can(regex("[a-z]", var.warehouse_password))
      && can(regex("[0-9]", var.warehouse_password))
      && can(regex("^[!#-&(-.0-?A-\\[\\]-~]+$", var.warehouse_password))
    )
    error_message = "warehouse_password does not meet Redshift's rules (8-64 printable ASCII with upper, lower and digit; no ' \" \\ / @ or space)."
  }
}

variable "mail_from" {
  description = "Sender of the pipeline's success mail. The SMTP relay must accept it (e.g. an SES-verified identity)."
  type        = string
  default     = "shadowops@localhost"

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+$", var.mail_from))
    error_message = "mail_from must be an e-mail address."
  }
}

variable "mail_to" {
  description = "Recipient of the pipeline's success mail."
  type        = string
  default     = "team@localhost"

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+$", var.mail_to))
    error_message = "mail_to must be an e-mail address."
  }
}

# AWS only.

variable "region" {
  description = "AWS region of the env. Null (the default): the provider's standard chain decides, i.e. AWS_REGION, then AWS_DEFAULT_REGION, then the profile's `region` (AWS_PROFILE), as the AWS CLI does."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || try(can(regex("^[a-z]{2}(-gov)?-[a-z]+-\\d$", var.region)), false)
    error_message = "region must look like eu-west-1."
  }
}

variable "operator_cidr" {
  description = "The only IPv4 CIDR allowed to reach SSH (22) on the host (Airflow is reached through an SSH tunnel, never opened): the driver's --allow-cidr, typically the operator's or CI runner's address as a /32."
  type        = string

  validation {
    condition     = can(regex("^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$", var.operator_cidr)) && can(cidrhost(var.operator_cidr, 0)) && var.operator_cidr != "0.0.0.0/0"
    error_message = "operator_cidr must be an IPv4 CIDR such as 203.0.113.7/32, and not 0.0.0.0/0."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the env's own VPC (/16 to /20)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(regex("^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /20."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the host (Airflow 3 + R + JVM want ~4 GiB; t3.large has 8)."
  type        = string
  default     = "t3.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.large."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the host's encrypted gp3 root volume in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size_gb >= 10 && var.root_volume_size_gb <= 200 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "root_volume_size_gb must be a whole number between 10 and 200."
  }
}

variable "host_ami_id" {
  description = "AMI to launch the host from instead of the newest official Debian 12 image: the one `shadowops bake --target aws` made, passed by `up --image baked`. Empty for Debian's."
  type        = string
  default     = ""

  validation {
    condition     = var.host_ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.host_ami_id))
    error_message = "host_ami_id must be empty or an AMI ID like ami-0123456789abcdef0."
  }
}

variable "bake_ami_name" {
  description = "Set only by `shadowops bake --target aws` on its second apply: make an AMI from the configured host, named this plus `-<UTC plan time>` (unique per bake, so an unchanged recipe can be baked again)."
  type        = string
  default     = ""

  validation {
    condition     = var.bake_ami_name == "" || can(regex("^[A-Za-z0-9()\\[\\]./'@_ -]{3,100}$", var.bake_ami_name))
    error_message = "bake_ami_name must be empty or 3-100 characters of letters, digits and ()[]./'@_- (AWS's rule for AMI names, leaving room for the timestamp appended per bake)."
  }
}

variable "redshift_node_type" {
  description = "Redshift node type (DC2 is deprecated by AWS; ra3.large is the smallest RA3)."
  type        = string
  default     = "ra3.large"

  validation {
    condition     = contains(["ra3.large", "ra3.xlplus", "ra3.4xlarge", "ra3.16xlarge", "dc2.large", "dc2.8xlarge"], var.redshift_node_type)
    error_message = "redshift_node_type must be one of ra3.large, ra3.xlplus, ra3.4xlarge, ra3.16xlarge, dc2.large, dc2.8xlarge."
  }
}

variable "redshift_number_of_nodes" {
  description = "Redshift compute nodes; 1 (the default) makes a single-node cluster."
  type        = number
  default     = 1

  validation {
    condition     = var.redshift_number_of_nodes >= 1 && var.redshift_number_of_nodes <= 4 && floor(var.redshift_number_of_nodes) == var.redshift_number_of_nodes
    error_message = "redshift_number_of_nodes must be a whole number from 1 to 4."
  }
}

variable "redshift_jdbc_driver_url" {
  description = "Where the host downloads the Redshift JDBC 4.2 driver jar (version 2.x). Must match redshift_jdbc_driver_sha256."
  type        = string
  default     = "https://repo1.maven.org/maven2/com/amazon/redshift/redshift-jdbc42/2.1.0.3/redshift-jdbc42-2.1.0.3.jar"

  validation {
    condition     = can(regex("^https://\\S+\\.jar$", var.redshift_jdbc_driver_url))
    error_message = "redshift_jdbc_driver_url must be an https URL of a .jar file."
  }
}

variable "redshift_jdbc_driver_sha256" {
  # NOT verified from the build machines (Maven Central is unreachable there):
  # this is the sha256 nixpkgs pins for redshift-jdbc42 2.1.0.3 from Maven
  # Central (SRI sha256-TO/JXh/pZ7tUZGfHqkzgZx18gLnISvnPVyGavzFv6vo=, in hex).
  # Ansible's download fails closed if the jar does not match. See docs/aws.md.
  description = "sha256 (64 lowercase hex) of the jar at redshift_jdbc_driver_url; the host refuses a jar that does not match."
  type        = string
  default     = "4cefc95e1fe967bb546467c7aa4ce0671d7c80b9c84af9cf57219abf316feafa"

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.redshift_jdbc_driver_sha256))
    error_message = "redshift_jdbc_driver_sha256 must be 64 lowercase hex characters."
  }
}

variable "smtp_host" {
  description = "SMTP relay the pipeline's success mail goes through (SHADOWOPS_SMTP_HOST). Null or empty: SES in the env's own region, email-smtp.<region>.amazonaws.com."
  type        = string
  default     = null

  validation {
    condition     = var.smtp_host == null || var.smtp_host == "" || try(can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", var.smtp_host)), false)
    error_message = "smtp_host must be a host name or IPv4 address."
  }
}

variable "smtp_port" {
  description = "SMTP relay port; STARTTLS is always required on AWS, so 587 is the usual choice (EC2 throttles port 25)."
  type        = number
  default     = 587

  validation {
    condition     = var.smtp_port >= 1 && var.smtp_port <= 65535 && floor(var.smtp_port) == var.smtp_port
    error_message = "smtp_port must be a TCP port (1-65535)."
  }
}

variable "smtp_user" {
  description = "SMTP relay user name (SHADOWOPS_SMTP_USER); null or \"\" for a relay without authentication."
  type        = string
  default     = null

  validation {
    condition     = var.smtp_user == null || try(length(var.smtp_user) <= 256 && !can(regex("\\s", var.smtp_user)), false)
    error_message = "smtp_user must be null, empty, or at most 256 characters without whitespace."
  }
}

variable "smtp_password" {
  description = "SMTP relay password (SHADOWOPS_SMTP_PASSWORD, from the driver's 0600 secrets file); null or \"\" without authentication. Required exactly when smtp_user is set."
  type        = string
  default     = null
  sensitive   = true

  validation {
    # Cross-variable validation needs Terraform >= 1.9 (versions.tf).
    condition     = (var.smtp_user == null || var.smtp_user == "") == (var.smtp_password == null || var.smtp_password == "")
    error_message = "smtp_password must be set exactly when smtp_user is set (both empty/null means no SMTP authentication)."
  }
}

# --- warehouse choice (`up --warehouse new|existing|snapshot:NAME`) ----------

variable "warehouse_mode" {
  description = "Where the env's warehouse lives: `new` (a Redshift cluster per env, the default), `existing` (a per-env database, created and dropped by the driver over the Redshift Data API, inside a team's running cluster or Serverless workgroup given by existing_warehouse: no cluster, no network of its own), or `snapshot` (a new cluster restored from redshift_snapshot_identifier)."
  type        = string
  default     = "new"

  validation {
    condition     = contains(["new", "existing", "snapshot"], var.warehouse_mode)
    error_message = "warehouse_mode must be one of new, existing, snapshot."
  }
}

variable "existing_warehouse" {
  description = "The team's running warehouse, for warehouse_mode = existing (null otherwise): its endpoint and port as the host reaches them; exactly one of cluster_identifier (provisioned) or workgroup_name (Serverless); how the driver's Data API calls authenticate (db_user for a cluster's temporary credentials, or secret_arn); the database those calls connect to (admin_database); the VPC and a public subnet in it for the host (the warehouse must be reachable from there); and, optionally, the warehouse's security group, which then admits the host's group on the port for the env's life."
  type = object({
    endpoint           = string
    port               = optional(number, 5439)
    cluster_identifier = optional(string)
    workgroup_name     = optional(string)
    admin_database     = optional(string, "dev")
    db_user            = optional(string)
    secret_arn         = optional(string)
    vpc_id             = string
    host_subnet_id     = string
    security_group_id  = optional(string)
  })
  default = null

  validation {
    condition     = (var.existing_warehouse != null) == (var.warehouse_mode == "existing")
    error_message = "existing_warehouse must be set exactly when warehouse_mode is existing."
  }

  validation {
    condition = var.existing_warehouse == null || try(
      can(regex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", var.existing_warehouse.endpoint))
      && var.existing_warehouse.port >= 1150 && var.existing_warehouse.port <= 65535 && floor(var.existing_warehouse.port) == var.existing_warehouse.port
      && can(regex("^vpc-[0-9a-f]+$", var.existing_warehouse.vpc_id))
      && can(regex("^subnet-[0-9a-f]+$", var.existing_warehouse.host_subnet_id))
      && (var.existing_warehouse.security_group_id == null || can(regex("^sg-[0-9a-f]+$", var.existing_warehouse.security_group_id)))
      && can(regex("^[a-z][a-z0-9_]{0,63}$", var.existing_warehouse.admin_database)),
      false
    )
    error_message = "existing_warehouse: endpoint must be a lowercase host name, port 1150-65535, vpc_id vpc-..., host_subnet_id subnet-..., security_group_id null or sg-..., admin_database a lowercase database name."
  }

  validation {
    # Exactly one kind of warehouse, and a way for the Data API to log in
    # that fits it: a cluster takes db_user (temporary credentials) or
    # secret_arn, a workgroup secret_arn or the caller's IAM identity.
    condition = var.existing_warehouse == null || try(
      ((var.existing_warehouse.cluster_identifier == null) != (var.existing_warehouse.workgroup_name == null))
      && (var.existing_warehouse.cluster_identifier == null || can(regex("^[a-z][a-z0-9-]{0,62}$", var.existing_warehouse.cluster_identifier)))
      && (var.existing_warehouse.workgroup_name == null || can(regex("^[a-z0-9-]{3,64}$", var.existing_warehouse.workgroup_name)))
      && (var.existing_warehouse.cluster_identifier == null || ((var.existing_warehouse.db_user == null) != (var.existing_warehouse.secret_arn == null)))
      && (var.existing_warehouse.workgroup_name == null || var.existing_warehouse.db_user == null)
      && (var.existing_warehouse.db_user == null || can(regex("^[a-z_][a-z0-9_]{0,126}$", var.existing_warehouse.db_user)))
      && (var.existing_warehouse.secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.existing_warehouse.secret_arn))),
      false
    )
    error_message = "existing_warehouse needs exactly one of cluster_identifier or workgroup_name; a cluster exactly one of db_user or secret_arn; a workgroup no db_user (secret_arn, or the caller's IAM identity); secret_arn must be a Secrets Manager ARN."
  }
}

variable "redshift_snapshot_identifier" {
  description = "warehouse_mode = snapshot: the cluster snapshot the env's new cluster is restored from (a production-like copy). The restored cluster keeps the snapshot's databases and admin user: pass warehouse_database and warehouse_user to match. Null otherwise."
  type        = string
  default     = null

  validation {
    condition     = (var.redshift_snapshot_identifier != null) == (var.warehouse_mode == "snapshot")
    error_message = "redshift_snapshot_identifier must be set exactly when warehouse_mode is snapshot."
  }

  validation {
    # Redshift's rule for snapshot identifiers (manual ones; automated ones
    # are named rs:<cluster>-<time>).
    condition     = var.redshift_snapshot_identifier == null || try(can(regex("^(rs:)?[a-zA-Z][a-zA-Z0-9-]{0,254}$", var.redshift_snapshot_identifier)) && !strcontains(var.redshift_snapshot_identifier, "--") && !endswith(var.redshift_snapshot_identifier, "-"), false)
    error_message = "redshift_snapshot_identifier must start with a letter, hold letters, digits and single hyphens (at most 255), and not end with a hyphen."
  }
}

variable "redshift_snapshot_owner_account" {
  description = "AWS account that owns redshift_snapshot_identifier when it was shared from another account (12 digits); null for a snapshot of this account."
  type        = string
  default     = null

  validation {
    condition     = var.redshift_snapshot_owner_account == null || try(can(regex("^\\d{12}$", var.redshift_snapshot_owner_account)) && var.redshift_snapshot_identifier != null, false)
    error_message = "redshift_snapshot_owner_account must be null or a 12-digit account ID, and only with redshift_snapshot_identifier."
  }
}
