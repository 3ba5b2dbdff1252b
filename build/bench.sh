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

# mod_mql benchmark: the same httpd with and without the module.
#
#   build/bench.sh [all|main|browser|scale|profile|redis|webhook]   (make bench runs "all")
#
#   main     three servers from one generated configuration (event MPM,
#            127.0.0.1, access log to /dev/null): without mod_mql, with
#            mod_mql (MQLEngine On, a capped rule on /pricing, default
#            download extensions) and with mod_usertrack (CookieTracking
#            on) as the anchor.  wrk drives them in turn, round after
#            round, with a pool of returning visitors holding real cookies
#            (signed with the server's own key file); the report gives
#            requests/s and p99 per server, the ratios per round and their
#            median.
#   browser  the same three servers under browser-shaped traffic
#            (build/bench/browser.lua): one visitor per keep-alive
#            connection at a time, a page and then its 10 files (style
#            sheet, scripts, font, images) with the page as Referer; one
#            wrk thread per connection.  Same rounds, medians and ratios.
#   scale    the module's throughput with 1 000 and with 1 000 000
#            visitors already in the table (restored from a prefilled
#            snapshot), bytes of shared memory per visitor, and the time
#            to save and restore a snapshot of 1 000 000 visitors.
#   profile  instructions per request under callgrind, one httpd process
#            (-X), with and without the module, and the module's own
#            functions: the bench mix (a random visitor per request, and
#            one visitor for the whole connection), the browser-shaped
#            traffic, and a static file asked for by a known visitor on
#            its own; the writer and the Redis sync thread apart.
#   redis    MQLStore shm against MQLStore redis:// (a redis-server of its
#            own on 127.0.0.1), side by side: throughput ratio, httpd CPU
#            per request, Redis CPU per event, the time from a request's
#            answer to its hit applied in Redis (p50, p99), the backlog
#            of a full-speed run and its drain, a 30 s outage under full
#            load and its drain; then two servers on the
#            same Redis: a promotion on one seen by the other's next
#            request, and its notification line, p50 and p99.
#   webhook  the module with an MQLWebhook whose receiver is down (a port
#            nothing listens on) against the same without, side by side,
#            with a threshold that the mix's visitors cross, so that
#            events pile up in the outbox and are retried during the run.
#
# Tuning through the environment (defaults in brackets):
#   BENCH_ROUNDS [5]  BENCH_SECONDS [8]  BENCH_VISITORS [100000]
#   BENCH_CONNECTIONS [32]  BENCH_THREADS [1]  BENCH_SCALE_ROUNDS [5]
#   BENCH_SCALE_SECONDS [5]  BENCH_PROFILE_REQUESTS [5000]
#   BENCH_BROWSERS [16]: connections (and wrk threads) of the browser run
#   BENCH_PROFILES: the profiles to run, by name (default: all of them)
#   BENCH_REDIS_OUTAGE [30]: seconds of full load with Redis stopped (0: none)
#   BENCH_MQL_EXTRA: more mod_mql directives for the "with" server, to try options
#   BENCH_KEEP=1 keeps the generated server roots under /tmp.
#
# Nothing is pinned to a CPU: on a 2-core machine wrk (one thread) and
# httpd share both cores, as a client on the same host would.  Only
# 127.0.0.1 is ever contacted.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/build/out
BENCH=$TOP/build/bench
MODE=${1:-all}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-8}
VISITORS=${BENCH_VISITORS:-100000}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
SCALE_ROUNDS=${BENCH_SCALE_ROUNDS:-5}
SCALE_SECS=${BENCH_SCALE_SECONDS:-5}
PROFILE_REQUESTS=${BENCH_PROFILE_REQUESTS:-5000}
OUTAGE=${BENCH_REDIS_OUTAGE:-30}
BROWSERS=${BENCH_BROWSERS:-16}
PROFILES=${BENCH_PROFILES:-none mql usertrack mql-same mql-nojournal mqlredis none-browser mql-browser usertrack-browser mqlredis-browser none-static mql-static usertrack-static}
REPORT=$OUT/bench-report.txt

case "$MODE" in
    all|main|browser|scale|profile|redis|webhook) ;;
    *) echo "usage: $0 [all|main|browser|scale|profile|redis|webhook]" >&2; exit 2 ;;
esac

HTTPD=$(apxs -q SBINDIR)/$(apxs -q TARGET)
MODS=$(apxs -q LIBEXECDIR)
for f in "$OUT/mod_mql.so" "$OUT/mqlbench"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "missing $f: run make bench" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is missing: build/deps.sh bench" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mqlbench.XXXXXX)
chmod 755 "$WORK"
SERVERS=()

