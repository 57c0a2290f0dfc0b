#!/usr/bin/env python3
"""Contract shape test: every target declares the same `shadow` output.

The driver deserialises `terraform output -json shadow` into one Rust type, so
both targets must produce the same keys, recursively. This reads, without
running Terraform (the AWS provider cannot be installed here):

  * the contract sketch in docs/interfaces.md (the reference shape),
  * terraform/aws/outputs.tf and terraform/local/outputs.tf (HCL, parsed with
    bc-python-hcl2, the parser checkov itself uses; `local.X` values are
    resolved from the module's `locals` blocks),
  * tests/fixtures/contract-aws.json (a recorded AWS-shaped contract that the
    driver's rendering tests use),

and fails loudly with every key path that differs. terraform/local may not
exist yet on a fresh branch; it is then reported as skipped, not passed.

Usage: check_shape.py [REPO_ROOT]
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2  # provided by bc-python-hcl2 (requirements/static.txt)

OBJ = "object"  # marker for "this key holds an object"


# --- shapes ---------------------------------------------------------------
# A shape is {key: OBJ-shape-dict | None}; None means "a scalar (or null)".


def shape_of_value(value, resolve):
    """Shape of a parsed HCL or JSON value; `resolve` expands local refs."""
    value = resolve(value)
    if isinstance(value, dict):
        return {k: shape_of_value(v, resolve) for k, v in value.items()}
    return None


def diff(a, b, a_name, b_name, prefix=""):
    """Key paths that differ between two shapes, as human-readable lines."""
    problems = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}.{key}" if prefix else key
        if key not in b:
            problems.append(f"{path}: in {a_name}, missing from {b_name}")
        elif key not in a:
            problems.append(f"{path}: in {b_name}, missing from {a_name}")
        elif isinstance(a[key], dict) and isinstance(b[key], dict):
            problems.extend(diff(a[key], b[key], a_name, b_name, path))
        elif isinstance(a[key], dict) != isinstance(b[key], dict):
            kind = lambda s: "an object" if isinstance(s, dict) else "a scalar"  # noqa: E731
            problems.append(f"{path}: {kind(a[key])} in {a_name} but {kind(b[key])} in {b_name}")
    return problems


# --- docs/interfaces.md ---------------------------------------------------


TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}=,\n]|[^\s{}=,"]+')


def docs_shape(path: Path):
    """Parse the ```hcl contract sketch, tolerant of its `a | b` alternatives
    and `database, user` key lists (it is documentation, not HCL)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"## The contract.*?```hcl\n(.*?)```", text, re.S)
    if not match:
        raise SystemExit(f"{path}: no ```hcl block under '## The contract'")
    body = "\n".join(line.split("#", 1)[0] for line in match.group(1).splitlines())
    tokens = TOKEN.findall(body)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_object():
        obj = {}
        while True:
            tok = take()
            if tok in ("\n", ","):
                continue
            if tok == "}":
                return obj
            if tok is None or tok in "{=":
                raise SystemExit(f"{path}: cannot parse the contract sketch near {tok!r}")
            keys = [tok]
            while peek() == ",":  # `database, user` (may continue on the next line)
                take()
                while peek() == "\n":
                    take()
                if peek() in (None, "}", "{", "="):
                    break
                keys.append(take())
            if peek() == "=":
                take()
                if peek() == "{":
                    take()
                    value = parse_object()
                else:
                    value = None
                    while peek() not in ("\n", "}", None):  # skip the scalar sketch
                        take()
            else:
                value = None
            for key in keys:
                obj[key] = value

    while peek() == "\n":
        take()
    if take() != "shadow" or take() != "=" or take() != "{":
        raise SystemExit(f"{path}: the contract sketch must start with `shadow = {{`")
    return parse_object()


# --- terraform outputs.tf -------------------------------------------------


