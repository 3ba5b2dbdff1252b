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

# A flood of scripted lead attempts, from one address, from many addresses
# of one network and from many networks (loopback aliases 127.0.x.y are
# all usable source addresses): no more fake leads than the limits allow
# reach the DBM file and the notifications, real visitors are still
# tracked and scored exactly, and the status page counts what was
# refused.  Then the age gate (MQLLeadMinAge, MQLLeadMinEvents), the
# defaults, and bad values refused by configtest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use MQLTest;

my $ctl = "$MQLTest::TOP/build/out/mqlctl";
my $UA = MQLTest::browser_ua();

my $t = MQLTest->new(flood => 1, conf => '');
my $root = $t->root;
my (undef, $out) = $t->notify_sink;
$t->write_conf(<<"CONF");
MQLHalfLife 0
MQLMaxVisitors 100
MQLNewVisitorLimit 10
MQLNewLeadLimit 2
MQLNotify "|$root/notify.pl"
<Location /mql-status>
    SetHandler mql-status
    Require ip 127.0.0.1
</Location>
CONF
$t->start;

# One request from a chosen source address.
sub from {
    my ($src, $method, $path, %o) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Timeout => 10) or die "connect from $src: $!";
    binmode $s;
    my $body = $o{body} // '';
    print $s "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: $UA\r\n"
        . ($o{cookie} ? "Cookie: $o{cookie}\r\n" : '')
        . (length $body ? "Content-Type: application/x-www-form-urlencoded\r\n"
                          . 'Content-Length: ' . length($body) . "\r\n" : '')
        . "Connection: close\r\n\r\n$body";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($status) = $resp =~ m{^HTTP/\S+ (\d+)};
    my ($cookie) = $resp =~ /^Set-Cookie: (mql_vid=[^;\r\n]+)/mi;
    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    return { status => $status // 0, cookie => $cookie, content => $content // '' };
}

