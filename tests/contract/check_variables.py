#!/usr/bin/env python3
"""Exercise the AWS target's variable validations with the real Terraform.

`terraform validate`/`plan` of terraform/aws needs the AWS provider, which
cannot be downloaded here. Variable declarations need no provider, though: this
copies terraform/aws/variables.tf alone into a scratch module and runs
`terraform plan` against it with a valid set of inputs (must pass) and with
one bad input at a time (must fail, naming that variable). A typo in a
validation's regex or condition fails here rather than on a first AWS run.

Usage: check_variables.py [REPO_ROOT]      (TERRAFORM=path overrides `terraform`)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GOOD = {
    "env_name": "ci-1234",
    "owner": "circleci/shadowops",
    "expires_at": "2026-11-28T01:00:00Z",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBz5Nq0TKRbqL7U3zY0cQ5E8Nh5mAFdxYkNq2a0o5f1Z ci",
    "ssh_private_key_file": "/root/.shadowops/envs/ci-1234/keys/id_ed25519",
    "ssh_host_key_private_file": "/root/.shadowops/envs/ci-1234/keys/ssh_host_ed25519_key",
    "ssh_host_key_public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBz5Nq0TKRbqL7U3zY0cQ5E8Nh5mAFdxYkNq2a0o5f1Z",
    "warehouse_password": "Fixture-Passw0rd_#1",
    "operator_cidr": "203.0.113.7/32",
    "smtp_host": "email-smtp.eu-west-1.amazonaws.com",
    "smtp_user": "AKIAFIXTURE",
    "smtp_password": "fixture-secret",
}

# A team's running Redshift cluster (warehouse_mode = existing), and a
# Serverless workgroup.
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/redshift-admin-AbCdEf"
EXISTING = {
    "endpoint": "team-wh.abc123xyz.eu-west-1.redshift.amazonaws.com",
    "port": 5439,
    "cluster_identifier": "team-wh",
    "admin_database": "dev",
    "db_user": "shadowops_admin",
    "vpc_id": "vpc-0123abcd",
    "host_subnet_id": "subnet-0123abcd",
    "security_group_id": "sg-0123abcd",
}
SERVERLESS = {
    "endpoint": "team-wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com",
    "workgroup_name": "team-wg",
    "vpc_id": "vpc-0123abcd",
    "host_subnet_id": "subnet-0123abcd",
}

# Valid alternatives that must also pass.
ALSO_GOOD = [
    {"smtp_user": None, "smtp_password": None},
    {"smtp_user": "", "smtp_password": None},  # what the driver sends without SHADOWOPS_SMTP_USER
    {"smtp_user": ""},  # (drop smtp_password below)
    {"env_name": "a"},
    {"owner": "Zoë Ødegård"},
    {"warehouse_password": "Ab1" + "x" * 61},
    {"redshift_node_type": "ra3.xlplus", "redshift_number_of_nodes": 2},
    {"vpc_cidr": "172.20.0.0/20"},
    {"host_ami_id": "ami-0123456789abcdef0"},
    {"host_ami_id": "ami-12345678", "bake_ami_name": "shadowops-host-baked-01f59f203c7a"},
    # Region and SMTP relay from the standard chain / the region.
    {"region": None, "smtp_host": None},
    {"smtp_host": ""},
    # Host key as text (no file read), or neither (state-only destroy).
    {"ssh_host_key_private_file": None},
    # What the driver sends for the aws target (src/phases/vars.rs): the host
    # key as text from the 0600 secrets file, no key path, smtp_host null.
    {"ssh_host_key_private_file": None, "smtp_host": None,
     "ssh_host_key_private": "-----BEGIN OPENSSH PRIVATE KEY-----\nfixture\n-----END OPENSSH PRIVATE KEY-----\n"},
    {"backstop_grace": "10m"},
    {"backstop_grace": "1h30m"},
    # --warehouse new made explicit; existing (a cluster with temporary
    # credentials, a cluster with a secret, a Serverless workgroup);
    # snapshot (own account, shared from another).
    {"warehouse_mode": "new"},
    {"warehouse_mode": "existing", "existing_warehouse": EXISTING,
     "warehouse_database": "shadowops_ci_1a2b_ci_1234", "warehouse_user": "shadowops_ci_1a2b_ci_1234"},
    {"warehouse_mode": "existing", "existing_warehouse": {**EXISTING, "db_user": None, "secret_arn": SECRET, "security_group_id": None}},
    {"warehouse_mode": "existing", "existing_warehouse": {**SERVERLESS}},
    {"warehouse_mode": "existing", "existing_warehouse": {**SERVERLESS, "secret_arn": SECRET}},
    {"warehouse_mode": "snapshot", "redshift_snapshot_identifier": "prod-nightly-2026-12-06"},
    {"warehouse_mode": "snapshot", "redshift_snapshot_identifier": "rs:prod-2026-12-06-03-00-12", "redshift_snapshot_owner_account": "123456789012"},
]

# (variable, bad value[, extra overrides]) -> plan must fail naming `variable`.
BAD = [
    ("host_ami_id", "ubuntu-22.04"),
    ("host_ami_id", "ami-XYZ"),
    ("bake_ami_name", "x"),
    ("bake_ami_name", "semi;colon"),
    ("env_name", "Bad_Name"),
    ("env_name", "a--b"),
    ("env_name", "x" * 31),
    ("env_name", "trailing-"),
    ("owner", "semi;colon"),
    ("expires_at", "2026-11-28 01:00:00"),
    ("expires_at", "2026-13-28T01:00:00Z"),
    ("ssh_public_key", "not a key"),
    ("ssh_private_key_file", "relative/key"),
    ("ssh_host_key_public", "ssh-rsa AAAAB3NzaC1yc2E="),
    ("warehouse_database", "dev"),
    ("warehouse_database", "Analytics"),
    ("warehouse_user", "awsuser"),
    ("warehouse_password", "Sh0rt"),
    ("warehouse_password", "nouppercase1"),
    ("warehouse_password", "NoDigitsHere"),
    ("warehouse_password", "Has@Sign1"),
    ("warehouse_password", "Has Space1"),
    ("warehouse_password", "Slash/Pass1"),
    ("warehouse_password", "Ab1" + "x" * 62),
    ("mail_to", "nobody"),
    ("region", "Europe"),
    ("operator_cidr", "0.0.0.0/0"),
    ("operator_cidr", "203.0.113.7"),
    ("vpc_cidr", "10.0.0.0/8"),
    ("redshift_node_type", "dc1.large"),
    ("redshift_number_of_nodes", 0),
    ("redshift_jdbc_driver_url", "http://example.com/driver.jar"),
    ("redshift_jdbc_driver_sha256", "ABC"),
    ("smtp_password", None),  # user set, password missing
    ("smtp_password", ""),
    ("smtp_user", "has space"),
    ("smtp_port", 70000),
    ("backstop_grace", "5m"),
    ("backstop_grace", "25h"),
    ("backstop_grace", "soon"),
    ("ssh_host_key_private_file", "relative/key"),
    ("ssh_host_key_private", "not a key"),
    ("bake_ami_name", "b" * 101),
    ("warehouse_mode", "shared"),
    ("warehouse_mode", "existing"),  # without existing_warehouse
    ("existing_warehouse", EXISTING),  # with warehouse_mode new
    ("existing_warehouse", {**EXISTING, "workgroup_name": "team-wg"}, {"warehouse_mode": "existing"}),  # both kinds
    ("existing_warehouse", {**EXISTING, "cluster_identifier": None}, {"warehouse_mode": "existing"}),  # neither
    ("existing_warehouse", {**EXISTING, "secret_arn": SECRET}, {"warehouse_mode": "existing"}),  # two logins
    ("existing_warehouse", {**EXISTING, "db_user": None}, {"warehouse_mode": "existing"}),  # no login
    ("existing_warehouse", {**SERVERLESS, "db_user": "admin"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "endpoint": "Team WH"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "vpc_id": "my-vpc"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "host_subnet_id": "subnet-XYZ"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "security_group_id": "default"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "admin_database": "dev; drop"}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "secret_arn": "arn:aws:iam::123456789012:role/x", "db_user": None}, {"warehouse_mode": "existing"}),
    ("existing_warehouse", {**EXISTING, "port": 80}, {"warehouse_mode": "existing"}),
    ("redshift_snapshot_identifier", "prod-nightly"),  # with warehouse_mode new
    ("redshift_snapshot_identifier", None, {"warehouse_mode": "snapshot"}),
    ("redshift_snapshot_identifier", "1-starts-with-digit", {"warehouse_mode": "snapshot"}),
    ("redshift_snapshot_identifier", "two--hyphens", {"warehouse_mode": "snapshot"}),
    ("redshift_snapshot_owner_account", "12345", {"warehouse_mode": "snapshot", "redshift_snapshot_identifier": "prod"}),
    ("redshift_snapshot_owner_account", "123456789012"),  # without a snapshot
]


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    terraform = os.environ.get("TERRAFORM", "terraform")
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(root / "terraform/aws/variables.tf", work / "variables.tf")
        env["TF_DATA_DIR"] = str(work / ".terraform")
        init = subprocess.run([terraform, f"-chdir={work}", "init", "-backend=false", "-no-color"],
                              env=env, capture_output=True, text=True)
        if init.returncode != 0:
            print(init.stdout + init.stderr)
            print("variables: 0 passed, 1 failed")
            return 1

        def plan(values: dict) -> subprocess.CompletedProcess:
            varfile = work / "case.tfvars.json"
            varfile.write_text(json.dumps(values), encoding="utf-8")
            return subprocess.run(
                [terraform, f"-chdir={work}", "plan", "-no-color", "-lock=false", f"-var-file={varfile}"],
                env=env, capture_output=True, text=True)

        for extra in [{}] + ALSO_GOOD:
            values = {**GOOD, **extra}
            if extra == {"smtp_user": ""}:
                del values["smtp_password"]
            result = plan(values)
            label = f"valid inputs {json.dumps(extra)[:60]}"
            if result.returncode == 0:
                passed += 1
                print(f"ok   {label}")
            else:
                failed += 1
                print(f"FAIL {label}: plan refused it\n{result.stderr.strip()}")

        for name, value, *extra in BAD:
            result = plan({**GOOD, **(extra[0] if extra else {}), name: value})
            label = f"{name} = {json.dumps(value)[:40]} is refused"
            named = f'var.{name}' in result.stderr or f'"{name}"' in result.stderr
            if result.returncode != 0 and "Invalid value for variable" in result.stderr and named:
                passed += 1
                print(f"ok   {label}")
            else:
                failed += 1
                print(f"FAIL {label}: exit {result.returncode}\n{result.stderr.strip()[-600:]}")

    print(f"variables: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
