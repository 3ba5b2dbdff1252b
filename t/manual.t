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

# Manual points (mqlctl adjust ID +N|-N --reason TEXT): on a running server
# they are applied as a hit is, so that crossing the threshold this way is
# an ordinary stage change, notified once; the story (mqlctl show) shows
# them as manual with their reason.  On a stopped server they go into its
# snapshot (and a lead's published score), and the next start promotes at
# the visitor's next visit.  Bad IDs, numbers and reasons are refused with
# a clear message and a non-zero exit, before anything is sent.  With
# MQLStore redis://, Redis applies them for the fleet, as it applies hits.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLRedis;
use MQLFleet;

my $t = MQLTest->new(conf => '');
my $root = $t->root;
my $sd = $t->state_dir;
my (undef, $out) = $t->notify_sink;
$t->write_conf("MQLThreshold 20\nMQLHalfLife 0\nMQLNotify \"|$root/notify.pl\"\n"
               . "<Location /mql-status>\n    SetHandler mql-status\n</Location>\n");
$t->start;

sub ctl { MQLTest::mqlctl('--state-dir', $sd, @_) }
sub lines {
    open my $f, '<', $out or return ();
    return map { decode_json($_) } <$f>;
}
sub visitor {
    my ($cookie) = MQLTest::visitor_cookie($t->get('/index.html')) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    return ($id, $cookie);
}
sub stage_of {
    my ($id) = @_;
    my $rec = $t->leads_records->{$id} // return '';
    return $rec =~ /(?:^|;)stage=(\w+)/ ? $1 : '';
}

# ---- bad input: refused before anything is sent -----------------------------

my ($id, $cookie) = visitor();
for my $case ([['adjust', 'not-an-id', '+5', '--reason', 'x'], 2, qr/'not-an-id' is not a visitor ID/],
              [['adjust', $id, '+0', '--reason', 'x'], 2, qr/adjust expects an integer from -1000 to \+1000 other than 0.*got '\+0'/],
              [['adjust', $id, '+1001', '--reason', 'x'], 2, qr/got '\+1001'/],
              [['adjust', $id, 'ten', '--reason', 'x'], 2, qr/got 'ten'/],
              [['adjust', $id, '+5'], 2, qr/adjust needs --reason TEXT/],
              [['adjust', $id, '+5', '--reason', ''], 2, qr/--reason expects a reason of 1 to 120 bytes/],
              [['adjust', $id, '+5', '--reason', 'r' x 121], 2, qr/1 to 120 bytes/],
              [['adjust', $id, '+5', '--reason', "two\nlines"], 2, qr/without control characters/],
              [['adjust', $id, '--reason', 'x'], 2, qr/wrong number of arguments for 'adjust'/]) {
    my ($args, $want, $msg) = @$case;
    my ($rc, undef, $err) = ctl(@$args);
    is $rc, $want, "refused with exit $want: adjust @{$args}[1 .. $#$args]";
    like $err, $msg, '  saying what is expected';
}
my @left = grep { !/^\./ } do { opendir my $d, "$sd/control" or die; readdir $d };
is scalar(@left), 0, 'nothing was queued for the server';

# ---- on a running server: the threshold crossed, notified once -------------

my ($rc, $o, $err) = ctl('adjust', $id, '+25', '--reason', 'trade show: booth 7');
is $rc, 0, 'adjust +25 on a running server' or diag $err;
like $o, qr/\+25 manual points sent to the server/, '  says so';
ok MQLTest::wait_for(10, sub { stage_of($id) eq 'mql' }), 'the visitor crossed the threshold: an MQL';
ok MQLTest::wait_for(10, sub { grep { $_->{visitor} eq $id } lines() }), 'notified';
my ($show, $story);
ok MQLTest::wait_for(10, sub {
       (undef, $show) = ctl('show', $id);
       $show =~ /manual: trade show: booth 7/ }), 'mqlctl show: the points in the story, with the reason'
    or diag $show;
like $show, qr/^\s+\S+\s+manual\s+-\s+\+25\s+rule: manual: trade show: booth 7\s+score 26$/m,
     '  as manual points, +25, the score after them';
