#!/usr/bin/env python3
"""Names and backstop times of the AWS target, computed by the real Terraform.

terraform/aws/modules/names needs no provider: this applies it (many owner/env
pairs at once, through a scratch wrapper module) and checks every
account-unique name against its AWS limit, that owners never collide, that
the backstops fire exactly backstop_grace after expires_at (never at it), and
that every bake gets a new AMI name. It also checks that the root module
takes those names and times from modules/names, not from a copy.

Usage: check_aws_names.py [REPO_ROOT]      (TERRAFORM=path overrides `terraform`)
"""
from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OWNERS = [
    "alice", "Alice", "alice@a.example", "alice@b.example", "circleci/shadowops",
    "Zoë Ødegård", "@@@", "x" * 128, "ci-project-alpha-very-long", "ci-project-alpha-very-long2",
    "-leading and trailing-", "a.b_c:d/e=f+g@h",
]
ENVS = ["a", "ci-1234", "x" * 30, "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o1", "pr-7"]
GRACES = {"10m": 600, "30m": 1800, "1h": 3600, "1h30m": 5400, "24h": 86400}
BAD_GRACES = ["5m", "0m", "25h", "abc", "", "30", "1d", "-30m"]
EXPIRES = "2026-11-28T23:50:00Z"
# Known values: the driver (src/targets/aws.rs, owner_id) computes the same.
KNOWN_OWNER_IDS = {"circleci/shadowops": "circleci-7a62", "alice": None}

