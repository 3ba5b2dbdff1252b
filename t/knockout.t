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

# Knock-outs: a visitor whose contact's e-mail domain is listed by
# MQLDisqualify contact-domain (or a subdomain of it), or whose request
# matched an MQLRule flagged disqualify, is rejected with the reason
# "disqualified" and the domain or rule, even when the same request takes
# its score over the threshold: no MQL notification, not even for a
# moment; the rejection is an ordinary stage change, in the journal with
# its reason (mqlctl show), where mqlctl set stage=rejected reason=TEXT puts
# sales' own.  mqlctl set still overrules it, and a later
# knock-out does not undo sales' decision.  The same with MQLStore
# redis://, two servers sharing one Redis.  Bad arguments fail configtest
# with the file, the line and what is expected.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;
use MQLRedis;
use MQLFleet;

my $CTL = "$MQLTest::TOP/build/out/mqlctl";

# ---- bad arguments ---------------------------------------------------------

for my $case (['MQLDisqualify contact-domain', qr/MQLDisqualify: expects contact-domain DOMAIN/],
              ['MQLDisqualify domain competitor.example', qr/expects contact-domain DOMAIN\.\.\.; got 'domain'/],
              ['MQLDisqualify contact-domain competitor_example.com',
               qr/expects domains such as competitor\.example.*got 'competitor_example\.com'/],
              ['MQLDisqualify contact-domain com', qr/two labels at least.*got 'com'/],
              ['MQLDisqualify contact-domain -bad.example', qr/got '-bad\.example'/],
              ['MQLRule form ^/apply 0 disqualified', qr/\[disqualify\].*got 'disqualified'/]) {
    my ($directive, $expect) = @$case;
    my $t = MQLTest->new(conf => "# test\n$directive\n");
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, "configtest fails: $directive";
    like $out, $expect, '  says what is expected';
    like $out, qr/line \d+ of \Q${\ $t->conf_file }\E/, "  names the file and line";
}
{
    my $t = MQLTest->new(conf => "MQLDisqualify contact-domain Competitor.Example. other.example\n"
                                 . "MQLRule form ^/apply 0 disqualify cap=1\n");
    my ($rc, $out) = $t->configtest;
    is $rc, 0, 'good knock-outs pass configtest' or diag $out;
}

sub lines_of {
    my ($file) = @_;
    open my $f, '<', $file or return ();
    return map { decode_json($_) } <$f>;
}

# every notification line of the servers' sinks
sub notified {
    return map { lines_of($_->root . '/notify.out') } @_;
}

sub stage_of {
    my ($t, $id) = @_;
    my $rec = $t->leads_records->{$id} // return '';
    return $rec =~ /(?:^|;)stage=(\w+)/ ? $1 : '';
}