cleanup() {
    local root pid
    for root in "${SERVERS[@]+"${SERVERS[@]}"}"; do
        stop_server "$root" || true
    done
    for pid in "${REDIS_PID:-}" "${PROF_REDIS_PID:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "server roots kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" | tee -a "$REPORT"; }

# The module as built now: a rebuild during the run must not change it.
cp "$OUT/mod_mql.so" "$WORK/mod_mql.so"

# ---------------------------------------------------------------------
# The site: 20 pages of about 8 KB, a pricing page, three PDFs of 100 KB.

make_site() {
    local doc=$WORK/htdocs i
    mkdir -p "$doc/blog" "$doc/whitepapers"
    page() {
        printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>%s</title>' "$2"
        printf '<link rel="stylesheet" href="/style.css"></head><body><h1>%s</h1>\n' "$2"
        for _ in $(seq 1 60); do
            printf '<p>Lead scoring turns anonymous engagement into a sales signal: '
            printf 'views, downloads and forms add up per visitor.</p>\n'
        done
        printf '</body></html>\n'
    }
    page / "Home" >"$doc/index.html"
    page /pricing.html "Pricing" >"$doc/pricing.html"
    for i in $(seq 1 19); do page "/blog/post-$i.html" "Post $i" >"$doc/blog/post-$i.html"; done
    for f in guide roi-study buyers-checklist; do
        { printf '%%PDF-1.4\n'; head -c 102400 /dev/zero | tr '\0' 'x'; printf '\n%%%%EOF\n'; } \
            >"$doc/whitepapers/$f.pdf"
    done
    # what every page needs, as a browser asks for it (build/bench/browser.lua):
    # sizes of a small marketing site's files
    mkdir -p "$doc/assets" "$doc/fonts" "$doc/img"
    # (cut by truncate: a head at the pipe's end would stop base64 with
    # SIGPIPE, which pipefail turns into the script's end)
    asset() { head -c "$2" /dev/urandom | base64 -w 76 >"$doc/$1"; truncate -s "$2" "$doc/$1"; }
    asset assets/site.css 24576
    asset assets/vendor.js 90112
    asset assets/app.js 32768
    asset fonts/inter.woff2 28672
    asset img/logo.svg 3072
    asset img/hero.jpg 65536
    asset img/photo-1.webp 20480
    asset img/photo-2.webp 20480
    asset img/icon-1.png 1536
    asset img/icon-2.png 1536
    chmod -R a+rX "$doc"
}

free_port() {
    perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => 0, Listen => 1, ReuseAddr => 1) or die "no port: $!"; print $s->sockport'
}

# new_server NAME KIND [MAXVISITORS]  -> prints the server root
#   KIND: none | mql | mql-nojournal | mql-webhook | mqlredis | mqlfleet | usertrack
new_server() {
    local name=$1 kind=$2 max=${3:-100000}
    local root=$WORK/$name port user="" extra=""
    port=$(free_port)
    mkdir -p "$root/logs" "$root/run" "$root/state"
    if [ "$(id -u)" = 0 ]; then
        [ -n "${NO_USER:-}" ] || user=$'User www-data\nGroup www-data'
        chown www-data:www-data "$root/logs" "$root/run" "$root/state"
    fi
    case "$kind" in
        none) ;;
        mql|mql-nojournal|mql-webhook) extra="LoadModule mql_module $WORK/mod_mql.so
MQLStateDir $root/state
MQLEngine On
MQLMaxVisitors $max
MQLRule view ^/pricing 5 cap=3
${BENCH_MQL_EXTRA:-}"
            # the same without the leads' stories and funnel (MQLJournal):
            # what the journal costs, measured in the same run
            [ "$kind" != mql-nojournal ] || extra="$extra
MQLJournal Off"
            # every event to a receiver that is down: retried all along
            [ "$kind" != mql-webhook ] || extra="$extra
MQLWebhook http://127.0.0.1:$DEAD_PORT/hook secret=bench" ;;
        mqlredis) extra="LoadModule mql_module $WORK/mod_mql.so
MQLStateDir $root/state
MQLEngine On
MQLMaxVisitors $max
MQLRule view ^/pricing 5 cap=3
MQLStore redis://127.0.0.1:$REDIS_PORT
<Location /mql-status>
    SetHandler mql-status
    Require all granted
</Location>
${BENCH_MQL_EXTRA:-}" ;;
        # two of these share the Redis for the fleet probe: a low threshold
        # (the pricing page promotes a new visitor), the stage in a header,
        # and the time each notification line arrives
        mqlfleet) extra="LoadModule mql_module $WORK/mod_mql.so
LoadModule headers_module $MODS/mod_headers.so
MQLStateDir $root/state
MQLSecret $WORK/fleet-secret
MQLEngine On
MQLThreshold 3
MQLRule view ^/pricing 5
MQLNewVisitorLimit 0
MQLNewLeadLimit 0
MQLStore redis://127.0.0.1:$REDIS_PORT
MQLNotify \"|/usr/bin/perl $BENCH/notify_times.pl $root/logs/notify.log\"
Header always set X-MQL-Stage \"%{MQL_STAGE}e\"" ;;
        usertrack) extra="LoadModule usertrack_module $MODS/mod_usertrack.so
CookieTracking on" ;;
    esac
    cat >"$root/httpd.conf" <<EOF
# generated by build/bench.sh ($kind)
ServerRoot $root
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile $root/run/httpd.pid
DefaultRuntimeDir $root/run
ErrorLog $root/logs/error_log
LogLevel warn
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule dir_module $MODS/mod_dir.so
$user
# two cores: two processes of 32 threads, never more, never fewer
StartServers 2
ServerLimit 2
ThreadLimit 32
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 16
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
TypesConfig /etc/mime.types
DocumentRoot $WORK/htdocs
DirectoryIndex index.html
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"" combined
CustomLog /dev/null combined
$extra
EOF
    echo "$port" >"$root/port"
    echo "$root"
}

port_of() { cat "$1/port"; }

wait_port() {    # wait_port PORT up|down
    local i
    for i in $(seq 1 400); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            [ "$2" = up ] && return 0
        else
            [ "$2" = down ] && return 0
        fi
        sleep 0.05
    done
    return 1
}

start_server() {
    local root=$1
    if ! "$HTTPD" -d "$root" -f "$root/httpd.conf" -k start; then
        cat "$root/logs/error_log" >&2 || true
        exit 1
    fi
    SERVERS+=("$root")
    wait_port "$(port_of "$root")" up || { cat "$root/logs/error_log" >&2; exit 1; }
    # the children must answer, not only the listener
    curl -s -o /dev/null --max-time 5 --retry 20 --retry-connrefused --retry-delay 0 \
        "http://127.0.0.1:$(port_of "$root")/" || true
}

