#!/usr/bin/env python3
"""Render the AWS host's cloud-init user data with the real Terraform and
validate it against cloud-init's own schema.

The user data installs the env's SSH host key (so the contract's pinned key is
the one the host serves from first boot) and the lease-expiry timer. A broken
document would only show on a first AWS boot, as a host whose key does not
match and that never powers itself off. This check needs no provider: it copies
modules/compute's variables, its `locals` block and files/ into a scratch
module whose only output is the rendered user data, applies it (no resources),
then checks:

  * the document starts with `#cloud-config` and parses as YAML;
  * ssh_keys carries exactly the generated host key pair, and no other key
    type is generated;
  * the expiry script and units are written, the timer enabled;
  * the whole document validates against schema-cloud-config-v1.json from
    Debian 12's cloud-init package (the version the Debian 12 AMI runs),
    fetched with `apt-get download` into the machine cache.

Usage: check_user_data.py [REPO_ROOT]    (TERRAFORM=path overrides `terraform`)
"""
from __future__ import annotations

import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml  # PyYAML, a checkov dependency in the static-checks venv
from jsonschema import Draft4Validator  # a check-jsonschema dependency

CACHE = Path(os.environ.get("SHADOWOPS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shadowops")
SCHEMA_IN_DEB = "usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"


def locals_block(main_tf: str) -> str:
    """The top-level `locals { ... }` block of a module, by brace matching."""
    start = re.search(r"^locals \{", main_tf, re.M)
    if not start:
        raise SystemExit("modules/compute/main.tf has no locals block")
    depth = 0
    for i in range(start.start(), len(main_tf)):
        if main_tf[i] == "{":
            depth += 1
        elif main_tf[i] == "}":
            depth -= 1
            if depth == 0:
                return main_tf[start.start(): i + 1] + "\n"
    raise SystemExit("unbalanced locals block in modules/compute/main.tf")


def cloud_init_schema() -> dict:
    target = CACHE / "cloud-init-schema" / "schema-cloud-config-v1.json"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            download = ["apt-get", "download", "cloud-init"]
            if subprocess.run(download, cwd=tmp, capture_output=True).returncode != 0:
                # A fresh machine may have no package lists yet.
                subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
                subprocess.run(download, cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob("cloud-init_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
            shutil.copy(Path(tmp) / "x" / SCHEMA_IN_DEB, target)
            (target.parent / "SOURCE").write_text(deb.name + "\n", encoding="utf-8")
    return json.loads(target.read_text(encoding="utf-8"))


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    compute = root / "terraform/aws/modules/compute"
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

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "mod"
        work.mkdir()
        shutil.copy(compute / "variables.tf", work / "variables.tf")
        shutil.copytree(compute / "files", work / "files")
        (work / "locals.tf").write_text(locals_block((compute / "main.tf").read_text(encoding="utf-8")), encoding="utf-8")
        (work / "outputs.tf").write_text(
            'output "user_data" {\n  sensitive = true\n'
            '  value     = "#cloud-config\\n${yamlencode(local.cloud_config)}"\n}\n', encoding="utf-8")

        key = Path(tmp) / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "check", "-f", str(key)], check=True)
        private = key.read_text(encoding="ascii")
        public = key.with_suffix(".pub").read_text(encoding="ascii").strip()
        inputs = {
            "name_prefix": "shadowops-check", "vpc_id": "vpc-0123abcd", "subnet_id": "subnet-0123abcd",
            "operator_cidr": "203.0.113.7/32", "ssh_public_key": public, "ssh_host_key_private": private,
            "ssh_host_key_public": public, "power_off_at": "2026-11-28T01:30:00Z",
            "instance_profile_name": "shadowops-check-host",
        }
        varfile = Path(tmp) / "in.tfvars.json"
        varfile.write_text(json.dumps(inputs), encoding="utf-8")
        env["TF_DATA_DIR"] = str(Path(tmp) / "data")
        for args in (["init", "-backend=false"],
                     ["apply", "-auto-approve", f"-var-file={varfile}", f"-state={tmp}/state"]):
            run = subprocess.run([terraform, f"-chdir={work}", *args, "-no-color"], env=env, capture_output=True, text=True)
            if run.returncode != 0:
                print(run.stdout + run.stderr)
                print("user-data: 0 passed, 1 failed")
                return 1
        out = subprocess.run([terraform, f"-chdir={work}", "output", f"-state={tmp}/state", "-raw", "user_data"],
                             env=env, capture_output=True, text=True, check=True).stdout

        expect(out.startswith("#cloud-config\n"), "user data starts with #cloud-config")
        doc = yaml.safe_load(out)
        expect(isinstance(doc, dict), "user data parses as a YAML mapping")
        keys = doc.get("ssh_keys", {})
        expect(keys.get("ed25519_private") == private, "ssh_keys.ed25519_private is the env's host private key, byte for byte")
        expect(keys.get("ed25519_public") == public, "ssh_keys.ed25519_public is the pinned host public key")
        expect(set(keys) == {"ed25519_private", "ed25519_public"}, "no other host key is supplied")
        # With ssh_keys present cloud-init 22.4 (cc_ssh) writes only those and
        # skips ssh_genkeytypes; ssh_deletekeys removes the image's own keys.
        expect(doc.get("ssh_deletekeys") is True, "the image's own host keys are deleted")
        files = {f["path"]: f for f in doc.get("write_files", [])}
        expect(files.get("/etc/shadowops/backstop_at", {}).get("content") == "2026-11-28T01:30:00Z\n", "backstop_at (expires_at + grace) fallback written")
        script = files.get("/usr/local/sbin/shadowops-expiry", {})
        expect(script.get("permissions") == "0755", "expiry script is executable")
        pyfile = Path(tmp) / "expiry.py"
        pyfile.write_text(script.get("content", ""), encoding="utf-8")
        try:
            py_compile.compile(str(pyfile), doraise=True)
            compiled = True
        except py_compile.PyCompileError:
            compiled = False
        expect(compiled, "expiry script compiles")
        expect("/etc/systemd/system/shadowops-expiry.timer" in files, "expiry timer unit written")
        expect(["systemctl", "enable", "--now", "shadowops-expiry.timer"] in doc.get("runcmd", []), "expiry timer enabled at first boot")

        errors = sorted(Draft4Validator(cloud_init_schema()).iter_errors(doc), key=lambda e: list(e.path))
        for err in errors:
            print(f"     {'/'.join(map(str, err.path)) or '(root)'}: {err.message[:200]}")
        expect(not errors, "user data validates against cloud-init 22.4 schema-cloud-config-v1.json (Debian 12)")

    print(f"user-data: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
