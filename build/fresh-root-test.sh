#!/bin/bash
# make test-fresh: the whole suite on a fresh Debian 12 root, the way CI
# meets a new machine: nothing installed but debootstrap's minimal base
# and make, then only what `make test` installs itself.
#   build/fresh-root-test.sh          one run
#   RUNS=3 build/fresh-root-test.sh   three runs in a row, each on its own
#                                     fresh root (stops at the first failure)
# As root.  The minimal root is made once by debootstrap from this
# machine's Debian mirror and kept in build/out/debootstrap/base (shared
# with make test-deb); the .debs apt downloads are kept beside it so later
# runs download nothing.  Each run copies the base, copies this checkout
# into /src, mounts /proc and a /dev/shm, and runs `make test` there.
# Every log is kept in build/out/fresh-root/run-N.log.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=$top/build/out/debootstrap
work=$top/build/out/fresh-root
root=$work/root
runs=${RUNS:-1}
[ "$(id -u)" = 0 ] || { echo "make test-fresh needs root (debootstrap, chroot)" >&2; exit 1; }

mirror="" security=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    for u in $(sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' "$f"); do
        case "$u" in
            *debian-security*) [ -n "$security" ] || security=$u ;;
            */debian|*/debian/) [ -n "$mirror" ] || mirror=${u%/} ;;
        esac
    done
done
mirror=${mirror:-http://deb.debian.org/debian}

unmount_all() {
    local m
    for m in "$root/dev/shm" "$root/dev/pts" "$root/proc"; do
        if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
    done
}
cleanup() {
    local rc=$?
    set +e
    # whatever the suite left running in the root (it should leave nothing)
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    unmount_all
    if [ -d "$root/var/cache/apt/archives" ]; then
        mkdir -p "$cache/archives"
        cp -n "$root"/var/cache/apt/archives/*.deb "$cache/archives/" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" != 1 ] && [ -d "$root" ] && ! grep -q " $root/" /proc/mounts; then
        rm -rf --one-file-system "$root"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -d "$cache/base" ]; then
    command -v debootstrap >/dev/null || "$top/build/deps.sh" deb-test
    echo "# debootstrap bookworm (minbase) into $cache/base: a few minutes, once"
    mkdir -p "$cache"
    rm -rf "$cache/base-tmp"
    timeout 1800 debootstrap --variant=minbase bookworm "$cache/base-tmp" "$mirror" \
        > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    mv "$cache/base-tmp" "$cache/base"
fi

mkdir -p "$work"
for run in $(seq 1 "$runs"); do
    unmount_all
    rm -rf --one-file-system "$root"
    cp -a "$cache/base" "$root"
    {
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
    } > "$root/etc/apt/sources.list"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # as in an image build: installed packages start no service
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    mkdir -p "$root/var/cache/apt/archives"
    cp "$cache"/archives/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
    mount -t proc proc "$root/proc"
    mkdir -p "$root/dev/shm" "$root/dev/pts"
    mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
    "$top/build/copy-tree.sh" "$root/src"
    log=$work/run-$run.log
    echo "# run $run of $runs: make test in a fresh root (log: $log)"
    start=$(date +%s)
    rc=0
    timeout 5400 chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        HOME=/root CI=true DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends make &&
               cd /src && make test' > "$log" 2>&1 || rc=$?
    echo "# run $run: exit $rc after $(( $(date +%s) - start )) s; $(grep -E '^(Result|Files=)' "$log" | tr '\n' ' ')"
    grep -E '^not ok|^t/.*(Failed|Wstat)' "$log" | head -40 || true
    [ "$rc" = 0 ] || exit "$rc"
done