stop_server() {
    local root=$1 pid=""
    [ -f "$root/run/httpd.pid" ] || return 0
    pid=$(cat "$root/run/httpd.pid" 2>/dev/null || true)
    "$HTTPD" -d "$root" -f "$root/httpd.conf" -k stop 2>/dev/null || true
    for _ in $(seq 1 400); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$root/run/httpd.pid"
}

# The server's key file, made before the first start (the module reads it
# from MQLStateDir instead of generating one), and N visitors prefilled in
# a snapshot the module restores at start; their cookies go to COOKIES.
prefill() {    # prefill ROOT N COOKIES
    local root=$1 n=$2 cookies=$3
    head -c 32 /dev/urandom >"$root/state/secret"
    chmod 600 "$root/state/secret"
    "$OUT/mqlbench" prefill "$root/state/secret" "$n" "$root/state/visitors.snapshot" \
        "$cookies" >/dev/null
    [ "$(id -u)" = 0 ] && chown -R www-data:www-data "$root/state"
    return 0
}

# A pool cookie must be accepted (no new cookie), a request without one
# must get a fresh one: otherwise the run would measure cookie issuing.
check_cookies() {    # check_cookies ROOT COOKIES
    local url="http://127.0.0.1:$(port_of "$1")/" c ua
    ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    c=$(head -1 "$2")
    if curl -s -D - -o /dev/null -A "$ua" -H "Cookie: mql_vid=$c" "$url" | grep -qi '^set-cookie: mql_vid'; then
        echo "the server refused a pool cookie: the key does not match" >&2
        exit 1
    fi
    if ! curl -s -D - -o /dev/null -A "$ua" "$url" | grep -qi '^set-cookie: mql_vid'; then
        echo "the module set no cookie for a new visitor: is it tracking?" >&2
        exit 1
    fi
}

# CPU time (user and system, clock ticks) used so far by a server's
# parent and children: divided by the requests served, it is the cost of
# a request on the server's side, which the client's share of the two
# cores does not blur.
cpu_ticks() {    # cpu_ticks ROOT -> "USER SYSTEM"
    local pid
    pid=$(cat "$1/run/httpd.pid")
    # through cat, which skips a process that ended between the glob and
    # the read: awk itself (mawk) would stop there without its END, and
    # the run's figures would shift by two fields
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v p="$pid" '{ self = $1; sub(/^.*\) /, "") }    # past "pid (comm) "; fields shift by 2
                         $2 == p || self == p { u += $12; s += $13 }
                         END { print u + 0, s + 0 }' || true
}