def module_locals(module_dir: Path):
    found = {}
    for tf in sorted(module_dir.glob("*.tf")):
        with tf.open(encoding="utf-8") as handle:
            for block in hcl2.load(handle).get("locals", []):
                for name, value in block.items():
                    if name.startswith("__"):  # parser bookkeeping (__start_line__)
                        continue
                    # block-level attributes come wrapped in a one-element list
                    found[name] = value[0] if isinstance(value, list) and len(value) == 1 else value
    return found


def terraform_shape(module_dir: Path):
    outputs = module_dir / "outputs.tf"
    with outputs.open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle)
    decl = None
    for block in parsed.get("output", []):
        if "shadow" in block:
            decl = block["shadow"]
    if decl is None:
        raise SystemExit(f"{outputs}: no `output \"shadow\"` block")
    if decl.get("sensitive", [False])[0] is not True:
        raise SystemExit(f"{outputs}: output shadow must be `sensitive = true` (it holds passwords)")
    locals_ = module_locals(module_dir)
    ref = re.compile(r"^\$\{local\.([A-Za-z_][A-Za-z0-9_-]*)\}$")

    def resolve(value, depth=0):
        # `value = local.contract` or `host = local.host`: follow the local.
        while isinstance(value, str) and ref.match(value) and depth < 20:
            name = ref.match(value).group(1)
            if name not in locals_:
                raise SystemExit(f"{module_dir}: output shadow refers to undefined local.{name}")
            value, depth = locals_[name], depth + 1
        return value

    value = decl["value"][0]
    return shape_of_value(value, resolve), resolve(value)


# --- main -----------------------------------------------------------------


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    passed, failed, skipped = 0, 0, 0

    def check(name, problems):
        nonlocal passed, failed
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for line in problems:
                print(f"     {line}")
        else:
            passed += 1
            print(f"ok   {name}")

    docs = docs_shape(root / "docs/interfaces.md")
    aws, aws_value = terraform_shape(root / "terraform/aws")
    check("terraform/aws shadow == docs/interfaces.md contract", diff(aws, docs, "terraform/aws", "docs"))

    # Values that are fixed on the AWS side (docs/interfaces.md).
    expect = {
        ("contract_version",): 1,
        ("target",): "aws",
        ("warehouse", "kind"): "redshift",
        ("warehouse", "jdbc_driver_class"): "com.amazon.redshift.Driver",
        ("warehouse", "jdbc_driver", "source"): "url",
        ("warehouse", "jdbc_driver", "package"): None,
        ("mail", "starttls"): True,
        ("mail", "inbox_dir"): None,
        ("packages", "apt_proxy"): None,
        ("packages", "wheelhouse"): None,
    }
    wrong = []
    for path, want in expect.items():
        got = aws_value
        for key in path:
            got = got.get(key) if isinstance(got, dict) else None
        if got != want:
            wrong.append(f"{'.'.join(path)}: expected {want!r}, found {got!r}")
    check("terraform/aws fixed contract values", wrong)

    fixture_path = root / "tests/fixtures/contract-aws.json"
    fixture = json.loads(fixture_path.read_text(encoding="utf-8"))
    check(
        "tests/fixtures/contract-aws.json == docs/interfaces.md contract",
        diff(shape_of_value(fixture, lambda v: v), docs, "fixture", "docs"),
    )

    local_dir = root / "terraform/local"
    if (local_dir / "outputs.tf").is_file():
        local, local_value = terraform_shape(local_dir)
        check("terraform/local shadow == terraform/aws shadow", diff(local, aws, "terraform/local", "terraform/aws"))
        check("terraform/local shadow == docs/interfaces.md contract", diff(local, docs, "terraform/local", "docs"))
        fixed = []
        if local_value.get("contract_version") != 1:
            fixed.append(f"contract_version: expected 1, found {local_value.get('contract_version')!r}")
        if local_value.get("target") != "local":
            fixed.append(f"target: expected 'local', found {local_value.get('target')!r}")
        check("terraform/local fixed contract values", fixed)
    else:
        skipped += 1
        print(f"skip terraform/local shadow (no {local_dir / 'outputs.tf'} yet)")

    print(f"contract: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
