#!/usr/bin/env bash
# Starts the machine-wide apt cache (apt-cacher-ng on 127.0.0.1:3142) when it
# is not running. It is shared by every env and by image builds, so nothing is
# downloaded twice; destroy never stops it.
#
#   local-apt-cache.sh ensure    start it if it does not answer (default)
#   local-apt-cache.sh restart   restart it (after a configuration change)
#   local-apt-cache.sh status    exit 0 when it answers
#
# Works with and without systemd as PID 1 (CI machines have none).
set -euo pipefail

port="${SHADOWOPS_APT_CACHE_PORT:-3142}"
action="${1:-ensure}"

log() { printf 'apt-cache: %s\n' "$*" >&2; }

answers() {
    # bash's /dev/tcp: no extra client needed; a closed port fails at once.
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
}

service_ctl() { # start|restart
    local cmd
    if [[ -d /run/systemd/system ]]; then
        cmd=(systemctl "$1" apt-cacher-ng)
    else
        cmd=(/etc/init.d/apt-cacher-ng "$1")
    fi
    [[ $EUID -eq 0 ]] || cmd=(sudo -- "${cmd[@]}")
    # The daemon must inherit neither our lock (fd 9) nor our stdout/stderr:
    # Terraform's local-exec waits for every holder of its pipes to exit.
    "${cmd[@]}" 9>&- < /dev/null > /dev/null 2>&1
}

wait_answers() {
    local i
    for ((i = 0; i < 50; i++)); do
        answers && return 0
        sleep 0.2
    done
    log "apt-cacher-ng does not answer on 127.0.0.1:$port (see /var/log/apt-cacher-ng/)"
    return 1
}

case "$action" in
status)
    answers
    ;;
ensure | restart)
    if [[ ! -x /usr/sbin/apt-cacher-ng ]]; then
        log "apt-cacher-ng is not installed: run scripts/setup-local.sh"
        exit 1
    fi
    # Two envs coming up at once must not both start the daemon: Debian's init
    # script wipes the run directory (and the first daemon's pid file) on start.
    exec 9> /run/shadowops-apt-cache.lock
    flock 9
    if [[ "$action" == ensure ]] && answers; then
        exit 0
    fi
    log "${action/ensure/start}ing apt-cacher-ng on 127.0.0.1:$port"
    if [[ "$action" == restart ]]; then service_ctl restart; else service_ctl start; fi
    wait_answers
    ;;
*)
    echo "usage: $0 [ensure|restart|status]" >&2
    exit 2
    ;;
esac
