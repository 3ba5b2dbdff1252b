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

# Virtual hosts inherit the main server's settings, may override them, and
# share one visitor table.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $t = MQLTest->new(conf => '');
my $port = $t->port;
$t->write_conf(<<"CONF");
MQLCookieName lead
MQLCookieDomain .shop.test
MQLHalfLife 0
MQLThreshold 3
<VirtualHost 127.0.0.1:$port>
    ServerName a.shop.test
    MQLThreshold 5
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName b.shop.test
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName off.shop.test
    MQLEngine Off
</VirtualHost>
CONF
$t->start;

sub on {
    my ($host, $path, @h) = @_;
    return $t->raw('GET', $path, "Host: $host", @h);
}

my $res = on('a.shop.test', '/');
my ($sc) = MQLTest::set_cookies($res);
like $sc, qr/^lead=/, 'a virtual host inherits MQLCookieName';
like $sc, qr/Domain=\.shop\.test/, '... and MQLCookieDomain';
my ($cookie) = MQLTest::visitor_cookie($res, 'lead');

on('a.shop.test', '/pricing.html', "Cookie: $cookie") for 1 .. 2;
my $env = MQLTest::env_of(on('a.shop.test', '/cgi-bin/env.cgi', "Cookie: $cookie"));
is $env->{MQL_SCORE}, 3, 'score 3 on a.shop.test';
is $env->{MQL_STAGE}, 'visitor', 'its own MQLThreshold 5 overrides the main server\'s 3';

$env = MQLTest::env_of(on('b.shop.test', '/cgi-bin/env.cgi', "Cookie: $cookie"));
is $env->{MQL_SCORE}, 3, 'the same visitor and score on b.shop.test: one shared table';
on('b.shop.test', '/pricing.html', "Cookie: $cookie");
$env = MQLTest::env_of(on('b.shop.test', '/cgi-bin/env.cgi', "Cookie: $cookie"));
is $env->{MQL_STAGE}, 'mql', 'b.shop.test uses the inherited threshold 3';

$res = on('off.shop.test', '/');
is $res->{status}, 200, 'MQLEngine Off virtual host serves';
is_deeply [MQLTest::set_cookies($res)], [], '... and sets no cookie';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
