#!/usr/bin/env bash
# Builds the local target's base images when missing and prints their tags as
# one JSON object on stdout:
#   {"host":"localhost/shadowops-host:<hash>","warehouse":"...","mail":"..."}
# Progress goes to stderr. Nothing is pulled from a registry: a shared base is
# made with `debootstrap --variant=minbase bookworm` + `podman import`, and the
# three images are `podman build`s on top of it (--pull=never).
#
# Tags carry a digest of the recipe files (images/base + images/<name>), so an
# image is rebuilt only when its recipe changes; with all images present the
# script only runs `podman image exists` (well under a second).
#
#   images/build.sh           build what is missing, print the JSON
#   images/build.sh --prune   remove every cached shadowops image not in use
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/podman/containers.conf}"
cache="${SHADOWOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shadowops}"
scratch="$cache/images"
names=(host warehouse mail)

log() { printf 'images: %s\n' "$*" >&2; }

# Digest of the files under the given recipe directories (relative paths and
# contents), 12 hex digits: short enough for a tag, long enough to not collide.
recipe_hash() {
    (cd "$here" && find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
        sha256sum | cut -c1-12
}

prune() {
    local ref status=0
    mapfile -t refs < <(podman images --format '{{.Repository}}:{{.Tag}}' \
        --filter 'reference=localhost/shadowops-*')
    for ref in "${refs[@]}"; do
        # No --force: an image a live env's container uses stays (and says so).
        if podman rmi "$ref" > /dev/null; then
            log "removed $ref"
        else
            log "kept $ref (used by a container or by another image)"
            status=1
        fi
    done
    rm -rf "$scratch/rootfs" "$scratch/rootfs.tar"
    return "$status"
}

# apt through the machine-wide cache (started if need be, see
# scripts/local-apt-cache.sh), so a rebuild after a prune downloads nothing
# again; direct when the cache cannot run (setup-local.sh not run yet).
apt_proxy=""
if "$repo/scripts/local-apt-cache.sh" status || "$repo/scripts/local-apt-cache.sh" ensure; then
    apt_proxy="http://127.0.0.1:3142"
fi

build_base() { # tag
    local tag="$1" rootfs="$scratch/rootfs" include
    include="$(grep -v '^\s*\(#\|$\)' "$here/base/packages" | paste -sd, -)"
    log "debootstrap --variant=minbase bookworm (+ $include) for $tag"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    # debootstrap fetches with wget, which honours http_proxy.
    http_proxy="$apt_proxy" debootstrap --variant=minbase --include="$include" \
        bookworm "$rootfs" http://deb.debian.org/debian >&2
    install -m 0644 "$here/base/debian.sources" "$rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$rootfs/etc/apt/sources.list"
    install -m 0644 "$here/base/nodoc" "$rootfs/etc/dpkg/dpkg.cfg.d/01-shadowops-nodoc"
    # The build machine's identity must not leak into every image.
    : > "$rootfs/etc/hostname"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    log "podman import -> $tag"
    tar --numeric-owner -C "$rootfs" -c . |
        podman import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" > /dev/null
    rm -rf "$rootfs"
}

main() {
    if [[ "${1:-}" == --prune ]]; then
        prune
        return
    fi
    if (($#)); then
        echo "usage: $0 [--prune]" >&2
        return 2
    fi

    local base_tag name tag
    declare -A tags
    base_tag="localhost/shadowops-base:$(recipe_hash base)"
    for name in "${names[@]}"; do
        tags[$name]="localhost/shadowops-$name:$(recipe_hash base "$name")"
    done

    local missing=()
    for name in "${names[@]}"; do
        podman image exists "${tags[$name]}" || missing+=("$name")
    done

    if ((${#missing[@]})); then
        mkdir -p "$scratch"
        # Two `up`s at once must not build the same image twice (or trample
        # the shared rootfs): serialise builds machine-wide.
        exec 9> "$scratch/build.lock"
        flock 9
        local start=$SECONDS
        if ! podman image exists "$base_tag"; then
            build_base "$base_tag"
            log "base ready after $((SECONDS - start)) s"
        fi
        for name in "${missing[@]}"; do
            if podman image exists "${tags[$name]}"; then
                continue # built by a concurrent run while we waited
            fi
            log "building ${tags[$name]}"
            podman build --pull=never --network=host --layers=false \
                --build-arg "BASE=$base_tag" --build-arg "APT_PROXY=$apt_proxy" \
                --label "shadowops.recipe=${tags[$name]##*:}" \
                -t "${tags[$name]}" "$here/$name" >&2
            log "$name ready after $((SECONDS - start)) s"
        done
        log "built ${missing[*]} in $((SECONDS - start)) s"
        exec 9>&-
    fi

    printf '{"host":"%s","warehouse":"%s","mail":"%s"}\n' \
        "${tags[host]}" "${tags[warehouse]}" "${tags[mail]}"
}

main "$@"
