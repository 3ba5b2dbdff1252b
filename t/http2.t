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

# HTTP/2 (mod_http2) over h2c and over TLS (mod_ssl, a certificate made
# by this test): one visitor's many concurrent streams on one connection
# (h2load, one client, 100 streams at a time) are each scored, exactly
# once; MQLCookieSecure Auto (the default) adds Secure over HTTPS only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $h2load = '/usr/bin/h2load';
ok -x $h2load, 'h2load is installed' or BAIL_OUT('build/deps.sh test installs nghttp2-client');
my $UA = MQLTest::browser_ua();
my $N = 600;            # requests on one connection
my $STREAMS = 100;      # at a time

my $t = MQLTest->new(mpm => 'event', modules => [qw(http2 ssl socache_shmcb)], conf => '');
my $root = $t->root;
my $tls = MQLTest::free_port();
my $out = `openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout $root/key.pem -out $root/cert.pem 2>&1`;
is $?, 0, 'a self-signed certificate for 127.0.0.1' or diag $out;
$t->write_conf(<<"CONF");
MQLHalfLife 0
Protocols h2c http/1.1
H2MaxSessionStreams $STREAMS
Listen 127.0.0.1:$tls
SSLSessionCache shmcb:$root/run/ssl_scache(512000)
<VirtualHost 127.0.0.1:$tls>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile $root/cert.pem
    SSLCertificateKeyFile $root/key.pem
    Protocols h2 http/1.1
</VirtualHost>
CONF
$t->start;
my $http = $t->base;
my $https = "https://127.0.0.1:$tls";

# curl: (status, protocol, [Set-Cookie values], body)
sub curl {
    my ($url, @opt) = @_;
    my $raw = `curl -sk --max-time 10 -A '$UA' -D - @opt '$url'`;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my ($proto, $status) = ($head // '') =~ m{^HTTP/(\S+) (\d+)};
    my @cookies = ($head // '') =~ /^set-cookie:\s*(.*?)\r?$/mgi;
    return ($status // 0, $proto // '', \@cookies, $body // '');
}

sub score_of {
    my ($cookie) = @_;
    return MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie))->{MQL_SCORE};
}

# ---- the cookie's Secure attribute: HTTPS only --------------------------
my ($st, $proto, $sc) = curl("$https/index.html", '--http2');
is $st, 200, 'HTTPS: a page answers';
is $proto, '2', 'HTTPS: ... over HTTP/2 (ALPN h2)';
like $sc->[0] // '', qr/^mql_vid=[^;]+;.*; Secure(;|$)/, 'HTTPS over HTTP/2: the cookie is Secure';
like `curl -sk --max-time 10 --http2 -A '$UA' -o /dev/null -D - '$https/index.html'`,
    qr/^cache-control: private\r?$/mi, 'HTTPS over HTTP/2: a new visitor\'s page is private';
my $tls_cookie = ($sc->[0] // '') =~ s/;.*//r;
($st, $proto, $sc) = curl("$https/index.html", '--http1.1');
is $proto, '1.1', 'HTTPS over HTTP/1.1 too';
like $sc->[0] // '', qr/; Secure(;|$)/, 'HTTPS over HTTP/1.1: the cookie is Secure';
($st, $proto, $sc) = curl("$http/index.html", '--http2-prior-knowledge');
is $proto, '2', 'h2c: a page over cleartext HTTP/2';
ok(($sc->[0] // '') =~ /^mql_vid=/ && ($sc->[0] // '') !~ /Secure/i,
   'h2c (plain HTTP): the cookie is not Secure') or diag $sc->[0];
my $h2c_cookie = ($sc->[0] // '') =~ s/;.*//r;
($st, $proto, $sc) = curl("$http/index.html", '--http1.1');
unlike $sc->[0] // '', qr/Secure/i, 'plain HTTP/1.1: the cookie is not Secure';

# ---- one visitor, many streams on one connection ------------------------
sub h2load {
    my ($url, $cookie) = @_;
    my $o = `$h2load -n $N -c 1 -m $STREAMS -H 'user-agent: $UA' -H 'cookie: $cookie' '$url' 2>&1`;
    return $o;
}

for my $case ([ 'h2c', $http, $h2c_cookie ], [ 'h2 over TLS', $https, $tls_cookie ]) {
    my ($label, $base, $cookie) = @$case;
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    my $before = score_of($cookie);
    is $before, 1, "$label: the visitor's first view scored";
    my $o = h2load("$base/pricing.html", $cookie);
    like $o, qr/Application protocol: \Q${\ ($label eq 'h2c' ? 'h2c' : 'h2') }\E/,
        "$label: h2load spoke HTTP/2" or diag $o;
    like $o, qr/requests: $N total, $N started, $N done, $N succeeded/,
        "$label: $N requests on one connection, $STREAMS streams at a time, all answered";
    like $o, qr/status codes: $N 2xx/, "$label: all 200";
    is score_of($cookie), 1 + $N, "$label: exactly $N more points: every stream scored once";
    open my $fh, '<', $t->access_log or die $!;
    my $logged = grep { m{"GET /pricing\.html HTTP/2\.0" \Q$id\E$} } <$fh>;
    is $logged, $N, "$label: the access log has the $N HTTP/2 requests with the visitor's ID";
}

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the log';
done_testing;