sub post_form {
    my ($t, $cookie, $email, $query) = @_;
    (my $enc = $email) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    my $res = $t->host_request('POST', '/cgi-bin/form.cgi' . ($query // ''),
                               headers => { Cookie => $cookie }, body => "email=$enc");
    die "form not accepted: $res->{status}\n" unless $res->{status} == 302;
}

sub new_visitor {
    my ($t) = @_;
    my ($cookie) = MQLTest::visitor_cookie($t->get('/')) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    return ($id, $cookie);
}

# the scenario on servers sharing a store; $redis (or undef) to look in it
sub scenario {
    my ($label, $redis, @srv) = @_;
    my ($s1, $s2) = (@srv, @srv);
    my $state = $s1->state_dir;

    # a competitor's contact on a form that alone reaches the threshold
    my ($spy, $spy_cookie) = new_visitor($s1);
    post_form($s1, $spy_cookie, 'Jane.Spy@Sales.Competitor.Example');
    ok MQLTest::wait_for(10, sub { stage_of($s1, $spy) eq 'rejected' }),
        "$label: a competitor's contact (a subdomain) is rejected";
    # a look-alike domain is no competitor: it qualifies, and its
    # notification shows that the sink would have caught the other's
    my ($fan, $fan_cookie) = new_visitor($s2);
    post_form($s2, $fan_cookie, 'fan@notcompetitor.example');
    ok MQLTest::wait_for(10, sub { grep { $_->{visitor} eq $fan && $_->{stage} eq 'mql' }
                                   notified(@srv) }),
        "$label: a look-alike domain qualifies (notified)";
    ok MQLTest::wait_for(10, sub { grep { $_->{visitor} eq $spy && $_->{stage} eq 'rejected' }
                                   notified(@srv) }),
        "$label: the rejection is an ordinary stage change (notified)";
    my @spy = grep { $_->{visitor} eq $spy } notified(@srv);
    is_deeply [ map { "$_->{old_stage}>$_->{stage}" } @spy ], ['visitor>rejected'],
        "$label: no MQL notification for the competitor, only its rejection";
    is $spy[0]{score}, 21, "$label: ... with a score over the threshold"
        if @spy;
    if ($redis) {
        my $key = MQLFleet::vkey($redis, $spy);
        is $key && $redis->record($key)->{stage}, 3, "$label: Redis holds the rejection";
    }
    my $show = MQLTest::wait_for(10, sub {
        my ($rc, $out) = MQLTest::mqlctl('--state-dir', $state, 'show', $spy);
        $out =~ /^reason: /m ? $out : undef });
    like $show // '', qr/^reason: disqualified \(contact-domain competitor\.example\)$/m,
        "$label: mqlctl show gives the reason, with the domain";
    like $show // '', qr/rule: disqualified \(contact-domain competitor\.example\)/,
        "$label: the story shows the request that disqualified";

    # the careers application: a rule flagged disqualify
    my ($job, $job_cookie) = new_visitor($s2);
    post_form($s2, $job_cookie, 'seeker@example.org', '?apply=careers');
    ok MQLTest::wait_for(10, sub { stage_of($s2, $job) eq 'rejected' }),
        "$label: the careers application rejects";
    $show = MQLTest::wait_for(10, sub {
        my ($rc, $out) = MQLTest::mqlctl('--state-dir', $s2->state_dir, 'show', $job);
        $out =~ /^reason: /m ? $out : undef });
    like $show // '', qr{^reason: disqualified \(rule form \^/cgi-bin/form\\+\.cgi\)$}m,
        "$label: the reason names the rule";

    # sales' own rejection carries its reason to the same place
    if ($label eq 'shm') {
        my ($rc, undef, $err) = MQLTest::mqlctl('--state-dir', $state, 'set', $fan, 'stage=sql',
                                                'reason=x');
        is $rc, 2, "$label: reason= goes with stage=rejected only";
        like $err, qr/reason=TEXT after stage=rejected only/, "$label: ... saying so";
        ($rc, undef, $err) = MQLTest::mqlctl('--state-dir', $state, 'set', $fan, 'stage=rejected',
                                             "reason=no budget\tthis year");
        is $rc, 2, "$label: a reason with a control character is refused";
        ($rc, undef, $err) = MQLTest::mqlctl('--state-dir', $state, 'set', $fan, 'stage=rejected',
                                             'reason=no budget this year');
        is $rc, 0, "$label: mqlctl set stage=rejected reason=TEXT" or diag $err;
        ok MQLTest::wait_for(10, sub {
               (MQLTest::mqlctl('--state-dir', $state, 'show', $fan))[1]
                   =~ /^reason: no budget this year$/m }),
           "$label: ... shown by mqlctl show";
        # knock-outs were never MQLs: the funnel counts sales' rejection only
        my (undef, $json) = MQLTest::mqlctl('--state-dir', $state, 'funnel', '--format', 'json');
        my $f = eval { decode_json($json) } // {};
        is_deeply [ @{ $f->{totals} // {} }{qw(mqls rejected)} ], [ 1, 1 ],
            "$label: the funnel: one MQL, rejected by sales; no knock-out in it";
    }

    # sales overrule; another knock-out does not undo their decision
    my ($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $state, 'set', $spy, 'stage=mql');
    is $rc, 0, "$label: mqlctl set overrules the rejection" or diag $err;
    ok MQLTest::wait_for(10, sub { grep { $_->{visitor} eq $spy && $_->{stage} eq 'mql' }
                                   notified(@srv) }),
        "$label: ... notified as rejected > mql";
    post_form($s2, $spy_cookie, 'jane.spy@competitor.example');
    my $last = '';
    ok MQLTest::wait_for(10, sub {
           (undef, $last) = MQLTest::mqlctl('--state-dir', $state, 'show', $spy);
           $last =~ /^forms: 2$/m && $last !~ /^reason: /m }),
        "$label: the overruled lead scores on, without the old reason" or diag $last;
    is stage_of($s1, $spy), 'mql', "$label: ... and stays an MQL";
    $_->stop for @srv;
    # (two servers' sinks: in no particular order between them)
    is_deeply [ sort map { "$_->{old_stage}>$_->{stage}" } grep { $_->{visitor} eq $spy }
                notified(@srv) ], ['rejected>mql', 'visitor>rejected'],
        "$label: the competitor's changes, each once: no second rejection";
    for my $t (@srv) {
        is_deeply [ $t->unexpected_errors ], [], "$label: no unexpected errors";
        unlike $t->log_text, qr/exit signal/, "$label: no process died";
    }
}

my $conf = <<'CONF';
MQLThreshold 20
MQLHalfLife 0
MQLDisqualify contact-domain competitor.example
MQLRule form ^/cgi-bin/form\.cgi 1 query=apply=careers disqualify
CONF

{
    my $t = MQLTest->new(conf => '');
    $t->notify_sink;
    $t->write_conf($conf . qq{MQLNotify "|${\ $t->root }/notify.pl"\n});
    $t->start;
    scenario('shm', undef, $t);
}

SKIP: {
    skip 'redis-server and redis-cli are not installed', 1 unless MQLRedis::available();
    my $redis = MQLRedis->new;
    my ($secret, @srv);
    for my $i (1 .. 2) {
        my $t = MQLTest->new(conf => '');
        if (!$secret) {
            $secret = $t->root . '/shared-secret';
            MQLTest::write_file($secret, 'K' x 32);
        }
        $t->notify_sink;
        $t->write_conf($conf . <<"CONF");
MQLStore ${\ $redis->url }
MQLRedisTimeout 2s
MQLSecret $secret
MQLNewLeadLimit 0
MQLNotify "|${\ $t->root }/notify.pl"
CONF
        $t->start;
        push @srv, $t;
    }
    scenario('redis', $redis, @srv);
}

done_testing;
