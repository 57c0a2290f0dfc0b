#!/usr/bin/env bash
# Install R, rJava, testthat, a headless JRE and the PostgreSQL JDBC driver from
# Debian apt: what the bundled pipeline's R tasks and tests need on this machine.
# CRAN is unreachable here, so everything comes from Debian packages (facts.md).
# Idempotent: when every package is already installed it only checks and exits.
set -euo pipefail

packages=(
  r-base-core
  r-cran-rjava
  r-cran-dbi
  r-cran-testthat
  default-jre-headless
  libpostgresql-jdbc-java
)

missing=()
for pkg in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for fully installed packages.
  if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup-r: all R packages already installed" >&2
  exit 0
fi

if [[ $EUID -eq 0 ]]; then
  sudo=()
else
  sudo=(sudo)
fi

echo "setup-r: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
echo "setup-r: done" >&2
