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

# The moments sales must hear about, from a scripted journey with
# second-scale durations: a lead back after MQLActiveAfter idle ("active",
# once per return, with its page) and an MQL left without a verdict past
# MQLDecisionSLA ("sla", once per lead, not again after a restart), on the
# MQLNotify line and at a webhook receiver; the status page's count of
# MQLs past the SLA; bad durations fail configtest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use MQLTest;
use MQLReceiver;

my $status = "<Location /mql-status>\nSetHandler mql-status\n</Location>\n";
my $t = MQLTest->new(conf => '');
my $root = $t->root;
$MQLReceiver::dir = $root;

# ---------------------------------------------------------------- configtest

for my $case (
    [ 'MQLActiveAfter soon', qr/MQLActiveAfter: / ],
    [ 'MQLActiveAfter 0', qr/MQLActiveAfter: expects at least 1s/ ],
    [ 'MQLDecisionSLA 2w', qr/MQLDecisionSLA: / ],
    [ 'MQLDecisionSLA -3h', qr/MQLDecisionSLA: / ],
    [ "<VirtualHost 127.0.0.1:1>\nMQLDecisionSLA 2d\n</VirtualHost>", qr/MQLDecisionSLA cannot occur within <VirtualHost> section/ ],
    [ "MQLActiveAfter 1h extra", qr/MQLActiveAfter takes one argument/ ],
) {
    my ($line, $want) = @$case;
    $t->write_conf("$line\n");
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, "configtest fails: $line";
    like $out, $want, '... saying what is expected';
    like $out, qr/line \d+ of \Q$root\E\/httpd\.conf/, '... with the file and line';
}
$t->write_conf("MQLActiveAfter 30m\nMQLDecisionSLA 2d\n");
my ($rc, $out) = $t->configtest;
is $rc, 0, 'MQLActiveAfter 30m and MQLDecisionSLA 2d pass configtest' or diag $out;

# ---------------------------------------------------------------- the journey

my $port = MQLTest::free_port();
my $hook = MQLReceiver::receiver('crm', $port, undef, 200);
my $chat_port = MQLTest::free_port();
my $chat = MQLReceiver::receiver('chat', $chat_port, undef, 200);
my (undef, $notify) = $t->notify_sink;
my $conf = "MQLThreshold 20\nMQLNotify \"|$root/notify.pl\"\n"
    . "MQLWebhook http://127.0.0.1:$port/hook events=active,sla\n"
    . "MQLWebhook http://127.0.0.1:$chat_port/chat format=slack events=active\n"
    . "MQLActiveAfter 2s\nMQLDecisionSLA 3s\n$status";
$t->write_conf($conf);
$t->start;

