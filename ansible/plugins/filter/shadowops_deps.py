# Filters for the pipeline role's dependency tasks (issue 14): what a
# pipeline folder asks for (DESCRIPTION, renv.lock, requirements.txt), and
# the one line that explains why pip or uv could not resolve a requirements
# file against Airflow's constraints. Pure functions of text, so that they
# run on the controller without touching the host, and are unit-tested
# without Ansible (tests/ansible/test_deps_filters.py).
from __future__ import annotations

import json
import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # unit tests run without Ansible
    class AnsibleFilterError(ValueError):
        pass

# Packages that ship with R itself (r-base-core on Debian): always there,
# never installed. The recommended packages (Matrix, MASS, lattice...) are
# *not* here: r-base-core without recommends lacks them, and Debian has
# each as r-cran-<name>.
R_BASE_PACKAGES = frozenset({
    "base", "compiler", "datasets", "grDevices", "graphics", "grid", "methods",
    "parallel", "splines", "stats", "stats4", "tcltk", "tools", "utils",
})
# Not needed on the host: the pipeline's code is run, not restored into a
# renv project library (and Debian has no r-cran-renv).
R_LOCK_SKIP = frozenset({"renv"})
# An R package name (Writing R Extensions 1.1.1).
R_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$")
# "pkg", "pkg (>= 1.0)"; an entry may span lines.
R_ENTRY = re.compile(r"^([^\s(]+)\s*(?:\(\s*([<>=!]+)\s*([^)\s]+)\s*\))?$")


def parse_dcf(text):
    """The first record of a Debian control file (R's DESCRIPTION) as a dict.

    Continuation lines (leading whitespace) extend the previous field.
    """
    fields = {}
    key = None
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            if fields:
                break  # end of the first record
            continue
        if line[0] in " \t":
            if key is None:
                raise AnsibleFilterError(f"DESCRIPTION line {n}: continuation line before any field")
            fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name:
            raise AnsibleFilterError(f"DESCRIPTION line {n}: expected 'Field: value', got {line.strip()!r}")
        key = name
        fields[key] = value.strip()
    return fields


def r_description_deps(text):
    """Depends + Imports of a DESCRIPTION: [{name, op, version, field}].

    `R` itself and the packages that come with R are left out (see
    r_description_r for the R version constraint).
    """
    out = []
    fields = parse_dcf(text)
    for field in ("Depends", "Imports"):
        for entry, name, op, version in _r_entries(fields.get(field, ""), field):
            if name == "R" or name in R_BASE_PACKAGES:
                continue
            out.append({"name": name, "op": op, "version": version, "field": field})
    return out


def r_description_r(text):
    """The `R (>= x)` constraint of Depends, as {op, version}, or {}."""
    for entry, name, op, version in _r_entries(parse_dcf(text).get("Depends", ""), "Depends"):
        if name == "R" and op:
            return {"op": op, "version": version}
    return {}


def _r_entries(value, field):
    for raw in value.split(","):
        entry = " ".join(raw.split())
        if not entry:
            continue
        m = R_ENTRY.match(entry)
        if not m or not (m.group(1) == "R" or R_NAME.match(m.group(1))):
            raise AnsibleFilterError(f"DESCRIPTION {field}: cannot read {entry!r} (expected 'pkg' or 'pkg (>= 1.0)')")
        yield entry, m.group(1), m.group(2) or "", m.group(3) or ""


