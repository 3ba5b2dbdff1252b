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

# IPv6 clients and the flood limits.  A /48 holds 65 536 /64s, so a limit
# per /64 alone is no limit: the /64s of one /48 share the /56's and the
# /48's budgets (MQLClientNetwork 24 64,56*2,48*4 by default).  And a
# flood of networks that fills the limits' table lifts no limit: a
# promotion that finds no slot is held (the visitor keeps its score and
# becomes a lead later), while new visitors are still tracked.  Clients
# are IPv6 addresses given by a trusted proxy (mod_remoteip, X-Real-IP).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use MQLTest;

my $ctl = "$MQLTest::TOP/build/out/mqlctl";

sub conf_text {
    my ($extra) = @_;
    return <<"CONF";
RemoteIPHeader X-Real-IP
RemoteIPInternalProxy 127.0.0.1
MQLHalfLife 0
MQLThreshold 3
MQLRule view ^/pricing 5
MQLNewLeadLimit 2
$extra
<Location /mql-status>
    SetHandler mql-status
    Require ip 127.0.0.1 ::1 2001:db8:ffff::1
</Location>
CONF
}

sub server {
    my ($extra) = @_;
    my $t = MQLTest->new(flood => 1, conf => conf_text($extra));
    $t->start;
    return $t;
}

# One request from the client address $ip; returns (status, the visitor
# cookie it set or undef, the response).
sub from {
    my ($t, $ip, $path, $cookie) = @_;
    my $r = $t->host_request('GET', $path,
                             headers => { 'X-Real-IP' => $ip, $cookie ? (Cookie => $cookie) : () });
    return ($r->{status}, scalar MQLTest::visitor_cookie($r), $r);
}

