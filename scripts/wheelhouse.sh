#!/usr/bin/env bash
# Fills the machine-wide wheelhouse with every wheel the airflow role installs
# on a host (CPython 3.11, manylinux x86_64: Debian 12 on both targets), so
# that local envs install Airflow with `uv pip install --no-index` in seconds
# and without reaching PyPI from inside the env network.
#
# Versions come from constraints/airflow.txt only. Idempotent: when a stamp
# keyed on the constraints' hash is present the script exits at once.
#
#   SHADOWOPS_CACHE   cache root (default $XDG_CACHE_HOME/shadowops or ~/.cache/shadowops)
#   prints the wheelhouse path on stdout; progress on stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
constraints="$repo/constraints/airflow.txt"
cache="${SHADOWOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shadowops}"
wheelhouse="$cache/wheelhouse"

# What the airflow role installs (keep in sync with
# ansible/roles/airflow/defaults/main.yml: airflow_pip_requirements).
requirements=("apache-airflow[postgres]" "apache-airflow-providers-smtp" "uv")

# The stamp covers the constraints, the requirement list and this script's
# target tags: change any of them and the download runs again.
key="$( { cat "$constraints"; printf '%s\n' "${requirements[@]}" cp311-manylinux-x86_64; } | sha256sum | cut -d' ' -f1)"
stamp="$wheelhouse/.complete-$key"

if [[ -f "$stamp" ]]; then
    printf '%s\n' "$wheelhouse"
    exit 0
fi

mkdir -p "$wheelhouse"
echo "wheelhouse: downloading Airflow wheels into $wheelhouse (a few minutes the first time)" >&2

# pip treats explicit --platform tags literally, so list every manylinux tag a
# Debian 12 host (glibc 2.36) accepts; --only-binary because nothing may be
# built on the host.
platforms=()
for tag in manylinux1 manylinux2010 manylinux2014 \
           manylinux_2_5 manylinux_2_12 manylinux_2_17 manylinux_2_24 \
           manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux_2_36; do
    platforms+=(--platform "${tag}_x86_64")
done

# PIP_FIND_LINKS from the environment would let pip pick wheels of unknown
# origin: the wheelhouse must come from the index only.
env -u PIP_FIND_LINKS python3 -m pip download \
    --disable-pip-version-check --quiet \
    --dest "$wheelhouse" \
    --only-binary=:all: \
    --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
    "${platforms[@]}" \
    --constraint "$constraints" \
    "${requirements[@]}"

# Older stamps belong to other constraint versions.
rm -f "$wheelhouse"/.complete-*
touch "$stamp"
echo "wheelhouse: $(find "$wheelhouse" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)" >&2
printf '%s\n' "$wheelhouse"
