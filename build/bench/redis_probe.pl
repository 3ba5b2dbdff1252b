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

# The time from a request's answer to its hit applied in Redis, for
# `build/bench.sh redis`: COUNT times, a page view by a visitor of the
# pool (cookies in COOKIES, one "ID.SIGNATURE" a line), then Redis asked
# every 0.2 ms whether that visitor's view count has gone up.  At most
# LIMIT seconds in all (a Redis that falls behind would make every probe
# wait); a probe that waited 2 s counts as 2000 ms.  Prints
# "probe n=N p50_ms=X p99_ms=Y max_ms=Z".
#   redis_probe.pl HTTP_PORT REDIS_PORT COOKIES COUNT [LIMIT]
use strict;
use warnings;
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

my ($http_port, $redis_port, $cookies, $count, $limit) = @ARGV;
my $stop = time + ($limit // 30);
my $redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis_port)
    or die "redis: $!\n";
$redis->autoflush(1);
open my $cf, '<', $cookies or die "$cookies: $!\n";
my @pool;
while (my $c = <$cf>) { chomp $c; push @pool, $c if @pool < 100000 }

# GET key: the views so far (0 for no visitor yet), c0 of the record as
# Redis keeps it (mql_redis.lua, RECORD): a little-endian uint16 at byte 21
sub views {
    my ($key) = @_;
    print $redis "*2\r\n\$3\r\nGET\r\n\$" . length($key) . "\r\n$key\r\n";
    my $line = <$redis>;
    return 0 if $line !~ /^\$(\d+)/;
    my $n = $1;
    my $buf = '';
    while (length $buf < $n + 2) {
        read($redis, $buf, $n + 2 - length $buf, length $buf) or last;
    }
    return length $buf >= 23 ? unpack('v', substr($buf, 21, 2)) : 0;
}

my @ms;
for (1 .. $count) {
    last if time > $stop;
    my $c = $pool[ int rand @pool ];
    my ($id) = $c =~ /^([A-Za-z0-9_-]{22})\./ or next;
    (my $b64 = $id) =~ tr{-_}{+/};
    my $shard = ord(substr(decode_base64("$b64=="), 0, 1)) % 16;
    my $key = "mql:{mql$shard}:v:$id";
    my $before = views($key);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http_port) or die "http: $!\n";
    print $s "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
        . "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n"
        . "Cookie: mql_vid=$c\r\nConnection: close\r\n\r\n";
    my $resp = do { local $/; <$s> };
    my $answered = time;
    close $s;
    next unless ($resp // '') =~ m{^HTTP/1\.1 200};
    my $until = $answered + 2;
    while (views($key) <= $before && time < $until) { sleep 0.0002 }
    push @ms, 1000 * (time - $answered);
    sleep 0.01;
}
@ms = sort { $a <=> $b } @ms;
die "no probe succeeded\n" unless @ms;
printf "probe n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", scalar @ms, $ms[ @ms / 2 ],
    $ms[ int(@ms * 0.99) ], $ms[-1];