# A scripted lead attempt: five contact-form posts (5 x 20 = the default
# threshold of 100), keeping whatever cookie the server gives.  Returns
# the visitor ID, or undef when the server never tracked it.
sub attempt {
    my ($src, $n) = @_;
    my $cookie;
    for my $i (1 .. 5) {
        my $r = from($src, 'POST', '/cgi-bin/form.cgi', cookie => $cookie,
                     body => "email=bot$n%40example.com");
        $cookie //= $r->{cookie};
    }
    my ($id) = ($cookie // '') =~ /^mql_vid=([^.]+)\./;
    return $id;
}

sub minute { int(time / 60) }

sub leads_in_dbm {
    my $o = `'$ctl' --state-dir '${\ $t->state_dir }' export --format json 2>/dev/null`;
    my $j = eval { decode_json($o) } // [];
    return { map { $_->{id} => $_ } @$j };
}

sub status_json { decode_json($t->get('/mql-status?json')->{content}) }

# ---- a real visitor before the flood --------------------------------------
my $real = '127.0.0.1';
my $r = from($real, 'GET', '/index.html');
my $real_cookie = $r->{cookie};
ok $real_cookie, 'a real visitor gets a cookie';
from($real, 'GET', '/whitepapers/guide.pdf', cookie => $real_cookie);

# ---- flood 1: 30 attempts from one address --------------------------------
my %group;                      # network label => [visitor IDs], minutes spanned
my $m0 = minute();
push @{ $group{'one address'}{ids} }, grep { defined } map { attempt('127.0.9.9', $_) } 1 .. 30;
$group{'one address'}{minutes} = minute() - $m0 + 1;
$group{'one address'}{networks} = 1;

# ---- flood 2: 30 addresses of one /24, one attempt each -------------------
$m0 = minute();
push @{ $group{'one network'}{ids} }, grep { defined } map { attempt("127.0.10.$_", 100 + $_) } 1 .. 30;
$group{'one network'}{minutes} = minute() - $m0 + 1;
$group{'one network'}{networks} = 1;

# ---- flood 3: 12 networks, 4 attempts each -----------------------------------
$m0 = minute();
for my $net (20 .. 31) {
    push @{ $group{'12 networks'}{ids} }, grep { defined } map { attempt("127.0.$net.1", $net * 10 + $_) } 1 .. 4;
}
$group{'12 networks'}{minutes} = minute() - $m0 + 1;
$group{'12 networks'}{networks} = 12;

# ---- cookies cannot be gathered on requests that score nothing ---------------
{
    my $m = minute();
    my $got = grep { from('127.0.40.1', 'GET', '/style.css')->{cookie} } 1 .. 15;
    ok $got >= 10 && $got <= 10 * (minute() - $m + 1),
        "15 cookie-less requests for a stylesheet from one network: $got cookies (the limit, 10)";
}

# ---- real visitors during and after the flood: tracked, scored exactly -----
from($real, 'GET', '/pricing.html', cookie => $real_cookie);
my $env = MQLTest::env_of(from($real, 'GET', '/cgi-bin/env.cgi', cookie => $real_cookie));
is $env->{MQL_SCORE}, 12, 'the real visitor: 1 view + 1 download + 1 view = 12, exactly';
my $fresh = from($real, 'GET', '/index.html');
ok $fresh->{cookie}, 'a new real visitor after the flood still gets a cookie';
from($real, 'GET', '/whitepapers/guide.pdf', cookie => $fresh->{cookie});
$env = MQLTest::env_of(from($real, 'GET', '/cgi-bin/env.cgi', cookie => $fresh->{cookie}));
is $env->{MQL_SCORE}, 11, '... and is scored exactly (11)';
my $real_lead = from($real, 'GET', '/index.html');
for (1 .. 5) {
    from($real, 'POST', '/cgi-bin/form.cgi', cookie => $real_lead->{cookie},
         body => 'email=jane%40example.com');
}
$env = MQLTest::env_of(from($real, 'GET', '/cgi-bin/env.cgi', cookie => $real_lead->{cookie}));
is $env->{MQL_STAGE}, 'mql', 'a real lead from another network still becomes an MQL';
is $env->{MQL_SCORE}, 101, '... with its exact score (1 + 5 x 20)';
my ($real_lead_id) = $real_lead->{cookie} =~ /^mql_vid=([^.]+)\./;

# ---- what reached the DBM file and the notifications ------------------------
my $expect_leads = 1;
$expect_leads += $group{$_}{networks} * 2 * $group{$_}{minutes} for keys %group;
my $leads = MQLTest::wait_for(10, sub {
    my $l = leads_in_dbm();
    $l->{$real_lead_id} ? $l : undef;
}) // {};
ok $leads->{$real_lead_id}, 'the real lead reached the DBM file';
my $in_dbm = keys %$leads;
for my $g (sort keys %group) {
    my $ids = $group{$g}{ids};
    my $n = grep { $leads->{$_} } @$ids;
    my $max = $group{$g}{networks} * 2 * $group{$g}{minutes};
    my $min = $group{$g}{networks} * 2;
    ok $n >= $min && $n <= $max,
        "$g: $n fake leads in the DBM file, within the limit ($min..$max: 2 per network per minute)";
}
ok $in_dbm <= $expect_leads, "$in_dbm leads in the DBM file in all, at most $expect_leads";
my @lines = @{ MQLTest::wait_for(10, sub {
    open my $f, '<', $out or return;
    my @l = <$f>;
    @l >= $in_dbm ? \@l : undef;
}) // [] };
is scalar(@lines), $in_dbm, 'one notification per lead, no more';
{
    my %tracked = map { $_ => 1 } @{ $group{'one address'}{ids} };
    ok keys(%tracked) <= 10 * $group{'one address'}{minutes},
        scalar(keys %tracked) . ' of 30 attempts from one address were tracked '
        . '(MQLNewVisitorLimit 10 per minute)';
}

# ---- the status page counts what was refused ---------------------------------
my $st = status_json();
my $f = $st->{flood};
is $f->{new_visitor_limit}, 10, 'status ?json: MQLNewVisitorLimit';
is $f->{new_lead_limit}, 2, 'status ?json: MQLNewLeadLimit';
is_deeply $f->{client_network}, [24, 64], 'status ?json: client networks /24 and /64 (default)';
is $f->{lead_min_age}, 0, 'status ?json: MQLLeadMinAge 0 by default';
is $f->{lead_min_events}, 1, 'status ?json: MQLLeadMinEvents 1 by default';
ok $f->{visitors_refused} >= 20 - 10 * ($group{'one address'}{minutes} - 1),
    "new visitors refused are counted ($f->{visitors_refused})";
ok $f->{leads_held_rate} >= 1, "leads held back by the lead limit are counted ($f->{leads_held_rate})";
is $f->{table_full}, 0, 'the limits\' table never ran full';
is $st->{health}{full}, 0, 'the visitor table never refused a visitor for being full of leads';
is $st->{health}{evictions}, 0, '... nor evicted anyone: the flood did not push real visitors out';
my $html = $t->get('/mql-status')->{content};
like $html, qr/id="flood-visitors-refused"><span class="warn">\d/, 'status page: new visitors refused shown';
like $html, qr/id="flood-leads-held-rate"><span class="warn">\d/, 'status page: leads held back shown';
my $auto = $t->get('/mql-status?auto')->{content};
like $auto, qr/^MQLFloodVisitorsRefused: [1-9]\d*$/m, '?auto: MQLFloodVisitorsRefused';
like $auto, qr/^MQLFloodLeadsHeldRate: [1-9]\d*$/m, '?auto: MQLFloodLeadsHeldRate';
my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
like $t->log_text, qr/MQL06002: .*MQLNewVisitorLimit 10/, 'the refusals are logged (MQL06002)';
$t->stop;

# ---- the age gate, and the defaults of the limits ----------------------------
my $g = MQLTest->new(flood => 1, conf => <<'CONF');
MQLHalfLife 0
MQLThreshold 20
MQLLeadMinAge 3s
MQLLeadMinEvents 3
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$g->start;
{
    my $res = $g->get('/cgi-bin/signal.cgi?event=webinar%3B%20points%3D50');
    my ($c) = MQLTest::visitor_cookie($res);
    my $e = MQLTest::env_of($g->get('/cgi-bin/env.cgi', Cookie => $c));
    is "$e->{MQL_STAGE} $e->{MQL_SCORE}", 'visitor 51',
        'one request, a view and a 50-point application event (threshold 20): held, '
        . 'a visitor with its exact score';
    $g->get('/index.html', Cookie => $c);
    $e = MQLTest::env_of($g->get('/cgi-bin/env.cgi', Cookie => $c));
    is "$e->{MQL_STAGE} $e->{MQL_SCORE}", 'visitor 52', 'three events, younger than 3 s: held';
    sleep 3.2;
    $g->get('/index.html', Cookie => $c);
    $e = MQLTest::env_of($g->get('/cgi-bin/env.cgi', Cookie => $c));
    is "$e->{MQL_STAGE} $e->{MQL_SCORE}", 'mql 53', 'four events and 3 s old: an MQL';
    my $j = decode_json($g->get('/mql-status?json')->{content})->{flood};
    is $j->{leads_held_young}, 2, 'status ?json: two promotions held back by the age gate';
    is $j->{new_visitor_limit}, 60, 'MQLNewVisitorLimit defaults to 60';
    is $j->{new_lead_limit}, 2, 'MQLNewLeadLimit defaults to 2';
    is $j->{lead_min_age}, 3, 'MQLLeadMinAge 3s';
    is $j->{lead_min_events}, 3, 'MQLLeadMinEvents 3';
}
$g->stop;

# ---- bad values: configtest names the file, the line and what is expected -----
for my $case (['MQLNewLeadLimit abc', qr/MQLNewLeadLimit: expects a number per client network and minute from 0 \(no limit\) to 4000; got 'abc'/],
              ['MQLNewVisitorLimit 5000', qr/MQLNewVisitorLimit: expects a number .* to 4000; got '5000'/],
              ['MQLClientNetwork 7', qr/MQLClientNetwork: expects an IPv4 prefix length from 8 to 32/],
              ['MQLClientNetwork 24 8', qr/MQLClientNetwork: expects an IPv6 prefix length from 16 to 128/],
              ['MQLLeadMinAge 40d', qr/MQLLeadMinAge: expects a duration from 0 to 30d; got '40d'/],
              ['MQLLeadMinAge soon', qr/MQLLeadMinAge: /],
              ['MQLLeadMinEvents 0', qr/MQLLeadMinEvents: expects a number of scored events from 1/],
              ["<VirtualHost 127.0.0.1:1>\nMQLNewLeadLimit 5\n</VirtualHost>", qr/MQLNewLeadLimit cannot occur within <?VirtualHost/]) {
    my $c = MQLTest->new(flood => 1, conf => $case->[0]);
    my ($rc, $o) = $c->configtest;
    (my $name = $case->[0]) =~ s/\n.*//s;
    isnt $rc, 0, "configtest refuses $name";
    like $o, $case->[1], '... saying what is expected';
    like $o, qr/line \d+ of \Q${\ $c->conf_file }\E/, '... with the file and line';
}

done_testing;
