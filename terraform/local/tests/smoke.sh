#!/usr/bin/env bash
# Smoke test of terraform/local on its own (no driver): two envs at once, SSH
# with the pinned host key, psql with the generated password, a message into
# the inbox, apt through the proxy, no route out, destroy twice, destroy after
# containers were removed by hand, and a failure in one resource leaving a
# partial env that destroy removes. Prints `N passed, N failed`.
#
#   terraform/local/tests/smoke.sh            (needs root, podman, scripts/setup-local.sh done)
#
# Keys and passwords here are throwaway test values made for this run only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$(dirname "$here")"
repo="$(cd "$module/../.." && pwd)"
export CONTAINERS_CONF="$repo/podman/containers.conf"
export TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-$repo/terraform/cli.tfrc}" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
terraform="${SHADOWOPS_TERRAFORM:-terraform}"
work="$(mktemp -d /tmp/shadowops-smoke.XXXXXX)"
passed=0
failed=0
envs=(smoke-a smoke-b smoke-c)
declare -A octet=([smoke-a]=201 [smoke-b]=202 [smoke-c]=203)

check() { # description command...
    local what="$1"
    shift
    if "$@" > "$work/last.log" 2>&1; then
        echo "ok   $what"
        passed=$((passed + 1))
    else
        echo "FAIL $what"
        sed 's/^/     /' "$work/last.log" | tail -n 15
        failed=$((failed + 1))
    fi
}
fails() { ! "$@"; }

tf() { # env args...
    local env="$1"
    shift
    TF_DATA_DIR="$work/$env/tf/.terraform" "$terraform" -chdir="$module" "$@"
}
tf_apply() { tf "$1" apply -input=false -auto-approve -json -var-file="$work/$1/terraform.tfvars.json" -var-file="$work/$1/secrets/secrets.tfvars.json" > "$work/$1/apply.jsonl"; }
tf_destroy() { tf "$1" destroy -input=false -auto-approve -json -var-file="$work/$1/terraform.tfvars.json" -var-file="$work/$1/secrets/secrets.tfvars.json" > "$work/$1/destroy.jsonl"; }

cleanup() {
    local env
    for env in "${envs[@]}"; do
        if [[ -d "$work/$env/tf" ]]; then
            tf_destroy "$env" > /dev/null 2>&1 || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

images="$("$repo/images/build.sh")"

make_env() { # env
    local env="$1" d="$work/$1"
    mkdir -p "$d/keys" "$d/secrets" "$d/inbox" "$d/tf"
    chmod 0700 "$d/keys" "$d/secrets"
    ssh-keygen -q -t ed25519 -N '' -C "client-$env" -f "$d/keys/id_ed25519"
    ssh-keygen -q -t ed25519 -N '' -C "host-$env" -f "$d/keys/ssh_host_ed25519_key"
    echo $(($(date +%s) + 3600)) > "$d/lease"
    python3 - "$d" "$env" "${octet[$env]}" "$images" <<'PY'
import json, os, secrets, sys, time
d, env, octet, images = sys.argv[1:]
images = json.loads(images)
read = lambda p: open(p).read().strip()
v = dict(
    env_name=env, owner="smoke-test",
    expires_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(read(f"{d}/lease")))),
    ssh_public_key=read(f"{d}/keys/id_ed25519.pub"), ssh_private_key_file=f"{d}/keys/id_ed25519",
    ssh_host_key_private_file=f"{d}/keys/ssh_host_ed25519_key",
    ssh_host_key_public=read(f"{d}/keys/ssh_host_ed25519_key.pub"),
    env_dir=d, subnet_cidr=f"10.213.{octet}.0/24",
    host_image=images["host"], warehouse_image=images["warehouse"], mail_image=images["mail"],
    lease_file=f"{d}/lease", max_lifetime_seconds=3600, wheelhouse_dir=f"{d}/wheelhouse")
json.dump(v, open(f"{d}/terraform.tfvars.json", "w"), indent=1)
fd = os.open(f"{d}/secrets/secrets.tfvars.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, json.dumps({"warehouse_password": secrets.token_urlsafe(24)}).encode())
os.close(fd)
PY
    tf "$env" init -input=false -backend-config="path=$d/tf/terraform.tfstate" > /dev/null
}

# contract field (dotted path) of an env
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$work/$1/contract.json" "$2"; }

ssh_env() { # env command
    local d="$work/$1"
    ssh -i "$d/keys/id_ed25519" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$d/known_hosts" \
        -o BatchMode=yes -o ConnectTimeout=10 "admin@$(field "$1" host.address)" "$2"
}

psql_env() { # env sql
    local d="$work/$1"
    (umask 077 && printf '%s:%s:%s:%s:%s\n' "$(field "$1" warehouse.host)" "$(field "$1" warehouse.port)" \
        "$(field "$1" warehouse.database)" "$(field "$1" warehouse.user)" "$(field "$1" warehouse.password)" > "$d/pgpass")
    PGPASSFILE="$d/pgpass" psql -X -At -h "$(field "$1" warehouse.host)" -U "$(field "$1" warehouse.user)" \
        -d "$(field "$1" warehouse.database)" -c "$2"
}

