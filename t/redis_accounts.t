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

# Accounts with MQLStore redis:// (docs/redis.md, "Accounts across a
# fleet"): every server counts the fleet's leads, each with its contact,
# and the plain visitors it served itself; the server with
# MQLAccountThreshold announces an account once, the others show it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;
use MQLRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new;
my ($a, $b) = map { MQLTest->new(conf => '') } 1 .. 2;
my $secret = $a->root . '/shared-secret';
MQLTest::write_file($secret, join '', map { chr(65 + ($_ * 7) % 26) } 1 .. 32);
my (undef, $out) = $a->notify_sink;
for my $t ($a, $b) {
    my $own = $t == $a ? qq{MQLNotify "|${\ $a->root }/notify.pl"\nMQLAccountThreshold 2 100\n}
                       : '';
    $t->write_conf(<<"CONF");
MQLStore ${\ $redis->url }
MQLRedisTimeout 2s
MQLSecret $secret
MQLThreshold 40
MQLHalfLife 0
$own
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
    $t->start;
}

sub signal {
    my ($t, $points, $contact) = @_;
    my $r = $t->get("/cgi-bin/signal.cgi?event=webinar%3B%20points%3D$points&contact=$contact");
    is $r->{status}, 200, "a visitor of $contact";
}
sub accounts_of {
    my ($t) = @_;
    my $text = do { open my $f, '<', $t->state_dir . '/accounts' or return {}; local $/; <$f> };
    my %a;
    for (split /\n/, $text) {
        my @f = split /\t/;
        $a{ $f[1] } = { people => $f[2], leads => $f[4], score => $f[5], announced => $f[8] }
            if @f == 9;
    }
    return \%a;
}
sub account_lines {
    open my $f, '<', $out or return ();
    return grep { ($_->{type} // '') eq 'account' } map { eval { decode_json($_) } // {} } <$f>;
}

signal($a, 50, 'Jane%40Acme.Example');       # a lead on server A (51)
signal($b, 50, 'joe%40acme.example');         # a lead on server B (51)
signal($b, 10, 'ann%40acme.example');         # a plain visitor on server B (11)

ok MQLTest::wait_for(15, sub { my $x = accounts_of($a)->{'acme.example'};
                               $x && $x->{people} == 2 && $x->{announced} }),
    'server A counts both leads of the fleet (B\'s through the stream) and qualifies acme'
    or diag explain accounts_of($a);
is accounts_of($a)->{'acme.example'}{leads}, 2, '... two leads';
cmp_ok accounts_of($a)->{'acme.example'}{score}, '==', 102, '... scores 51 + 51';
ok MQLTest::wait_for(15, sub { my $x = accounts_of($b)->{'acme.example'};
                               $x && $x->{people} == 3 }),
    'server B counts the fleet\'s two leads and the plain visitor it served'
    or diag explain accounts_of($b);
ok !accounts_of($b)->{'acme.example'}{announced}, '... and announces nothing (no threshold)';
my @l = @{ MQLTest::wait_for(10, sub { my @x = account_lines(); @x ? \@x : undef }) // [] };
is scalar(@l), 1, 'one account notification, from server A';
is $l[0]{domain}, 'acme.example', '... for acme.example';
signal($b, 5, 'joe2%40acme.example');
ok MQLTest::wait_for(10, sub { (accounts_of($b)->{'acme.example'}{people} // 0) == 4 }),
    'more activity counted';
is scalar(my @again = account_lines()), 1, 'still one account notification';
for my $t ($a, $b) {
    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
    $t->stop;
}
done_testing;
