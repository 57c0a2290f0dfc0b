#!/usr/bin/env bash
# The podman side of terraform/local: every create and destroy provisioner of
# main.tf runs this script directly (interpreter = [this script, action]), so
# there is no intermediate shell for Ctrl-C to kill while podman runs on.
# Inputs arrive as environment variables (never secrets on a command line).
#
# Create actions remove a stale object of the same name first (left by a
# crash or an interrupted apply), so a re-apply converges. Destroy actions
# succeed when the object is already gone, so destroy works after a partial
# apply, after containers were removed by hand, and twice in a row.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# Only shadowops' own podman settings (runc, cgroupfs, ulimits), also when
# Terraform runs without the driver.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/podman/containers.conf}"
ready_timeout="${SHADOWOPS_READY_TIMEOUT:-90}"

log() { printf '%s: %s\n' "${NAME:-local-env}" "$*" >&2; }
die() {
    log "$*"
    exit 1
}

# LABELS: one key=value per line -> --label arguments.
label_args() {
    local line
    labels=()
    while IFS= read -r line; do
        [[ -n "$line" ]] && labels+=(--label "$line")
    done <<< "${LABELS:?}"
}

need_file() { # path what
    [[ -f "$1" ]] || die "$2 $1 does not exist"
}

remove_container() {
    # -t 0: straight to SIGKILL. Nothing in an env needs a graceful stop (its
    # data is throwaway), and systemd in the host would spend the whole grace
    # period shutting Airflow and PostgreSQL down. podman 4.3 fails with
    # "container state improper: stopped" when the container exits by itself
    # just before the kill; a second attempt sees it stopped and removes it.
    podman rm --force --ignore --time 0 "$1" > /dev/null 2>&1 \
        || podman rm --force --ignore --time 0 "$1" > /dev/null
}

# Wait until ip:port accepts a TCP connection; on timeout show why.
wait_tcp() { # ip port
    local deadline=$((SECONDS + ready_timeout))
    while ((SECONDS < deadline)); do
        if timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2> /dev/null; then
            log "ready on $1:$2 after $((SECONDS - started)) s"
            return 0
        fi
        if [[ "$(podman container inspect --format '{{.State.Running}}' "$NAME" 2> /dev/null)" != true ]]; then
            log "container stopped before $1:$2 answered; its last log lines:"
            podman logs --tail 30 "$NAME" >&2 || true
            exit 1
        fi
        sleep 0.3
    done
    log "$1:$2 did not answer within $ready_timeout s; the container's last log lines:"
    podman logs --tail 30 "$NAME" >&2 || true
    exit 1
}

# Options every env container gets.
common_run_args() { # role
    label_args
    need_file "${LEASE_FILE:?}" "lease file"
    run_args=(
        --detach --name "$NAME" --pull never
        "${labels[@]}"
        # host, warehouse, mail (the env's machines) or apt-proxy (a helper).
        --label "shadowops.role=$1"
        # Hard cap: conmon kills the container after this long even if every
        # process of ours (and the in-container watchdog) is gone.
        --timeout "${TIMEOUT:?}"
        --log-opt max-size=10mb
        --mount "type=bind,src=$LEASE_FILE,dst=/etc/shadowops/lease,ro"
    )
}

# The machine must reach its containers on an --internal network. Only the
# netavark backend gives that bridge an address (CNI's --internal bridge has
# none, and SSH then fails only after its whole wait): refuse early, naming
# the cause and the fix. docs/local-target.md, `shadowops doctor`.
check_backend() {
    local backend
    backend="$(podman info --format '{{.Host.NetworkBackend}}' 2> /dev/null || true)"
    if [[ "$backend" != netavark ]]; then
        die "podman uses the '${backend:-unknown}' network backend; the local target needs netavark (an --internal CNI bridge gets no address, so this machine cannot reach its containers). Fix: run scripts/setup-local.sh (installs netavark and aardvark-dns) and keep [network] network_backend = \"netavark\" in $CONTAINERS_CONF"
    fi
}

# After the first container joined the network, the bridge must carry the
# gateway address (it exists only while a container is attached).
check_gateway() { # gateway
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        ip -4 -o addr show 2> /dev/null | grep -q " inet $1/" && return 0
        sleep 0.2
    done
    die "no interface of this machine has the env's gateway address $1 after the host container joined network $NETWORK, so this machine cannot reach the env. Check: podman info --format '{{.Host.NetworkBackend}}' must say netavark (run scripts/setup-local.sh), then shadowops doctor"
}

network_up() {
    label_args
    check_backend
    if podman network exists "$NAME"; then
        log "removing a stale network of the same name"
        podman network rm --force --time 0 "$NAME" > /dev/null
    fi
    # --internal: no route out and no NAT, so envs reach nothing but their
    # own network and the machine's address on it (the gateway).
    exec podman network create --internal --subnet "${SUBNET:?}" --gateway "${GATEWAY:?}" \
        "${labels[@]}" "$NAME" > /dev/null
}

network_down() {
    if podman network exists "$NAME"; then
        # --force also removes containers still attached (e.g. made by hand).
        exec podman network rm --force --time 0 "$NAME" > /dev/null
    fi
}

