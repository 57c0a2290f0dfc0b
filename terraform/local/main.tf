# Target `local`: one shadow env as podman containers on this machine.
#
#   network   shadowops-<env>            --internal, var.subnet_cidr (no route out)
#   apt-proxy shadowops-<env>-apt-proxy  machine netns: <gateway>:3142 -> apt cache on 127.0.0.1
#   host      shadowops-<env>-host       .10  Debian 12, systemd, sshd (user admin)
#   warehouse shadowops-<env>-warehouse  .11  PostgreSQL 15
#   mail      shadowops-<env>-mail       .12  SMTP sink -> <env_dir>/inbox/*.eml
#
# Only Terraform's built-in provider: each object is a terraform_data whose
# create and destroy provisioners run scripts/local-env.sh. Destroy-time
# provisioners may only read `self`, so everything they need is in `input`.
# Creation waits for each service to answer, so a finished apply means a
# usable env.

locals {
  prefix  = "shadowops-${var.env_name}"
  gateway = cidrhost(var.subnet_cidr, 1)
  ip = {
    host      = cidrhost(var.subnet_cidr, 10)
    warehouse = cidrhost(var.subnet_cidr, 11)
    mail      = cidrhost(var.subnet_cidr, 12)
  }

  script          = abspath("${path.module}/scripts/local-env.sh")
  containers_conf = abspath("${path.module}/../../podman/containers.conf")
  env_dir         = trimsuffix(var.env_dir, "/")
  # Everything this module writes lives here and goes at destroy.
  state_dir = "${local.env_dir}/local"
  inbox_dir = "${local.env_dir}/inbox"
  apt_proxy = "http://${local.gateway}:${var.apt_cache_port}"

  # On every container and the network: `shadowops reap` and `status` find
  # leftovers by these even when the state is lost.
  labels = join("\n", [
    "shadowops.env=${var.env_name}",
    "shadowops.owner=${var.owner}",
    "shadowops.expires_at=${var.expires_at}",
    "shadowops.managed=true",
  ])

  # Inputs every container's create provisioner shares.
  container_env = {
    CONTAINERS_CONF = local.containers_conf
    LABELS          = local.labels
    LEASE_FILE      = var.lease_file
    TIMEOUT         = tostring(var.max_lifetime_seconds)
    NETWORK         = local.prefix
    STATE_DIR       = local.state_dir
  }
}

resource "terraform_data" "network" {
  triggers_replace = [var.subnet_cidr]

  input = {
    name            = local.prefix
    script          = local.script
    containers_conf = local.containers_conf
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "network-up"
    environment = {
      CONTAINERS_CONF = local.containers_conf
      NAME            = local.prefix
      SUBNET          = var.subnet_cidr
      GATEWAY         = local.gateway
      LABELS          = local.labels
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "network-down"
    environment = {
      CONTAINERS_CONF = self.input.containers_conf
      NAME            = self.input.name
    }
  }
}

# Files the containers mount: the host's authorised key and apt proxy, and the
# warehouse password (0600). The password makes Terraform suppress this
# provisioner's output, which is why it is a resource of its own.
resource "terraform_data" "files" {
  triggers_replace = [var.ssh_public_key, local.apt_proxy, var.warehouse_password, local.state_dir]

  input = {
    state_dir = local.state_dir
    script    = local.script
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "files-up"
    environment = {
      STATE_DIR          = local.state_dir
      AUTHORIZED_KEY     = trimspace(var.ssh_public_key)
      APT_PROXY          = local.apt_proxy
      WAREHOUSE_PASSWORD = var.warehouse_password
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "files-down"
    environment = {
      STATE_DIR = self.input.state_dir
    }
  }
}

# The env's door to the machine's apt cache: apt-cacher-ng listens on
# 127.0.0.1 only (never an open proxy); this forwarder listens on the env's
# gateway address, the one machine address an internal network reaches.
resource "terraform_data" "apt_proxy" {
  triggers_replace = [var.mail_image, local.gateway, var.apt_cache_port, var.lease_file, var.max_lifetime_seconds]

  input = {
    name            = "${local.prefix}-apt-proxy"
    script          = local.script
    containers_conf = local.containers_conf
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "apt-proxy-up"
    environment = merge(local.container_env, {
      NAME    = "${local.prefix}-apt-proxy"
      IMAGE   = var.mail_image
      GATEWAY = local.gateway
      PORT    = tostring(var.apt_cache_port)
    })
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "container-down"
    environment = {
      CONTAINERS_CONF = self.input.containers_conf
      NAME            = self.input.name
    }
  }

  depends_on = [terraform_data.network]
}

resource "terraform_data" "host" {
  triggers_replace = [
    var.host_image, local.ip.host, terraform_data.network.id, terraform_data.files.id,
    var.ssh_host_key_private_file, var.ssh_host_key_public, var.wheelhouse_dir,
    var.lease_file, var.max_lifetime_seconds,
  ]

  input = {
    name            = "${local.prefix}-host"
    script          = local.script
    containers_conf = local.containers_conf
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "host-up"
    environment = merge(local.container_env, {
      NAME           = "${local.prefix}-host"
      IMAGE          = var.host_image
      IP             = local.ip.host
      GATEWAY        = local.gateway
      HOSTNAME_      = "${var.env_name}-host"
      HOST_KEY_FILE  = var.ssh_host_key_private_file
      WHEELHOUSE_DIR = var.wheelhouse_dir
    })
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "container-down"
    environment = {
      CONTAINERS_CONF = self.input.containers_conf
      NAME            = self.input.name
    }
  }

  # apt on the host needs the proxy from its first boot.
  depends_on = [terraform_data.apt_proxy]
}

resource "terraform_data" "warehouse" {
  triggers_replace = [
    var.warehouse_image, local.ip.warehouse, terraform_data.network.id, terraform_data.files.id,
    var.warehouse_database, var.warehouse_user, var.lease_file, var.max_lifetime_seconds,
  ]

  input = {
    name            = "${local.prefix}-warehouse"
    script          = local.script
    containers_conf = local.containers_conf
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "warehouse-up"
    environment = merge(local.container_env, {
      NAME      = "${local.prefix}-warehouse"
      IMAGE     = var.warehouse_image
      IP        = local.ip.warehouse
      HOSTNAME_ = "${var.env_name}-warehouse"
      DATABASE  = var.warehouse_database
      DB_USER   = var.warehouse_user
    })
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "container-down"
    environment = {
      CONTAINERS_CONF = self.input.containers_conf
      NAME            = self.input.name
    }
  }
}

resource "terraform_data" "mail" {
  triggers_replace = [
    var.mail_image, local.ip.mail, terraform_data.network.id, local.inbox_dir,
    var.lease_file, var.max_lifetime_seconds,
  ]

  input = {
    name            = "${local.prefix}-mail"
    script          = local.script
    containers_conf = local.containers_conf
  }

  provisioner "local-exec" {
    interpreter = [local.script]
    command     = "mail-up"
    environment = merge(local.container_env, {
      NAME      = "${local.prefix}-mail"
      IMAGE     = var.mail_image
      IP        = local.ip.mail
      HOSTNAME_ = "${var.env_name}-mail"
      INBOX_DIR = local.inbox_dir
    })
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = [self.input.script]
    command     = "container-down"
    environment = {
      CONTAINERS_CONF = self.input.containers_conf
      NAME            = self.input.name
    }
  }
}
