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


# MQLWebhook: each event POSTed to receivers this test runs on 127.0.0.1,
# through the outbox in MQLStateDir.  A receiver that fails the first
# attempts gets one delivery ID throughout and a signature it can check; a
# receiver that is down while an MQL is made, while httpd stops and
# starts and while the writer is killed, gets it once it is back; a chat
# receiver gets a Slack-shaped body; a redirect is not followed and an
# endless answer is cut off; bad directives fail configtest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use Time::HiRes qw(time);
use POSIX ();
use MQLTest;
use MQLReceiver;

my $status = "<Location /mql-status>\nSetHandler mql-status\n</Location>\n";
my $t = MQLTest->new(conf => '');
my $root = $t->root;
$MQLReceiver::dir = $root;

# ---------------------------------------------------------------- configtest

for my $case (
    [ 'MQLWebhook ftp://crm.example.com/hook', qr/MQLWebhook: expects an http:\/\/ or https:\/\/ URL.*got 'ftp:/ ],
    [ 'MQLWebhook crm.example.com/hook', qr/MQLWebhook: expects an http:\/\/ or https:\/\/ URL/ ],
    [ 'MQLWebhook https://crm.example.com/ retries=5', qr/MQLWebhook: expects secret=SECRET, format=json\|slack or events=LIST after the URL; got 'retries=5'/ ],
    [ 'MQLWebhook https://crm.example.com/ format=xml', qr/MQLWebhook: format= expects json or slack; got 'xml'/ ],
    [ 'MQLWebhook https://crm.example.com/ events=mql,lunch', qr/MQLWebhook: events= expects a comma-separated list of .*got 'lunch'/ ],
    [ 'MQLWebhook', qr/MQLWebhook: expects a URL/ ],
    [ "MQLWebhook https://crm.example.com/a\nMQLWebhook https://crm.example.com/a format=slack", qr/MQLWebhook: expects each receiver once/ ],
    [ "<VirtualHost 127.0.0.1:1>\nMQLWebhook https://crm.example.com/a\n</VirtualHost>", qr/MQLWebhook cannot occur within <VirtualHost> section/ ],
) {
    my ($line, $want) = @$case;
    $t->write_conf("$line\n");
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, "configtest fails: $line";
    like $out, $want, '... saying what is expected';
    like $out, qr/line \d+ of \Q$root\E\/httpd\.conf/, '... with the file and line';
}
$t->write_conf("MQLWebhook https://crm.example.com/hook secret=x format=slack events=mql,sql\n");
my ($rc0, $out0) = $t->configtest;
is $rc0, 0, 'a good MQLWebhook passes configtest' or diag $out0;

# ---------------------------------------------------------------- receivers

# the receivers (t/lib/MQLReceiver.pm): answers from a plan, then as told
*receiver = \&MQLReceiver::receiver;
*stop_receiver = \&MQLReceiver::stop_receiver;
*records = \&MQLReceiver::records;

my ($p_crm, $p_chat, $p_odd, $p_else) = map { MQLTest::free_port() } 1 .. 4;
$ENV{MQL_ELSEWHERE} = $p_else;
my $secret = 'kj3.h+s!Q';
my $crm = receiver('crm', $p_crm, $secret, 200, 503, 503);
my $chat = receiver('chat', $p_chat, undef, 200);
my $odd = receiver('odd', $p_odd, undef, 'endless', 302);
my $else = receiver('elsewhere', $p_else, undef, 200);

$t->write_conf($status . "MQLThreshold 20\n"
    . "MQLWebhook http://127.0.0.1:$p_crm/crm/hook \"secret=$secret\"\n"
    . "MQLWebhook http://127.0.0.1:$p_chat/services/T0/B0/XYZ format=slack events=mql\n"
    . "MQLWebhook http://127.0.0.1:$p_odd/odd events=mql\n");
$t->start;

# ---------------------------------------------------------------- retries

my ($id, $cookie) = $t->make_lead;
my $got = MQLTest::wait_for(15, sub { my $r = records($crm); @$r >= 3 ? $r : undef }) // records($crm);
is scalar(@$got), 3, 'the CRM got three attempts (503, 503, then 200)';
is_deeply [ map { $_->{answer} } @$got ], [ 503, 503, 200 ], '... answered as planned';
like $got->[0]{delivery} // '', qr/^[0-9a-f]{32}$/, 'X-MQL-Delivery is an ID';
is scalar(grep { ($_->{delivery} // '') eq $got->[0]{delivery} } @$got), 3,
    '... the same ID on every attempt';
is scalar(grep { $_->{verified} } @$got), 3, 'the receiver verified the signature each time';
is $got->[0]{type}, 'application/json', 'Content-Type: application/json';
is $got->[0]{path}, '/crm/hook', 'POSTed to the URL';
cmp_ok $got->[1]{time} - $got->[0]{time}, '<', 2.5, 'first retry within 2 s';
my $j = eval { decode_json($got->[2]{body}) } // {};
is $j->{type}, 'stage', 'the body is the notification object';
is $j->{visitor}, $id, '... of the lead';
is $j->{stage}, 'mql', '... an MQL';
# contacts are kept normalised: an e-mail address in lower case
is $j->{contact}, lc("lead-$id\@example.com"), '... with its contact';
is $got->[2]{body}, $got->[0]{body}, 'the same body on every attempt';

# the README's checks of the signature, in PHP and Python, on what came
my $bodyfile = "$root/body.json";
open my $bf, '>:raw', $bodyfile or die;
print $bf $got->[0]{body};
close $bf;
my ($php) = MQLTest::doc_example('README.md', '```php', 2) =~ /\A(.*?\n\})/s;
my $py = MQLTest::doc_example('README.md', '```python', 2);
for my $sig ($got->[0]{signature}, 'sha256=' . ('0' x 64)) {
    my $want = $sig eq $got->[0]{signature} ? 'yes' : 'no';
    open my $pf, '>', "$root/verify.php" or die;
    print $pf $php, "\necho mql_verified(file_get_contents('$bodyfile'), '$sig', '$secret') ? 'yes' : 'no';\n";
    close $pf;
    is `php $root/verify.php`, $want, "README's PHP check says $want";
    open $pf, '>', "$root/verify.py" or die;
    print $pf $py, "\nprint('yes' if mql_verified(open('$bodyfile', 'rb').read(), '$sig', b'$secret') else 'no', end='')\n";
    close $pf;
    is `python3 $root/verify.py`, $want, "README's Python check says $want";
}

my $c = MQLTest::wait_for(10, sub { my $r = records($chat); @$r ? $r : undef }) // [];
is scalar(@$c), 1, 'the chat receiver got one POST';
my $s = eval { decode_json($c->[0]{body}) } // {};
is_deeply [ sort keys %$s ], ['text'], 'Slack-shaped: {"text": ...}';
like $s->{text} // '', qr/\Q@{[lc "lead-$id"]}\E\@example\.com is now MQL \(score 21\), trigger: form/,
    '... naming the contact, stage, score and trigger';
ok !defined $c->[0]{signature}, 'no signature without a secret';

my $o = MQLTest::wait_for(15, sub { my $r = records($odd); @$r >= 2 ? $r : undef }) // records($odd);
is $o->[0]{answer}, '302', 'the odd receiver answered a redirect first';
is scalar(@{ records($else) }), 0, '... which was not followed';
is $o->[1]{answer}, 'endless', 'then an endless 200';
my $st = MQLTest::wait_for(10, sub {
    my $a = $t->status_auto;
    ($a->{DeliveriesDelivered} // 0) >= 3 && ($a->{DeliveriesPending} // 1) == 0 ? $a : undef
}) // $t->status_auto;
is $st->{DeliveriesDelivered}, 3, 'status: 3 delivered';
is $st->{DeliveriesPending}, 0, 'status: none pending';
is $st->{DeliveriesFailed}, 0, 'status: none failed';
is $st->{Webhook1LastError}, 'HTTP 503', 'status: the CRM\'s last error';
is $st->{Webhook3LastError}, 'HTTP 302', 'status: a redirect is an error';
is $st->{Webhook2Url}, "http://127.0.0.1:$p_chat/...", 'status: the chat URL without its secret path';
my $sent = MQLTest::wait_for(25, sub { my $r = records($odd); @$r >= 2 && defined $r->[1]{sent} ? $r->[1]{sent} : undef });
ok defined $sent && $sent < 20_000_000, 'the endless answer was cut off (' . ($sent // 'undef') . ' bytes written)';

my $js = eval { decode_json($t->get('/mql-status?json')->{content}) } // {};
is $js->{deliveries}{delivered}, 3, '?json: deliveries';
is scalar(@{ $js->{deliveries}{receivers} // [] }), 3, '?json: one entry per receiver';
is $js->{deliveries}{receivers}[0]{last_error}, 'HTTP 503', '?json: last error per receiver';
my $page = $t->get('/mql-status')->{content};
like $page, qr/Webhook deliveries pending/, 'the page shows deliveries';
like $page, qr/Webhook http:\/\/127\.0\.0\.1:$p_crm\/\.\.\..*?0 pending, 1 delivered, 0 failed; last error .*?HTTP 503/s,
    '... and each receiver, with its last error';
unlike $page, qr/XYZ/, '... not the secret path of a chat URL';

my $outbox = $t->state_dir . '/outbox.sqlite';
my @sb = stat $outbox;
is sprintf('%o', $sb[2] & 07777), '640', 'the outbox is 0640';
SKIP: {
    skip 'not root', 1 unless $> == 0;
    is scalar(getpwuid($sb[4])), 'www-data', 'the outbox belongs to the server\'s user';
}

my ($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries');
is $rc, 0, 'mqlctl deliveries' or diag $err;
like $out, qr/^0 pending, 3 delivered, 0 failed/m, '... counts';
like $out, qr/\Q$got->[0]{delivery}\E\s+delivered\s+mql\s+3\s/, '... the CRM\'s row, 3 attempts';
unlike $out, qr/XYZ/, '... no receiver path';
($rc, $out) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries', '--format', 'json');
my $dj = eval { decode_json($out) } // {};
is scalar(@{ $dj->{deliveries} // [] }), 3, '... --format json';
($rc, $out) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries', '--failed');
like $out, qr/^0 pending, 3 delivered, 0 failed\n\z/, '... --failed: none';

# ---------------------------------------------------------------- outages

sub delivered_to_crm {
    my ($who, $secs) = @_;
    return MQLTest::wait_for($secs, sub {
        scalar grep { $_->{answer} eq '200' && (eval { decode_json($_->{body})->{visitor} } // '') eq $who }
            @{ records($crm) }
    });
}

sub pending_error {
    return MQLTest::wait_for(10, sub {
        my $a = $t->status_auto;
        ($a->{Webhook1Pending} // 0) >= 1 && ($a->{Webhook1LastError} // '') =~ /onnect|refused/i ? $a : undef
    });
}

# down while an MQL is made, while httpd stops and starts
stop_receiver('crm');
my ($id2) = $t->make_lead;
ok pending_error(), 'the CRM is down: its event is pending, the error shown';
($rc, $out) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries');
my ($pend) = $out =~ /^([0-9a-f]{32})\s+pending\s+mql\s+\d+\s.*\Q127.0.0.1:$p_crm\E\/\.\.\. \Q$id2\E /m;
ok $pend, 'mqlctl deliveries: the CRM\'s row is pending' or diag $out;
($rc, $out) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries', '--retry', $pend // 'x');
is $rc, 0, 'mqlctl deliveries --retry ID';
like $out, qr/^1 delivery to send again/, '... one';
($rc, undef, $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries', '--retry', 'f' x 32);
is $rc, 3, '--retry of an unknown ID: exit 3';
$t->stop;
$t->start;
ok MQLTest::wait_for(5, sub { ($t->status_auto->{Webhook1Pending} // 0) == 1 }),
    'after stop and start: still pending';
$crm = receiver('crm', $p_crm, $secret, 200);
ok delivered_to_crm($id2, 15), 'the CRM is back: the MQL made while it was down is delivered';

# down across a graceful restart
stop_receiver('crm');
my ($id3) = $t->make_lead;
ok pending_error(), 'down again: pending';
$t->graceful;
$crm = receiver('crm', $p_crm, $secret, 200);
ok delivered_to_crm($id3, 15), 'after a graceful restart: delivered';

# down while the writer's process is killed
stop_receiver('crm');
my ($id4) = $t->make_lead;
ok pending_error(), 'down again: pending';
my ($wpid) = do { local $/; open my $f, '<', $t->state_dir . '/writer.status' or die; <$f> } =~ /^pid=(\d+)/m;
ok $wpid && kill('KILL', $wpid), "the writer's process ($wpid) killed";
$crm = receiver('crm', $p_crm, $secret, 200);
ok delivered_to_crm($id4, 20), 'after the writer was killed: delivered';

my %seen;
$seen{ eval { decode_json($_->{body})->{visitor} } // '' }++ for grep { $_->{answer} eq '200' } @{ records($crm) };
is_deeply [ sort grep { $_ } keys %seen ], [ sort $id, $id2, $id3, $id4 ], 'every MQL delivered, nothing lost, nothing else';
$st = MQLTest::wait_for(20, sub { my $a = $t->status_auto; ($a->{DeliveriesPending} // 1) == 0 ? $a : undef });
ok $st, 'nothing left pending' or diag((MQLTest::mqlctl('--state-dir', $t->state_dir, 'deliveries'))[1]);

my @errors = $t->unexpected_errors(qr/MQL09207/, qr/exit signal Killed|child pid \d+ exit signal/);
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;
done_testing;