CLUSTER_ID = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
IAM_NAME = re.compile(r"^[\w+=,.@-]+$")
AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\]./'@_ -]{3,128}$")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    terraform = os.environ.get("TERRAFORM", "terraform")
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    problems: list[str] = []
    checks = 0

    def expect(ok: bool, what: str):
        nonlocal checks
        checks += 1
        if not ok:
            print(f"FAIL {what}")
            problems.append(what)

    cases = {f"c{i}": {"owner": o, "env_name": e} for i, (o, e) in enumerate(itertools.product(OWNERS, ENVS))}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "wrap"
        work.mkdir()
        shutil.copytree(root / "terraform/aws/modules/names", work / "names")
        (work / "main.tf").write_text(
            'variable "cases" { type = map(object({ owner = string, env_name = string })) }\n'
            'variable "graces" { type = list(string) }\n'
            'module "n" {\n  source = "./names"\n  for_each = var.cases\n'
            '  owner = each.value.owner\n  env_name = each.value.env_name\n'
            f'  expires_at = "{EXPIRES}"\n  bake_ami_name = "{"b" * 100}"\n}}\n'
            'module "g" {\n  source = "./names"\n  for_each = toset(var.graces)\n'
            f'  owner = "alice"\n  env_name = "a"\n  expires_at = "{EXPIRES}"\n  backstop_grace = each.value\n}}\n'
            'output "n" { value = module.n }\noutput "g" { value = module.g }\n', encoding="utf-8")
        varfile = Path(tmp) / "in.tfvars.json"
        varfile.write_text(json.dumps({"cases": cases, "graces": list(GRACES)}), encoding="utf-8")
        env["TF_DATA_DIR"] = str(Path(tmp) / "data")

        def tf(*args, check=True):
            run = subprocess.run([terraform, f"-chdir={work}", *args, "-no-color"], env=env, capture_output=True, text=True)
            if check and run.returncode != 0:
                raise SystemExit(run.stdout + run.stderr + "\naws-names: 0 passed, 1 failed")
            return run

        tf("init", "-backend=false")
        tf("apply", "-auto-approve", f"-var-file={varfile}", f"-state={tmp}/state")
        out = json.loads(tf("output", f"-state={tmp}/state", "-json").stdout)

        prefixes: dict[str, set[str]] = {}
        for key, case in cases.items():
            n = out["n"]["value"][key]
            owner, env_name = case["owner"], case["env_name"]
            tag = f"{owner!r}/{env_name}"
            p = n["prefix"]
            prefixes.setdefault(env_name, set()).add(p)
            expect(len(p) <= 54, f"{tag}: prefix {p} is at most 54 characters")
            expect(p.endswith("-" + env_name), f"{tag}: prefix {p} ends with the env name")
            expect(n["owner_id"] in p, f"{tag}: prefix carries the owner id")
            cid = n["cluster_identifier"]
            expect(len(cid) <= 63 and CLUSTER_ID.match(cid) is not None and "--" not in cid,
                   f"{tag}: cluster identifier {cid} is valid (<= 63, lowercase, starts with a letter, no '--', no trailing '-')")
            for role in (n["iam_role_host"], n["iam_role_scheduler"]):
                expect(len(role) <= 64 and IAM_NAME.match(role) is not None, f"{tag}: IAM role {role} is <= 64 valid characters")
            expect(len(n["key_pair"]) <= 255, f"{tag}: key pair name <= 255")
            sa = n["scheduled_action"]
            expect(len(sa) <= 60 and re.match(r"^[a-z][a-z0-9-]*$", sa) is not None, f"{tag}: scheduled action {sa} is <= 60 lowercase characters")
            ami = n["ami_name"]
            expect(AMI_NAME.match(ami or "") is not None, f"{tag}: AMI name {ami!r} is a valid AMI name (<= 128)")
            if owner in KNOWN_OWNER_IDS and KNOWN_OWNER_IDS[owner]:
                expect(n["owner_id"] == KNOWN_OWNER_IDS[owner], f"{tag}: owner id {n['owner_id']} == {KNOWN_OWNER_IDS[owner]} (as the driver computes it)")
        for env_name, ps in prefixes.items():
            expect(len(ps) == len(OWNERS), f"env {env_name}: {len(OWNERS)} owners give {len(ps)} distinct prefixes (no collisions)")

        # The backstops: exactly the grace after expires_at, never at it.
        base = datetime.datetime.fromisoformat(EXPIRES.replace("Z", "+00:00"))
        for grace, seconds in GRACES.items():
            at = datetime.datetime.fromisoformat(out["g"]["value"][grace]["backstop_at"].replace("Z", "+00:00"))
            expect((at - base).total_seconds() == seconds, f"backstop_grace {grace}: backstop_at is expires_at + {seconds}s")
            expect(at > base, f"backstop_grace {grace}: backstops fire after the reaper's deadline")
        for bad in BAD_GRACES:
            run = tf("plan", f"-var-file={varfile}", f"-state={tmp}/state", "-var", f'graces=["{bad}"]', check=False)
            expect(run.returncode != 0 and "backstop_grace" in run.stdout + run.stderr, f"backstop_grace {bad!r} is refused")

        # Unique per bake: a second plan a second later names a new AMI.
        time.sleep(1.1)
        tf("apply", "-auto-approve", f"-var-file={varfile}", f"-state={tmp}/state2")
        out2 = json.loads(tf("output", f"-state={tmp}/state2", "-json").stdout)
        expect(out2["n"]["value"]["c0"]["ami_name"] != out["n"]["value"]["c0"]["ami_name"], "two bakes of the same recipe get different AMI names")

    # The root module takes names and times from modules/names.
    main_tf = (root / "terraform/aws/main.tf").read_text(encoding="utf-8")
    for needle, what in [
        ("pause_at                 = module.names.backstop_at", "the Redshift pause fires at backstop_at"),
        ("power_off_at          = module.names.backstop_at", "the instance powers off at backstop_at"),
        ("backstop_at  = module.names.backstop_at", "every resource is tagged backstop_at"),
        ("name_prefix = module.names.prefix", "resource names use the names module's prefix"),
        ("host_role_name      = module.names.iam_role_host", "the host role is named by modules/names"),
        ("scheduler_role_name = module.names.iam_role_scheduler", "the scheduler role is named by modules/names"),
        ("scheduled_action_name    = module.names.scheduled_action", "the scheduled action is named by modules/names"),
        ("redshift_cluster_identifier = module.names.cluster_identifier", "the pause policy names the cluster by modules/names"),
    ]:
        expect(needle in main_tf, f"terraform/aws/main.tf: {what}")
    warehouse = (root / "terraform/aws/modules/warehouse/main.tf").read_text(encoding="utf-8")
    expect("cluster_identifier = var.name_prefix" in warehouse, "the cluster identifier is the names module's prefix")
    expect("at(${formatdate(\"YYYY-MM-DD'T'hh:mm:ss\", var.pause_at)})" in warehouse, "the scheduled action runs at pause_at")
    expect("expires_at" not in warehouse.split('resource "aws_redshift_scheduled_action"')[1], "the scheduled action never uses expires_at itself")

    print(f"aws-names: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
