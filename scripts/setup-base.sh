#!/usr/bin/env bash
# The basics every other setup script assumes on a fresh Debian 12 machine:
# an apt index (once), git/ssh/python venv support, and the project venv.
# Idempotent and quick when done.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHADOWOPS_VENV:-$repo/.venv}"
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -- "$@"; fi; }

need=()
for p in openssh-client ca-certificates procps; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || need+=("$p")
done
if ((${#need[@]})); then
    echo "setup-base: apt-get install ${need[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
command -v cargo >/dev/null || { echo "setup-base: cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
[[ -x "$venv/bin/python" ]] || { echo "setup-base: creating $venv" >&2; python3 -m venv "$venv"; }
[[ -f "$repo/terraform/cli.tfrc" ]] || : > "$repo/terraform/cli.tfrc"
