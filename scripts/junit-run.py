#!/usr/bin/env python3
"""Run a command, pass its output and exit status through, and write JUnit XML.

CircleCI shows test results from JUnit files (`store_test_results`); this
gives every CI job one, whatever the command prints:

- `cargo test` output (`Running ...` then `test NAME ... ok|FAILED|ignored`):
  one test case per test, class = the test binary;
- sectioned checks (scripts/static-checks.sh: `--- NAME` starts a check,
  `static-checks: FAILED: NAME` lists the failed ones): one case per check;
- always one case for the whole command (its exit status), with the output
  tail as the failure text.

Usage: junit-run.py --suite NAME --out FILE -- COMMAND [ARGS...]
Exit status: the command's (so the CI step fails exactly when it would).
"""
from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

CARGO_RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+)")
CARGO_TEST = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")
SECTION = re.compile(r"^--- (.+)$")
SECTION_FAILED = re.compile(r"^static-checks: FAILED: (.+)$")


def parse(lines: list[str]) -> list[dict]:
    cases: list[dict] = []
    binary = "cargo"
    sections: "collections.OrderedDict[str, list[str]]" = collections.OrderedDict()
    current = None
    failed_sections: set[str] = set()
    for line in lines:
        if m := CARGO_RUNNING.match(line):
            binary = m.group(1)
            continue
        if m := CARGO_TEST.match(line):
            cases.append({"classname": binary, "name": m.group(1), "status": m.group(2)})
            continue
        if m := SECTION_FAILED.match(line):
            failed_sections.add(m.group(1).strip())
            continue
        if m := SECTION.match(line):
            current = m.group(1).strip()
            sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    for name, body in sections.items():
        status = "FAILED" if name in failed_sections else "ok"
        cases.append({"classname": "checks", "name": name, "status": status, "output": "\n".join(body[-80:])})
    return cases


def write(path: Path, suite: str, cases: list[dict], elapsed: float) -> None:
    failures = sum(c["status"] == "FAILED" for c in cases)
    skipped = sum(c["status"] == "ignored" for c in cases)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures),
                       skipped=str(skipped), errors="0", time=f"{elapsed:.1f}")
    for c in cases:
        tc = ET.SubElement(ts, "testcase", classname=c["classname"], name=c["name"])
        if c["status"] == "FAILED":
            f = ET.SubElement(tc, "failure", message=f"{c['name']} failed")
            f.text = c.get("output", "")
        elif c["status"] == "ignored":
            ET.SubElement(tc, "skipped")
        elif c.get("output"):
            ET.SubElement(tc, "system-out").text = c["output"]
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given")
    start = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    rc = proc.wait()
    elapsed = time.monotonic() - start
    cases = parse(lines)
    whole = {"classname": args.suite, "name": " ".join(cmd), "status": "ok" if rc == 0 else "FAILED",
             "output": "\n".join(lines[-200:]) if rc else ""}
    write(args.out, args.suite, cases + [whole], elapsed)
    return rc


if __name__ == "__main__":
    sys.exit(main())
