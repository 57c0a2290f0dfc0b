#!/usr/bin/env python3
"""scripts/junit-run.py: exit status passed through; cargo tests, static-check
sections and the whole command each become JUnit test cases."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/junit-run.py"
FAKE = r'''echo "     Running unittests src/main.rs (target/x)"
echo "test a::b ... ok"; echo "test a::c ... FAILED"; echo "test a::d ... ignored"
echo "--- terraform fmt"; echo fine; echo "--- checkov"; echo bad
echo "static-checks: FAILED: checkov"; exit 3'''


def main() -> int:
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r" / "j.xml"
        run = subprocess.run([sys.executable, str(SCRIPT), "--suite", "s", "--out", str(out), "--", "sh", "-c", FAKE],
                             capture_output=True, text=True)
        if run.returncode != 3:
            problems.append(f"exit status {run.returncode}, want 3")
        if "test a::c ... FAILED" not in run.stdout:
            problems.append("output not passed through")
        suite = ET.parse(out).getroot()[0]
        got = {(c.get("classname"), c.get("name")): [x.tag for x in c] for c in suite}
        want = {("src/main.rs", "a::b"): [], ("src/main.rs", "a::c"): ["failure"], ("src/main.rs", "a::d"): ["skipped"],
                ("checks", "terraform fmt"): ["system-out"], ("checks", "checkov"): ["failure"]}
        for k, v in want.items():
            if got.get(k) != v:
                problems.append(f"{k}: {got.get(k)} != {v}")
        whole = [c for c in suite if c.get("classname") == "s"]
        if len(whole) != 1 or [x.tag for x in whole[0]] != ["failure"]:
            problems.append("the whole command is not one failed case")
        ok = subprocess.run([sys.executable, str(SCRIPT), "--suite", "s", "--out", str(out), "--", "true"])
        if ok.returncode != 0 or ET.parse(out).getroot()[0].get("failures") != "0":
            problems.append("a passing command is not reported as passing")
    for p in problems:
        print(f"FAIL {p}")
    print(f"junit-run: {7 - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