# run_wrk ROOT COOKIES SECONDS
#   -> "rps p99_us errors non2xx cpu_us user_us system_us requests"
# WRK_SCRIPT, WRK_THREADS and WRK_CONNS choose another load (browser.lua)
run_wrk() {
    local root=$1 cookies=$2 secs=$3 line before after
    before=$(cpu_ticks "$root")
    line=$(wrk -t"${WRK_THREADS:-$THREADS}" -c"${WRK_CONNS:-$CONNS}" -d"${secs}s" --timeout 5s \
        -s "$BENCH/${WRK_SCRIPT:-mix.lua}" \
        "http://127.0.0.1:$(port_of "$root")/" -- "$cookies" | grep '^BENCH ' || true)
    after=$(cpu_ticks "$root")
    [ -n "$line" ] || { echo "wrk gave no result for $root" >&2; exit 1; }
    echo "$line $before $after" | awk -v hz="$(getconf CLK_TCK)" '
        { for (i = 2; i <= NF - 4; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
          n = v["requests"]; us = n ? 1e6 / hz / n : 0
          u = ($(NF - 1) - $(NF - 3)) * us; s = ($NF - $(NF - 2)) * us
          print v["rps"], v["p99_us"], v["errors"], v["non2xx"], u + s, u, s, n }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
                                              else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s\n", lo, hi }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }

# rounds NAME... : every round drives each server once for SECS seconds,
# the order rotating from round to round so that no server always runs
# first or last; results go to $WORK/results (round name rps p99 ...).
rounds() {
    local nrounds=$1 secs=$2 cookies_of=$3; shift 3
    local names=("$@") k r i name res
    : >"$WORK/results"
    for r in $(seq 1 "$nrounds"); do
        for k in $(seq 0 $((${#names[@]} - 1))); do
            i=$(( (k + r - 1) % ${#names[@]} ))
            name=${names[$i]}
            [ -z "${BEFORE_RUN:-}" ] || "$BEFORE_RUN"
            res=$(run_wrk "$WORK/$name" "$($cookies_of "$name")" "$secs")
            echo "$r $name $res" >>"$WORK/results"
        done
        round_line "$r" "${names[@]}"
    done
}

rps_of() { awk -v r="$1" -v n="$2" '$1 == r && $2 == n { print $3 }' "$WORK/results"; }
p99_of() { awk -v r="$1" -v n="$2" '$1 == r && $2 == n { print $4 }' "$WORK/results"; }
cpu_of() { awk -v r="$1" -v n="$2" '$1 == r && $2 == n { print $7 }' "$WORK/results"; }
column_median() { awk -v n="$1" -v c="$2" '$2 == n { print $c }' "$WORK/results" | median; }

round_line() {
    local r=$1 base=$2 line name rps; shift
    line="round $r:"
    for name in "$@"; do
        rps=$(rps_of "$r" "$name")
        line+=$(printf ' %s %.0f/s p99 %.1fms cpu %.1fus' "$name" "$rps" \
            "$(awk -v u="$(p99_of "$r" "$name")" 'BEGIN { print u / 1000 }')" "$(cpu_of "$r" "$name")")
        line+=$(awk -v r="$r" -v n="$name" '$1 == r && $2 == n && ($5 > 0 || $6 > 0) {
                    printf " [%d socket errors, %d non-2xx]", $5, $6 }' "$WORK/results")
        [ "$name" != "$base" ] && line+=" ($(pct "$rps" "$(rps_of "$r" "$base")")%)"
        line+=";"
    done
    log "$line"
}

# summary BASE NAME... : per server the median requests/s and p99, and
# for each other server its ratio to BASE (median over rounds, spread).
summary() {
    local base=$1 name r; shift
    for name in "$base" "$@"; do
        log "$(printf '  %-10s median %8.0f requests/s  (min %s, max %s)  p99 median %.1f ms  httpd CPU %.1f us/request (user %.1f, system %.1f)' "$name" \
            "$(column_median "$name" 3)" \
            $(awk -v n="$name" '$2 == n { printf "%.0f\n", $3 }' "$WORK/results" | minmax) \
            "$(awk -v n="$name" '$2 == n { print $4 / 1000 }' "$WORK/results" | median)" \
            "$(column_median "$name" 7)" "$(column_median "$name" 8)" "$(column_median "$name" 9)")"
    done
    for name in "$@"; do
        log "$(awk -v a="$(column_median "$name" 7)" -v b="$(column_median "$base" 7)" \
                   -v ua="$(column_median "$name" 8)" -v ub="$(column_median "$base" 8)" \
                   -v sa="$(column_median "$name" 9)" -v sb="$(column_median "$base" 9)" \
                   -v n="$name" -v base="$base" 'BEGIN {
                printf "  %s over %s: %+.1f us of httpd CPU per request (user %+.1f, system %+.1f)",
                       n, base, a - b, ua - ub, sa - sb }')"
    done
    for name in "$@"; do
        : >"$WORK/ratios.$name"
        for r in $(awk '{ print $1 }' "$WORK/results" | sort -un); do
            pct "$(rps_of "$r" "$name")" "$(rps_of "$r" "$base")" >>"$WORK/ratios.$name"
            echo >>"$WORK/ratios.$name"
        done
        log "$(printf '  %s / %s: median %.1f%%  (rounds: %s; spread %s)' "$name" "$base" \
            "$(median <"$WORK/ratios.$name")" "$(paste -sd' ' "$WORK/ratios.$name")" \
            "$(minmax <"$WORK/ratios.$name" | awk '{ printf "%.1f..%.1f", $1, $2 }')")"
    done
    # A few socket errors per round are wrk's connections closed at the end
    # of a keep-alive series; more than 1 in 10 000 requests, or any
    # non-2xx answer, means something else went wrong.
    awk '$6 > 0 || $5 * 10000 > $10 { bad = 1 } END { exit bad }' "$WORK/results" \
        || log "  WARNING: socket errors or non-2xx responses (see above): the figures are suspect"
}

machine() {
    log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    log "httpd: $("$HTTPD" -v | head -1 | sed 's/.*: //'), wrk -t$THREADS -c$CONNS, nothing pinned"
}

# ---------------------------------------------------------------------

main_bench() {
    local max=$(( VISITORS > 80000 ? VISITORS * 5 / 4 : 100000 ))
    new_server none none >/dev/null
    new_server mql mql "$max" >/dev/null
    new_server nojournal mql-nojournal "$max" >/dev/null
    new_server usertrack usertrack >/dev/null
    prefill "$WORK/mql" "$VISITORS" "$WORK/cookies.main"
    # the same key and visitors: the pool's cookies are valid on both
    cp -p "$WORK/mql/state/secret" "$WORK/mql/state/visitors.snapshot" "$WORK/nojournal/state/"
    for s in none mql nojournal usertrack; do start_server "$WORK/$s"; done
    check_cookies "$WORK/mql" "$WORK/cookies.main"
    log ""
    log "== throughput: $VISITORS visitors, 85% pages / 10% pricing / 5% PDF, $ROUNDS rounds of ${SECS}s per server"
    for s in none mql nojournal usertrack; do run_wrk "$WORK/$s" "$WORK/cookies.main" 2 >/dev/null; done
    rounds "$ROUNDS" "$SECS" main_cookies none mql nojournal usertrack
    summary none mql nojournal usertrack
    log "  the journal's cost (MQLJournal On against Off, the same run):"
    summary nojournal mql
    for s in none mql nojournal usertrack; do stop_server "$WORK/$s"; done
    grep -h '\[\(error\|crit\|alert\|emerg\)\]\|\[[a-z_]*:\(error\|crit\|alert\|emerg\)\]' \
        "$WORK"/{none,mql,nojournal,usertrack}/logs/error_log | head -5 | sed 's/^/  error log: /' | tee -a "$REPORT" || true
}
main_cookies() { echo "$WORK/cookies.main"; }

# Browsers: one visitor per keep-alive connection at a time, a page and
# its 10 files with the page as Referer.  wrk's Lua knows threads, not
# connections, so each browser is a wrk thread with one connection.
browser_bench() {
    local max=$(( VISITORS > 80000 ? VISITORS * 5 / 4 : 100000 ))
    new_server bnone none >/dev/null
    new_server bmql mql "$max" >/dev/null
    new_server busertrack usertrack >/dev/null
    prefill "$WORK/bmql" "$VISITORS" "$WORK/cookies.browser"
    for s in bnone bmql busertrack; do start_server "$WORK/$s"; done
    check_cookies "$WORK/bmql" "$WORK/cookies.browser"
    log ""
    log "== browsers: $VISITORS visitors, $BROWSERS connections of one visitor at a time, a page (85% pages / 10% pricing / 5% PDF) then its 10 files, $ROUNDS rounds of ${SECS}s per server"
    export WRK_SCRIPT=browser.lua WRK_THREADS=$BROWSERS WRK_CONNS=$BROWSERS
    for s in bnone bmql busertrack; do run_wrk "$WORK/$s" "$WORK/cookies.browser" 2 >/dev/null; done
    rounds "$ROUNDS" "$SECS" browser_cookies bnone bmql busertrack
    unset WRK_SCRIPT WRK_THREADS WRK_CONNS
    summary bnone bmql busertrack
    for s in bnone bmql busertrack; do stop_server "$WORK/$s"; done
    grep -h '\[\(error\|crit\|alert\|emerg\)\]\|\[[a-z_]*:\(error\|crit\|alert\|emerg\)\]' \
        "$WORK"/{bnone,bmql,busertrack}/logs/error_log | head -5 | sed 's/^/  error log: /' | tee -a "$REPORT" || true
}
browser_cookies() { echo "$WORK/cookies.browser"; }
webhook_bench() {
    local max=$(( VISITORS > 80000 ? VISITORS * 5 / 4 : 100000 )) pending
    # nothing listens there: every attempt is a refused connection
    DEAD_PORT=$(free_port)
    # a pricing view or two makes an MQL of a returning visitor (every
    # client is 127.0.0.1: no limit on new leads)
    BENCH_MQL_EXTRA="${BENCH_MQL_EXTRA:-}
MQLThreshold 8
MQLNewLeadLimit 0" new_server mql mql "$max" >/dev/null
    BENCH_MQL_EXTRA="${BENCH_MQL_EXTRA:-}
MQLThreshold 8
MQLNewLeadLimit 0" new_server hooked mql-webhook "$max" >/dev/null
    prefill "$WORK/mql" "$VISITORS" "$WORK/cookies.main"
    cp -p "$WORK/mql/state/secret" "$WORK/mql/state/visitors.snapshot" "$WORK/hooked/state/"
    for s in mql hooked; do start_server "$WORK/$s"; done
    check_cookies "$WORK/mql" "$WORK/cookies.main"
    log ""
    log "== webhook: MQLWebhook with its receiver down against none, $VISITORS visitors, threshold 8, $ROUNDS rounds of ${SECS}s"
    for s in mql hooked; do run_wrk "$WORK/$s" "$WORK/cookies.main" 2 >/dev/null; done
    rounds "$ROUNDS" "$SECS" main_cookies mql hooked
    summary mql hooked
    pending=$(sqlite3 "$WORK/hooked/state/outbox.sqlite" \
        "SELECT count(*) || ' events pending, ' || sum(attempts) || ' attempts' FROM delivery WHERE state = 0" 2>/dev/null || echo "no outbox")
    log "  the receiver that is down: $pending"
    for s in mql hooked; do stop_server "$WORK/$s"; done
}

scale_bench() {
    new_server mql1k mql 1250 >/dev/null
    new_server mql1m mql 1250000 >/dev/null
    prefill "$WORK/mql1k" 1000 "$WORK/cookies.1k"
    prefill "$WORK/mql1m" 1000000 "$WORK/cookies.1m"
    # The client picks a random line of its pool for every request: both
    # pools get 1 000 000 lines (the 1 000 cookies a thousand times over),
    # so wrk does the same work and only the server's table differs.
    for _ in $(seq 1000); do cat "$WORK/cookies.1k"; done >"$WORK/cookies.1k.pool"
    mv "$WORK/cookies.1k.pool" "$WORK/cookies.1k"
    start_server "$WORK/mql1k"
    start_server "$WORK/mql1m"
    check_cookies "$WORK/mql1m" "$WORK/cookies.1m"
    log ""
    log "== scale: the module with 1 000 and 1 000 000 visitors in the table, $SCALE_ROUNDS rounds of ${SCALE_SECS}s"
    log "  $(grep -ho 'restored [0-9]* visitors' "$WORK/mql1k/logs/error_log" | tail -1) (1k), $(grep -ho 'restored [0-9]* visitors' "$WORK/mql1m/logs/error_log" | tail -1) (1M)"
    run_wrk "$WORK/mql1k" "$WORK/cookies.1k" 2 >/dev/null
    run_wrk "$WORK/mql1m" "$WORK/cookies.1m" 2 >/dev/null
    rounds "$SCALE_ROUNDS" "$SCALE_SECS" scale_cookies mql1k mql1m
    summary mql1k mql1m
    stop_server "$WORK/mql1k"
    stop_server "$WORK/mql1m"
    "$OUT/mqlbench" snaptime 1000000 "$WORK" >"$WORK/snaptime"
    log "$(awk -F= '{ v[$1] = $2 } END {
        printf "  shared memory: %s bytes for 1 000 000 visitors = %s bytes per visitor\n", v["table_bytes"], v["bytes_per_visitor"]
        printf "  snapshot of %s visitors: save %.2f s, restore %.2f s", v["visitors"], v["save_s"], v["restore_s"] }' "$WORK/snaptime")"
    # the table side of the request path alone, without httpd and its noise
    log "  table side of a request (mqlbench path): $("$OUT/mqlbench" path 100000 |
        awk -F= '$1 == "path_ns" { print $2 }') ns with 100 000 visitors, $("$OUT/mqlbench" path 1000 |
        awk -F= '$1 == "path_ns" { print $2 }') ns with 1 000"
}
# MQLStore shm and MQLStore redis:// side by side, the same site, mix and
# visitor pool size; Redis on this machine (appendfsync everysec, its
# default for an append-only file), so it takes CPU from the same cores.
REDIS_PID=""
REDIS_PORT=""
redis_bench() {
    command -v redis-server >/dev/null || { log "redis-server missing: no redis bench"; return 0; }
    local max=$(( VISITORS > 80000 ? VISITORS * 5 / 4 : 100000 )) probe rtick0 rtick1 applied0 applied1 load
    REDIS_PORT=$(free_port)
    mkdir -p "$WORK/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save '' \
        --appendonly yes --appendfsync everysec >"$WORK/redis/log" 2>&1 &
    REDIS_PID=$!
    wait_port "$REDIS_PORT" up || { cat "$WORK/redis/log" >&2; exit 1; }
    new_server mqlshm mql "$max" >/dev/null
    new_server mqlredis mqlredis "$max" >/dev/null
    prefill "$WORK/mqlshm" "$VISITORS" "$WORK/cookies.shm"
    prefill "$WORK/mqlredis" "$VISITORS" "$WORK/cookies.redis"
    for s in mqlshm mqlredis; do start_server "$WORK/$s"; done
    check_cookies "$WORK/mqlredis" "$WORK/cookies.redis"
    log ""
    log "== MQLStore shm against MQLStore redis:// (Redis on the same host): $VISITORS visitors, $ROUNDS rounds of ${SECS}s per server"
    for s in mqlshm mqlredis; do run_wrk "$WORK/$s" "$(redis_cookies "$s")" 2 >/dev/null; done
    redis_drain
    rtick0=$(awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat")
    applied0=$(redis_applied)
    # each run starts with Redis idle: the backlog of a redis:// run must
    # not drain on the cores of the next shm run
    BEFORE_RUN=redis_drain rounds "$ROUNDS" "$SECS" redis_cookies mqlshm mqlredis
    rtick1=$(awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat")
    applied1=$(redis_applied)
    summary mqlshm mqlredis
    log "$(awk -v t="$((rtick1 - rtick0))" -v hz="$(getconf CLK_TCK)" -v n="$((applied1 - applied0))" 'BEGIN {
        printf "  Redis CPU: %.1f us per event applied (%d events)", n ? t * 1e6 / hz / n : 0, n }')"
    # the Function's own share of that, without httpd on the cores
    probe=$(perl "$BENCH/redis_function_bench.pl" "$REDIS_PORT" 20000 256 || true)
    log "  the Function alone (mql_apply_batch, 256 page views a call, Redis otherwise idle): $(echo "$probe" | awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%.1f us of Redis CPU per page view", v["us_per_entry"] }')"
    # what a full-speed run queued (and spilled) beyond what Redis on
    # these two cores could take meanwhile: how long it takes to drain
    local t0 t1 backlog
    run_wrk "$WORK/mqlredis" "$WORK/cookies.redis" "$SECS" >/dev/null
    backlog=$(redis_backlog)
    t0=$(date +%s.%N)
    for _ in $(seq 1 1200); do [ "$(redis_backlog)" = 0 ] && break; sleep 0.1; done
    t1=$(date +%s.%N)
    log "$(awk -v b="$backlog" -v a="$t0" -v z="$t1" -v left="$(redis_backlog)" -v s="$SECS" 'BEGIN {
        printf "  backlog after a %ss run: %d changes, drained in %.1f s%s", s, b, z - a,
               left ? " (NOT drained: " left " left)" : "" }')"
    # an outage under full load: Redis stopped (SIGSTOP) while wrk runs
    # OUTAGE seconds, the queue spilled to MQLStateDir; then Redis goes on,
    # and the time until every change is in it
    if [ "$OUTAGE" -gt 0 ]; then
        kill -STOP "$REDIS_PID"
        run_wrk "$WORK/mqlredis" "$WORK/cookies.redis" "$OUTAGE" >/dev/null
        backlog=$(redis_backlog)
        t0=$(date +%s.%N)
        kill -CONT "$REDIS_PID"
        for _ in $(seq 1 1200); do [ "$(redis_backlog)" = 0 ] && break; sleep 0.1; done
        t1=$(date +%s.%N)
        log "$(awk -v b="$backlog" -v a="$t0" -v z="$t1" -v left="$(redis_backlog)" -v s="$OUTAGE" 'BEGIN {
            printf "  a %ss outage under full load (Redis stopped): %d changes kept, drained in %.1f s%s", s, b, z - a,
                   left ? " (NOT drained: " left " left)" : "" }')"
    fi
    probe=$(perl "$BENCH/redis_probe.pl" "$(port_of "$WORK/mqlredis")" "$REDIS_PORT" "$WORK/cookies.redis" 100 10 || true)
    log "  request answered -> hit applied in Redis, no other load: $(echo "$probe" | awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)", v["p50_ms"], v["p99_ms"], v["max_ms"], v["n"] }')"
    # the hit's way to Redis while the redis:// server serves a lighter
    # load (one connection): with Redis on the same two cores as httpd and
    # wrk at full speed, Redis falls behind and the figure would measure
    # only the backlog
    wrk -t1 -c1 -d"$((SECS + 12))s" -s "$BENCH/mix.lua" \
        "http://127.0.0.1:$(port_of "$WORK/mqlredis")/" -- "$WORK/cookies.redis" >/dev/null &
    load=$!
    sleep 1
    probe=$(perl "$BENCH/redis_probe.pl" "$(port_of "$WORK/mqlredis")" "$REDIS_PORT" "$WORK/cookies.redis" 200 "$((SECS + 8))" || true)
    wait "$load" || true      # not redis-server, which runs in the background too
    log "  request answered -> hit applied in Redis, one connection of load: $(echo "$probe" | awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)", v["p50_ms"], v["p99_ms"], v["max_ms"], v["n"] }')"
    log "  $(curl -s "http://127.0.0.1:$(port_of "$WORK/mqlredis")/mql-status?auto" | grep -E '^Redis(QueueFull|Retries|Refused):' | paste -sd' ' || true)"
    # a second server on the same Redis: a promotion on one, seen by the
    # other's next request, and its notification line (either server's)
    head -c 32 /dev/urandom >"$WORK/fleet-secret"
    [ "$(id -u)" = 0 ] && chown www-data:www-data "$WORK/fleet-secret"
    chmod 600 "$WORK/fleet-secret"
    for s in fleeta fleetb; do new_server "$s" mqlfleet >/dev/null; start_server "$WORK/$s"; done
    probe=$(perl "$BENCH/redis_fleet_probe.pl" "$(port_of "$WORK/fleeta")" "$(port_of "$WORK/fleetb")" \
        "$WORK/fleeta/logs/notify.log" "$WORK/fleetb/logs/notify.log" 200 || true)
    log "  promotion on one server -> the other server's next request shows it: $(echo "$probe" | awk '$1 == "visible" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d visitors)", v["p50_ms"], v["p99_ms"], v["max_ms"], v["n"] }')"
    log "  promotion -> notification line (MQLNotify): $(echo "$probe" | awk '$1 == "notify" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d lines, %d missing)", v["p50_ms"], v["p99_ms"], v["max_ms"], v["n"], v["missing"] }')"
    for s in mqlshm mqlredis fleeta fleetb; do stop_server "$WORK/$s"; done
    # (the outage above is said once, MQL07001, and is no error of the run)
    grep -h '\[\(error\|crit\|alert\|emerg\)\]\|\[[a-z_]*:\(error\|crit\|alert\|emerg\)\]' \
        "$WORK"/{mqlshm,mqlredis,fleeta,fleetb}/logs/error_log | grep -v 'MQL07001:' | head -5 | sed 's/^/  error log: /' | tee -a "$REPORT" || true
}
redis_drain() {
    for _ in $(seq 1 1200); do [ "$(redis_backlog)" = 0 ] && return 0; sleep 0.1; done
}
redis_backlog() {
    curl -s "http://127.0.0.1:$(port_of "$WORK/mqlredis")/mql-status?auto" |
        awk -F': ' '$1 == "RedisQueue" || $1 == "RedisSpillPending" { n += $2 } END { print n + 0 }'
}
redis_cookies() { case "$1" in mqlshm) echo "$WORK/cookies.shm" ;; *) echo "$WORK/cookies.redis" ;; esac; }
redis_applied() {
    curl -s "http://127.0.0.1:$(port_of "$WORK/mqlredis")/mql-status?auto" |
        awk -F': ' '$1 == "RedisApplied" { print $2 + 0; found = 1 } END { if (!found) print 0 }'
}

