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

# `make demo`: a self-contained httpd with mod_mql and a small marketing
# site, in the foreground on 127.0.0.1:8080 (PORT=... to change).  It
# writes its server root under build/demo and leaves /etc/apache2 alone.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-8080}
root=${DEMO_ROOT:-$top/build/demo}
mods=$(apxs -q LIBEXECDIR)
httpd=$(apxs -q SBINDIR)/$(apxs -q TARGET)
user_lines=""

# As root httpd serves as www-data, which must be able to reach the site.
if [ "$(id -u)" = 0 ]; then
    user_lines="User www-data
Group www-data"
    if ! runuser -u www-data -- test -x "$top/build" 2>/dev/null; then
        root=/tmp/mod_mql-demo
        echo "note: www-data cannot reach $top, so the demo runs from $root"
    fi
fi

rm -rf "$root/htdocs"
mkdir -p "$root/htdocs" "$root/logs" "$root/run" "$root/state"
cp -R "$top/build/demo-site/." "$root/htdocs/"
cp "$top/build/out/mod_mql.so" "$root/mod_mql.so"
if [ "$(id -u)" = 0 ]; then
    chown www-data:www-data "$root/logs" "$root/run"
fi

cat > "$root/httpd.conf" <<CONF
ServerRoot $root
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $root/run/httpd.pid
DefaultRuntimeDir $root/run
ErrorLog $root/logs/error_log
LogLevel warn
$user_lines

LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule alias_module $mods/mod_alias.so
LoadModule cgid_module $mods/mod_cgid.so
LoadModule status_module $mods/mod_status.so
LoadModule mql_module $root/mod_mql.so

TypesConfig /etc/mime.types
DocumentRoot $root/htdocs
DirectoryIndex index.html
ScriptAlias /cgi-bin/ $root/htdocs/cgi-bin/
ScriptSock $root/run/cgid.sock
LogFormat "%h %t \"%r\" %>s %b visitor=%{mql_visitor}n" mql
CustomLog $root/logs/access_log mql
<Directory $root/htdocs>
    Require all granted
</Directory>

# --- mod_mql -------------------------------------------------------------
MQLEngine On
MQLStateDir $root/state
MQLThreshold 60
MQLHalfLife 30d
MQLRule view ^/pricing 10 cap=3
MQLRule download ^/whitepapers/ 15
MQLRule view ^/careers -15
MQLRule view . 5 query=utm_campaign=webinar
# The demo is for you, on your own machine: no Do-Not-Track or bot filter.
MQLRespectDNT Off
MQLBotFilter Off

<Location /mql-status>
    SetHandler mql-status
    Require ip 127.0.0.1 ::1
</Location>
<Location /pixel.gif>
    SetHandler mql-pixel
</Location>
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1 ::1
</Location>
CONF

cat <<MSG

mod_mql demo on http://127.0.0.1:$port/   (Ctrl-C stops it)

  http://127.0.0.1:$port/                      the marketing site (1 point a page view)
  http://127.0.0.1:$port/pricing.html          +10 points, at most 3 times
  http://127.0.0.1:$port/whitepapers/guide.pdf a download: 10 + 15 points
  http://127.0.0.1:$port/contact.html          the form: 20 points and a contact
  http://127.0.0.1:$port/cgi-bin/book-demo.cgi an application event: 40 points
  http://127.0.0.1:$port/cgi-bin/whoami.cgi    your visitor ID, score and stage
  http://127.0.0.1:$port/mql-status            the admin status page (?json, ?auto)
  http://127.0.0.1:$port/server-status         mod_status, with a mod_mql section

  A visitor becomes an MQL at 60 points.  Leads are written to
  $root/state/leads (gdbm); try: build/out/mqlctl --state-dir $root/state list
  Server root: $root   error log: $root/logs/error_log

MSG
exec "$httpd" -d "$root" -f "$root/httpd.conf" -DFOREGROUND
