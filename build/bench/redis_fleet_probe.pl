#!/usr/bin/perl
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

# Two servers sharing one Redis, for `build/bench.sh redis`: COUNT times a
# new visitor is promoted by a request on server A (MQLThreshold 3, the
# pricing page worth 5), then server B is asked every 2 ms, with that
# visitor's cookie, until its answer shows the stage (a response header
# X-MQL-Stage from MQL_STAGE, set by mod_headers).  Meanwhile the servers'
# MQLNotify program (notify_times.pl) notes when each notification line
# arrived.  Prints two lines:
#   visible n=N p50_ms=X p99_ms=Y max_ms=Z     (A's answer -> B's request shows it)
#   notify n=N p50_ms=X p99_ms=Y max_ms=Z      (A's answer -> the notification line)
# A visitor that B did not show within 2 s counts as 2000 ms; one whose
# line never came is reported as missing.
#   redis_fleet_probe.pl PORT_A PORT_B NOTIFY_LOG_A NOTIFY_LOG_B COUNT
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my ($port_a, $port_b, $log_a, $log_b, $count) = @ARGV;
my $UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
       . 'Chrome/124.0 Safari/537.36';

# one request, Connection: close; the answer's head and when it came
sub get {
    my ($port, $path, $cookie) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "http: $!\n";
    print $s "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: $UA\r\n"
        . ($cookie ? "Cookie: mql_vid=$cookie\r\n" : '') . "Connection: close\r\n\r\n";
    my $resp = do { local $/; <$s> } // '';
    my $at = time;
    close $s;
    return ($resp, $at);
}

sub pct {
    my ($p, @v) = @_;
    @v = sort { $a <=> $b } @v;
    return @v ? $v[ int($p / 100 * $#v + 0.5) ] : 0;
}

my (@visible, %promoted_at);
for (1 .. $count) {
    my ($first) = get($port_a, '/');
    my ($cookie) = $first =~ /^Set-Cookie: mql_vid=([^;\s]+)/mi or next;
    my ($id) = $cookie =~ /^([^.]+)\./;
    my ($resp, $t0) = get($port_a, '/pricing.html', $cookie);
    next unless $resp =~ m{^HTTP/1\.1 200};
    $promoted_at{$id} = $t0;
    my $seen;
    while (time < $t0 + 2) {
        my ($r, $at) = get($port_b, '/', $cookie);
        if ($r =~ /^X-MQL-Stage: mql\r?$/mi) { $seen = $at; last }
        sleep 0.002;
    }
    push @visible, 1000 * (($seen // $t0 + 2) - $t0);
    sleep 0.02;
}

# the notification lines: "EPOCH_SECONDS JSON" (notify_times.pl)
my $until = time + 3;
my %notified;
while (time < $until) {
    for my $log ($log_a, $log_b) {
        open my $f, '<', $log or next;
        while (<$f>) {
            my ($t, $json) = /^(\S+) (.*)$/ or next;
            my ($id) = $json =~ /"visitor":"([^"]+)"/ or next;
            $notified{$id} //= $t if exists $promoted_at{$id};
        }
    }
    last if keys %notified == keys %promoted_at;
    sleep 0.05;
}
my @notify = map { 1000 * ($notified{$_} - $promoted_at{$_}) } keys %notified;
printf "visible n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", scalar @visible,
    pct(50, @visible), pct(99, @visible), pct(100, @visible);
printf "notify n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f missing=%d\n", scalar @notify,
    pct(50, @notify), pct(99, @notify), pct(100, @notify), keys(%promoted_at) - keys(%notified);