like $show, qr/^score: 26$/m, 'the score: 1 view and 25 manual points';
my $page = $t->get("/mql-status?visitor=$id")->{content};
like $page, qr/manual: trade show: booth 7/, "the status page's lead view shows them too";
my $lj = eval { decode_json($t->get("/mql-status?visitor=$id&json")->{content}) } // {};
ok +(grep { ($_->{rule} // '') eq 'manual: trade show: booth 7' && $_->{event} eq 'manual'
            && $_->{points} == 25 } @{ $lj->{story} // [] }),
   '  and its JSON: event manual, +25, the reason';
like $show, qr/^trigger: app:manual$/m, 'the trigger says manual, as an outside event';
($rc) = ctl('adjust', $id, '-3', '--reason', 'duplicate booth scan');
is $rc, 0, 'adjust -3';
ok MQLTest::wait_for(10, sub { (undef, $show) = ctl('show', $id); $show =~ /^score: 23$/m }),
   'points taken away: score 23' or diag $show;
my @mine = grep { $_->{visitor} eq $id } lines();
is_deeply [ map { "$_->{old_stage}>$_->{stage}" } @mine ], ['visitor>mql'],
    'one notification: the crossing, once';
is $mine[0]{score}, 26, '  with the score that crossed';

# a visitor the server does not know: nothing made, said in the error log
my $ghost = 'AAECAwQFBgcICQoLDA0ODw';
($rc) = ctl('adjust', $ghost, '+50', '--reason', 'no such visitor');
is $rc, 0, 'adjust of an unknown visitor is taken by the server';
ok MQLTest::wait_for(10, sub { $t->log_text =~ /MQL09502: manual points for \Q$ghost\E not applied: no such visitor/ }),
   '  which says it knows no such visitor';
ok !exists $t->leads_records->{$ghost}, '  and makes none';

# ---- on a stopped server: the snapshot --------------------------------------

my ($id2, $cookie2) = visitor();
MQLTest::wait_for(5, sub { -s "$sd/writer.status" });
$t->stop;
($rc, $o, $err) = ctl('adjust', $id2, '+30', '--reason', 'called us');
is $rc, 0, 'adjust on a stopped server' or diag $err;
like $o, qr/\+30 manual points; score 31/, '  into the snapshot: score 31';
($rc, undef, $err) = ctl('adjust', $ghost, '+5', '--reason', 'x');
is $rc, 3, 'an ID the snapshot does not hold: exit 3';
like $err, qr/no visitor \Q$ghost\E in the snapshot/, '  saying so';
($rc) = ctl('adjust', $id, '+2', '--reason', 'follow-up call');
is $rc, 0, 'adjust a lead on a stopped server';
like +(ctl('show', $id))[1], qr/^score: 25$/m, '  its published score follows at once';
$t->start;
$t->get('/index.html', Cookie => $cookie2);
ok MQLTest::wait_for(10, sub { stage_of($id2) eq 'mql' }),
   'after the start, the next visit promotes it with the points';
ok MQLTest::wait_for(10, sub { grep { $_->{visitor} eq $id2 && $_->{stage} eq 'mql' } lines() }),
   '  notified';
ok MQLTest::wait_for(10, sub { (ctl('show', $id2))[1] =~ /manual: called us/ }),
   'the story holds the stopped server\'s manual points';
is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';
unlike $t->log_text, qr/exit signal/, 'no process died';
$t->stop;

# ---- MQLStore redis://: Redis applies the points for the fleet ---------------

SKIP: {
    skip 'redis-server and redis-cli are not installed', 6 unless MQLRedis::available();
    my $redis = MQLRedis->new;
    my $r = MQLTest->new(conf => '');
    my (undef, $rout) = $r->notify_sink;
    $r->write_conf("MQLStore ${\ $redis->url }\nMQLRedisTimeout 2s\nMQLThreshold 20\n"
                   . "MQLHalfLife 0\nMQLNotify \"|${\ $r->root }/notify.pl\"\n");
    $r->start;
    my ($cookie) = MQLTest::visitor_cookie($r->get('/index.html')) or die "no visitor cookie\n";
    my ($rid) = $cookie =~ /^mql_vid=([^.]+)\./;
    my $key = MQLTest::wait_for(10, sub { MQLFleet::vkey($redis, $rid) });
    ok $key, 'redis: the visitor is in Redis';
    my ($rc2, undef, $err2) = MQLTest::mqlctl('--state-dir', $r->state_dir, 'adjust', $rid, '+40',
                                              '--reason', 'webinar host');
    is $rc2, 0, 'redis: adjust +40' or diag $err2;
    ok MQLTest::wait_for(10, sub { ($redis->record($key)->{stage} // 0) == 1 }),
       'redis: Redis promoted the visitor with the points';
    is $redis->record($key)->{score}, 41, 'redis: its score there: 1 view and 40 manual points';
    my $lines = MQLTest::wait_for(10, sub {
        open my $f, '<', $rout or return;
        my @l = grep { $_->{visitor} eq $rid } map { decode_json($_) } <$f>;
        @l ? \@l : undef });
    is_deeply [ map { "$_->{old_stage}>$_->{stage}" } @{ $lines // [] } ], ['visitor>mql'],
        'redis: notified once';
    ok MQLTest::wait_for(10, sub { (MQLTest::mqlctl('--state-dir', $r->state_dir, 'show', $rid))[1]
                                   =~ /manual: webinar host/ }),
       'redis: the story shows them';
    $r->stop;
}
done_testing;
