#!/bin/sh
# Bring a Redshift cluster into a state DeleteCluster accepts, then return.
#
# Run by the warehouse module's destroy-time provisioner, after the scheduled
# pause is gone and before Terraform deletes the cluster. A *paused* cluster
# cannot be deleted (DeleteCluster fails with InvalidClusterStateFault "There
# is an operation running on the Cluster", and retrying never helps: the
# provider retries a while and gives up), so:
#   available, deleting, final-snapshot, gone  -> done
#   paused                                      -> resume, then wait
#   pausing, resuming, modifying, rebooting...  -> wait
# Waits are bounded (SHADOWOPS_REDSHIFT_WAIT seconds, default 1800) and print
# a line per poll, so a CI step's no-output timer sees progress.
#
# Usage: redshift-ready-for-delete.sh CLUSTER_IDENTIFIER
# Region, credentials and AWS_ENDPOINT_URL come from the environment (the
# standard chain); the AWS CLI from SHADOWOPS_AWS_CLI or PATH.
set -eu

id="${1:?usage: redshift-ready-for-delete.sh CLUSTER_IDENTIFIER}"
aws="${SHADOWOPS_AWS_CLI:-aws}"
limit="${SHADOWOPS_REDSHIFT_WAIT:-1800}"
every="${SHADOWOPS_REDSHIFT_POLL:-15}"
start="$(date +%s)"
resumed=""
err="$(mktemp)"
trap 'rm -f "$err"' EXIT

if ! command -v "$aws" > /dev/null 2>&1; then
    echo "redshift-ready-for-delete: the AWS CLI ($aws) is not installed; scripts/setup-aws.sh installs it" >&2
    exit 1
fi

while :; do
    if ! status="$("$aws" redshift describe-clusters --cluster-identifier "$id" \
            --query 'Clusters[0].ClusterStatus' --output text 2> "$err")"; then
        if grep -q 'ClusterNotFound' "$err"; then
            echo "redshift-ready-for-delete: $id is already gone"
            exit 0
        fi
        cat "$err" >&2
        exit 1
    fi
    elapsed=$(($(date +%s) - start))
    case "$status" in
        available | deleting | final-snapshot)
            echo "redshift-ready-for-delete: $id is $status after ${elapsed}s"
            exit 0
            ;;
        paused)
            if [ -z "$resumed" ]; then
                echo "redshift-ready-for-delete: $id is paused; resuming it so it can be deleted"
                "$aws" redshift resume-cluster --cluster-identifier "$id" > /dev/null
                resumed=1
            else
                echo "redshift-ready-for-delete: $id still paused after resume (${elapsed}s)"
            fi
            ;;
        *)
            echo "redshift-ready-for-delete: $id is $status; waiting (${elapsed}s of ${limit}s)"
            ;;
    esac
    if [ "$elapsed" -ge "$limit" ]; then
        echo "redshift-ready-for-delete: $id still $status after ${elapsed}s; giving up (SHADOWOPS_REDSHIFT_WAIT)" >&2
        exit 1
    fi
    sleep "$every"
done
