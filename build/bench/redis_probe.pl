#!/usr/bin/perl
# The time from a request's answer to its hit applied in Redis, for
# `build/bench.sh redis`: COUNT times, a new visitor's request to the
# server (it gets its cookie), then Redis asked every 0.2 ms whether the
# visitor's key exists.  Prints "probe n=N p50_ms=X p99_ms=Y max_ms=Z".
# At most LIMIT seconds in all (a Redis that falls behind the load would
# make every probe wait its 2 s); probes that timed out count as 2000 ms.
#   redis_probe.pl HTTP_PORT REDIS_PORT COUNT [LIMIT]
use strict;
use warnings;
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(time sleep);

my ($http_port, $redis_port, $count, $limit) = @ARGV;
my $stop = time + ($limit // 30);
my $redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $redis_port)
    or die "redis: $!\n";
$redis->autoflush(1);

sub exists_key {
    my ($key) = @_;
    print $redis "*2\r\n\$6\r\nEXISTS\r\n\$" . length($key) . "\r\n$key\r\n";
    my $line = <$redis>;
    return $line =~ /^:1/;
}

my @ms;
for (1 .. $count) {
    last if time > $stop;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http_port) or die "http: $!\n";
    print $s "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
        . "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\nConnection: close\r\n\r\n";
    local $/;
    my $resp = <$s>;
    my $answered = time;
    close $s;
    my ($id) = $resp =~ /Set-Cookie: mql_vid=([A-Za-z0-9_-]{22})\./i or next;
    (my $b64 = $id) =~ tr{-_}{+/};
    my $shard = ord(substr(decode_base64("$b64=="), 0, 1)) % 16;
    my $key = "mql:{mql$shard}:v:$id";
    my $until = $answered + 2;
    while (!exists_key($key) && time < $until) { sleep 0.0002 }
    push @ms, 1000 * (time - $answered);
    sleep 0.01;
}
@ms = sort { $a <=> $b } @ms;
die "no probe succeeded\n" unless @ms;
printf "probe n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", scalar @ms, $ms[ @ms / 2 ],
    $ms[ int(@ms * 0.99) ], $ms[-1];
