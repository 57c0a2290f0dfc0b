#!/usr/bin/env bash
# Choose where terraform/aws keeps its state (docs/aws.md, "State").
#
#   scripts/aws-state-backend.sh s3 [FILE]   S3 with native locking: installs
#       terraform/aws/backend_override.tf (an empty `backend "s3" {}`) and, if
#       FILE is given, checks that it is a usable partial configuration
#       (bucket, region, use_lockfile = true). Then:
#         export SHADOWOPS_TF_BACKEND_CONFIG=FILE
#   scripts/aws-state-backend.sh local       back to local state (the default)
#   scripts/aws-state-backend.sh status      which one is active
#
# An env's state does not move by itself when the backend changes: destroy
# envs first, or `terraform init -migrate-state` by hand.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="$repo/terraform/aws"
override="$module/backend_override.tf"

check_config() {
    local file="$1" missing=()
    [[ -f "$file" ]] || { echo "aws-state-backend: $file does not exist" >&2; return 1; }
    for key in bucket region; do
        grep -Eq "^[[:space:]]*$key[[:space:]]*=" "$file" || missing+=("$key")
    done
    grep -Eq '^[[:space:]]*use_lockfile[[:space:]]*=[[:space:]]*true' "$file" || missing+=("use_lockfile = true")
    if grep -Eq '^[[:space:]]*(key|access_key|secret_key|token)[[:space:]]*=' "$file"; then
        echo "aws-state-backend: $file sets key or credentials; the driver sets the key per env, and credentials come from the standard chain" >&2
        return 1
    fi
    if ((${#missing[@]})); then
        printf 'aws-state-backend: %s lacks: %s\n' "$file" "${missing[*]}" >&2
        return 1
    fi
}

case "${1:-status}" in
    s3)
        if [[ -n "${2:-}" ]]; then check_config "$2"; fi
        cp "$module/backends/s3/backend_override.tf" "$override"
        echo "aws-state-backend: terraform/aws now uses the S3 backend; set SHADOWOPS_TF_BACKEND_CONFIG=${2:-<your .s3.tfbackend file>}"
        ;;
    local)
        rm -f "$override"
        echo "aws-state-backend: terraform/aws uses local state (unset SHADOWOPS_TF_BACKEND_CONFIG)"
        ;;
    status)
        if [[ -f "$override" ]]; then echo s3; else echo local; fi
        ;;
    check)
        check_config "${2:?usage: aws-state-backend.sh check FILE}"
        ;;
    *)
        echo "usage: aws-state-backend.sh s3 [FILE] | local | status | check FILE" >&2
        exit 2
        ;;
esac