sub lines_of {
    my ($type) = @_;
    open my $f, '<', $notify or return [];
    return [ grep { $_->{type} eq $type } map { decode_json($_) } <$f> ];
}
# The events a receiver took, as a receiver de-duplicates them: by their
# X-MQL-Delivery ID (delivery is at least once: an attempt whose answer
# was lost is made again with the same ID)
sub hooks_of {
    my ($type) = @_;
    my %seen;
    return [ grep { $_->{type} eq $type } map { decode_json($_->{body}) }
             grep { !$seen{ $_->{delivery} // '' }++ } @{ MQLReceiver::records($hook) } ];
}
sub of { my ($list, $id) = @_; [ grep { $_->{visitor} eq $id } @$list ] }

# The server counts idle time in whole seconds from a request's start: a
# request made once three whole seconds have turned since the end of the
# last one has been idle more than MQLActiveAfter 2s.  Requests made while
# waiting would reset the idle time, so the clock is what is waited for.
sub idle_past {
    my ($last) = @_;
    MQLTest::wait_for(5, sub { int(time) >= int($last) + 3 });
}

# A qualifies; B qualifies and sales accept it at once (no SLA to miss).
my ($a, $ca) = $t->make_lead;
# A at once again: not idle, no return
$t->get('/contact.html', Cookie => $ca);
my $a_last = time;
my ($b, $cb) = $t->make_lead;
my $b_last = time;
# (mqlctl finds a lead once it is published)
my ($sout, $serr) = ('', '');
ok MQLTest::wait_for(5, sub {
    my $rc;
    ($rc, $sout, $serr) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'set', $b, 'stage=sql');
    $rc == 0;
}), 'mqlctl set: B accepted' or diag "$sout$serr";
MQLTest::wait_for(3, sub { @{ of(lines_of('stage'), $b) } >= 2 })
    or diag 'B did not become an SQL';

# A waits: one sla event, on the line and at the receiver.
my $sla = MQLTest::wait_for(8, sub { my $l = of(lines_of('sla'), $a); @$l ? $l : undef }) // [];
is scalar(@$sla), 1, 'an MQL past MQLDecisionSLA: an sla event';
is $sla->[0]{stage}, 'mql', '... still an MQL';
cmp_ok $sla->[0]{waiting}, '>=', 3, '... waiting at least the SLA';
is $sla->[0]{sla}, 3, '... the SLA named';
like $sla->[0]{contact} // '', qr/^lead-/, '... with its contact';
my $hs = MQLTest::wait_for(5, sub { my $l = of(hooks_of('sla'), $a); @$l ? $l : undef }) // [];
is scalar(@$hs), 1, '... delivered to the webhook';

# A comes back after more than 2 s idle.
idle_past($a_last);
$t->get('/pricing.html', Cookie => $ca);
my $act = MQLTest::wait_for(5, sub { my $l = of(lines_of('active'), $a); @$l ? $l : undef }) // [];
is scalar(@$act), 1, 'a lead back after MQLActiveAfter idle: an active event';
is $act->[0]{path}, '/pricing.html', '... with the page it came back to';
is $act->[0]{stage}, 'mql', '... and its stage';
# more requests at once are no return
$t->get('/pricing.html', Cookie => $ca) for 1 .. 3;

# B, an SQL, comes back too: its return is announced; and a new lead C
# waits past the SLA, which marks when the writer has done the rounds
# the checks below rely on.
idle_past($b_last);
$t->get('/index.html', Cookie => $cb);
MQLTest::wait_for(5, sub { @{ of(lines_of('active'), $b) } });
my $ab = of(lines_of('active'), $b);
is scalar(@$ab), 1, 'an SQL back after the idle time: one active event'
    or diag explain [ lines_of('active'), lines_of('stage') ];
is $ab->[0]{stage}, 'sql', '... as an SQL';
is scalar(@{ of(lines_of('sla'), $b) }), 0, 'no sla event for a lead with a verdict';

# a restart does not announce A's SLA again
$t->stop;
$t->start;
my ($c) = $t->make_lead;
ok MQLTest::wait_for(8, sub { @{ of(lines_of('sla'), $c) } }), 'a new MQL after a restart: its sla event';
ok MQLTest::wait_for(5, sub { @{ of(hooks_of('sla'), $c) } }), '... delivered';
is scalar(@{ of(lines_of('sla'), $a) }), 1, 'the first MQL\'s sla event not again after the restart';
is scalar(@{ of(hooks_of('sla'), $a) }), 1, '... nor at the receiver';
is scalar(@{ of(lines_of('active'), $a) }), 1, 'one active event for one return';
is scalar(@{ of(hooks_of('active'), $a) }), 1, '... delivered once' or diag explain of(hooks_of('active'), $a);
is of(hooks_of('active'), $a)->[0]{path}, '/pricing.html', '... with the page';
is scalar(@{ hooks_of('stage') }), 0, 'events=active,sla: no stage events delivered';
my $texts = MQLTest::wait_for(5, sub {
    my @t = map { decode_json($_->{body})->{text} } @{ MQLReceiver::records($chat) };
    @t >= 2 ? \@t : undef;
}) // [];
is scalar(@$texts), 2, 'format=slack events=active: the two returns, nothing else';
like $texts->[0] // '', qr{^active: lead-\S+\@example\.com, MQL \(score \d+\).*, back on /pricing\.html$},
    '... as a line a person reads, with the page';

# the status page: A and C past the SLA (B has its verdict)
my %auto = %{ $t->status_auto };
is $auto{MQLPastDecisionSLA}, 2, '?auto: MQLs past the decision SLA';
my $res = $t->get('/mql-status?json');
my $j = eval { decode_json($res->{content}) } // {};
is $j->{journal}{past_decision_sla}, 2, '?json: journal.past_decision_sla';
$res = $t->get('/mql-status');
like $res->{content}, qr/<span id="past-decision-sla" class="warn">2<\/span> MQLs past the decision SLA/,
    'the page shows the figure, as a warning';

# mqlctl criteria: sales' rejections by reason
for my $id ($a, $c) {
    my ($rc2, $o2, $e2) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'set', $id,
                                          'stage=rejected', 'reason=no budget');
    is $rc2, 0, 'mqlctl set ID stage=rejected reason=TEXT' or diag "$o2$e2";
}
my $crit = MQLTest::wait_for(5, sub {
    my (undef, $o) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'criteria', '--format', 'json');
    my $cr = eval { decode_json($o) } // {};
    ($cr->{rejected} // 0) >= 2 ? $cr : undef;
}) // {};
is_deeply $crit->{reasons}, [ { reason => 'no budget', rejected => 2 } ],
    'mqlctl criteria: the rejections by reason';
my (undef, $ctext) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'criteria');
like $ctext, qr/^REJECTION REASON\s+REJECTED\nno budget\s+2$/m, '... and as text';

is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors in the error log';
$t->stop;

# MQLJournal Off keeps nothing either needs
$t->write_conf("MQLJournal Off\nMQLDecisionSLA 2d\n");
($rc, $out) = $t->configtest;
isnt $rc, 0, 'MQLDecisionSLA with MQLJournal Off fails configtest';
like $out, qr/MQL09900: MQLDecisionSLA expects the journal/, '... saying why';
done_testing;
