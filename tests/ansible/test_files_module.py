#!/usr/bin/env python3
"""Tests of the playbook's own module shadowops.host.files
(ansible/collections/ansible_collections/shadowops/host/plugins/modules/files.py),
run as Ansible runs it on a host: the module file executed by Python with
its arguments in a JSON file. Needs ansible-core (the project venv).

`.venv/bin/python tests/ansible/test_files_module.py`
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "ansible/collections/ansible_collections/shadowops/host/plugins/modules/files.py"
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
SECRET = "s3cret-value-never-shown"


def run(files, check_mode=False):
    args = {"files": files, "_ansible_check_mode": check_mode}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    try:
        p = subprocess.run([sys.executable, str(MODULE), f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    out = p.stdout + p.stderr
    assert SECRET not in out, f"the module printed a file's content: {out}"
    return json.loads(p.stdout)


class FilesModule(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())

    def spec(self, name, content, mode="0640"):
        return {"dest": str(self.dir / name), "content": content, "owner": USER, "group": GROUP, "mode": mode}

    def test_writes_then_changes_nothing(self):
        files = [self.spec("a.cfg", f"key = {SECRET}\n"), self.spec("b.env", "X=1\n", "0600")]
        r = run(files)
        self.assertTrue(r["changed"], r)
        self.assertEqual(sorted(r["changed_files"]), sorted(f["dest"] for f in files))
        self.assertEqual((self.dir / "a.cfg").read_text(), f"key = {SECRET}\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.dir / "a.cfg").st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(self.dir / "b.env").st_mode), 0o600)
        again = run(files)
        self.assertFalse(again["changed"], again)
        self.assertEqual(again["changed_files"], [])
        self.assertEqual(sorted(os.listdir(self.dir)), ["a.cfg", "b.env"], "no temporary file left")

    def test_only_what_differs(self):
        files = [self.spec("a.cfg", "one\n"), self.spec("b.env", "two\n")]
        run(files)
        inode_b = os.stat(self.dir / "b.env").st_ino
        files[0]["content"] = "one, changed\n"
        r = run(files)
        self.assertEqual(r["changed_files"], [files[0]["dest"]])
        self.assertEqual(os.stat(self.dir / "b.env").st_ino, inode_b, "an equal file was rewritten")

    def test_mode_alone_changes_in_place(self):
        files = [self.spec("a.cfg", "one\n", "0644")]
        run(files)
        inode = os.stat(self.dir / "a.cfg").st_ino
        files[0]["mode"] = "0600"
        r = run(files)
        self.assertTrue(r["changed"])
        st = os.stat(self.dir / "a.cfg")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_ino, inode)

    def test_check_mode_reports_and_writes_nothing(self):
        r = run([self.spec("a.cfg", "one\n")], check_mode=True)
        self.assertTrue(r["changed"])
        self.assertFalse((self.dir / "a.cfg").exists())

    def test_errors_name_the_file(self):
        missing = {"dest": str(self.dir / "nope" / "a.cfg"), "content": "content of a file", "mode": "0600", "owner": USER, "group": GROUP}
        r = run([missing])
        self.assertTrue(r.get("failed"), r)
        self.assertIn("nope/a.cfg: its directory does not exist", r["msg"])
        bad_group = self.spec("a.cfg", "content of a file")
        bad_group["group"] = "no-such-group-shadowops"
        r = run([bad_group])
        self.assertTrue(r.get("failed"), r)
        self.assertIn("no group 'no-such-group-shadowops'", r["msg"])
        bad_mode = self.spec("a.cfg", "content of a file", "rw-r")
        r = run([bad_mode])
        self.assertIn("is not octal", r["msg"])
        self.assertFalse((self.dir / "a.cfg").exists())


if __name__ == "__main__":
    unittest.main(verbosity=2)