scale_cookies() { case "$1" in mql1k) echo "$WORK/cookies.1k" ;; *) echo "$WORK/cookies.1m" ;; esac; }

# As root, the profiled httpd runs as www-data from the start (no User
# directive): callgrind_control cannot reach a process that changed its
# user after valgrind started.
AS_USER=""
if [ "$(id -u)" = 0 ]; then
    AS_USER="setpriv --reuid=www-data --regid=www-data --init-groups"
fi

# callgrind_control is served only while the process runs code: an idle
# httpd sleeps in epoll, so poke it with a request (a bot request, which
# the module skips) until the command is through.
cg_control() {    # cg_control -z|-d PID PORT
    local cc
    $AS_USER callgrind_control "$1" "$2" >/dev/null &
    cc=$!
    while kill -0 "$cc" 2>/dev/null; do
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$3/style.css" || true
        sleep 0.2
    done
    wait "$cc"
}

# Instructions per request: httpd -X under callgrind; counters zeroed after
# a warm-up, dumped after PROFILE_REQUESTS requests from one connection.
# PROF_SCRIPT and PROF_MODE: another load than the bench mix (browser.lua)
profile_one() {    # profile_one NAME KIND [same]: same = every request from one visitor
    local name=$1 kind=$2 root pid n=$PROFILE_REQUESTS dump ir wd sy
    local script=$BENCH/${PROF_SCRIPT:-mix.lua}
    root=$(NO_USER=1 new_server "$name" "$kind" 150000)
    if [ "$kind" = mql ] || [ "$kind" = mql-nojournal ] || [ "$kind" = mqlredis ]; then
        prefill "$root" 100000 "$WORK/cookies.$name"
    else
        cp "$WORK/cookies.main" "$WORK/cookies.$name"
    fi
    if [ "${3:-}" = same ]; then
        head -1 "$WORK/cookies.$name" >"$WORK/cookies.$name.1"
        mv "$WORK/cookies.$name.1" "$WORK/cookies.$name"
    fi
    mkdir -p "$root/cg" && chmod 777 "$root/cg"
    $AS_USER valgrind --tool=callgrind --callgrind-out-file="$root/cg/callgrind.out" \
        "$HTTPD" -X -d "$root" -f "$root/httpd.conf" >"$root/logs/valgrind.log" 2>&1 &
    pid=$!
    wait_port "$(port_of "$root")" up || { cat "$root/logs/valgrind.log" >&2; exit 1; }
    MQL_BENCH_LIMIT=1 wrk -t1 -c1 -d120s -s "$script" "http://127.0.0.1:$(port_of "$root")/" \
        -- "$WORK/cookies.$name" 300 ${PROF_MODE:-} >/dev/null
    cg_control -z "$pid" "$(port_of "$root")"
    MQL_BENCH_LIMIT=1 wrk -t1 -c1 -d300s -s "$script" "http://127.0.0.1:$(port_of "$root")/" \
        -- "$WORK/cookies.$name" "$n" ${PROF_MODE:-} >/dev/null
    cg_control -d "$pid" "$(port_of "$root")"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    dump=$(ls "$root"/cg/callgrind.out* | sort | grep -v 'out$' | head -1)
    [ -n "$dump" ] || dump=$root/cg/callgrind.out
    ir=$(awk '/^(summary|totals):/ && !t { t = $2 } END { print t + 0 }' "$dump")
    # mod_watchdog's thread runs mod_mql's writer_callback (periodic snapshot, DBM):
    # background work, not the request path; under valgrind's slow clock it
    # would weigh far more per request than it does at full speed.
    wd=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null \
         | awk '/:writer_callback \[/ && !w { gsub(",", "", $1); w = $1 } END { print w + 0 }')
    # MQLStore redis://: the sync thread (sending, replies, the streams) is
    # background work too, reported apart from the request path
    sy=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null \
         | awk '/:sync_main \[/ && !w { gsub(",", "", $1); w = $1 } END { print w + 0 }')
    echo "$name $(awk -v a="$ir" -v w="${wd:-0}" -v y="${sy:-0}" -v n="$n" 'BEGIN {
        printf "%.0f %.0f %.0f", (a - w - y) / n, w / n, y / n }')" >>"$WORK/profile"
    cp "$dump" "$OUT/callgrind.$name.out"
    : >"$WORK/cg.$name"
}

