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

# The Function alone, for `build/bench.sh redis`: Redis CPU (INFO cpu, user
# and system) per entry of mql_apply_batch calls of BATCH page-view
# entries each, as the sync thread sends them, over a pool of VISITORS
# visitors (a first pass creates their records, the second is measured).
# Prints "function entries=N batch=B us_per_entry=X calls_per_s=Y".
#   redis_function_bench.pl REDIS_PORT [VISITORS] [BATCH]
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my ($port, $visitors, $batch) = (@ARGV, 20000, 256)[0 .. 2];
$visitors ||= 20000;
$batch ||= 256;
my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or die "redis: $!\n";
$r->autoflush(1);
setsockopt($r, IPPROTO_TCP, TCP_NODELAY, 1);    # a call is several segments: no Nagle wait

sub command {
    my @a = @_;
    print $r '*' . @a . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @a);
    return reply();
}

sub reply {
    my $line = <$r> // die "redis closed\n";
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    $rest =~ s/\r\n$//;
    return $rest if $t eq '+' || $t eq ':';
    die "redis: $rest\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        read($r, $buf, $rest + 2 - length $buf, length $buf) while length $buf < $rest + 2;
        return substr($buf, 0, $rest);
    }
    return [ map { reply() } 1 .. $rest ] if $t eq '*';
    die "redis: unexpected $line";
}

sub cpu {
    my %i = command('INFO', 'cpu') =~ /^(used_cpu_\w+):([\d.]+)/mg;
    return $i{used_cpu_user} + $i{used_cpu_sys};
}

# a visitor: its ID (22 characters of base64url) and shard
my @pool = map {
    my $raw = join '', map { chr int rand 256 } 1 .. 16;
    (my $id = encode_base64($raw, '')) =~ tr{+/}{-_};
    [ substr($id, 0, 22), ord($raw) % 16 ]
} 1 .. $visitors;
my $origin = sprintf '%016x', int rand 2**48;
my $seq = 0;

# a page view as mql_redis_entry_binary makes it: the head, MQLExpire,
# the delta (mql_delta_encode: one item of 1 point, threshold 50)
sub entry {
    my ($id) = @_;
    my $now = time;
    return pack('a1 a16 d< a22 V V', 'h', $origin, ++$seq, $id, $now, 2592000)
         . pack('V V C l< C C C C l< a2 C C C C V d< v/a* C v/a*',
                1, 2592000, 1, 1, 0, 255, 0, 0, 0, "\0\0", 0, 0, 0, 0, 0, 50, '', 0, 'view:/');
}

# one call as the sync thread makes it on a single Redis (append_batch_call)
sub call {
    my @e = map { $pool[ int rand @pool ] } 1 .. $batch;
    my $out = command('FCALL', 'mql_apply_batch', $batch + 2, 'mql:{mql0}:seq', 'mql:{mql0}:totals',
                      (map { "mql:{mql$_->[1]}:v:$_->[0]" } @e), map { entry($_->[0]) } @e);
    die "unexpected reply\n" unless ref $out eq 'ARRAY' && @$out == $batch;
}

my $calls = int($visitors / $batch) + 1;
call() for 1 .. $calls;                  # the records exist, as in a steady state
my ($c0, $t0) = (cpu(), time);
call() for 1 .. $calls;
my ($c1, $t1) = (cpu(), time);
printf "function entries=%d batch=%d us_per_entry=%.2f calls_per_s=%.0f\n", $calls * $batch, $batch,
    1e6 * ($c1 - $c0) / ($calls * $batch), $calls / ($t1 - $t0);
