#!/usr/bin/env python3
"""Static checks of the AWS target's teardown path and state backend.

- The destroy plan reads no local key file: the only `file()` calls in
  terraform/aws read the module's own files, except the host key's, which is
  guarded so that it is never evaluated when neither key input is given (the
  state-only destroy path). Proven with the real Terraform on a scratch module
  made of the root's variables and that one expression.
- A paused cluster is resumed before it is deleted: the destroy-time
  provisioner exists, reads only `self`, and the scheduled pause is destroyed
  before it; the script's state machine is exercised against a fake CLI.
- The backend is choosable: backend.tf declares local state, the S3 override
  is an empty partial configuration, the example settings use S3-native
  locking, and git ignores the installed override.

Usage: check_aws_teardown.py [REPO_ROOT]      (TERRAFORM=path overrides `terraform`)
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

# What the state-only destroy passes (src/targets/aws.rs, destroy_placeholders):
# every required variable, no key material and no key file.
DESTROY_VARS = {
    "env_name": "ci-1234",
    "owner": "circleci/shadowops",
    "expires_at": "2026-11-28T01:00:00Z",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderForDestroyOnly0000000000000000 destroy",
    "ssh_private_key_file": "/nonexistent/shadowops-destroy/id_ed25519",
    "ssh_host_key_public": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderForDestroyOnly0000000000000000",
    "warehouse_password": "Destroy-0nly-Placeholder",
    "operator_cidr": "192.0.2.1/32",
}


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

    # --- no local key file on the destroy path ---------------------------------
    guarded = "var.ssh_host_key_private_file != null ? sensitive(file(var.ssh_host_key_private_file)) : null"
    for tf in sorted(aws.rglob("*.tf")):
        text = tf.read_text(encoding="utf-8")
        for m in re.finditer(r"\b(file|filebase64|templatefile|filesha256)\(", text):
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.start())]
            if line.lstrip().startswith("#"):
                continue
            ok = 'file("${path.module}/' in line or guarded in line
            expect(ok, f"{tf.relative_to(root)}: `{line.strip()}` reads only the module's own files or the guarded host key")
    main_tf = (aws / "main.tf").read_text(encoding="utf-8")
    m = re.search(r"\n  ssh_host_key_private = \((.*?)\n  \)\n", main_tf, re.S)
    expect(m is not None, "main.tf: local.ssh_host_key_private found")
    if m:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "mod"
            work.mkdir()
            shutil.copy(aws / "variables.tf", work / "variables.tf")
            (work / "locals.tf").write_text(f"locals {{\n  ssh_host_key_private = ({m.group(1)}\n  )\n}}\n", encoding="utf-8")
            env["TF_DATA_DIR"] = str(Path(tmp) / "data")
            subprocess.run([terraform, f"-chdir={work}", "init", "-backend=false", "-no-color"], env=env, capture_output=True, check=True)

            def console(expr: str, extra: dict) -> subprocess.CompletedProcess:
                varfile = Path(tmp) / "in.tfvars.json"
                varfile.write_text(json.dumps({**DESTROY_VARS, **extra}), encoding="utf-8")
                return subprocess.run([terraform, f"-chdir={work}", "console", f"-var-file={varfile}", "-no-color"],
                                      input=expr + "\n", env=env, capture_output=True, text=True)

            run = console("nonsensitive(local.ssh_host_key_private == null)", {})
            expect(run.returncode == 0 and run.stdout.strip().splitlines()[-1:] == ["true"],
                   "destroy inputs (no key inputs): every variable validation passes and the host key is null, no file read")
            key = Path(tmp) / "hostkey"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
            run = console("nonsensitive(local.ssh_host_key_private) == nonsensitive(var.ssh_host_key_private)",
                          {"ssh_host_key_private": key.read_text(), "ssh_host_key_private_file": "/nonexistent/hostkey"})
            expect(run.returncode == 0 and run.stdout.strip().splitlines()[-1:] == ["true"],
                   "key text given: a missing key file is never read")
            run = console("local.ssh_host_key_private == null", {"ssh_host_key_private_file": "/nonexistent/hostkey"})
            expect("no file exists" in (run.stdout + run.stderr),
                   "sanity: with only a key file named, the file is read (and its absence is an error)")

    # --- a paused cluster is resumed before delete -------------------------------
    wh = (aws / "modules/warehouse/main.tf").read_text(encoding="utf-8")
    block = wh.split('resource "terraform_data" "ready_for_delete"')[1].split("\n}\n")[0] if "ready_for_delete" in wh else ""
    expect("when    = destroy" in block, "warehouse: a destroy-time provisioner prepares the cluster for deletion")
    refs = set(re.findall(r"\b(var|local|module|data|aws_\w+)\.", block.split("provisioner")[1])) if "provisioner" in block else {"?"}
    expect(not refs, f"the destroy-time provisioner reads only self (found {sorted(refs)})")
    expect("depends_on = [terraform_data.ready_for_delete]" in wh, "the scheduled pause is destroyed before the cluster is resumed and deleted")
    expect(fake_cli_checks(aws / "modules/warehouse/files/redshift-ready-for-delete.sh", expect) is None, "resume script checked")

    # --- backend ------------------------------------------------------------------
    backend = (aws / "backend.tf").read_text(encoding="utf-8")
    expect(re.search(r'^\s*backend "local" \{\}', backend, re.M) is not None, "backend.tf declares local state (the default)")
    expect(re.search(r'^\s*backend "', (aws / "versions.tf").read_text(encoding="utf-8"), re.M) is None, "versions.tf declares no backend")
    override = (aws / "backends/s3/backend_override.tf").read_text(encoding="utf-8")
    expect(re.search(r'^\s*backend "s3" \{\}', override, re.M) is not None, "the S3 override is an empty (partial) backend \"s3\" block")
    example = (aws / "backends/s3/example.s3.tfbackend").read_text(encoding="utf-8")
    expect(re.search(r"^use_lockfile\s*=\s*true", example, re.M) is not None, "the example backend settings use S3-native locking")
    expect(re.search(r"^key\s*=", example, re.M) is None, "the example sets no key (the driver sets one per env)")
    run = subprocess.run([str(root / "scripts/aws-state-backend.sh"), "check", str(aws / "backends/s3/example.s3.tfbackend")], capture_output=True, text=True)
    expect(run.returncode == 0, "scripts/aws-state-backend.sh accepts the example settings")
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "terraform/aws/backend_override.tf"])
    expect(ignored.returncode == 0, "git ignores an installed terraform/aws/backend_override.tf")

    print(f"aws-teardown: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


def fake_cli_checks(script: Path, expect) -> None:
    """Run the resume script against a fake `aws` that replays cluster states."""
    fake = """#!/bin/sh
