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

# MQLJournal: each lead's story, the daily funnel and the criteria against
# sales' verdicts, checked against a scripted journey whose answer is
# known: five visitors, three MQLs, one accepted, one rejected, one
# waiting.  The leads' days are then backdated in the journal (an SQLite
# file the test controls) so that the medians and the waiting ages have
# exact expected values.  Restart keeps the series and stories; forget
# erases a story; the notification line carries the last events.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;

plan skip_all => 'the sqlite3 shell is needed (build/deps.sh test)'
    unless `sqlite3 -version 2>/dev/null`;

my $status = "<Location /mql-status>\nSetHandler mql-status\n</Location>\n";
my $t = MQLTest->new(conf => '');
my $root = $t->root;
my $sd = $t->state_dir;
my $db = "$sd/journal.sqlite";
my (undef, $notify_out) = $t->notify_sink;
$t->write_conf("MQLThreshold 45\nMQLRule download ^/whitepapers/ 15\n"
               . "MQLJournal On max=64M events=10\n"
               . "MQLNotify \"|$root/notify.pl\"\n$status");
$t->start;

# read-only: the shell must not create the file before the server's writer
# does (it would be root's); the backdating writes run with the server
# stopped, on the file the writer made
sub sql {
    my ($q) = @_;
    return '' unless -f $db;
    my $ro = $q =~ /^\s*(UPDATE|INSERT|DELETE)/i ? '' : '-readonly';
    my $out = `sqlite3 $ro -separator '|' '$db' "$q" 2>/dev/null`;
    chomp $out;
    return $out;
}
sub ctl { MQLTest::mqlctl('--state-dir', $sd, @_) }
sub visitor {
    my $res = $t->get('/index.html');
    my ($cookie) = MQLTest::visitor_cookie($res) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    return ($id, $cookie);
}
sub form {
    my ($cookie) = @_;
    my $res = $t->request('POST', '/cgi-bin/form.cgi',
                          headers => { Cookie => $cookie }, content => 'email=x%40example.com');
    die "form not accepted: $res->{status}\n" unless $res->{status} == 302;
}

# the server's own start-up request is a visitor too: counted apart
MQLTest::wait_for(15, sub { sql("SELECT new_visitors FROM days") ne '' })
    or diag 'no day row after start';
my $base = sql("SELECT coalesce(sum(new_visitors),0) FROM days") || 0;

# ---- the journey --------------------------------------------------------
# A: view, email click, download from a referring site, form: 1+6+25+20 = 52
my ($a, $ca) = visitor();
$t->get('/pricing.html?utm_medium=email', Cookie => $ca);
$t->get('/whitepapers/guide.pdf', Cookie => $ca,
        Referer => 'https://News.Example.org:8443/post?id=1');
form($ca);
# B and C: view, download, form: 1+25+20 = 46
my ($b, $cb) = visitor();
$t->get('/whitepapers/guide.pdf', Cookie => $cb);
form($cb);
my ($c, $cc) = visitor();
$t->get('/whitepapers/guide.pdf', Cookie => $cc);
form($cc);
# D and E: one view each; E comes back twelve times (events=10 trims it)
my ($d) = visitor();
my ($e, $ce) = visitor();
$t->get('/index.html', Cookie => $ce) for 1 .. 12;

MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM leads") == 3 })
    or diag 'three leads expected in the journal';
# sales decides once the leads are in the leads file
MQLTest::wait_for(15, sub { my (undef, $o) = ctl('list'); $o =~ /\Q$a\E/ && $o =~ /\Q$b\E/ })
    or diag 'A and B not in the leads file yet';
is +(ctl('set', $a, 'stage=sql'))[0], 0, 'A accepted by sales';
is +(ctl('set', $b, 'stage=rejected'))[0], 0, 'B rejected by sales';
MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM leads WHERE stage != 'mql'") == 2 });

# ---- the story ------------------------------------------------------------
# scores to a tenth: they decay between requests, by millionths when a
# slow machine spaces them by a second
is sql("SELECT event||' '||path||' '||coalesce(referer_host,'-')||' '||points||' '"
       . "||coalesce(rule,'-')||' '||printf('%.1f', score) FROM (SELECT 0 AS k, rowid AS r, * FROM events "
       . "WHERE visitor='$a' UNION ALL SELECT 1, rowid, * FROM recent_events WHERE "
       . "visitor='$a') ORDER BY time, k, r"),
   join("\n", 'view /index.html - 1.0 - 1.0',
        'view,campaign /pricing.html - 6.0 - 7.0',
        'download /whitepapers/guide.pdf news.example.org 25.0 download ^/whitepapers/ +15 32.0',
        'form /cgi-bin/form.cgi - 20.0 - 52.0'),
   "A's story in the journal: event, path, referring host, points, rule, score";
