#!/usr/bin/env bash
# Static checks of the Terraform targets and the CircleCI config (called by
# `make test`). Nothing here needs a cloud account or a provider download:
#   1. terraform fmt -check -recursive terraform/
#   2. terraform/local: terraform init -backend=false + validate (built-in
#      provider only); terraform/aws: an offline structural validation
#      (tests/contract/check_modules.py), because `terraform validate` needs the
#      AWS provider and the HashiCorp registry is unreachable here, plus
#      provider-free Terraform runs of its variable validations and of the
#      host's cloud-init user data (check_variables.py, check_user_data.py)
#   3. checkov on terraform/ (skips are inline, each with its reason)
#   4. check-jsonschema --builtin-schema vendor.circle-ci .circleci/config.yml,
#      and the JUnit wrapper every CI job runs (tests/contract/test_junit_run.py)
#   5. the contract shape test (tests/contract/check_shape.py)
#   6. terraform/aws names and backstop times (check_aws_names.py: every
#      account-unique name within its AWS limit and carrying the owner,
#      backstops expires_at + grace) and its teardown path and backend
#      (check_aws_teardown.py: no local key file read on destroy, paused
#      cluster resumed before delete, backend choosable) and its warehouse
#      choices (check_aws_warehouse.py: what warehouse_mode creates, evaluated
#      by the real Terraform; a snapshot reaches the cluster; the contract and
#      the driver's record of a database in a team's warehouse)
#   7. the pipeline role's dependency filters (tests/ansible/test_deps_filters.py:
#      DESCRIPTION/renv.lock parsing, pip/uv resolver errors in one line)
#   8. the playbook's own module shadowops.host.files, run as Ansible runs it
#      (tests/ansible/test_files_module.py, with the project venv's ansible-core)
# and prints the resource count of terraform/aws. Every check runs even when
# an earlier one fails; the exit status is non-zero if any failed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A venv of its own: checkov pins packaging<24, cachetools<6 and termcolor<2.4,
# which Airflow 3 (in the project venv .venv) cannot live with. Inside .venv/
# so it is ignored by git and removed with the project venv.
venv="${SHADOWOPS_STATIC_VENV:-$repo/.venv/static}"
req="$repo/requirements/static.txt"
stamp="$venv/.shadowops-static.sha256"
terraform="${SHADOWOPS_TERRAFORM:-terraform}"

export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
export TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-$repo/terraform/cli.tfrc}"
[[ -f "$TF_CLI_CONFIG_FILE" ]] || : > "$TF_CLI_CONFIG_FILE"

# --- tools (idempotent: a stamp keyed on the requirements' hash) ------------
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$venv/bin/checkov" ]]; then
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    echo "static-checks: installing $req into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    printf '%s\n' "$want" > "$stamp"
fi
if ! command -v "$terraform" > /dev/null; then
    echo "static-checks: '$terraform' not found (set SHADOWOPS_TERRAFORM or install Terraform)" >&2
    exit 1
fi

cd "$repo"
passed=0
failed=0
failures=()

run() {
    local name="$1"
    shift
    echo "--- $name" >&2
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

validate_local() {
    # A throwaway TF_DATA_DIR keeps .terraform/ out of the source tree.
    local data
    data="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: the trap runs after $data is gone
    trap "rm -rf '$data'" RETURN
    TF_DATA_DIR="$data" "$terraform" -chdir=terraform/local init -backend=false -input=false -no-color > "$data/init.log" 2>&1 \
        || { cat "$data/init.log" >&2; return 1; }
    TF_DATA_DIR="$data" "$terraform" -chdir=terraform/local validate -no-color
}

run "terraform fmt" "$terraform" fmt -check -recursive -diff terraform/
if [[ -d terraform/local ]]; then
    run "terraform validate terraform/local" validate_local
    run "module structure terraform/local" "$venv/bin/python" tests/contract/check_modules.py terraform/local
fi
run "module structure terraform/aws" "$venv/bin/python" tests/contract/check_modules.py terraform/aws
# Provider-free runs of the real Terraform: the AWS root's variable validations
# against good and bad inputs, and the host's rendered cloud-init user data
# against cloud-init's schema.
run "terraform/aws variable validations" env TERRAFORM="$terraform" "$venv/bin/python" tests/contract/check_variables.py "$repo"
run "terraform/aws user data" env TERRAFORM="$terraform" "$venv/bin/python" tests/contract/check_user_data.py "$repo"
run "aws host expiry script" "$venv/bin/python" tests/contract/test_expiry_script.py
run "terraform/aws names and backstop times" env TERRAFORM="$terraform" "$venv/bin/python" tests/contract/check_aws_names.py "$repo"
run "terraform/aws teardown and backend" env TERRAFORM="$terraform" "$venv/bin/python" tests/contract/check_aws_teardown.py "$repo"
run "terraform/aws warehouse choices" env TERRAFORM="$terraform" "$venv/bin/python" tests/contract/check_aws_warehouse.py "$repo"
# --skip-download: never call Prisma Cloud (unreachable here, and nothing of
# ours should leave the machine); checks run from the installed package.
run "checkov" "$venv/bin/checkov" --directory terraform --framework terraform \
    --skip-download --quiet --compact
run "circleci schema" "$venv/bin/check-jsonschema" --builtin-schema vendor.circle-ci .circleci/config.yml
run "circleci JUnit wrapper" "$venv/bin/python" tests/contract/test_junit_run.py
run "contract shape" "$venv/bin/python" tests/contract/check_shape.py "$repo"
run "ansible dependency filters" "$venv/bin/python" tests/ansible/test_deps_filters.py
run "ansible module shadowops.host.files" "$repo/.venv/bin/python" tests/ansible/test_files_module.py

"$venv/bin/python" tests/contract/check_modules.py --count terraform/aws

if ((failed)); then
    printf 'static-checks: FAILED: %s\n' "${failures[@]}" >&2
fi
echo "static-checks: $passed passed, $failed failed"
((failed == 0))
