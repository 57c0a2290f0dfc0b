#!/usr/bin/env bash
# Installs and configures what the `local` target needs on a Debian 12 machine:
# podman (+ runc), debootstrap, apt-cacher-ng, and the clients the checks use.
# Idempotent: when everything is present and configured it only runs
# dpkg-query and two file comparisons (well under a second).
#
# Runs as root (or through sudo). See docs/local-target.md.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# podman: the engine; runc: crun fails on these machines (facts.md);
# debootstrap: the base images are built from it, never pulled;
# apt-cacher-ng: machine-wide apt cache shared by every env (and image builds);
# postgresql-client, openssh-client: the checks and the driver reach the env;
# iproute2: `ss` tells when an env's apt forwarder listens;
# netavark + aardvark-dns: podman 4.3 on Debian 12 does not pull them in and
# then falls back to CNI, whose --internal bridge gets no IPv4 address, so this
# machine cannot reach its own containers (podman/containers.conf names
# netavark explicitly; see docs/local-target.md).
packages=(podman runc netavark aardvark-dns debootstrap apt-cacher-ng postgresql-client openssh-client python3 ca-certificates iproute2)

log() { printf 'setup-local: %s\n' "$*" >&2; }

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    else
        sudo -- "$@"
    fi
}

if [[ ! -r /etc/debian_version ]]; then
    log "the local target needs Debian (12) with apt; this machine is not Debian"
    exit 1
fi

# apt-cacher-ng listens on every interface by default, which would make this
# machine an open proxy. Our override is written BEFORE the package is
# installed so that even the first start (on systemd machines the postinst
# starts it) binds to loopback only. Envs reach it through a per-env forwarder
# on their bridge address (terraform/local), never through a public interface.
acng_dir=/etc/apt-cacher-ng
acng_conf_src="$repo/scripts/local-apt-cacher-ng.conf"
acng_changed=0
install_if_different() { # src dest mode
    if ! cmp -s "$1" "$2" 2>/dev/null; then
        as_root install -D -m "$3" "$1" "$2"
        acng_changed=1
    fi
}
install_if_different "$acng_conf_src" "$acng_dir/zzz_shadowops.conf" 0644
# The package's default Debian backend (ftp.debian.org) is unreachable here;
# deb.debian.org works (facts.md). Without the package's marker line the
# file is no longer rewritten by package upgrades.
backends="$(mktemp)"
trap 'rm -f "$backends"' EXIT
printf '# Written by shadowops scripts/setup-local.sh\nhttp://deb.debian.org/debian/\n' > "$backends"
install_if_different "$backends" "$acng_dir/backends_debian" 0644

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]]; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Restart only when our configuration changed under a running daemon, so a
# machine already serving envs is not disturbed by a no-op setup run.
if ((acng_changed)); then
    log "apt-cacher-ng configuration updated"
    "$repo/scripts/local-apt-cache.sh" restart
else
    "$repo/scripts/local-apt-cache.sh" ensure
fi
