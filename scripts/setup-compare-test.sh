#!/usr/bin/env bash
# What the comparison engine's tests need (src/compare, run by `make test-rust`
# with --include-ignored): PostgreSQL 15 server binaries for a throwaway
# warehouse, and Chromium to open compare.html headless and screenshot it.
# Both from Debian apt. Idempotent: when everything is there it only checks.
set -euo pipefail

log() { echo "setup-compare-test: $*" >&2; }

missing=()
# The image may carry PostgreSQL 15 in /usr/local/bin instead of the package.
# The tests run the server as the `postgres` user when root; the package
# creates that user.
if [[ ! -x /usr/lib/postgresql/15/bin/initdb ]] && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql-15)
elif [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  missing+=(postgresql-15)
fi
if ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi

if ((${#missing[@]} == 0)); then
  log "postgresql-15 and chromium already installed"
  exit 0
fi

if [[ $EUID -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
log "done"