def renv_lock_deps(text):
    """The packages of an renv.lock: [{name, version}], renv and R's own left out."""
    try:
        lock = json.loads(text)
    except ValueError as e:
        raise AnsibleFilterError(f"renv.lock is not valid JSON: {e}") from None
    packages = lock.get("Packages") if isinstance(lock, dict) else None
    if not isinstance(packages, dict):
        raise AnsibleFilterError("renv.lock has no 'Packages' object")
    out = []
    for key, rec in sorted(packages.items()):
        if not isinstance(rec, dict):
            raise AnsibleFilterError(f"renv.lock: Packages.{key} is not an object")
        name = rec.get("Package", key)
        version = rec.get("Version")
        if not isinstance(name, str) or not R_NAME.match(name) or not isinstance(version, str) or not version:
            raise AnsibleFilterError(f"renv.lock: Packages.{key} needs a valid Package name and a Version")
        if name in R_BASE_PACKAGES or name in R_LOCK_SKIP:
            continue
        out.append({"name": name, "version": version})
    return out


def renv_lock_r(text):
    """The R version an renv.lock was made with, or ''."""
    lock = json.loads(text)
    r = lock.get("R") if isinstance(lock, dict) else None
    return str(r.get("Version", "")) if isinstance(r, dict) else ""


def r_requirements(description=None, renv_lock=None):
    """What the pipeline's R code needs, from either or both files.

    Returns {packages: [{name, constraint, locked, wanted_by}], r: {constraint, locked}},
    packages sorted by name; `constraint` is DESCRIPTION's ('>= 1.0' or ''),
    `locked` the renv.lock version ('' when not locked).
    """
    merged = {}

    def entry(name):
        return merged.setdefault(name, {"name": name, "constraint": "", "locked": "", "wanted_by": []})

    r = {"constraint": "", "locked": ""}
    if description:
        for dep in r_description_deps(description):
            e = entry(dep["name"])
            if dep["op"]:
                e["constraint"] = f"{dep['op']} {dep['version']}"
            e["wanted_by"].append(f"DESCRIPTION {dep['field']}")
        rc = r_description_r(description)
        if rc:
            r["constraint"] = f"{rc['op']} {rc['version']}"
    if renv_lock:
        for dep in renv_lock_deps(renv_lock):
            e = entry(dep["name"])
            e["locked"] = dep["version"]
            e["wanted_by"].append("renv.lock")
        r["locked"] = renv_lock_r(renv_lock)
    return {"packages": [merged[k] for k in sorted(merged, key=str.lower)], "r": r}


def r_apt_name(name):
    """Debian's binary package name for an R package (r-cran-<lowercased>)."""
    return "r-cran-" + name.lower()


def r_check_args(needs):
    """The argv tail of pipeline_r_check_script: NAME CONSTRAINT LOCKED per package (R first)."""
    args = []
    r = needs.get("r") or {}
    if r.get("constraint") or r.get("locked"):
        args += ["R", r.get("constraint", ""), r.get("locked", "")]
    for p in needs.get("packages", []):
        args += [p["name"], p.get("constraint", ""), p.get("locked", "")]
    return args


# Where Debian's R puts what: the library a package loads from says how it
# came (stable across runs, unlike "installed just now").
R_LIBRARIES = (
    ("/usr/lib/R/library", "r-base-core"),
    ("/usr/lib/R/site-library", "debian"),
    ("/usr/local/lib/R/site-library", "repository"),
)


def r_check_rows(lines):
    """Parse pipeline_r_check_script's output: [{name, version, library, source, constraint, locked, note}]."""
    rows = []
    for line in lines or []:
        if not line.strip():
            continue
        f = (line.split("\t") + [""] * 6)[:6]
        lib = f[2].rstrip("/")
        source = "" if not f[1] else next((label for prefix, label in R_LIBRARIES if lib == prefix), lib)
        if f[0] == "R":
            source = "r-base-core"
        rows.append({"name": f[0], "version": f[1], "library": lib, "source": source,
                     "constraint": f[3], "locked": f[4], "note": f[5]})
    return rows


def r_missing(lines):
    """Names (not R) that pipeline_r_check_script found R cannot load."""
    return [r["name"] for r in r_check_rows(lines) if r["name"] != "R" and not r["version"]]