state_file="$FAKE_DIR/states"; log="$FAKE_DIR/calls"
echo "$*" >> "$log"
case "$2" in
  describe-clusters)
    first="$(head -n1 "$state_file")"; [ "$(wc -l < "$state_file")" -gt 1 ] && sed -i 1d "$state_file"
    if [ "$first" = gone ]; then echo "An error occurred (ClusterNotFound) when calling the DescribeClusters operation" >&2; exit 254; fi
    echo "$first" ;;
  resume-cluster) echo '{}' ;;
esac
"""
    cases = [
        (["available"], 0, 0), (["paused", "resuming", "available"], 0, 1), (["pausing", "paused", "resuming", "available"], 0, 1),
        (["gone"], 0, 0), (["deleting"], 0, 0), (["paused", "paused"], 1, 1),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cli = Path(tmp) / "aws"
        cli.write_text(fake)
        cli.chmod(0o755)
        for states, want_rc, want_resumes in cases:
            (Path(tmp) / "states").write_text("\n".join(states) + "\n")
            (Path(tmp) / "calls").write_text("")
            env = dict(os.environ, FAKE_DIR=tmp, SHADOWOPS_AWS_CLI=str(cli), SHADOWOPS_REDSHIFT_POLL="0",
                       SHADOWOPS_REDSHIFT_WAIT="0" if want_rc else "60")
            run = subprocess.run([str(script), "shadowops-x-1234-ci-1"], env=env, capture_output=True, text=True, timeout=30)
            resumes = (Path(tmp) / "calls").read_text().count("resume-cluster")
            expect(run.returncode == want_rc and resumes == want_resumes,
                   f"resume script, states {states}: exit {run.returncode} (want {want_rc}), {resumes} resume(s) (want {want_resumes})")


if __name__ == "__main__":
    sys.exit(main())
