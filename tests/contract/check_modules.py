#!/usr/bin/env python3
"""Offline structural validation of Terraform root modules and their children.

`terraform validate` needs the provider's schema, and the AWS provider cannot
be downloaded on our machines. This covers what can be checked from the HCL
alone (parsed with bc-python-hcl2, checkov's parser):

  * every variable has a type, a description and at least one validation;
  * every output has a description;
  * every module call passes only variables the child declares, and every
    child variable without a default;
  * every `var.X`, `local.X` and `module.M.O` reference resolves.

It also counts resource blocks across the module tree (`--count`).

Usage: check_modules.py [--count] ROOT_MODULE_DIR...
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2  # bc-python-hcl2 (requirements/static.txt)

COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#|//)[^\n]*|/\*.*?\*/', re.S)


def strip_comments(text: str) -> str:
    """Drop comments, and reduce string literals to their interpolations, so
    that only real references are scanned ("see scripts/setup-local.sh" in a
    description is not a reference to local.sh)."""

    def keep(m: re.Match) -> str:
        token = m.group(0)
        if token.startswith('"'):
            return " ".join(re.findall(r"\$\{[^}]*\}", token))
        return ""

    return COMMENT.sub(keep, text)


def first(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


class Module:
    def __init__(self, path: Path):
        self.path = path
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.locals: set[str] = set()
        self.calls: dict[str, dict] = {}
        self.resources: list[tuple[str, str, str]] = []  # (type, name, count|for_each|"")
        self.data: list[tuple[str, str]] = []
        self.text = ""
        for tf in sorted(path.glob("*.tf")):
            raw = tf.read_text(encoding="utf-8")
            self.text += strip_comments(raw) + "\n"
            parsed = hcl2.loads(raw)
            for block in parsed.get("variable", []):
                self.variables.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)
            for block in parsed.get("locals", []):
                self.locals.update(k for k in block if not k.startswith("__"))
            for block in parsed.get("module", []):
                self.calls.update(block)
            for block in parsed.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        meta = "count" if "count" in body else "for_each" if "for_each" in body else ""
                        self.resources.append((rtype, name, meta))
            for block in parsed.get("data", []):
                for dtype, named in block.items():
                    for name in named:
                        self.data.append((dtype, name))


def check_tree(root: Path, problems: list[str], seen: dict[Path, Module]) -> Module:
    path = root.resolve()
    if path in seen:
        return seen[path]
    mod = Module(path)
    seen[path] = mod
    rel = root

    for name, var in mod.variables.items():
        for field in ("type", "description"):
            if field not in var:
                problems.append(f"{rel}: variable {name} has no {field}")
        if "validation" not in var:
            problems.append(f"{rel}: variable {name} has no validation block")
    for name, out in mod.outputs.items():
        if "description" not in out:
            problems.append(f"{rel}: output {name} has no description")

    for ref in sorted(set(re.findall(r"\bvar\.([A-Za-z_][\w-]*)", mod.text))):
        if ref not in mod.variables:
            problems.append(f"{rel}: var.{ref} is not declared")
    for ref in sorted(set(re.findall(r"\blocal\.([A-Za-z_][\w-]*)", mod.text))):
        if ref not in mod.locals:
            problems.append(f"{rel}: local.{ref} is not declared")

    children: dict[str, Module] = {}
    for call, body in mod.calls.items():
        source = first(body.get("source"))
        if not isinstance(source, str) or not source.startswith("./"):
            problems.append(f"{rel}: module {call} must use a local ./ source (got {source!r})")
            continue
        child = check_tree(root / source, problems, seen)
        children[call] = child
        args = {k for k in body if k not in ("source", "version", "providers", "depends_on", "count", "for_each") and not k.startswith("__")}
        for arg in sorted(args - set(child.variables)):
            problems.append(f"{rel}: module {call} passes {arg}, which {source} does not declare")
        for name, var in child.variables.items():
            if "default" not in var and name not in args:
                problems.append(f"{rel}: module {call} does not pass required variable {name}")

    for call, out in sorted(set(re.findall(r"\bmodule\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)", mod.text))):
        if call not in children:
            if call not in mod.calls:
                problems.append(f"{rel}: module.{call} is not declared")
            continue
        if out not in children[call].outputs:
            problems.append(f"{rel}: module.{call}.{out} is not an output of {first(mod.calls[call]['source'])}")
    return mod


def count_resources(root: Path) -> str:
    seen: dict[Path, Module] = {}
    check_tree(root, [], seen)
    blocks = [(m.path, r) for m in seen.values() for r in m.resources]
    data = sum(len(m.data) for m in seen.values())
    multi = [f"{r[0]}.{r[1]} ({r[2]})" for _, r in blocks if r[2]]
    text = f"{root}: {len(blocks)} resource blocks in {len(seen)} modules, {data} data sources"
    if multi:
        text += f"; with count/for_each: {', '.join(multi)}"
    counted = sorted(f"module.{name}" for m in seen.values() for name, body in m.calls.items() if "count" in body or "for_each" in body)
    if counted:
        text += f"; modules with count/for_each: {', '.join(counted)}"
    return text


def main(argv: list[str]) -> int:
    count = "--count" in argv
    roots = [Path(a) for a in argv if a != "--count"]
    if not roots:
        print(__doc__, file=sys.stderr)
        return 2
    failed = 0
    for root in roots:
        if count:
            print(count_resources(root))
            continue
        problems: list[str] = []
        seen: dict[Path, Module] = {}
        check_tree(root, problems, seen)
        if problems:
            failed += 1
            print(f"FAIL {root} ({len(seen)} modules)")
            for line in problems:
                print(f"     {line}")
        else:
            print(f"ok   {root} ({len(seen)} modules: variables typed, described, validated; references resolve)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