def r_report(lines):
    """What pipeline_r_report_file holds: {R, packages: {name: {...}}, differences}."""
    rows = r_check_rows(lines)
    report = {"R": {}, "packages": {}, "differences": []}
    for r in rows:
        rec = {k: r[k] for k in ("version", "source", "constraint", "locked") if r[k]}
        if r["name"] == "R":
            report["R"] = rec
        else:
            report["packages"][r["name"]] = rec
        if r["note"]:
            report["differences"].append(r["note"])
    return report


def r_repo_lookup(lines):
    """Parse pipeline_r_repo_lookup_script: {repos: [{url, reachable, detail}], found: {name: url}, needs: [name]}."""
    repos, found, needs = [], {}, []
    for line in lines or []:
        f = line.split("\t")
        if f[0] == "reachable" and len(f) >= 3:
            repos.append({"url": f[1], "reachable": True, "detail": f"{f[2]} packages"})
        elif f[0] == "unreachable" and len(f) >= 2:
            repos.append({"url": f[1], "reachable": False, "detail": _short_r_error(" ".join(f[2:]))})
        elif f[0] == "found" and len(f) >= 3:
            found.setdefault(f[1], f[2])
        elif f[0] == "needs" and len(f) >= 2 and f[1] not in needs:
            needs.append(f[1])
    return {"repos": repos, "found": found, "needs": needs}


def _short_r_error(message):
    """R's download error without the URL: libcurl's status, or the message."""
    message = " ".join(message.split())
    m = re.search(r"status was '(.*)'", message)
    if m:
        return m.group(1)
    m = re.search(r"cannot open URL '[^']*'(?:: (.*))?$", message)
    if m:
        return m.group(1) or "cannot open URL"
    return message or "no answer"


def r_unavailable_message(missing, needs, lookup=None, repos=None, timed_out=False):
    """The one message that fails the play when R packages cannot be had."""
    lookup = lookup or {"repos": [], "found": {}, "needs": []}
    wanted = {p["name"]: p.get("wanted_by", []) for p in (needs or {}).get("packages", [])}
    names = ", ".join(f"{n} ({', '.join(wanted[n])})" if wanted.get(n) else n for n in missing)
    debs = ", ".join(r_apt_name(n) for n in missing)
    if timed_out:
        status = "the lookup timed out"
    elif lookup["repos"]:
        status = "; ".join(
            f"{r['url']}: " + ("reachable, does not have it" if r["reachable"] else f"unreachable ({r['detail']})")
            for r in lookup["repos"])
    elif repos:
        status = "not asked"
    else:
        status = "none configured"
    one = len(missing) == 1
    return (
        f"The pipeline needs {'an R package' if one else 'R packages'} that cannot be had: {names}. "
        f"Debian bookworm has no {debs}, and no repository of [r] repos in shadowops.toml offers "
        f"{'it' if one else 'them'} ({status}). "
        f"Provide {'it' if one else 'each'} by one of: a reachable CRAN-like repository (an internal mirror) "
        f"in [r] repos; the Debian package that provides it in [r] apt; a host image that has it "
        f"(shadowops bake); or remove it from DESCRIPTION/renv.lock."
    )


def requirement_lines(text):
    """The requirement lines of a requirements.txt (comments and blank lines dropped)."""
    out = []
    for raw in (text or "").splitlines():
        line = "" if raw.lstrip().startswith("#") else raw.split(" #", 1)[0].strip()
        if line:
            out.append(line)
    return out


