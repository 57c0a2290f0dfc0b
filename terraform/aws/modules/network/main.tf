# One VPC per env: nothing is shared between envs, so `destroy` of one env can
# never break another and the reaper can sweep by tag without dependencies.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394: the module takes the first two zones of the sorted list, so a zone AWS adds later does not enter the set; pinning zone names per region would make every region a config change, for an env that lives hours.
  state = "available"

  # Local Zones and Wavelength Zones do not offer Redshift.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)

  # Four more bits: a /16 gives /20 subnets, a /20 gives /24. Index 0 is the
  # public subnet, 1.. the private ones.
  subnet_newbits = 4
}

resource "aws_vpc" "this" {
  # checkov:skip=CKV2_AWS_11: flow logs cost money per GB and need a log group or bucket that outlives the env; a throwaway env that lives hours has no audit requirement the account's CloudTrail does not cover.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # Redshift endpoints and the host's public DNS name need it.

  tags = {
    Name = var.name_prefix
  }
}

# Adopt the VPC's default security group and strip its rules, so nothing that
# lands in the VPC without an explicit group can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name_prefix}-default-deny"
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = var.name_prefix
  }
}

# The instance's subnet. Public IPs are assigned on the instance itself
# (associate_public_ip_address), not by the subnet, so nothing else placed here
# becomes reachable by accident.
resource "aws_subnet" "public" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(var.vpc_cidr, local.subnet_newbits, 0)
  availability_zone = local.azs[0]

  tags = {
    Name = "${var.name_prefix}-public"
    Tier = "public"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name_prefix}-public"
  }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

# Redshift's subnets: no route to the internet at all. They use the VPC's main
# route table, which only has the local route.
resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(var.vpc_cidr, local.subnet_newbits, count.index + 1)
  availability_zone = local.azs[count.index]

  tags = {
    Name = "${var.name_prefix}-private-${local.azs[count.index]}"
    Tier = "private"
  }
}
