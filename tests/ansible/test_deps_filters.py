#!/usr/bin/env python3
"""Unit tests of the pipeline role's dependency filters
(ansible/plugins/filter/shadowops_deps.py): DESCRIPTION and renv.lock
parsing, the R check/lookup output parsers, the failure message for R
packages that cannot be had, requirements.txt checks, and the one-line
reduction of pip's and uv's resolver errors (real outputs of pip 23.2 and
uv 0.13.9 against constraints/airflow.txt).

Runs with or without Ansible installed (`python3 tests/ansible/test_deps_filters.py`
or pytest); the real runs on a host are in docs/pipeline.md.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "ansible/plugins/filter/shadowops_deps.py"


def load():
    spec = importlib.util.spec_from_file_location("shadowops_deps", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


d = load()

DESCRIPTION = """\
Package: teampipeline
Title: A Team's Pipeline
Version: 0.1.0
Depends: R (>= 4.2),
    methods
Imports: rJava (>= 1.0), jsonlite,
    data.table (>= 1.14.0),
    stats, utils,
  Matrix
Suggests: testthat (>= 3.0.0)
LinkingTo: Rcpp
Config/testthat/edition: 3

Package: second-record-ignored
Imports: nothing
"""

RENV_LOCK = json.dumps({
    "R": {"Version": "4.3.1", "Repositories": [{"Name": "CRAN", "URL": "https://cloud.r-project.org"}]},
    "Packages": {
        "jsonlite": {"Package": "jsonlite", "Version": "1.8.8", "Source": "Repository"},
        "renv": {"Package": "renv", "Version": "1.0.7", "Source": "Repository"},
        "stats": {"Package": "stats", "Version": "4.3.1"},
        "zoo": {"Package": "zoo", "Version": "1.8-12", "Source": "Repository"},
    },
})

PIP_CONFLICT = """\
Looking in links: /opt/wheels
ERROR: Cannot install requests==2.0.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested requests==2.0.0
    The user requested (constraint) requests==2.34.2

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
"""

PIP_TRANSITIVE = """\
Collecting botocore==1.29.0 (from -r req3.txt (line 1))
  Downloading botocore-1.29.0-py3-none-any.whl (9.8 MB)
INFO: pip is looking at multiple versions of botocore to determine which version is compatible with other requirements. This could take a while.
ERROR: Cannot install -r req3.txt (line 1) because these package versions have conflicting dependencies.

The conflict is caused by:
    botocore 1.29.0 depends on python-dateutil<3.0.0 and >=2.1
    The user requested (constraint) python-dateutil==4.0.0

To fix this you could try to:
1. loosen the range of package versions you've specified
"""

PIP_MISSING = """\
ERROR: Could not find a version that satisfies the requirement notarealpyxyz==1.0 (from versions: none)
ERROR: No matching distribution found for notarealpyxyz==1.0
"""

UV_CONFLICT = """\
Using Python 3.11.2 environment at: /opt/airflow/venv
error: No solution found when resolving dependencies
  cause: Because you require requests==2.0.0 and requests==2.34.2, we can conclude that your requirements are unsatisfiable.
"""

UV_CONFLICT_TTY = """\
  × No solution found when resolving dependencies:
  ╰─▶ Because botocore==1.29.0 depends on urllib3>=1.25.4,<1.27 and urllib3==2.8.0, we can conclude that
      botocore==1.29.0 cannot be used.
      And because you require botocore==1.29.0, we can conclude that your requirements are unsatisfiable.
