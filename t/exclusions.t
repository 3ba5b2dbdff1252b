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

# Requests that must get no cookie and no score.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use HTTP::Tiny;

my $conf = <<'CONF';
RemoteIPHeader X-Real-IP
RemoteIPInternalProxy 127.0.0.1
MQLConsentCookie consent ^yes$
MQLExcludeUserAgent InternalQA "^Acme-Monitor"
MQLExcludeIP 198.51.100.0/24 2001:db8::/32
<Location /private>
    MQLEngine Off
</Location>
CONF
my $t = MQLTest->new(conf => $conf);
mkdir $t->root . '/htdocs/private';
open my $fh, '>', $t->root . '/htdocs/private/index.html' or die;
print $fh "<html><body>private</body></html>\n";
close $fh;
$t->start;

my $consent = 'consent=yes';
sub tracked {
    my ($res) = @_;
    return defined MQLTest::visitor_cookie($res);
}

my $res = $t->get('/', Cookie => $consent);
ok tracked($res), 'a browser with consent is tracked';

my %excluded = (
    'DNT: 1'                => { DNT => '1' },
    'Sec-GPC: 1'            => { 'Sec-GPC' => '1' },
    'no consent cookie'     => { Cookie => 'other=1' },
    'consent=no'            => { Cookie => 'consent=no' },
    'opt-out cookie'        => { Cookie => "$consent; mql_optout=1" },
    'Googlebot'             => { 'User-Agent' => 'Mozilla/5.0 (compatible; Googlebot/2.1)' },
    'curl'                  => { 'User-Agent' => 'curl/7.88.1' },
    'HeadlessChrome'        => { 'User-Agent' => 'Mozilla/5.0 HeadlessChrome/120.0' },
    'UptimeRobot'           => { 'User-Agent' => 'Mozilla/5.0+(compatible; UptimeRobot/2.0)' },
    'no User-Agent'         => { 'User-Agent' => '' },
    'MQLExcludeUserAgent'   => { 'User-Agent' => "$MQLTest::UA InternalQA" },
    'MQLExcludeUserAgent ^' => { 'User-Agent' => 'Acme-Monitor/1.0 Firefox' },
    'excluded IPv4 network' => { 'X-Real-IP' => '198.51.100.7' },
    'excluded IPv6 network' => { 'X-Real-IP' => '2001:db8::5' },
    'excluded v4-mapped'    => { 'X-Real-IP' => '::ffff:198.51.100.7' },
    'Purpose: prefetch'     => { Purpose => 'prefetch' },
    'Sec-Purpose: prefetch' => { 'Sec-Purpose' => 'prefetch;prerender' },
);
for my $what (sort keys %excluded) {
    my %h = (Cookie => $consent, %{ $excluded{$what} });
    my $res = $t->request('GET', '/cgi-bin/env.cgi', headers => \%h);
    is $res->{status}, 200, "$what: served";
    ok !tracked($res), "$what: no cookie";
    is MQLTest::env_of($res)->{MQL_VISITOR}, undef, "$what: no MQL_VISITOR";
}

for my $ip ('203.0.113.9', '2001:db9::1', '::ffff:203.0.113.9') {
    ok tracked($t->get('/', Cookie => $consent, 'X-Real-IP' => $ip)),
        "$ip outside the excluded networks is tracked";
}

# The User-Agent verdict is kept per connection: a changed User-Agent on the
# same keep-alive connection is judged afresh.
{
    my $ka = HTTP::Tiny->new(keep_alive => 1, max_redirect => 0, agent => '');
    my @seen;
    for my $agent ($MQLTest::UA, 'curl/7.88.1', $MQLTest::UA) {
        my $r = $ka->get($t->base . '/', { headers => { Cookie => $consent, 'User-Agent' => $agent } });
        push @seen, tracked($r) ? 'tracked' : 'excluded';
    }
    is "@seen", 'tracked excluded tracked', 'one keep-alive connection, three User-Agents';
}

# The Cookie verdict is kept per connection too: each changed Cookie header
# on one keep-alive connection is judged afresh, the same one is not.
{
    my $ka = HTTP::Tiny->new(keep_alive => 1, max_redirect => 0, agent => $MQLTest::UA);
    my (%ports, @seen);
    my $step = sub {
        my ($cookie) = @_;
        my $r = $ka->get($t->base . '/cgi-bin/env.cgi', { headers => { Cookie => $cookie } });
        $ports{ $ka->{handle}{fh}->sockport }++ if $ka->{handle};
        my $env = MQLTest::env_of($r);
        push @seen, [ $env->{MQL_VISITOR} // 'untracked', MQLTest::visitor_cookie($r) ];
        return $seen[-1];
    };
    my ($first_id, $a) = @{ $step->($consent) };
    ok $a, 'keep-alive: a new visitor gets a cookie';
    my ($forged) = $a =~ /^(.*)(.)$/;
    $forged .= substr($a, -1) eq 'A' ? 'B' : 'A';
    my @cookies = ("$consent; $a", "$consent; $a", "$consent; mql_optout=1; $a", "$consent; $a",
                   "$consent; $forged", "other=1; $a", "$consent; $a");
    $step->($_) for @cookies;
    is_deeply [ map { $_->[0] } @seen[1 .. 7] ],
        [ $first_id, $first_id, 'untracked', $first_id, $seen[5][0], 'untracked', $first_id ],
        'keep-alive: the visitor, the same again, opted out, back, forged, no consent, back';
    isnt $seen[5][0], $first_id, 'keep-alive: a forged signature is a new visitor';
    ok $seen[5][1] && !$seen[1][1] && !$seen[2][1] && !$seen[7][1],
        'keep-alive: a cookie is set for the forged one only';
    is scalar(keys %ports), 1, 'keep-alive: all eight requests on one connection';
}

$res = $t->request('HEAD', '/', headers => { Cookie => $consent });
is $res->{status}, 200, 'HEAD served';
ok !tracked($res), 'HEAD: no cookie';

$res = $t->get('/private/', Cookie => $consent);
is $res->{status}, 200, 'MQLEngine Off location served';
ok !tracked($res), 'MQLEngine Off in a <Location>: no cookie';

# A page that includes a CGI through a subrequest: one visitor, one cookie.
$res = $t->get('/ssi.shtml', Cookie => $consent);
is $res->{status}, 200, 'SSI page served';
my @sc = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
is scalar(@sc), 1, 'a page with a subrequest sets one cookie';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';

# MQLRespectDNT Off and MQLBotFilter Off
my $t2 = MQLTest->new(conf => "MQLRespectDNT Off\nMQLBotFilter Off\n");
$t2->start;
ok tracked($t2->get('/', DNT => '1')), 'MQLRespectDNT Off: DNT is not honoured';
ok tracked($t2->request('GET', '/', headers => { 'User-Agent' => 'curl/7.88.1' })),
    'MQLBotFilter Off: curl is tracked';
$t2->stop;

done_testing;
