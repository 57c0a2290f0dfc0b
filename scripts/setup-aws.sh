#!/usr/bin/env bash
# Installs the AWS CLI (requirements/aws.txt) into the project venv .venv:
# the aws target's tag sweep and the warehouse module's resume-before-delete
# provisioner call it. With --emulator, also moto's server
# (requirements/aws-emulator.txt) into .venv/moto, for the tests that run
# against a local AWS API emulator on 127.0.0.1. Idempotent: stamps keyed on
# the requirements' hashes make a second run a no-op.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHADOWOPS_VENV:-$repo/.venv}"

install() { # venv requirements stamp-name binary
    local env="$1" req="$2" stamp="$1/.shadowops-$3.sha256" bin="$1/bin/$4" want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    [[ -x "$env/bin/python" ]] || python3 -m venv "$env"
    echo "setup-aws: installing $req into $env" >&2
    "$env/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    printf '%s\n' "$want" > "$stamp"
}

install "$venv" "$repo/requirements/aws.txt" aws aws
if [[ "${1:-}" == "--emulator" ]]; then
    install "$venv/moto" "$repo/requirements/aws-emulator.txt" moto moto_server
fi
echo "setup-aws: $("$venv/bin/aws" --version 2>&1)${1:+, moto_server in $venv/moto}" >&2