unlike sql("SELECT group_concat(path||coalesce(referer_host,''),' ') FROM story"),
    qr/127\.0\.0\.1/, 'no IP address in the journal';

my @lines = @{ MQLTest::wait_for(15, sub {
    open my $f, '<', $notify_out or return; my @l = <$f>; @l >= 5 ? \@l : undef }) // [] };
my ($mql_a) = grep { $_->{visitor} eq $a && $_->{stage} eq 'mql' }
              map { decode_json($_) } @lines;
ok $mql_a, "A's MQL notification";
is scalar(@{ $mql_a->{story} // [] }), 4, '... carries its 4 events (at most 10)';
is_deeply [ map { "$_->{event}:$_->{points}" } @{ $mql_a->{story} } ],
    [ 'view:1', 'view,campaign:6', 'download:25', 'form:20' ], '... in order, with points';
is $mql_a->{story}[2]{referer_host}, 'news.example.org', '... and the referring host';

my ($rc, $out) = ctl('show', $a);
is $rc, 0, 'mqlctl show A';
like $out, qr/^story:\n(  .*\n){4}\z/m, '... prints the 4 events of its story';
like $out, qr{download\s+/whitepapers/guide\.pdf  from news\.example\.org  \+25  rule: download \^/whitepapers/ \+15  score 32},
    '... each with path, referring host, points, rule and score';
($rc, $out) = ctl('export', '--format', 'json');
my ($xa) = grep { $_->{id} eq $a } @{ decode_json($out) };
is scalar(@{ $xa->{story} }), 4, 'export --format json: the story of each lead';

my $res = $t->get("/mql-status?visitor=$a");
like $res->{content}, qr{<section id="story">.*news\.example\.org.*</section>}s,
    'status page: the visitor view shows the timeline';
$res = $t->get("/mql-status?visitor=$a&json");
is scalar(@{ decode_json($res->{content})->{story} }), 4, '... and ?visitor&json its story';

# a path a client chose, with markup and a terminal escape, in C's story
$t->get('/cgi-bin/signal.cgi/%3Cscript%3Ex%1B%5B31m?event=webinar%3B%20points%3D2',
        Cookie => $cc);
MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM story WHERE visitor='$c'") eq '4' });
$res = $t->get("/mql-status?visitor=$c");
like $res->{content}, qr{<td class="path">/cgi-bin/signal\.cgi/&lt;script&gt;x\x1b\[31m</td>},
    'status page: a path from a client is escaped in the timeline';
unlike $res->{content}, qr{<script>}, '... no markup of the client comes through';
($rc, $out) = ctl('show', $c);
like $out, qr{view,app\s+/cgi-bin/signal\.cgi/<script>x\\x1b\[31m  \+3}, 'mqlctl show: the terminal escape is shown escaped'
    or diag $out;
unlike $out, qr/\x1b/, '... never raw';

# ---- the day's counters, live ----------------------------------------------
my $today = int(time / 86400);
is sql("SELECT new_visitors-$base, mqls, accepted, rejected FROM days WHERE day=$today"),
   '5|3|1|1', "today's series: 5 new visitors, 3 MQLs, 1 accepted, 1 rejected";
# to a tenth: the score decays between requests, by a few millionths on a
# machine slow enough to space them by a second
is sql("SELECT visitor||' '||printf('%.1f', mql_score) FROM leads "
       . "ORDER BY round(mql_score, 1) DESC, visitor"),
   join("\n", "$a 52.0", join("\n", sort("$b 46.0", "$c 46.0"))),
   'each lead with its score at qualification';

# ---- backdated: medians and ages with known answers -------------------------
$t->stop;
my $h = 3600;
my %when = (    # first visit, MQL, decision (seconds since the epoch)
    $a => [ ($today - 5) * 86400 + $h, ($today - 3) * 86400 + $h, ($today - 2) * 86400 + $h ],
    $b => [ ($today - 4) * 86400 + $h, ($today - 3) * 86400 + $h, ($today - 0) * 86400 ],
    $c => [ ($today - 2) * 86400, ($today - 2) * 86400 + $h, undef ],
);
for my $id (keys %when) {
    my ($f, $m, $dd) = @{ $when{$id} };
    sql("UPDATE leads SET first_seen=$f, mql_time=$m, decision_time="
        . (defined $dd ? $dd : 'NULL') . " WHERE visitor='$id'");
}
# B was decided 3 days after it qualified: (today) - (today-3)+1h = 3d-1h
my $b_decision = 3 * 86400 - $h;
# an old day, beyond the 400 kept
sql("INSERT INTO days(day,new_visitors) VALUES(" . ($today - 500) . ",7)");

# restart: the series and the stories are still there
$t->start;
($rc, $out) = ctl('funnel', '--format', 'json', '--days', '30');
is $rc, 0, 'mqlctl funnel --format json';
my $f = decode_json($out);
is_deeply [ @{ $f->{totals} }{qw(mqls accepted rejected)} ], [ 3, 1, 1 ],
    '... 3 MQLs, 1 accepted, 1 rejected after a restart';
is $f->{acceptance}, 0.5, 'acceptance: 1 / (1 + 1)';
is sprintf('%.4f', $f->{visitor_to_mql}), sprintf('%.4f', 3 / $f->{totals}{new_visitors}),
    'visitor to MQL: MQLs / new visitors';
is $f->{median_first_visit_to_mql}, 86400, 'median first visit to MQL: 2 d, 1 d, 1 h -> 1 d';
is $f->{median_mql_to_decision}, (86400 + $b_decision) / 2,
    'median MQL to decision: the middle of 1 d and 3 d - 1 h';
is_deeply $f->{waiting}, { under_1d => 0, '1d_to_7d' => 1, older => 0 },
    'waiting for a decision: C, for 2 days';
is scalar(@{ $f->{days} }), 30, 'a row for each of the 30 days';
($rc, $out) = ctl('funnel', '--format', 'csv', '--days', '400');
is scalar(split /\n/, $out), 401, 'funnel --format csv --days 400: a header and 400 days';
($rc, $out) = ctl('funnel');
like $out, qr/^acceptance: 50\.0%$/m, 'funnel as text';
($rc) = ctl('funnel', '--days', '401');
is $rc, 2, 'funnel --days 401: bad usage';

$res = $t->get('/mql-status?json&days=90');
my $j = decode_json($res->{content});
is $j->{funnel}{days}, 90, 'status ?json&days=90: the funnel of 90 days';
is $j->{funnel}{median_first_visit_to_mql}, 86400, '... with the same median';
is $j->{funnel}{acceptance}, 0.5, '... and acceptance';
$res = $t->get('/mql-status?auto');
like $res->{content}, qr/^MQLFunnelAcceptance: 0\.5000$/m, '?auto: acceptance';
like $res->{content}, qr/^MQLFunnelWaiting1to7d: 1$/m, '?auto: waiting 1-7 days';
$res = $t->get('/mql-status');
like $res->{content}, qr{<section id="funnel">.*id="acceptance">50\.0%.*<svg}s,
    'status page: funnel chart and tiles';
like $res->{content}, qr{<td>event:campaign</td><td class="n">1</td><td class="n">0</td>},
    'status page: the criteria table';

# ---- criteria and what-if ---------------------------------------------------
($rc, $out) = ctl('criteria', '--format', 'json');
my $cr = decode_json($out);
is_deeply { map { $_->{signal} => "$_->{accepted}/$_->{rejected}" } @{ $cr->{signals} } },
    { 'event:campaign' => '1/0', 'event:download' => '1/1', 'event:form' => '1/1',
      'event:view' => '1/1', 'rule:download ^/whitepapers/ +15' => '1/1' },
    'criteria: each signal of the accepted and the rejected lead';
my %bins = map { ("$_->{from}-$_->{to}" => "$_->{accepted}/$_->{rejected}") }
           grep { $_->{accepted} || $_->{rejected} } @{ $cr->{score_bins} };
is_deeply \%bins, { '40-50' => '0/1', '50-60' => '1/0' },
    'criteria: the two score distributions';

($rc, $out) = ctl('whatif', '--threshold', '50', '--format', 'json');
my $w = decode_json($out);
is_deeply [ @{$w}{qw(would_qualify accepted accepted_would_qualify rejected rejected_would_qualify)} ],
    [ 1, 1, 1, 1, 0 ], 'whatif --threshold 50: A only';
($rc, $out) = ctl('whatif', '--threshold', '40', '--require', 'download', '--format', 'json');
$w = decode_json($out);
is_deeply [ @{$w}{qw(would_qualify accepted_would_qualify rejected_would_qualify)} ],
    [ 3, 1, 1 ], 'whatif --threshold 40 --require download: A, B and C';
($rc, $out) = ctl('whatif', '--threshold', '40', '--require', 'country=DE');
like $out, qr/^would be MQLs: 0$/m, 'whatif --require country=DE: none (no country known)';
($rc) = ctl('whatif');
is $rc, 2, 'whatif without --threshold: bad usage';

# ---- forget, trimming ---------------------------------------------------
is +(ctl('forget', $a))[0], 0, 'mqlctl forget A';
MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM story WHERE visitor='$a'") eq '0' });
is sql("SELECT (SELECT count(*) FROM story WHERE visitor='$a')"
       . "+(SELECT count(*) FROM leads WHERE visitor='$a')"
       . "+(SELECT count(*) FROM lead_signals WHERE visitor='$a')"), '0',
   "forget erases A's story, lead row and signals";
MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM story WHERE visitor='$e'") eq '10' });
is sql("SELECT count(*) FROM story WHERE visitor='$e'"), '10',
   'events=10: E keeps its last 10 events of 13';
is sql("SELECT count(*) FROM days WHERE day < $today - 400"), '0',
   'days beyond the 400 kept are removed';
my $bytes = do { local $/; join '', map { open my $fh, '<', $_ or next; <$fh> }
                 grep { -f } ($db, "$db-wal") };
unlike $bytes, qr/\Q$a\E/, "no byte of A's ID left in the journal file";
($rc, undef, my $err) = ctl('show', $a);
is $rc, 3, 'mqlctl show A: unknown';

# graceful restart: what was in the ring reaches the journal
$t->get('/index.html', Cookie => $cb);
$t->graceful;
MQLTest::wait_for(15, sub { sql("SELECT count(*) FROM story WHERE visitor='$b'") eq '4' });
is sql("SELECT count(*) FROM story WHERE visitor='$b'"), '4',
   'an event just before a graceful restart is kept';

my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;

# ---- MQLJournal Off, and bad values ---------------------------------------
my $off = MQLTest->new(conf => "MQLJournal Off\n$status");
$off->start;
$off->get('/index.html');
my $r = $off->get('/mql-status?json');
is decode_json($r->{content})->{journal}{enabled}, JSON::PP::false, 'MQLJournal Off: none kept';
sleep 1;
ok !-e $off->state_dir . '/journal.sqlite', '... and no journal file';
$off->stop;
# a damaged journal is moved aside and a new one started
my $dmg = MQLTest->new(conf => $status);
mkdir $dmg->state_dir;
open my $g, '>', $dmg->state_dir . '/journal.sqlite' or die;
print $g "this is not a database\n" x 100;
close $g;
$dmg->start;
$dmg->get('/index.html');
ok MQLTest::wait_for(15, sub { $dmg->log_text =~ /MQL03107: the journal \S+ is damaged/ }),
    'a damaged journal: MQL03107';
ok MQLTest::wait_for(15, sub {
       decode_json($dmg->get('/mql-status?json')->{content})->{funnel} }),
    '... and a new one works';
ok scalar(glob($dmg->state_dir . '/journal.sqlite.damaged-*')), '... the old kept aside';
$dmg->stop;

# rate=N: beyond N plain visitors' events a second, counted, not kept
my $slow = MQLTest->new(conf => "MQLJournal On rate=2\n$status");
$slow->start;
my $sres = $slow->get('/index.html');
my ($scookie) = MQLTest::visitor_cookie($sres);
my ($sid) = $scookie =~ /^mql_vid=([^.]+)\./;
$slow->get('/index.html', Cookie => $scookie) for 1 .. 30;
my $sj = MQLTest::wait_for(15, sub {
    my $x = decode_json($slow->get('/mql-status?json')->{content})->{journal};
    $x->{events_written} + $x->{events_shed} >= 32 ? $x : undef });
ok $sj && $sj->{events_shed} > 0, 'rate=2: events over the rate are shed and counted';
cmp_ok $sj->{events_written}, '<', 32, '... not all kept';
$slow->stop;
$db = $slow->state_dir . '/journal.sqlite';
is sql("SELECT sum(new_visitors) FROM days"), 2, '... the funnel still counts every visitor';

for my $bad ('MQLJournal Maybe','MQLJournal On rate=-1', 'MQLJournal On max=12', 'MQLJournal On events=5',
             'MQLJournal On frequency=3') {
    my $x = MQLTest->new(conf => "$bad\n");
    my ($xrc, $xout) = $x->configtest;
    isnt $xrc, 0, "configtest refuses '$bad'";
    like $xout, qr/MQLJournal: (max= )?expects/, '... saying what is expected';
}
done_testing;
