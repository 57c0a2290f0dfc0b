#!/usr/bin/env bash
# Installs the pinned Ansible controller tools (requirements/ansible.txt) into
# the project virtualenv. Idempotent: a stamp file keyed on the requirements'
# hash makes a second run a no-op that takes milliseconds.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHADOWOPS_VENV:-$repo/.venv}"
req="$repo/requirements/ansible.txt"
stamp="$venv/.shadowops-ansible.sha256"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/ansible-playbook" && -x "$venv/bin/ansible-lint" && -f "$stamp" \
      && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-ansible: creating virtualenv $venv" >&2
    python3 -m venv "$venv"
fi

echo "setup-ansible: installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned packages into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
printf '%s\n' "$want" > "$stamp"
echo "setup-ansible: ansible-core and ansible-lint ready in $venv" >&2
