#!/bin/sh
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

# Install mod_mql and mqlctl (called by `make install`).
#   build/install.sh build/out/mod_mql.so build/out/mqlctl
# Every path comes from apxs.  On Debian the module is announced in
# mods-available (enable it with `a2enmod mql`); elsewhere add the
# LoadModule line of conf/mql.load to httpd.conf yourself.
set -eu

APXS=${APXS:-apxs}
so=${1:-build/out/mod_mql.so}
ctl=${2:-build/out/mqlctl}
top=$(cd "$(dirname "$0")/.." && pwd)

for f in "$so" "$ctl"; do
    [ -f "$f" ] || { echo "install.sh: $f is missing; run make first" >&2; exit 1; }
done

libexec=$($APXS -q LIBEXECDIR)
sysconf=$($APXS -q SYSCONFDIR)
sbindir=$($APXS -q SBINDIR)
bindir=/usr/local/bin
[ -d "$bindir" ] || bindir=$sbindir

# The module: apxs -i copies it into LIBEXECDIR (-n names it, no LoadModule
# edit: Debian keeps those in mods-available).
$APXS -i -n mql "$so"
install -m 0755 "$ctl" "$bindir/mqlctl"
echo "installed $libexec/mod_mql.so and $bindir/mqlctl"

if [ -d "$sysconf/mods-available" ]; then
    sed "s|^LoadModule mql_module .*|LoadModule mql_module $libexec/mod_mql.so|" \
        "$top/conf/mql.load" > "$sysconf/mods-available/mql.load"
    if [ ! -e "$sysconf/mods-available/mql.conf" ]; then
        install -m 0644 "$top/conf/mql.conf" "$sysconf/mods-available/mql.conf"
    else
        echo "kept your $sysconf/mods-available/mql.conf (the example is conf/mql.conf)"
    fi
    echo "enable with: a2enmod mql && systemctl reload apache2"
else
    echo "add to httpd.conf: LoadModule mql_module $libexec/mod_mql.so"
    echo "and the directives of $top/conf/mql.conf"
fi

# The state directory (leads DBM file, snapshot, key) belongs to the
# server's user, so that its children can write it.
state=/var/lib/apache2/mql
user=www-data
if [ -f "$sysconf/envvars" ]; then
    user=$(set +eu; . "$sysconf/envvars" >/dev/null 2>&1; echo "${APACHE_RUN_USER:-www-data}")
fi
if [ "$(id -u)" = 0 ] && id "$user" >/dev/null 2>&1; then
    install -d -m 0750 -o "$user" -g "$(id -gn "$user")" "$state"
fi
