#!/usr/bin/env python3
"""Static checks of the AWS target's warehouse choices (`up --warehouse`).

- `warehouse_mode` decides, with the real Terraform, what exists: a scratch
  module made of the root's variables.tf and its `own_cluster`/`existing`
  locals is evaluated with `terraform console` for every mode; the VPC, the
  cluster and the scheduler's role are counted on `local.own_cluster`.
- A snapshot reaches the cluster: the root passes redshift_snapshot_identifier
  and redshift_snapshot_owner_account to the warehouse module, which sets
  them as the cluster's snapshot_identifier and owner_account (and ignores the
  database and admin names a restore reads back, so no apply replaces it).
- `existing`: the contract's warehouse comes from local.warehouse (the team's
  endpoint and the env's database), and the output `existing_warehouse` has
  exactly the keys the driver reads back (src/targets/aws/existing.rs,
  EnvDatabase).

Usage: check_aws_warehouse.py [REPO_ROOT]      (TERRAFORM=path overrides `terraform`)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import hcl2  # bc-python-hcl2 (requirements/static.txt)

BASE = {
    "env_name": "ci-1234",
    "owner": "circleci/shadowops",
    "expires_at": "2026-11-28T01:00:00Z",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBz5Nq0TKRbqL7U3zY0cQ5E8Nh5mAFdxYkNq2a0o5f1Z ci",
    "ssh_private_key_file": "/root/.shadowops/envs/ci-1234/keys/id_ed25519",
    "ssh_host_key_public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBz5Nq0TKRbqL7U3zY0cQ5E8Nh5mAFdxYkNq2a0o5f1Z",
    "warehouse_password": "Fixture-Passw0rd_#1",
    "operator_cidr": "203.0.113.7/32",
}
EXISTING = {
    "endpoint": "team-wh.abc123xyz.eu-west-1.redshift.amazonaws.com",
    "cluster_identifier": "team-wh",
    "db_user": "shadowops_admin",
    "vpc_id": "vpc-0123abcd",
    "host_subnet_id": "subnet-0123abcd",
}
MODES = {
    "new": ({}, True),
    "existing": ({"existing_warehouse": EXISTING}, False),
    "snapshot": ({"redshift_snapshot_identifier": "prod-nightly"}, True),
}
# src/targets/aws/existing.rs: EnvDatabase (DataApiTarget flattened).
DRIVER_KEYS = {"cluster_identifier", "workgroup_name", "admin_database", "db_user", "secret_arn", "database", "user"}


def first(value):
    """hcl2 wraps attribute values in one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    aws = root / "terraform/aws"
    terraform = os.environ.get("TERRAFORM", "terraform")
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    problems: list[str] = []
    checks = 0

    def expect(ok: bool, what: str):
        nonlocal checks
        checks += 1
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            problems.append(what)

    main_tf = (aws / "main.tf").read_text(encoding="utf-8")
    parsed = hcl2.loads(main_tf)
    calls = {k: {a: first(b) for a, b in v.items()} for block in parsed["module"] for k, v in block.items()}
    locals_ = {k: first(v) for block in parsed["locals"] for k, v in block.items()}

    # --- what exists per mode, evaluated by the real Terraform ----------------
    expect(locals_.get("own_cluster") == '${var.warehouse_mode != "existing"}', "local.own_cluster is warehouse_mode != existing")
    for call in ("network", "warehouse"):
        expect(calls[call].get("count") == "${local.own_cluster ? 1 : 0}", f"module {call} is counted on local.own_cluster")
    expect(calls["iam"].get("redshift_scheduler") == "${local.own_cluster}", "the scheduler's role exists only with a cluster of the env's own")
    lines = [l for l in main_tf.splitlines() if re.match(r"\s*(own_cluster|existing)\s*=", l)]
    expect(len(lines) == 2, "main.tf: the own_cluster and existing locals found")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "mod"
        work.mkdir()
        shutil.copy(aws / "variables.tf", work / "variables.tf")
        (work / "locals.tf").write_text("locals {\n" + "\n".join(lines) + "\n}\n", encoding="utf-8")
        env["TF_DATA_DIR"] = str(Path(tmp) / "data")
        subprocess.run([terraform, f"-chdir={work}", "init", "-backend=false", "-no-color"], env=env, capture_output=True, check=True)
        for mode, (extra, own) in MODES.items():
            varfile = Path(tmp) / "in.tfvars.json"
            varfile.write_text(json.dumps({**BASE, "warehouse_mode": mode, **extra}), encoding="utf-8")
            expr = 'jsonencode([local.own_cluster ? 1 : 0, local.existing == null ? "" : local.existing.endpoint, var.redshift_snapshot_identifier])'
            run = subprocess.run([terraform, f"-chdir={work}", "console", f"-var-file={varfile}", "-no-color"],
                                 input=expr + "\n", env=env, capture_output=True, text=True)
            got = None
            if run.returncode == 0 and run.stdout.strip():
                got = json.loads(json.loads(run.stdout.strip().splitlines()[-1]))
            want = [1 if own else 0, EXISTING["endpoint"] if mode == "existing" else "", extra.get("redshift_snapshot_identifier")]
            expect(got == want, f"warehouse_mode={mode}: cluster and VPC count, endpoint, snapshot = {got} (want {want}){'' if run.returncode == 0 else ': ' + run.stderr.strip()[-300:]}")

    # --- a snapshot reaches the cluster -----------------------------------------
    wh = calls["warehouse"]
    expect(wh.get("snapshot_identifier") == "${var.redshift_snapshot_identifier}", "root passes redshift_snapshot_identifier to the warehouse module")
    expect(wh.get("snapshot_owner_account") == "${var.redshift_snapshot_owner_account}", "root passes redshift_snapshot_owner_account to the warehouse module")
    module = hcl2.loads((aws / "modules/warehouse/main.tf").read_text(encoding="utf-8"))
    cluster = next(r["aws_redshift_cluster"]["this"] for r in module["resource"] if "aws_redshift_cluster" in r)
    cluster = {k: first(v) for k, v in cluster.items()}
    expect(cluster.get("snapshot_identifier") == "${var.snapshot_identifier}", "the cluster is restored from var.snapshot_identifier")
    expect(cluster.get("owner_account") == "${var.snapshot_owner_account}", "the cluster's owner_account is var.snapshot_owner_account")
    ignored = json.dumps(cluster.get("lifecycle", []))
    expect("database_name" in ignored and "master_username" in ignored, "a restored cluster's database and admin names do not force a replacement")

    # --- existing: the contract and the driver's record -----------------------
    outputs_tf = (aws / "outputs.tf").read_text(encoding="utf-8")
    for key in ("host", "port", "database"):
        expect(re.search(rf"^\s*{key}\s*=\s*local\.warehouse\.{key}\b", outputs_tf, re.M) is not None, f"contract warehouse.{key} comes from local.warehouse")
    expect("module.warehouse." not in outputs_tf, "outputs.tf reads no module.warehouse output directly (it may not exist)")
    block = outputs_tf.split('output "existing_warehouse"')[1].split("\n}\n")[0] if 'output "existing_warehouse"' in outputs_tf else ""
    keys = set(re.findall(r"^\s{4}(\w+)\s*=", block, re.M))
    expect(keys == DRIVER_KEYS, f"output existing_warehouse has the driver's keys (got {sorted(keys)})")
    expect("sensitive" not in block, "output existing_warehouse is not sensitive (it holds no secret)")

    print(f"aws-warehouse: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
