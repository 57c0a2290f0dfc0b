#!/usr/bin/env bash
# Test the warehouse package and the bundled pipeline (pipeline/example):
#   1. R tests (testthat) against a throwaway PostgreSQL 15 cluster on
#      127.0.0.1 that this script creates in a temp dir and removes on exit:
#      first shadowopsdb's own (the DBI backend the hosts get, installed here
#      into the repo's .r-lib), then the example's (analysis functions and
#      the tasks end to end);
#   2. the DAG tests (pytest with Airflow, in the project venv): integrity
#      (imports, tasks, order, settings), then the whole DAG run twice with
#      `airflow dags test` against that database and a local SMTP sink: the
#      example must mail its summary, the broken fixture must fail at analyse
#      and mail nothing.
# Closes with one line "N passed, N failed" over both; exits 1 on any failure.
#
# Installs what it needs (R via scripts/setup-r.sh, PostgreSQL 15 via apt,
# Airflow + pytest into .venv with constraints/airflow.txt); quick when done.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.venv"
pipeline_tests="pipeline/example/tests/testthat"
rpkg="ansible/roles/r/files/shadowopsdb"

log() { echo "test-pipeline: $*" >&2; }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# --- tools --------------------------------------------------------------------

scripts/setup-r.sh

# shadowopsdb into a repo-local library (gitignored), always from the
# working tree (a pure-R package installs in a few seconds). R_LIBS reaches
# every R process below, also the Rscript tasks that Airflow starts.
export R_LIBS="$repo/.r-lib"
mkdir -p "$R_LIBS"
log "installing $rpkg into $R_LIBS"
R CMD INSTALL --no-docs --no-multiarch --library="$R_LIBS" "$rpkg" >"$R_LIBS/install.log" 2>&1 \
  || { cat "$R_LIBS/install.log" >&2; log "R CMD INSTALL $rpkg failed"; exit 1; }

pg_bin=""
find_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/15/bin "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"; do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/createdb" ]]; then
      pg_bin="$dir"
      return 0
    fi
  done
  return 1
}
if ! find_pg_bin; then
  log "installing postgresql-15 (server binaries for the test warehouse)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >&2
  find_pg_bin || { log "PostgreSQL 15 binaries not found after install"; exit 1; }
fi

[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
# Reinstall only when a pinned requirement is missing or at another version.
if ! "$venv/bin/python" - requirements/pipeline-test.txt <<'PY'
import re, sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
    if not m:
        continue
    try:
        if version(m.group(1)) != m.group(3):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  log "installing requirements/pipeline-test.txt into $venv (constraints/airflow.txt)"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    -r requirements/pipeline-test.txt -c constraints/airflow.txt >&2
fi

# --- throwaway PostgreSQL 15 ------------------------------------------------------

work="$(mktemp -d -t shadowops-pipeline-test.XXXXXX)"
pg_data="$work/pg/data"
pg_user=()
# initdb and postgres refuse to run as root: run them as the postgres user.
if [[ $EUID -eq 0 ]]; then
  pg_user=(runuser -u postgres --)
fi

cleanup() {
  local rc=$?
  if [[ -f "$pg_data/postmaster.pid" ]]; then
    "${pg_user[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

umask 077
mkdir -p "$work/pg"
python3 -c 'import secrets; print(secrets.token_hex(16))' >"$work/pg/pwfile"
password="$(cat "$work/pg/pwfile")"
if [[ $EUID -eq 0 ]]; then
  # postgres may traverse $work (not list it) and owns only its own pg/ folder.
  chmod 711 "$work"
  chown -R postgres: "$work/pg"
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

log "starting PostgreSQL 15 on 127.0.0.1:$port ($pg_bin)"
"${pg_user[@]}" "$pg_bin/initdb" -D "$pg_data" -U shadow --pwfile="$work/pg/pwfile" \
  --auth=scram-sha-256 -E UTF8 --no-instructions >/dev/null
"${pg_user[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg" start >/dev/null

# The password reaches createdb through a 0600 passfile, never argv.
printf '127.0.0.1:%s:*:shadow:%s\n' "$port" "$password" >"$work/pgpass"
PGPASSFILE="$work/pgpass" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U shadow analytics

settings="$work/warehouse.dcf"
cat >"$settings" <<DCF
jdbc_url: jdbc:postgresql://127.0.0.1:$port/analytics
driver_class: org.postgresql.Driver
driver_jar: /usr/share/java/postgresql.jar
user: shadow
password: $password
DCF

# --- tests ----------------------------------------------------------------------

log "R tests ($rpkg/tests/testthat, then $pipeline_tests)"
set +e
SHADOW_TEST_WAREHOUSE_SETTINGS="$settings" Rscript tests/pipeline/run_r_tests.R "$rpkg/tests/testthat" \
  | tee "$work/r-pkg-tests.log"
r_pkg_rc=${PIPESTATUS[0]}
SHADOW_TEST_WAREHOUSE_SETTINGS="$settings" Rscript tests/pipeline/run_r_tests.R "$pipeline_tests" \
  | tee "$work/r-tests.log"
r_rc=${PIPESTATUS[0]}
set -e

log "DAG tests (tests/pipeline: integrity, and full runs with airflow dags test)"
set +e
SHADOW_TEST_WAREHOUSE_SETTINGS="$settings" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$work/pytest.xml" tests/pipeline
py_rc=$?
set -e

# Totals over both suites for the closing line.
# Each R suite's closing "N passed, N failed" line; a suite without one
# (it crashed) counts as one failure.
r_totals() {
  local passed failed
  read -r passed failed < <(
    sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$1" | tail -n 1)
  : "${passed:=0}" "${failed:=1}"
  if (($2 != 0 && failed == 0)); then failed=1; fi
  echo "$passed $failed"
}
read -r pkg_passed pkg_failed < <(r_totals "$work/r-pkg-tests.log" "$r_pkg_rc")
read -r ex_passed ex_failed < <(r_totals "$work/r-tests.log" "$r_rc")
r_passed=$((pkg_passed + ex_passed))
r_failed=$((pkg_failed + ex_failed))
read -r py_passed py_failed < <("$venv/bin/python" - "$work/pytest.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1)
    sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
total = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(total - failed - skipped, failed)
PY
)
if ((py_rc != 0 && py_failed == 0)); then py_failed=1; fi

log "R: $r_passed passed, $r_failed failed; DAG: $py_passed passed, $py_failed failed"
echo "$((r_passed + py_passed)) passed, $((r_failed + py_failed)) failed"
if ((r_failed + py_failed > 0)); then
  exit 1
fi
