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

# The visitor cookie as a browser sees it: attributes, signing, forgery.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

for my $mpm (qw(prefork event)) {
    my $t = MQLTest->new(mpm => $mpm, conf => "MQLCookieMaxAge 30d\n");
    $t->start;

    my $res = $t->get('/');
    is $res->{status}, 200, "$mpm: home page served";
    my @sc = MQLTest::set_cookies($res);
    is scalar(@sc), 1, "$mpm: one Set-Cookie for a new visitor";
    my $sc = $sc[0] // '';
    like $sc, qr/^mql_vid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}; /, "$mpm: value is ID.SIGNATURE, URL-safe";
    like $sc, qr/; Path=\//, "$mpm: Path=/";
    like $sc, qr/; Max-Age=2592000(;|$)/, "$mpm: Max-Age from MQLCookieMaxAge";
    like $sc, qr/; SameSite=Lax(;|$)/, "$mpm: SameSite=Lax by default";
    like $sc, qr/; HttpOnly(;|$)/, "$mpm: HttpOnly by default";
    unlike $sc, qr/Secure/, "$mpm: no Secure over plain HTTP";
    unlike $sc, qr/Domain=/, "$mpm: no Domain unless configured";

    my ($cookie) = MQLTest::visitor_cookie($res);
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    $res = $t->get('/cgi-bin/env.cgi', Cookie => $cookie);
    is_deeply [MQLTest::set_cookies($res)], [], "$mpm: a valid cookie is not set again";
    my $env = MQLTest::env_of($res);
    is $env->{MQL_VISITOR}, $id, "$mpm: MQL_VISITOR is the cookie's ID";
    is $env->{MQL_NEW}, '0', "$mpm: MQL_NEW=0 for a returning visitor";

    $res = $t->get('/cgi-bin/env.cgi');
    $env = MQLTest::env_of($res);
    is $env->{MQL_NEW}, '1', "$mpm: MQL_NEW=1 on the first request";
    my ($fresh) = (MQLTest::visitor_cookie($res) // '') =~ /^mql_vid=([^.]+)\./;
    is $env->{MQL_VISITOR}, $fresh, "$mpm: the new ID is exported with its cookie";

    # Forgeries are treated as absent: a new ID, never an error, never the victim's ID.
    my $sig_flip = $cookie;
    substr($sig_flip, -1, 1) = substr($sig_flip, -1, 1) eq 'A' ? 'B' : 'A';
    my $id_flip = $cookie;
    substr($id_flip, 9, 1) = substr($id_flip, 9, 1) eq 'A' ? 'B' : 'A';
    my %bad = (
        'altered signature' => $sig_flip,
        'altered ID'        => $id_flip,
        'truncated'         => substr($cookie, 0, length($cookie) - 3),
        'ID without signature' => "mql_vid=$id",
        'garbage'           => "mql_vid=%00\xff\xfe<script>\"=;=;;",
        '4 KB value'        => 'mql_vid=' . ('A' x 4096),
        'empty'             => 'mql_vid=',
    );
    for my $what (sort keys %bad) {
        $res = $t->raw('GET', '/cgi-bin/env.cgi', "Cookie: $bad{$what}");
        is $res->{status}, 200, "$mpm: $what: 200";
        my $e = MQLTest::env_of($res);
        ok $e->{MQL_VISITOR} && $e->{MQL_VISITOR} ne $id, "$mpm: $what: not the original visitor";
        is $e->{MQL_NEW}, '1', "$mpm: $what: treated as a new visitor";
        ok MQLTest::visitor_cookie($res), "$mpm: $what: a fresh cookie is set";
    }

    my $many = join '; ', (map { "c$_=v$_" } 1 .. 99), $cookie;
    $res = $t->get('/cgi-bin/env.cgi', Cookie => $many);
    is MQLTest::env_of($res)->{MQL_VISITOR}, $id, "$mpm: found among 100 cookies";
    $res = $t->get('/cgi-bin/env.cgi', Cookie => "xmql_vid=junk; mql_vid2=junk; $cookie");
    is MQLTest::env_of($res)->{MQL_VISITOR}, $id, "$mpm: similar names do not confuse";

    # Error and redirect responses carry the cookie too.
    $res = $t->get('/no-such-page.html');
    is $res->{status}, 404, "$mpm: 404 page";
    ok MQLTest::visitor_cookie($res), "$mpm: a 404 sets the cookie";

    # A stable key: the same cookie is valid after a full restart.
    $t->stop;
    $t->start;
    $res = $t->get('/cgi-bin/env.cgi', Cookie => $cookie);
    is MQLTest::env_of($res)->{MQL_VISITOR}, $id, "$mpm: cookie still valid after stop/start";
    ok -s $t->state_dir . '/secret', "$mpm: the generated key is kept in MQLStateDir";
    is((stat($t->state_dir . '/secret'))[2] & 07777, 0600, "$mpm: key file is private (0600)");

    # The access log can name the visitor.
    like do { local (@ARGV, $/) = $t->access_log; <> }, qr/ \Q$id\E$/m,
        "$mpm: %{mql_visitor}n in the access log";
    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$mpm: no errors in the error log";
}

# Configured attributes, and a shared secret file.
{
    my $t0 = MQLTest->new;
    my $secret = $t0->root . '/shared.key';
    open my $fh, '>', $secret or die;
    print $fh "a shared secret of more than sixteen bytes\n";
    close $fh;
    my $conf = "MQLSecret $secret\nMQLCookieName lead\nMQLCookieDomain .example.com\n"
             . "MQLCookieSameSite Strict\nMQLCookieHTTPOnly Off\nMQLCookieSecure On\n";
    my $a = MQLTest->new(conf => $conf);
    my $b = MQLTest->new(conf => $conf);
    $a->start;
    $b->start;
    my $res = $a->get('/');
    my ($sc) = MQLTest::set_cookies($res);
    like $sc, qr/^lead=/, 'MQLCookieName';
    like $sc, qr/; Domain=\.example\.com/, 'MQLCookieDomain';
    like $sc, qr/; SameSite=Strict/, 'MQLCookieSameSite Strict';
    unlike $sc, qr/HttpOnly/, 'MQLCookieHTTPOnly Off';
    like $sc, qr/; Secure/, 'MQLCookieSecure On';
    my $cookie = MQLTest::visitor_cookie($res, 'lead');
    my ($id) = $cookie =~ /^lead=([^.]+)\./;
    $res = $b->get('/cgi-bin/env.cgi', Cookie => $cookie);
    is MQLTest::env_of($res)->{MQL_VISITOR}, $id, 'servers sharing MQLSecret accept each other\'s cookies';
    $a->stop;
    $b->stop;
}

done_testing;
