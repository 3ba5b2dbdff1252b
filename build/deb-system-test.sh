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

# make test-deb: the package on a fresh Debian 12, the way an admin uses it.
#   build/deb-system-test.sh [DEBDIR]
# DEBDIR holds the packages of `make deb` (default build/out/deb).  As root:
#   1. a minimal Debian 12 root made by debootstrap from this machine's
#      Debian mirror (kept in build/out/debootstrap/base and copied for
#      each run, with the .debs apt downloaded, so only the first run
#      downloads it all);
#   2. a second build of this checkout whose VERSION is VERSION+upgrade1;
#   3. in the chroot: apt installs the package (apache2 from the archive),
#      a2enmod mql, apache2ctl configtest, apache2 on 127.0.0.1 on a free
#      port sets the cookie and scores; upgrade to the second build (state
#      directory, key and visitors kept: the snapshot restores); apt remove
#      (state kept, module disabled); apt purge (state gone); install,
#      enable and purge again (module disabled, state gone).
# Every wait is bounded; /proc and /dev/shm are mounted in the chroot for
# apache2 and unmounted, and the chroot removed, at exit (KEEP=1 keeps it).
# Servers listen on 127.0.0.1 only; the network is used by debootstrap and
# apt, to Debian's archive only.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
debs=$(cd "${1:-$top/build/out/deb}" && pwd)
cache=$top/build/out/debootstrap
work=$top/build/out/deb-system
root=$work/root
version=$(cat "$top/VERSION")
arch=$(dpkg --print-architecture)
deb1=$debs/libapache2-mod-mql_${version}_$arch.deb
[ -f "$deb1" ] || { echo "no $deb1: run make deb first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "make test-deb needs root (debootstrap, chroot)" >&2; exit 1; }

n=0 failed=0
ok()   { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }
say()  { echo "# $*"; }
in_root() { timeout "${T:-120}" chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive HOME=/root "$@"; }

# ---- the mirror this machine's apt uses ------------------------------------
. "$top/build/debian-root.sh"
debian_mirror
say "mirror $mirror${security:+, security $security}"

# ---- clean-up: only what this script started and mounted -------------------
# apache2ctl hands "start" to systemctl when the host runs systemd; this
# variable makes it start apache2 itself, as inside the chroot it must.
start_apache() { T=30 in_root APACHE_STARTED_BY_SYSTEMD=true apache2ctl start; }
apache_pid() { cat "$root/run/apache2/apache2.pid" 2>/dev/null || true; }
stop_apache() {
    local pid
    pid=$(apache_pid)
    [ -n "$pid" ] || return 0
    T=30 in_root apache2ctl stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; sleep 0.5; fi
    rm -f "$root/run/apache2/apache2.pid"
}
unmount_all() { debian_root_unmount "$root"; }
cleanup() {
    local rc=$?
    set +e
    [ -d "$root" ] && stop_apache
    unmount_all
    debian_root_keep_debs "$cache" "$root"
    if [ "${KEEP:-0}" != 1 ] && [ -d "$root" ]; then
        # nothing may still be mounted below the root before it goes
        if grep -q " $root/" /proc/mounts; then
            echo "deb-system-test: $root still has mounts, not removed" >&2
        else
            rm -rf --one-file-system "$root"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. a fresh Debian 12 root -----------------------------------------------
debian_root_base "$cache" || exit 1
mkdir -p "$work"
debian_root_new "$cache" "$root"

# ---- 2. the next version, built from a copy of this checkout ----------------
v2=$version+upgrade1
say "building $v2 for the upgrade"
rm -rf "$work/v2src" "$work/v2"
mkdir -p "$work/v2src"
"$top/build/copy-tree.sh" "$work/v2src"
echo "$v2" > "$work/v2src/VERSION"
{
    printf 'mod-mql (%s) bookworm; urgency=medium\n\n  * Upgrade test build.\n\n' "$v2"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$top/debian/changelog" -S Maintainer)" "$(date -R)"
    cat "$top/debian/changelog"
} > "$work/v2src/debian/changelog"
LINTIAN=no "$work/v2src/build/deb.sh" "$work/v2" > "$work/v2-build.log" 2>&1 \
    || { tail -30 "$work/v2-build.log" >&2; exit 1; }
deb2=$work/v2/libapache2-mod-mql_${v2}_$arch.deb
rm -rf "$work/v2src"
mkdir -p "$root/tmp/debs"
cp "$deb1" "$deb2" "$root/tmp/debs/"

port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
base=http://127.0.0.1:$port
jar=$work/cookies.txt
rm -f "$jar"
get() { curl -sS --max-time 10 -A "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0" "$@"; }
wait_up() {
    for _ in $(seq 150); do get -o /dev/null "$base/mql-status?auto" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
visitor_score() {   # the score the running server holds for visitor $1, or "none"
    # the visitor's own "score", the first in the answer (its changes follow)
    get "$base/mql-status?visitor=$1&json" | perl -0777 -ne 'print $1 if /"score":(-?\d+)/' || true
}
state_of() { stat -c '%U:%G %a' "$root/var/lib/apache2/mql" 2>/dev/null || echo missing; }
module_enabled() { [ -e "$root/etc/apache2/mods-enabled/mql.load" ]; }
pkg_status() { in_root dpkg-query -W -f='${db:Status-Abbrev}${Version}' libapache2-mod-mql 2>/dev/null || true; }

# ---- 3. install -------------------------------------------------------------
say "apt-get update; apt-get install ./$(basename "$deb1") (apache2, recommended, from the archive)"
T=600 in_root apt-get update -q > "$work/apt.log" 2>&1 || { tail "$work/apt.log" >&2; exit 1; }
T=900 in_root apt-get install -y -q "/tmp/debs/$(basename "$deb1")" \
    > "$work/install.log" 2>&1 || { tail -30 "$work/install.log" >&2; exit 1; }
grep -E '^(Setting up|Unpacking) (apache2|libapache2-mod-mql)[ :]' "$work/install.log" | sed 's/^/# /' || true
check "installed: $(pkg_status)" [ "$(pkg_status)" = "ii $version" ]
check "state directory www-data:www-data 0750 after install ($(state_of))" \
    [ "$(state_of)" = "www-data:www-data 750" ]
check "mods-available has mql.load and mql.conf" \
    [ -f "$root/etc/apache2/mods-available/mql.load" -a -f "$root/etc/apache2/mods-available/mql.conf" ]
check "the module is not enabled on install" eval '! module_enabled'
check "mqlctl --version says $version" [ "$(in_root mqlctl --version)" = "mqlctl $version" ]
check "man pages mqlctl(1) and mod_mql(8) installed" \
    [ -f "$root/usr/share/man/man1/mqlctl.1.gz" -a -f "$root/usr/share/man/man8/mod_mql.8.gz" ]

say "a2enmod mql; listen on 127.0.0.1:$port"
in_root a2enmod mql | sed 's/^/# /'
check "a2enmod mql enables it" module_enabled
echo "Listen 127.0.0.1:$port" > "$root/etc/apache2/ports.conf"
sed -i "s/<VirtualHost \*:80>/<VirtualHost *:$port>/" "$root/etc/apache2/sites-available/000-default.conf"
# a low threshold, so that a few views make a lead; the status page for the
# scores.  Inside IfModule: it stays valid when the module is disabled.
cat > "$root/etc/apache2/conf-available/mql-test.conf" <<EOF
ServerName 127.0.0.1
<IfModule mql_module>
    MQLThreshold 3
    <Location /mql-status>
        SetHandler mql-status
        Require ip 127.0.0.1
    </Location>
</IfModule>
EOF
in_root a2enconf mql-test >/dev/null
out=$(in_root apache2ctl configtest 2>&1 || true)
check "apache2ctl configtest: $(echo "$out" | tail -1)" [ "$(echo "$out" | tail -1)" = "Syntax OK" ]

start_apache
check "apache2 answers on 127.0.0.1:$port" wait_up
headers=$(get -D - -o /dev/null -c "$jar" "$base/")
cookie=$(echo "$headers" | sed -n 's/^Set-Cookie: \(mql_vid=[^;]*\).*/\1/ip' | tr -d '\r' | head -1)
id=$(echo "$cookie" | sed -n 's/^mql_vid=\([^.]*\)\..*/\1/p')
check "the first page sets the visitor cookie ($cookie)" [ -n "$id" ]
for _ in 1 2 3; do get -o /dev/null -b "$jar" "$base/"; done
s1=$(visitor_score "$id")
check "four views scored: the server holds score 4 for $id (got '$s1')" [ "$s1" = 4 ]
lead=""
for _ in $(seq 100); do     # the background writer publishes within seconds
    lead=$(in_root mqlctl list 2>/dev/null | grep "^$id " || true)
    [[ "$lead" =~ ^$id\ +mql\ +4\  ]] && break
    sleep 0.1
done
check "mqlctl list shows the lead: $lead" eval '[[ "$lead" =~ ^$id\ +mql\ +4\  ]]'
check "start-up line in the error log names $version" \
    grep -q "MQL00050: mod_mql $version started" "$root/var/log/apache2/error.log"
check "status page footer names mod_mql $version" \
    eval 'get "$base/mql-status" | grep -q "<footer>mod_mql $version "'
stop_apache
check "apache2 stopped, the snapshot written" [ -s "$root/var/lib/apache2/mql/visitors.snapshot" ]
key_before=$(md5sum < "$root/var/lib/apache2/mql/secret")

# ---- upgrade ----------------------------------------------------------------
say "apt-get install ./$(basename "$deb2")"
T=300 in_root apt-get install -y -q --no-install-recommends "/tmp/debs/$(basename "$deb2")" \
    > "$work/upgrade.log" 2>&1 || { tail -30 "$work/upgrade.log" >&2; exit 1; }
grep -E '^(Preparing to unpack|Unpacking|Setting up) .*libapache2-mod-mql' "$work/upgrade.log" | sed 's/^/# /' || true
check "upgraded: $(pkg_status)" [ "$(pkg_status)" = "ii $v2" ]
check "state directory kept, www-data:www-data 0750 ($(state_of))" [ "$(state_of)" = "www-data:www-data 750" ]
check "signing key kept" [ "$(md5sum < "$root/var/lib/apache2/mql/secret")" = "$key_before" ]
check "the module stays enabled" module_enabled
check "mqlctl --version says $v2" [ "$(in_root mqlctl --version)" = "mqlctl $v2" ]
start_apache
check "apache2 starts with $v2" wait_up
check "start-up line names $v2" grep -q "MQL00050: mod_mql $v2 started" "$root/var/log/apache2/error.log"
s2=$(visitor_score "$id")
check "the snapshot restored visitor $id with score 4 (got '$s2')" [ "$s2" = 4 ]
headers=$(get -D - -o /dev/null -b "$jar" "$base/")
check "the old cookie is still valid: no new cookie" eval '! echo "$headers" | grep -qi "^Set-Cookie: mql_vid="'
s3=$(visitor_score "$id")
check "and its next view scores on top: 5 (got '$s3')" [ "$s3" = 5 ]
check "mqlctl show $id after the upgrade" eval 'in_root mqlctl show "$id" | grep -qx "stage: mql"'
stop_apache

# ---- remove -----------------------------------------------------------------
say "apt-get remove libapache2-mod-mql"
T=300 in_root apt-get remove -y -q libapache2-mod-mql > "$work/remove.log" 2>&1 \
    || { tail -30 "$work/remove.log" >&2; exit 1; }
grep -iE 'Removing|mql' "$work/remove.log" | sed 's/^/# /' || true
check "removed, configuration files kept: $(pkg_status)" [ "$(pkg_status)" = "rc $v2" ]
check "module disabled on remove" eval '! module_enabled'
check "mod_mql.so and mqlctl gone" \
    [ ! -e "$root/usr/lib/apache2/modules/mod_mql.so" -a ! -e "$root/usr/bin/mqlctl" ]
check "state kept on remove ($(state_of)), key and snapshot in it" \
    [ "$(state_of)" = "www-data:www-data 750" -a -s "$root/var/lib/apache2/mql/secret" \
      -a -s "$root/var/lib/apache2/mql/visitors.snapshot" ]
out=$(in_root apache2ctl configtest 2>&1 || true)
check "apache2ctl configtest without the module: $(echo "$out" | tail -1)" [ "$(echo "$out" | tail -1)" = "Syntax OK" ]

# ---- purge ------------------------------------------------------------------
say "apt-get purge libapache2-mod-mql"
T=300 in_root apt-get purge -y -q libapache2-mod-mql > "$work/purge.log" 2>&1 \
    || { tail -30 "$work/purge.log" >&2; exit 1; }
grep -iE 'Purging|mql' "$work/purge.log" | sed 's/^/# /' || true
check "purged: not installed" [ -z "$(pkg_status | grep -v '^un')" ]
check "purge removes /var/lib/apache2/mql" [ ! -e "$root/var/lib/apache2/mql" ]
check "purge removes mods-available/mql.*" \
    [ ! -e "$root/etc/apache2/mods-available/mql.load" -a ! -e "$root/etc/apache2/mods-available/mql.conf" ]
check "no statoverride left" eval '! in_root dpkg-statoverride --list /var/lib/apache2/mql >/dev/null'

# ---- purge of an installed, enabled module ----------------------------------
say "install $v2 again, enable it, purge at once"
T=300 in_root apt-get install -y -q --no-install-recommends "/tmp/debs/$(basename "$deb2")" \
    > "$work/reinstall.log" 2>&1 || { tail -30 "$work/reinstall.log" >&2; exit 1; }
in_root a2enmod -q mql
start_apache
check "apache2 starts" wait_up
get -o /dev/null "$base/"
stop_apache
check "state written ($(ls "$root/var/lib/apache2/mql" | tr '\n' ' '))" [ -s "$root/var/lib/apache2/mql/secret" ]
T=300 in_root apt-get purge -y -q libapache2-mod-mql > "$work/purge2.log" 2>&1 \
    || { tail -30 "$work/purge2.log" >&2; exit 1; }
check "purge disables the module" eval '! module_enabled && [ ! -L "$root/etc/apache2/mods-enabled/mql.conf" ]'
check "purge removes the state directory" [ ! -e "$root/var/lib/apache2/mql" ]
out=$(in_root apache2ctl configtest 2>&1 || true)
check "apache2ctl configtest after purge: $(echo "$out" | tail -1)" [ "$(echo "$out" | tail -1)" = "Syntax OK" ]

echo "1..$n"
if [ "$failed" != 0 ]; then
    echo "# $failed of $n failed; logs in $work" >&2
    exit 1
fi
echo "# all $n passed"