def requirements_problems(text):
    """Lines of a requirements.txt that cannot be installed from the file alone.

    The file is copied to the host and resolved there (or on the controller
    into a wheelhouse) on its own: options such as -r/-c/-e/--index-url and
    local paths have nothing to point at. Returns ['line N: ...'].
    """
    problems = []
    for n, raw in enumerate((text or "").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            problems.append(f"line {n}: option {line.split()[0]!r} is not supported (list requirements only)")
        elif line.startswith((".", "/", "file:")) or re.match(r"^[A-Za-z]:\\", line):
            problems.append(f"line {n}: local path {line!r} is not supported (publish it or vendor a wheel)")
    return problems


def resolver_error(text, requirements="requirements.txt"):
    """One line out of pip's or uv's resolver failure.

    pip: "Cannot install X because ... / The conflict is caused by: <lines> /
    ... No matching distribution found for X"; uv: "No solution found ...
    Because <sentence>, we can conclude ...". Falls back to the last error
    line, then to the last non-empty line.
    """
    lines = [l.rstrip() for l in (text or "").splitlines()]
    # pip: the conflict block.
    for i, line in enumerate(lines):
        if line.strip() == "The conflict is caused by:":
            causes = []
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    break
                causes.append(_pip_cause(nxt.strip(), requirements))
            head = next((l for l in lines if "Cannot install" in l), "")
            m = re.search(r"Cannot install (.+?) because", head)
            what = m.group(1) if m else "the requirements"
            what = re.sub(r"-r \S+ \(line (\d+)\)", lambda mm: f"{requirements} line {mm.group(1)}", what)
            return f"{what} conflicts with Airflow's constraints: " + "; ".join(causes)
    # pip: nothing satisfies a requirement.
    for line in lines:
        m = re.search(r"No matching distribution found for (.+)$", line)
        if m:
            versions = next((re.search(r"\(from versions: ([^)]*)\)", l) for l in lines
                             if "Could not find a version that satisfies" in l), None)
            have = f" (available: {_short_versions(versions.group(1))})" if versions else ""
            return f"no installable wheel of {m.group(1).strip()} for the host (CPython 3.11, manylinux x86_64){have}"
    # uv: "Because ..., we can conclude ..." sentences.
    body = " ".join(l.strip().lstrip("╰─▶").strip() for l in lines if l.strip())
    m = re.search(r"(Because .*)$", body)
    if m:
        sentence = m.group(1)
        sentence = re.sub(r"\s*(hint|help):.*$", "", sentence)
        return "cannot install the requirements under Airflow's constraints: " + " ".join(sentence.split())
    # uv: "error: WHAT" then "cause: ..." lines, outermost first.
    for i, line in enumerate(lines):
        if re.match(r"^\s*error:", line):
            causes = [re.sub(r"^\s*cause:\s*", "", l) for l in lines[i + 1:] if re.match(r"^\s*cause:", l)]
            what = re.sub(r"^\s*error:\s*", "", line)
            if causes:
                what += f": {causes[0]}" + (f" ({causes[-1]})" if len(causes) > 1 else "")
            return what
    errors = [l.strip() for l in lines if re.match(r"^\s*(ERROR|error|×)", l)]
    if errors:
        return re.sub(r"^(ERROR:|error:|×)\s*", "", errors[-1])
    rest = [l.strip() for l in lines if l.strip()]
    return rest[-1] if rest else "no output"


def _pip_cause(line, requirements):
    line = re.sub(r"^The user requested \(constraint\) ", "Airflow's constraints pin ", line)
    line = re.sub(r"^The user requested ", f"{requirements} asks for ", line)
    return line


def _short_versions(versions):
    vs = [v.strip() for v in versions.split(",") if v.strip()]
    if not vs:
        return "none"
    return ", ".join(vs) if len(vs) <= 6 else ", ".join(vs[:2] + ["..."] + vs[-3:])


class FilterModule:
    def filters(self):
        return {
            "shadowops_r_requirements": r_requirements,
            "shadowops_r_apt_name": r_apt_name,
            "shadowops_r_check_args": r_check_args,
            "shadowops_r_missing": r_missing,
            "shadowops_r_report": r_report,
            "shadowops_r_repo_lookup": r_repo_lookup,
            "shadowops_r_unavailable_message": r_unavailable_message,
            "shadowops_requirement_lines": requirement_lines,
            "shadowops_requirements_problems": requirements_problems,
            "shadowops_resolver_error": resolver_error,
        }
