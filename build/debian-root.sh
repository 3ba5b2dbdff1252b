# Copyright 2026 mod_mql maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# A fresh Debian 12 root for the tests that need a new machine (sourced by
# build/deb-system-test.sh and build/fresh-root-test.sh; bash).
#   debian_root_base CACHE   debootstrap's minimal bookworm in CACHE/base,
#                            made once from this machine's Debian mirror
#   debian_root_new CACHE ROOT
#                            a copy of it at ROOT with apt's sources, DNS,
#                            no service starts, the .debs kept from earlier
#                            runs, /proc and a /dev/shm mounted
#   debian_root_unmount ROOT what debian_root_new mounted (and /dev/pts)
#   debian_root_keep_debs CACHE ROOT
#                            the .debs apt downloaded, kept for next time

# the mirror (and security archive) this machine's apt uses
debian_mirror() {
    local f u
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
}

debian_root_base() {
    local cache=$1
    [ -d "$cache/base" ] && return 0
    [ -n "${mirror:-}" ] || debian_mirror
    echo "# debootstrap bookworm (minbase) into $cache/base: a few minutes, once"
    mkdir -p "$cache"
    rm -rf "$cache/base-tmp"
    timeout 1800 debootstrap --variant=minbase bookworm "$cache/base-tmp" "$mirror" \
        > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; return 1; }
    mv "$cache/base-tmp" "$cache/base"
}

debian_root_unmount() {
    local root=$1 m
    for m in "$root/dev/shm" "$root/dev/pts" "$root/proc"; do
        if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
    done
}

debian_root_new() {
    local cache=$1 root=$2
    [ -n "${mirror:-}" ] || debian_mirror
    if [ -d "$root" ]; then
        debian_root_unmount "$root"
        rm -rf --one-file-system "$root"
    fi
    mkdir -p "$(dirname "$root")"
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
    mkdir -p "$root/dev/shm"
    mount -t tmpfs -o mode=1777,size=${DEV_SHM_SIZE:-64m} tmpfs "$root/dev/shm"
}

debian_root_keep_debs() {
    local cache=$1 root=$2
    if [ -d "$root/var/cache/apt/archives" ]; then
        mkdir -p "$cache/archives"
        cp -n "$root"/var/cache/apt/archives/*.deb "$cache/archives/" 2>/dev/null || true
    fi
}