sub id_of { my ($c) = @_; ($c // '') =~ /^mql_vid=([^.]+)\./ ? $1 : undef }

sub minute { int(time / 60) }

sub flood_json {
    my ($t) = @_;
    return decode_json($t->get('/mql-status?json', 'X-Real-IP' => '2001:db8:ffff::1')->{content})
        ->{flood};
}

sub leads_in_dbm {
    my ($t) = @_;
    my $o = `'$ctl' --state-dir '${\ $t->state_dir }' export --format json 2>/dev/null`;
    my $j = eval { decode_json($o) } // [];
    return { map { $_->{id} => $_ } @$j };
}

# Run $code (given the try's number) until one run starts and ends in the
# same calendar minute, the window the limits count in; its result.
sub in_one_minute {
    my ($code) = @_;
    for my $try (1 .. 4) {
        my $m = minute();
        my $res = $code->($try);
        return $res if minute() == $m;
        diag "try $try crossed a minute; again with fresh networks";
    }
    die "four tries each crossed a minute\n";
}

# The IDs of $ids that are leads in the DBM file once the writer has
# published the table's leads (MQLStageMQL on the status page).
sub leads_of {
    my ($t, $ids) = @_;
    my $auto = $t->get('/mql-status?auto', 'X-Real-IP' => '2001:db8:ffff::1')->{content};
    my ($in_table) = $auto =~ /^MQLStageMQL: (\d+)$/m;
    my $dbm = MQLTest::wait_for(15, sub {
        my $l = leads_in_dbm($t);
        keys(%$l) >= $in_table ? $l : undef;
    }) // leads_in_dbm($t);
    return scalar grep { defined && $dbm->{$_} } @$ids;
}

# ---- many /64s of one /48 share its budgets --------------------------------
{
    my $t = server('');

    # new visitors: 300 /64s of one /48, one cookie-less request each;
    # the /48 may make 4 x 60 = 240 a minute
    my $cookies = in_one_minute(sub {
        my ($try) = @_;
        my $n = 0;
        for my $i (0 .. 299) {
            my $ip = sprintf '2001:db8:a%x:%x::1', $try, ($i % 256) << 8 | int($i / 256);
            (undef, my $c) = from($t, $ip, '/style.css');
            $n++ if $c;
        }
        return $n;
    });
    is $cookies, 240, '300 new visitors from 300 /64s of one /48: 240 cookies (4 x MQLNewVisitorLimit 60)';

    # leads: 40 /64s of one /48, each in a /56 of its own, each a new
    # visitor over the threshold on its first request
    my $ids = in_one_minute(sub {
        my ($try) = @_;
        my @ids;
        for my $i (0 .. 39) {
            (undef, my $c) = from($t, sprintf('2001:db8:b%x:%x::1', $try, $i << 8), '/pricing.html');
            push @ids, id_of($c);
        }
        return \@ids;
    });
    is scalar(grep { defined } @$ids), 40, '40 /64s of another /48: each new visitor tracked';
    is leads_of($t, $ids), 8, '... 8 of their 40 lead attempts are leads (4 x MQLNewLeadLimit 2)';

    # the /56 between them: 10 /64s of one /56 make 2 x 2 leads
    $ids = in_one_minute(sub {
        my ($try) = @_;
        [ map { id_of((from($t, sprintf('2001:db8:c%x:7%02x::1', $try, $_), '/pricing.html'))[1]) }
              0 .. 9 ];
    });
    is leads_of($t, $ids), 4, '10 /64s of one /56: 4 leads (2 x MQLNewLeadLimit 2)';

    # one /64 alone keeps the limit it always had
    $ids = in_one_minute(sub {
        my ($try) = @_;
        [ map { id_of((from($t, "2001:db8:d$try:1::$_", '/pricing.html'))[1]) } 1 .. 6 ];
    });
    is leads_of($t, $ids), 2, 'one /64: 2 leads of 6 attempts';

    my $f = flood_json($t);
    is_deeply $f->{client_network}, [24, 64], 'status ?json: the narrowest networks, /24 and /64';
    is_deeply [ map { "$_->{family}/$_->{prefix}:$_->{new_visitors},$_->{new_leads}" }
                @{ $f->{levels} } ],
        ['ipv4/24:60,2', 'ipv6/64:60,2', 'ipv6/56:120,4', 'ipv6/48:240,8'],
        'status ?json: each level\'s budgets (default MQLClientNetwork 24 64,56*2,48*4)';
    is $f->{slots}, 65536, 'status ?json: 65 536 slots by default (MQLFloodTableSize)';
    is $f->{table_full}, 0, '... none of them ran out';
    like $t->get('/mql-status')->{content}, qr/id="flood-client-network">24 64,56\*2,48\*4</,
        'status page: the client networks';
    is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';
    $t->stop;
}

# ---- a full table holds promotions back, and tracking goes on ---------------
{
    my $t = server('MQLFloodTableSize 200');
    my $f = flood_json($t);
    is $f->{slots}, 256, 'MQLFloodTableSize 200: 256 slots (a power of two)';

    my $try_res = in_one_minute(sub {
        my ($try) = @_;
        my %r;
        # a real visitor, counted before the flood (its /24 has a slot)
        (undef, $r{real}) = from($t, '127.0.0.1', '/index.html');
        # one cookie-less request from each of many /48s until no slot is left
        my $used = 0;
        for (my $i = 0; $i < 3000 && $used < 256; $i += 50) {
            from($t, sprintf('2001:db8:%x:%x::1', 0x1000 * $try + $i + $_, $i + $_), '/style.css')
                for 0 .. 49;
            $used = flood_json($t)->{slots_used};
        }
        $r{used} = $used;
        # a fresh /64: new visitors over the threshold at once, five times
        # its limit of leads
        for my $i (1 .. 10) {
            my $ip = sprintf '2001:db8:e%x:1::%x', $try, $i;
            my ($st, $c) = from($t, $ip, '/pricing.html');
            push @{ $r{fresh} }, { ip => $ip, cookie => $c };
        }
        # the real visitor qualifies too
        from($t, '127.0.0.1', '/pricing.html', $r{real});
        # what a held visitor looks like (this minute: its networks still
        # find no slot)
        $r{env} = MQLTest::env_of((from($t, $r{fresh}[0]{ip}, '/cgi-bin/env.cgi',
                                        $r{fresh}[0]{cookie}))[2]);
        return \%r;
    });
    is $try_res->{used}, 256, 'a flood from many /48s took every slot of the table';
    my @fresh = @{ $try_res->{fresh} };
    is scalar(grep { $_->{cookie} } @fresh), 10,
        '10 new visitors from a fresh /64 while it is full: all tracked (a cookie each)';
    is leads_of($t, [ map { id_of($_->{cookie}) } @fresh ]), 0,
        '... none becomes a lead: their promotions are held, not let through';
    is leads_of($t, [ id_of($try_res->{real}) ]), 1,
        'a real visitor whose network was counted before the flood still becomes a lead';
    my $env = $try_res->{env};
    is "$env->{MQL_STAGE} $env->{MQL_SCORE}", 'visitor 6',
        'a held visitor keeps its exact score over the threshold (1 + 5), still a visitor';

    $f = flood_json($t);
    cmp_ok $f->{leads_held_full}, '>=', 10, "status ?json: promotions held for a full table ($f->{leads_held_full})";
    cmp_ok $f->{table_full}, '>=', 10, "status ?json: lookups that found no slot ($f->{table_full})";
    is $f->{leads_held_rate}, 0, '... not counted as over the limit';
    my $auto = $t->get('/mql-status?auto')->{content};
    like $auto, qr/^MQLFloodLeadsHeldFull: [1-9]\d*$/m, '?auto: MQLFloodLeadsHeldFull';
    like $auto, qr/^MQLFloodTableFull: [1-9]\d*$/m, '?auto: MQLFloodTableFull';
    like $auto, qr/^MQLFloodSlots: 256$/m, '?auto: MQLFloodSlots';
    my $html = $t->get('/mql-status')->{content};
    like $html, qr/id="flood-leads-held-full"><span class="warn">\d/,
        'status page: promotions held for a full table shown as a warning';
    like $html, qr/id="flood-table-full"><span class="warn">\d/, 'status page: the table full';
    like $t->log_text, qr/MQL05100: the flood limits' table is full \(256 slots\)/,
        'the full table is logged (MQL05100)';
    like $t->log_text, qr/MQL05101: .*promotion is held back/, '... and the held promotions (MQL05101)';
    is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';

    # A new start forgets the minute's counts, as the minute passing
    # would: the held visitor's next request makes the lead.
    $t->stop;
    $t->start;
    from($t, $fresh[1]{ip}, '/index.html', $fresh[1]{cookie});
    is leads_of($t, [ id_of($fresh[1]{cookie}) ]), 1,
        'once its networks find a slot, a held visitor\'s next request makes the lead';

    # the table outlives a graceful restart, so its size changes only
    # with a full one
    $t->write_conf(conf_text('MQLFloodTableSize 1024'));
    $t->graceful;
    ok MQLTest::wait_for(10, sub {
        $t->log_text =~ /MQL05102: MQLFloodTableSize 1024 takes effect at the next full restart; (?#
                         )until then the flood limits' table keeps 256 slots/ }),
        'graceful with another MQLFloodTableSize: the table is kept, and that is logged (MQL05102)';
    is flood_json($t)->{slots}, 256, '... 256 slots still';
    $t->stop;
    $t->start;
    is flood_json($t)->{slots}, 1024, 'a full restart makes the table anew: 1024 slots';
    $t->stop;
}

# ---- bad values: configtest names the file, the line and what is expected -----
for my $case (['MQLClientNetwork 24 48,64', qr/MQLClientNetwork: expects an IPv6 prefix length from 16 to 128 after the IPv4 one, or a list of them such as '64,56\*2,48\*4' \(then each prefix length shorter than the one before \(narrowest first\)\); got '48,64'/],
              ['MQLClientNetwork 24 64*0', qr/MQLClientNetwork: .*\(then a factor from 1 to 100 after '\*'\); got '64\*0'/],
              ['MQLClientNetwork 24 128,64,56,48,32', qr/MQLClientNetwork: .*\(then at most 4 prefix lengths\)/],
              ['MQLClientNetwork 24,33 64', qr/MQLClientNetwork: expects an IPv4 prefix length from 8 to 32, .*\(then a prefix length from 8 to 32\), and optionally IPv6 ones, .*; got '24,33'/],
              ['MQLFloodTableSize 10', qr/MQLFloodTableSize: expects a number of client networks per minute from 64 to 4194304; got '10'/]) {
    my $c = MQLTest->new(flood => 1, conf => $case->[0]);
    my ($rc, $o) = $c->configtest;
    isnt $rc, 0, "configtest refuses $case->[0]";
    like $o, $case->[1], '... saying what is expected';
    like $o, qr/line \d+ of \Q${\ $c->conf_file }\E/, '... with the file and line';
}
for my $good ('MQLClientNetwork 24 64,56*2,48*4', 'MQLClientNetwork 24 64',
              'MQLClientNetwork /24 /64', 'MQLClientNetwork 24', 'MQLClientNetwork 24,16*8 64,48*2',
              'MQLFloodTableSize 1000000') {
    my $c = MQLTest->new(flood => 1, conf => $good);
    my ($rc, $o) = $c->configtest;
    is $rc, 0, "configtest takes $good" or diag $o;
}

done_testing;