wanted() { case " $PROFILES " in *" $1 "*) return 0 ;; esac; return 1; }

# profile_kind NAME KIND [same]: profile_one when BENCH_PROFILES asks for it
profile_kind() { wanted "${1#prof-}" && profile_one "$@"; return 0; }

profile_bench() {
    command -v valgrind >/dev/null || { log "valgrind missing: no profile"; return 0; }
    [ -f "$WORK/cookies.main" ] || { head -c 32 /dev/urandom >"$WORK/secret.tmp"
        "$OUT/mqlbench" prefill "$WORK/secret.tmp" 100000 "$WORK/snap.tmp" "$WORK/cookies.main" >/dev/null; }
    : >"$WORK/profile"
    profile_kind prof-none none
    profile_kind prof-mql mql
    profile_kind prof-usertrack usertrack
    profile_kind prof-mql-same mql same
    profile_kind prof-mql-nojournal mql-nojournal
    if command -v redis-server >/dev/null && { wanted mqlredis || wanted mqlredis-browser; }; then
        local redis_port=${REDIS_PORT:-}
        REDIS_PORT=$(free_port)
        mkdir -p "$WORK/redis-prof"
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis-prof" --save '' \
            --appendonly no >"$WORK/redis-prof/log" 2>&1 &
        PROF_REDIS_PID=$!
        wait_port "$REDIS_PORT" up || { cat "$WORK/redis-prof/log" >&2; exit 1; }
        profile_kind prof-mqlredis mqlredis
        PROF_SCRIPT=browser.lua PROF_MODE=browser profile_kind prof-mqlredis-browser mqlredis
        kill "$PROF_REDIS_PID" 2>/dev/null || true
        wait "$PROF_REDIS_PID" 2>/dev/null || true
        PROF_REDIS_PID=""
        REDIS_PORT=$redis_port
    fi
    # browsers, and a file that cannot be an event by a known visitor
    local k
    for k in none mql usertrack; do
        PROF_SCRIPT=browser.lua PROF_MODE=browser profile_kind "prof-$k-browser" "$k"
    done
    for k in none mql usertrack; do
        PROF_SCRIPT=browser.lua PROF_MODE=static profile_kind "prof-$k-static" "$k"
    done
    log ""
    log "== instructions per request (callgrind, httpd -X, one connection, $PROFILE_REQUESTS requests of each load)"
    local base
    while read -r name ir wd sy; do
        # each load against httpd alone under the same load
        case "$name" in
            *-browser) base=prof-none-browser ;;
            *-static) base=prof-none-static ;;
            *) base=prof-none ;;
        esac
        base=$(awk -v b="$base" '$1 == b { print $2 }' "$WORK/profile")
        [ -n "$base" ] || base=$ir
        log "$(printf '  %-17s %7d instructions/request  (%+d vs none, %s%%; background writer %d more%s)' \
            "${name#prof-}" "$ir" $((ir - base)) "$(pct "$ir" "$base")" "$wd" \
            "$([ "${sy:-0}" = 0 ] || echo ", Redis sync thread $sy more")")"
    done <"$WORK/profile"
    log "  (mql: a random visitor per request, the bench mix; mql-same: every request"
    log "   of the connection from one visitor, as a browser's keep-alive connection"
    log "   sends them; *-browser: a page then its 10 files, one visitor per"
    log "   connection at a time, against none-browser; *-static: the style sheet"
    log "   alone, always by one known visitor, against none-static; mqlredis:"
    log "   MQLStore redis:// to a redis-server on this host, whose own work is"
    log "   not counted here: see the redis section)"
    for name in mql mql-same mql-browser mql-static; do
        [ -f "$WORK/cg.prof-$name" ] || continue
        log "  mod_mql functions, inclusive instructions per request ($name):"
        callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.prof-$name.out" 2>/dev/null \
            | grep -E ':(mql_post_read_request|mql_log_transaction|mql_fixups|mql_insert_filter|late_filter_func|mql_is_bot|mql_cookie_find|mql_cookie_parse|mql_cookie_check|mql_shm_get_ref|mql_shm_update_ref|mql_shm_prefetch|vs_get|vs_hit|vs_prefetch|export_env|score_request|mql_score_resolve|mql_delta_apply|ap_regexec|mql_path_has_extension|mql_journal_capture|mql_jring_put) \[' \
            | awk -v n="$PROFILE_REQUESTS" '{ gsub(",", "", $1); match($0, /:[A-Za-z_0-9]+ \[/);
                  printf "    %-24s %7.0f\n", substr($0, RSTART + 1, RLENGTH - 3), $1 / n }' \
            | tee -a "$REPORT"
    done
    log "  (app_signals_filter is left out: its inclusive cost is the whole output chain)"
    log "  (full profiles: build/out/callgrind.prof-*.out, read with callgrind_annotate)"
}

# ---------------------------------------------------------------------

: >"$REPORT"
log "mod_mql benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), build/bench.sh $MODE"
machine
make_site
case "$MODE" in
    main) main_bench ;;
    browser) browser_bench ;;
    scale) scale_bench ;;
    profile) profile_bench ;;
    redis) redis_bench ;;
    webhook) webhook_bench ;;
    all) main_bench; browser_bench; webhook_bench; redis_bench; scale_bench; profile_bench ;;
esac
log ""
log "report: $REPORT"
