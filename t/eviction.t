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

# A full table evicts plain visitors, keeps every lead and keeps working.
# The leads are in their DBM file and idle longer than every newcomer
# before the newcomers come: the case in which a table would let a lead
# go, and its next request see a stranger.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use HTTP::Tiny;
use JSON::PP;
use Fcntl;
use Time::HiRes qw(time);

my $slots = 64;
my $t = MQLTest->new(conf => "MQLMaxVisitors $slots\nMQLHalfLife 0\nMQLThreshold 3\n"
                           . "<Location /mql-status>\nSetHandler mql-status\n</Location>\n");
$t->start;
my $env = sub { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $_[0])) };

my @leads;
for (1 .. 5) {
    my $c = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $c) for 1 .. 3;
    push @leads, $c;
}
is scalar(grep { $env->($_)->{MQL_STAGE} eq 'mql' } @leads), 5, 'five leads';

# Every lead in its file, and the writer's word that it is (from then on
# the table may count them as published): every newcomer below is seen
# later than any lead, however fast or slow this machine is.
sub in_file {
    my $h = $t->leads_records;
    return scalar grep { /^mql_vid=([^.]+)\./ && defined $h->{$1} } @leads;
}
ok MQLTest::wait_for(10, sub { in_file() == 5 }), 'the five leads are in the DBM file';
my $seen = int(time);
ok MQLTest::wait_for(10, sub {
    my $j = decode_json($t->get('/mql-status?json')->{content});
    ($j->{health}{writer}{published_before} // 0) > $seen;
}), 'the writer confirmed them';

# Three times the table's size in new visitors, one view each.
my $ua = HTTP::Tiny->new(agent => $MQLTest::UA, keep_alive => 1);
my $ok = 0;
for (1 .. 3 * $slots) {
    $ok++ if $ua->get($t->base . '/index.html')->{status} == 200;
}
is $ok, 3 * $slots, 'every request of ' . 3 * $slots . ' new visitors answered';

for my $i (0 .. $#leads) {
    my $e = $env->($leads[$i]);
    is $e->{MQL_STAGE}, 'mql', "lead $i kept its stage";
    is $e->{MQL_SCORE}, 4, "lead $i kept its score";
}

my $status = decode_json($t->get('/mql-status?json')->{content});
is $status->{visitors}{capacity}, $slots, "capacity $slots";
cmp_ok $status->{visitors}{tracked}, '<=', $slots, 'never more visitors than slots';
cmp_ok $status->{health}{evictions}, '>=', 2 * $slots - 5,
    "evictions counted: $status->{health}{evictions}";
is $status->{health}{lead_evictions}, 0, 'no lead made room: plain visitors went';

# Still scoring after all those evictions.
my $c = MQLTest::visitor_cookie($t->get('/'));
$t->get('/pricing.html', Cookie => $c) for 1 .. 2;
is $env->($c)->{MQL_SCORE}, 3, 'a new visitor is still scored';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