files_up() {
    local dir="${STATE_DIR:?}"
    umask 077
    mkdir -p "$dir/host" "$dir/secrets"
    chmod 0755 "$dir" "$dir/host"
    chmod 0700 "$dir/secrets"
    printf '%s\n' "${AUTHORIZED_KEY:?}" > "$dir/host/authorized_keys"
    printf '%s\n' "${APT_PROXY:?}" > "$dir/host/apt_proxy"
    chmod 0644 "$dir/host/authorized_keys" "$dir/host/apt_proxy"
    # 0600 from the umask; the value came through the environment.
    printf '%s\n' "${WAREHOUSE_PASSWORD:?}" > "$dir/secrets/warehouse_password"
    log "wrote $dir"
}

files_down() {
    local dir="${STATE_DIR:?}"
    rm -f "$dir/host/authorized_keys" "$dir/host/apt_proxy" "$dir/secrets/warehouse_password"
    rmdir "$dir/host" "$dir/secrets" "$dir" 2> /dev/null || true
}

apt_proxy_up() {
    # The machine-wide cache must answer before anything in the env needs it.
    "$repo/scripts/local-apt-cache.sh" ensure
    common_run_args apt-proxy
    remove_container "$NAME"
    started=$SECONDS
    # In the machine's network namespace, as nobody, with nothing writable:
    # it only listens on the env's gateway address (see shadowops-tcp-forward).
    podman run "${run_args[@]}" --network host --user 65534:65534 --cap-drop all --read-only \
        "${IMAGE:?}" /usr/local/bin/shadowops-tcp-forward \
        "${GATEWAY:?}" "${PORT:?}" 127.0.0.1 "$PORT" > /dev/null
    local deadline=$((SECONDS + 10))
    until ss -Hltn "src = $GATEWAY:$PORT" | grep -q .; do
        if ((SECONDS >= deadline)); then
            podman logs --tail 30 "$NAME" >&2 || true
            die "the apt proxy does not listen on $GATEWAY:$PORT"
        fi
        sleep 0.2
    done
    log "apt proxy on $GATEWAY:$PORT -> 127.0.0.1:$PORT"
}

host_up() {
    need_file "${HOST_KEY_FILE:?}" "SSH host key"
    need_file "${STATE_DIR:?}/host/authorized_keys" "authorized_keys"
    mkdir -p "${WHEELHOUSE_DIR:?}"
    common_run_args host
    remove_container "$NAME"
    started=$SECONDS
    podman run "${run_args[@]}" \
        --network "${NETWORK:?}" --ip "${IP:?}" --hostname "${HOSTNAME_:?}" \
        --systemd always \
        --mount "type=bind,src=$HOST_KEY_FILE,dst=/etc/shadowops/ssh_host_ed25519_key,ro" \
        --mount "type=bind,src=$STATE_DIR/host,dst=/etc/shadowops/env,ro" \
        --mount "type=bind,src=$WHEELHOUSE_DIR,dst=/opt/shadowops/wheelhouse,ro" \
        "${IMAGE:?}" /sbin/init > /dev/null
    check_gateway "${GATEWAY:?}"
    wait_tcp "$IP" 22
}

warehouse_up() {
    need_file "${STATE_DIR:?}/secrets/warehouse_password" "warehouse password file"
    common_run_args warehouse
    remove_container "$NAME"
    started=$SECONDS
    # Database and user names are not secret; the password is a 0600 file.
    podman run "${run_args[@]}" \
        --network "${NETWORK:?}" --ip "${IP:?}" --hostname "${HOSTNAME_:?}" \
        --env "WAREHOUSE_DATABASE=${DATABASE:?}" --env "WAREHOUSE_USER=${DB_USER:?}" \
        --mount "type=bind,src=$STATE_DIR/secrets/warehouse_password,dst=/etc/shadowops/secrets/warehouse_password,ro" \
        "${IMAGE:?}" > /dev/null
    # The port opens only after the database and user exist.
    wait_tcp "$IP" 5432
}

mail_up() {
    [[ -d "${INBOX_DIR:?}" ]] || mkdir -p "$INBOX_DIR"
    common_run_args mail
    remove_container "$NAME"
    started=$SECONDS
    # Root only to bind port 25 and write into the inbox (owned by the
    # driver's user); every other capability dropped, root filesystem read-only.
    podman run "${run_args[@]}" \
        --network "${NETWORK:?}" --ip "${IP:?}" --hostname "${HOSTNAME_:?}" \
        --cap-drop all --cap-add NET_BIND_SERVICE --cap-add DAC_OVERRIDE --read-only \
        --mount "type=bind,src=$INBOX_DIR,dst=/var/spool/shadowops/inbox" \
        "${IMAGE:?}" > /dev/null
    wait_tcp "$IP" 25
}

container_down() {
    # See remove_container for why a failed first attempt is tried once more.
    podman rm --force --ignore --time 0 "${NAME:?}" > /dev/null 2>&1 && exit 0
    exec podman rm --force --ignore --time 0 "${NAME:?}" > /dev/null
}

case "${1:-}" in
network-up) network_up ;;
network-down) network_down ;;
files-up) files_up ;;
files-down) files_down ;;
apt-proxy-up) apt_proxy_up ;;
host-up) host_up ;;
warehouse-up) warehouse_up ;;
mail-up) mail_up ;;
container-down) container_down ;;
*)
    echo "usage: $0 network-up|network-down|files-up|files-down|apt-proxy-up|host-up|warehouse-up|mail-up|container-down (inputs in the environment)" >&2
    exit 2
    ;;
esac
