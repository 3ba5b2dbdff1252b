#!/bin/bash
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

. "$top/build/debian-root.sh"

# whatever a run left running in the root (it should leave nothing)
kill_in_root() {
    local p
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
    done
}
cleanup() {
    local rc=$?
    set +e
    kill_in_root
    debian_root_unmount "$root"
    debian_root_keep_debs "$cache" "$root"
    if [ "${KEEP:-0}" != 1 ] && [ -d "$root" ] && ! grep -q " $root/" /proc/mounts; then
        rm -rf --one-file-system "$root"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v debootstrap >/dev/null || "$top/build/deps.sh" deb-test
debian_root_base "$cache" || exit 1

mkdir -p "$work"
for run in $(seq 1 "$runs"); do
    kill_in_root
    DEV_SHM_SIZE=512m debian_root_new "$cache" "$root"
    mkdir -p "$root/dev/pts"
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
