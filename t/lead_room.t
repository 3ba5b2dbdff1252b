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

# A table full of leads keeps tracking: leads already in their DBM file
# make room for a sixteenth of the table (no more: plain visitors go
# first once that share is there), and come back from the file, merged,
# when they return.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use HTTP::Tiny;
use JSON::PP;
use Fcntl;

my $slots = 64;
my $t = MQLTest->new(conf => "MQLMaxVisitors $slots\nMQLHalfLife 0\nMQLThreshold 3\n"
                           . "<Location /mql-status>\nSetHandler mql-status\n</Location>\n");
$t->start;
my $env = sub { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $_[0])) };
my $status = sub { decode_json($t->get('/mql-status?json')->{content}) };
my $id_of = sub { $_[0] =~ /^mql_vid=([^.]+)\./ ? $1 : die "no ID in $_[0]" };
sub dbm_all { $t->leads_records }
sub field { my ($rec, $name) = @_; defined $rec && $rec =~ /(?:^|;)\Q$name\E=([^;]*)/ ? $1 : undef }

# Every slot a lead: one view of / and three of /pricing.html each.
my @leads;
for (1 .. $slots) {
    my $c = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $c) for 1 .. 3;
    push @leads, $c;
}
# (a lead in its file may already have made room for the last ones: the
# table keeps a sixteenth for plain visitors once leads can give way)
my $st = $status->();
cmp_ok $st->{stages}{mql}, '>=', $slots - $slots / 16, "$slots leads fill the table";
ok MQLTest::wait_for(10, sub { keys %{ dbm_all() } == $slots }),
    'all of them reach the DBM file';

# New visitors are tracked again as soon as the writer has confirmed the
# file holds the leads (within a round or two).
my $tracked = MQLTest::wait_for(10, sub {
    my $c = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $c);
    return ($env->($c)->{MQL_SCORE} // '') eq '2';
});
ok $tracked, 'a new visitor is scored in a table full of published leads';
my $ua = HTTP::Tiny->new(agent => $MQLTest::UA);
my $scored = 0;
for (1 .. 20) {
    my $c = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $c);
    $scored++ if ($env->($c)->{MQL_SCORE} // '') eq '2';
}
is $scored, 20, 'and so are the next 20, each with its exact score';
$st = $status->();
is $st->{health}{lead_evictions}, $slots / 16,
    'leads in their file made room for a sixteenth of the table, no more';
is keys %{ dbm_all() }, $slots, 'the DBM file still holds every lead';

# Which leads went: the table no longer knows them (env.cgi is no view,
# so asking does not score or bring anyone back).
my @gone = grep { ($env->($_)->{MQL_STAGE} // '') eq 'visitor' } @leads;
is scalar @gone, $slots / 16, scalar(@gone) . ' leads are out of the table';

# One returns: a view scores it as a stranger at once, and the writer
# puts its published record back, merged with that view.
my $back = $gone[0];
my $before = dbm_all()->{ $id_of->($back) };
is field($before, 'score'), 4, 'its published record: score 4';
$t->get('/pricing.html', Cookie => $back);
ok MQLTest::wait_for(5, sub {
    my $e = $env->($back);
    return ($e->{MQL_STAGE} // '') eq 'mql' && ($e->{MQL_SCORE} // '') eq '5';
}), 'back from its file: still an mql, score 4 + 1';
ok MQLTest::wait_for(5, sub {
    my $rec = dbm_all()->{ $id_of->($back) };
    return (field($rec, 'score') // 0) == 5 && (field($rec, 'views') // 0) == 5;
}), 'the DBM record follows: score 5, views 5';
my $after = dbm_all()->{ $id_of->($back) };
is field($after, 'since'), field($before, 'since'), 'the stage keeps its date';
is field($after, 'trigger'), field($before, 'trigger'), 'and its trigger';
$st = $status->();
cmp_ok $st->{health}{writer}{leads_restored}, '>=', 1, 'counted as restored';

# A second view is scored on the restored record, once.
$t->get('/pricing.html', Cookie => $back);
is $env->($back)->{MQL_SCORE}, 6, 'the next view adds one point';

# Sales decide on a lead that is out of the table: the writer brings it
# back from the file and decides it there.
my $out = $gone[1];
my $id = $id_of->($out);
is $env->($out)->{MQL_STAGE}, 'visitor', 'another lead is out of the table';
my ($rc, undef, $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'set', $id, 'stage=sql');
is $rc, 0, 'mqlctl set on it succeeds' or diag $err;
ok MQLTest::wait_for(5, sub { ($env->($out)->{MQL_STAGE} // '') eq 'sql' }),
    'the running server sees it as sql, back in the table';
ok MQLTest::wait_for(5, sub { (field(dbm_all()->{$id}, 'stage') // '') eq 'sql' }),
    'and the DBM file says sql';
is field(dbm_all()->{$id}, 'score'), 4, 'with its score';

# A graceful restart keeps the restored leads and the evicted ones in the file.
$t->graceful;
is $env->($back)->{MQL_SCORE}, 6, 'after graceful the restored lead keeps its score';
is keys %{ dbm_all() }, $slots, 'and the file every lead';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