"""


class Description(unittest.TestCase):
    def test_depends_and_imports_without_r_and_base(self):
        deps = d.r_description_deps(DESCRIPTION)
        self.assertEqual([x["name"] for x in deps], ["rJava", "jsonlite", "data.table", "Matrix"])
        self.assertEqual(deps[2], {"name": "data.table", "op": ">=", "version": "1.14.0", "field": "Imports"})
        self.assertEqual(deps[1]["op"], "")

    def test_r_constraint(self):
        self.assertEqual(d.r_description_r(DESCRIPTION), {"op": ">=", "version": "4.2"})
        self.assertEqual(d.r_description_r("Package: x\nImports: jsonlite\n"), {})

    def test_no_fields(self):
        self.assertEqual(d.r_description_deps("Package: x\nVersion: 1\n"), [])

    def test_bad_entry_is_named(self):
        with self.assertRaisesRegex(ValueError, "Imports: cannot read 'json lite'"):
            d.r_description_deps("Package: x\nImports: json lite\n")

    def test_not_a_dcf(self):
        with self.assertRaisesRegex(ValueError, "line 1"):
            d.r_description_deps("this is not a DESCRIPTION\n")


class RenvLock(unittest.TestCase):
    def test_packages_without_renv_and_base(self):
        self.assertEqual(d.renv_lock_deps(RENV_LOCK),
                         [{"name": "jsonlite", "version": "1.8.8"}, {"name": "zoo", "version": "1.8-12"}])
        self.assertEqual(d.renv_lock_r(RENV_LOCK), "4.3.1")

    def test_invalid(self):
        with self.assertRaisesRegex(ValueError, "not valid JSON"):
            d.renv_lock_deps("{")
        with self.assertRaisesRegex(ValueError, "no 'Packages'"):
            d.renv_lock_deps("{}")
        with self.assertRaisesRegex(ValueError, "Packages.x needs"):
            d.renv_lock_deps('{"Packages": {"x": {"Package": "x"}}}')


class Requirements(unittest.TestCase):
    def test_merged_sorted_with_sources(self):
        need = d.r_requirements(DESCRIPTION, RENV_LOCK)
        names = [p["name"] for p in need["packages"]]
        self.assertEqual(names, ["data.table", "jsonlite", "Matrix", "rJava", "zoo"])
        js = need["packages"][1]
        self.assertEqual(js, {"name": "jsonlite", "constraint": "", "locked": "1.8.8",
                              "wanted_by": ["DESCRIPTION Imports", "renv.lock"]})
        self.assertEqual(need["r"], {"constraint": ">= 4.2", "locked": "4.3.1"})

    def test_either_file_alone(self):
        self.assertEqual(len(d.r_requirements("", RENV_LOCK)["packages"]), 2)
        self.assertEqual(len(d.r_requirements(DESCRIPTION, "")["packages"]), 4)
        self.assertEqual(d.r_requirements("", ""), {"packages": [], "r": {"constraint": "", "locked": ""}})

    def test_check_args_are_triples_r_first(self):
        args = d.r_check_args(d.r_requirements("Depends: R (>= 4.2)\nImports: jsonlite (>= 1.7)\n", ""))
        self.assertEqual(args, ["R", ">= 4.2", "", "jsonlite", ">= 1.7", ""])
        self.assertEqual(d.r_check_args(d.r_requirements("Imports: jsonlite\n", "")), ["jsonlite", "", ""])

    def test_apt_name(self):
        self.assertEqual(d.r_apt_name("data.table"), "r-cran-data.table")
        self.assertEqual(d.r_apt_name("RJDBC"), "r-cran-rjdbc")


# What pipeline_r_check_script printed on Debian 12 (R 4.2.2).
CHECK = [
    "R\t4.2.2\t/usr/lib/R\t>= 4.2\t4.3.1\tR 4.2.2 is installed, renv.lock has 4.3.1",
    "jsonlite\t1.8.4\t/usr/lib/R/site-library\t>= 1.9\t1.8.8\t"
    "jsonlite 1.8.4 does not meet DESCRIPTION's (>= 1.9); jsonlite 1.8.4 is installed, renv.lock has 1.8.8",
    "notarealpkgxyz\t\t\t\t\t",
    "rJava\t1.0.6\t/usr/lib/R/site-library\t>= 1.0\t\t",
    "zoo\t1.8-12\t/usr/local/lib/R/site-library/\t\t1.8-12\t",
]


class CheckOutput(unittest.TestCase):
    def test_missing(self):
        self.assertEqual(d.r_missing(CHECK), ["notarealpkgxyz"])
        self.assertEqual(d.r_missing([]), [])

    def test_report(self):
        rep = d.r_report(CHECK)
        self.assertEqual(rep["R"], {"version": "4.2.2", "source": "r-base-core", "constraint": ">= 4.2", "locked": "4.3.1"})
        self.assertEqual(rep["packages"]["rJava"], {"version": "1.0.6", "source": "debian", "constraint": ">= 1.0"})
        self.assertEqual(rep["packages"]["zoo"]["source"], "repository")
        self.assertEqual(rep["packages"]["notarealpkgxyz"], {})
        self.assertEqual(len(rep["differences"]), 2)
        self.assertIn("renv.lock has 1.8.8", rep["differences"][1])


LOOKUP = [
    "unreachable\thttps://packagemanager.posit.co/cran/__linux__/bookworm/latest\t"
    "URL 'https://packagemanager.posit.co/cran/__linux__/bookworm/latest/src/contrib/PACKAGES.rds': "
    "status was 'Couldn't resolve host name'",
    "unreachable\thttps://cloud.r-project.org\tunable to access index for repository "
    "https://cloud.r-project.org/src/contrib: cannot open URL 'https://cloud.r-project.org/src/contrib/PACKAGES'",
    "reachable\thttps://mirror.example/cran\t19000",
    "found\tzoo\thttps://mirror.example/cran\t1.8-12",
    "needs\tlattice",
]


class RepoLookup(unittest.TestCase):
    def test_parse(self):
        lk = d.r_repo_lookup(LOOKUP)
        self.assertEqual([r["reachable"] for r in lk["repos"]], [False, False, True])
        self.assertEqual(lk["repos"][0]["detail"], "Couldn't resolve host name")
        self.assertEqual(lk["repos"][1]["detail"], "cannot open URL")
        self.assertEqual(lk["found"], {"zoo": "https://mirror.example/cran"})
        self.assertEqual(lk["needs"], ["lattice"])

    def test_message_names_every_package_and_every_way(self):
        need = d.r_requirements("Imports: jsonlite, notarealpkgxyz, AlsoMissing\n", "")
        msg = d.r_unavailable_message(["AlsoMissing", "notarealpkgxyz"], need, d.r_repo_lookup(LOOKUP[:2]), ["x"])
        self.assertNotIn("\n", msg)
        for part in ("AlsoMissing (DESCRIPTION Imports)", "notarealpkgxyz (DESCRIPTION Imports)",
                     "r-cran-alsomissing, r-cran-notarealpkgxyz",
                     "https://cloud.r-project.org: unreachable (cannot open URL)",
                     "[r] repos", "[r] apt", "shadowops bake", "DESCRIPTION/renv.lock", "offers them",
                     "The pipeline needs R packages that"):
            self.assertIn(part, msg)

    def test_message_reachable_repo_and_none_configured(self):
        need = d.r_requirements("Imports: x1\n", "")
        msg = d.r_unavailable_message(["x1"], need, d.r_repo_lookup(LOOKUP[2:3]), ["https://mirror.example/cran"])
        self.assertIn("https://mirror.example/cran: reachable, does not have it", msg)
        self.assertIn("offers it", msg)
        self.assertTrue(msg.startswith("The pipeline needs an R package that cannot be had: x1 (DESCRIPTION Imports)."), msg)
        self.assertIn("(none configured)", d.r_unavailable_message(["x1"], need, None, []))
        self.assertIn("timed out", d.r_unavailable_message(["x1"], need, None, ["u"], True))


class RequirementsTxt(unittest.TestCase):
    def test_lines(self):
        text = "# comment\n\nhumanize>=4  # why\n  requests==2.34.2\n"
        self.assertEqual(d.requirement_lines(text), ["humanize>=4", "requests==2.34.2"])
        self.assertEqual(d.requirement_lines("# only comments\n"), [])

    def test_problems(self):
        text = "humanize\n-r other.txt\n--index-url https://x\n./localpkg\n# -e ignored\nfile:///tmp/x.whl\n"
        probs = d.requirements_problems(text)
        self.assertEqual(len(probs), 4)
        self.assertTrue(probs[0].startswith("line 2: option '-r'"))
        self.assertIn("line 4: local path", probs[2])
        self.assertEqual(d.requirements_problems("humanize>=4\nrequests[socks]==2.34.2 ; python_version>'3'\n"), [])


class ResolverError(unittest.TestCase):
    def test_pip_direct_conflict(self):
        self.assertEqual(
            d.resolver_error(PIP_CONFLICT),
            "requests==2.0.0 conflicts with Airflow's constraints: requirements.txt asks for requests==2.0.0; "
            "Airflow's constraints pin requests==2.34.2")

    def test_pip_transitive_conflict_names_the_line(self):
        one = d.resolver_error(PIP_TRANSITIVE, "reqs/dag.txt")
        self.assertTrue(one.startswith("reqs/dag.txt line 1 conflicts with Airflow's constraints: "), one)
        self.assertIn("botocore 1.29.0 depends on python-dateutil<3.0.0 and >=2.1", one)
        self.assertIn("Airflow's constraints pin python-dateutil==4.0.0", one)

    def test_pip_no_distribution(self):
        self.assertEqual(
            d.resolver_error(PIP_MISSING),
            "no installable wheel of notarealpyxyz==1.0 for the host (CPython 3.11, manylinux x86_64) (available: none)")

    def test_uv(self):
        self.assertEqual(
            d.resolver_error(UV_CONFLICT),
            "cannot install the requirements under Airflow's constraints: Because you require requests==2.0.0 "
            "and requests==2.34.2, we can conclude that your requirements are unsatisfiable.")
        one = d.resolver_error(UV_CONFLICT_TTY)
        self.assertNotIn("\n", one)
        self.assertIn("botocore==1.29.0 depends on urllib3>=1.25.4,<1.27 and urllib3==2.8.0", one)

    def test_uv_network_error_keeps_the_url_and_the_root_cause(self):
        text = ("Using Python 3.11.2 environment at: /opt/airflow/venv\n"
                "error: Request failed after 3 retries in 11.2s\n"
                "  cause: Failed to fetch: https://pypi.org/simple/humanize/\n"
                "  cause: error sending request for url (https://pypi.org/simple/humanize/)\n"
                "  cause: client error (Connect)\n"
                "  cause: Network is unreachable (os error 101)\n")
        self.assertEqual(d.resolver_error(text),
                         "Request failed after 3 retries in 11.2s: Failed to fetch: https://pypi.org/simple/humanize/"
                         " (Network is unreachable (os error 101))")

    def test_fallbacks(self):
        self.assertEqual(d.resolver_error("x\nerror: the wheels are not there\n"), "the wheels are not there")
        self.assertEqual(d.resolver_error("just text\n"), "just text")
        self.assertEqual(d.resolver_error(""), "no output")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"deps-filters: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
