#!/usr/bin/env python3
"""Unit tests of the AWS host's lease-expiry script (modules/compute/files).

The metadata service and `shutdown` are replaced in-process: nothing here
talks to any network address or powers anything off.
"""
from __future__ import annotations

import importlib.util
import io
import sys
import tempfile
import unittest
import urllib.error
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

SCRIPT = Path(__file__).resolve().parents[2] / "terraform/aws/modules/compute/files/shadowops-expiry.py"
PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


def load():
    spec = importlib.util.spec_from_file_location("shadowops_expiry", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ExpiryScript(unittest.TestCase):
    def run_main(self, tag, fallback):
        """Run main() with IMDS answering `tag` (None: unreachable)."""
        expiry = load()
        with tempfile.NamedTemporaryFile("w", suffix=".backstop_at", delete=False) as handle:
            handle.write(fallback + "\n")
        self.addCleanup(Path(handle.name).unlink)
        expiry.FALLBACK_FILE = handle.name

        def urlopen(req, timeout):
            self.assertTrue(req.full_url.startswith("http://169.254.169.254/"))
            if tag is None:
                raise urllib.error.URLError("unreachable in this test")
            if req.full_url.endswith("/api/token"):
                self.assertEqual(req.get_method(), "PUT")  # IMDSv2 session token
                return Response(b"token")
            self.assertEqual(req.get_header("X-aws-ec2-metadata-token"), "token")
            # The backstop fires at expires_at + backstop_grace, never at the
            # reaper's deadline itself: it reads the backstop_at tag.
            self.assertTrue(req.full_url.endswith("/meta-data/tags/instance/backstop_at"), req.full_url)
            return Response(tag.encode())

        out, err = io.StringIO(), io.StringIO()
        with mock.patch.object(expiry.urllib.request, "urlopen", urlopen), \
                mock.patch.object(expiry.subprocess, "run") as run, redirect_stdout(out), redirect_stderr(err):
            expiry.main()
        return run, out.getvalue() + err.getvalue()

    def test_powers_off_when_the_tag_says_expired(self):
        run, _ = self.run_main(tag=PAST, fallback=FUTURE)
        run.assert_called_once()
        self.assertEqual(run.call_args.args[0][:3], ["/usr/sbin/shutdown", "-h", "now"])

    def test_tag_wins_over_fallback_so_extend_works(self):
        run, out = self.run_main(tag=FUTURE, fallback=PAST)
        run.assert_not_called()
        self.assertIn("s left", out)

    def test_unreachable_imds_uses_fallback(self):
        run, out = self.run_main(tag=None, fallback=PAST)
        run.assert_called_once()
        self.assertIn("unreadable", out)

    def test_garbage_tag_uses_fallback(self):
        run, out = self.run_main(tag="next tuesday", fallback=FUTURE)
        run.assert_not_called()
        self.assertIn("not RFC 3339", out)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"expiry-script: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