send_mail() { # env marker
    python3 - "$(field "$1" mail.smtp_host)" "$(field "$1" mail.smtp_port)" "$2" <<'PY'
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "shadowops@localhost", "team@localhost", sys.argv[3]
m.set_content("smoke test body")
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=10) as s:
    s.send_message(m)
PY
}

inbox_has() { # env marker
    local f
    for f in "$work/$1"/inbox/*.eml; do
        grep -q "Subject: $2" "$f" 2> /dev/null && return 0
    done
    return 1
}

psql_select_one() { [[ "$(psql_env "$1" 'SELECT 1')" == 1 ]]; }

password_not_in_inspect() { # env; compares in Python, not on a command line
    podman inspect "shadowops-$1-warehouse" > "$work/$1/inspect.json"
    python3 -c 'import json, sys
pw = json.load(open(sys.argv[1]))["warehouse"]["password"]
sys.exit(pw in open(sys.argv[2]).read())' "$work/$1/contract.json" "$work/$1/inspect.json"
}

mail_lands() { # env marker
    send_mail "$1" "$2"
    sleep 0.5
    inbox_has "$1" "$2"
}

reapply_changes_nothing() {
    tf_apply "$1"
    grep '"type":"change_summary"' "$work/$1/apply.jsonl" | grep -q '"add":0,"change":0,"import":0,"remove":0'
}

left_for() { # env: number of containers + networks labelled for it
    echo $(($(podman ps -a -q --filter "label=shadowops.env=$1" | wc -l) + $(podman network ls -q --filter "label=shadowops.env=$1" | wc -l)))
}
nothing_left() { [[ "$(left_for "$1")" == 0 && ! -e "$work/$1/local" ]]; }

# --- two envs up at once ---------------------------------------------------
make_env smoke-a
make_env smoke-b
start=$SECONDS
tf_apply smoke-a &
pid_a=$!
tf_apply smoke-b &
pid_b=$!
check "apply smoke-a" wait "$pid_a"
check "apply smoke-b (at the same time)" wait "$pid_b"
echo "     two applies in $((SECONDS - start)) s"
for env in smoke-a smoke-b; do
    (umask 077 && tf "$env" output -json shadow > "$work/$env/contract.json")
    printf '%s %s\n' "$(field "$env" host.address)" "$(field "$env" host.ssh_host_key)" > "$work/$env/known_hosts"
done

check "ssh with the pinned host key (strict)" ssh_env smoke-a true
check "admin has passwordless sudo" ssh_env smoke-a 'sudo -n true'
check "psql with the generated password" psql_select_one smoke-a
check "the password is not in podman inspect" password_not_in_inspect smoke-a
check "smtp message lands in the inbox" mail_lands smoke-a hello-smoke
check "apt-get update through the env's proxy" ssh_env smoke-a 'sudo apt-get -q update'
# Negated on the host, so that a failing ssh does not count as a pass.
check "no route out of the env" ssh_env smoke-a '! timeout 5 bash -c "exec 3<>/dev/tcp/151.101.2.132/80"'
check "envs cannot reach each other" ssh_env smoke-a "! timeout 3 bash -c 'exec 3<>/dev/tcp/$(field smoke-b warehouse.host)/5432'"
check "re-apply changes nothing" reapply_changes_nothing smoke-a

# --- destroy: twice, and after containers were removed by hand -------------
check "destroy smoke-a" tf_destroy smoke-a
check "nothing left of smoke-a" nothing_left smoke-a
check "smoke-b still answers" ssh_env smoke-b true
check "destroy smoke-a again" tf_destroy smoke-a
podman rm -f shadowops-smoke-b-host shadowops-smoke-b-mail > /dev/null
check "destroy smoke-b after podman rm -f by hand" tf_destroy smoke-b
check "nothing left of smoke-b" nothing_left smoke-b

# --- a failure in one resource leaves a partial env that destroy removes ----
make_env smoke-c
python3 - "$work/smoke-c/terraform.tfvars.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
v["warehouse_image"] = "localhost/shadowops-warehouse:does-not-exist"  # valid, but absent
json.dump(v, open(sys.argv[1], "w"))
PY
check "apply with a missing warehouse image fails" fails tf_apply smoke-c
check "the failure is a diagnostic naming terraform_data.warehouse" \
    grep -q '"address":"terraform_data.warehouse"' "$work/smoke-c/apply.jsonl"
check "the partial env exists (host up)" bash -c "podman container exists shadowops-smoke-c-host"
check "destroy the partial env" tf_destroy smoke-c
check "nothing left of smoke-c" nothing_left smoke-c

echo "$passed passed, $failed failed"
((failed == 0))
