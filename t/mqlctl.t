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

# mqlctl: list, show, export, set, forget, stats; errors and exit codes;
# set reaches the running server (MQL_STAGE) and survives a restart;
# forget leaves no trace of the ID in the state directory.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Find;
use Fcntl;
use MQLTest;
use MQLFields;


sub run { MQLTest::mqlctl(@_) }    # (exit status, stdout, stderr)

# ---- usage errors, no server needed --------------------------------------
my ($rc, $out, $err) = run('--help');
is $rc, 0, '--help exits 0';
like $out, qr/usage: mqlctl/, '--help prints usage';
($rc, $out, $err) = run();
is $rc, 2, 'no command: exit 2';
($rc, $out, $err) = run('frobnicate');
is $rc, 2, 'unknown command: exit 2';
like $err, qr/unknown command 'frobnicate'/, '... and says so';
($rc, $out, $err) = run('--bogus', 'list');
is $rc, 2, 'unknown option: exit 2';
($rc, $out, $err) = run('--state-dir', '/nonexistent/mql', 'list');
is $rc, 1, 'missing DBM file: exit 1';
like $err, qr{no leads file /nonexistent/mql/leads}, '... with the path in the message';
($rc, $out, $err) = run('--type', 'oracle', '--dbm', '/tmp/x', 'list');
is $rc, 2, 'bad --type: exit 2';
# a leads file with no lead yet (a fresh install) is empty, not damaged
{
    require GDBM_File;
    require File::Temp;
    my $dir = File::Temp::tempdir('mqlctl.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    tie my %h, 'GDBM_File', "$dir/leads", GDBM_File::GDBM_WRCREAT(), 0640
        or die "$dir/leads: $!";
    untie %h;
    ($rc, $out, $err) = run('--state-dir', $dir, 'list');
    is $rc, 0, 'an empty leads file (no lead yet): list exits 0' or diag $err;
    is scalar(grep { /\S/ } split /\n/, $out), 1, '... and prints the header only';
    ($rc, $out) = run('--state-dir', $dir, 'stats');
    like $out, qr/^leads: 0$/m, '... stats: no lead';
}

# ---- a running server with leads -----------------------------------------
my $t = MQLTest->new(conf => "MQLThreshold 20\n");
my $sd = $t->state_dir;
$t->start;
my ($id1, $c1) = $t->make_lead(email => 'ann@example.com');
my ($id2, $c2) = $t->make_lead(email => '=cmd|calc, "quoted"');
$t->get('/', Cookie => $c2);    # a higher score
my $plain_res = $t->get('/');
my ($plain) = (MQLTest::visitor_cookie($plain_res) // '') =~ /^mql_vid=([^.]+)/;
ok defined $plain, 'a new visitor got a cookie'
    or diag "response: $plain_res->{status} $plain_res->{reason}: $plain_res->{content}";
# both leads published, the second with the view after it (22 points)
MQLTest::wait_for(30, sub {
    my (undef, $o) = run('--state-dir', $sd, 'list');
    $o =~ /$id1/ && $o =~ /^\Q$id2\E\s+mql\s+22\s/m;
});

($rc, $out) = run('--state-dir', $sd, 'list');
is $rc, 0, 'list: exit 0';
my @rows = grep { /\S/ } split /\n/, $out;
is scalar(@rows), 3, 'list: header and two leads';
like $rows[1], qr/^\Q$id2\E\s+mql\s+22\s/, 'list: highest score first';
like $out, qr/ann\@example\.com/, 'list shows contacts';

($rc, $out) = run('--state-dir', $sd, 'show', $id1);
is $rc, 0, 'show: exit 0';
like $out, qr/^stage: mql$/m, 'show: stage';
like $out, qr/^contact: ann\@example\.com$/m, 'show: contact';
like $out, qr/^forms: 1$/m, 'show: counts';
($rc, $out, $err) = run('--state-dir', $sd, 'show', $plain // '');
is $rc, 3, 'show of a visitor who is no lead: exit 3' or diag "show $plain: $err";
($rc, $out, $err) = run('--state-dir', $sd, 'show', 'not-an-id');
is $rc, 2, 'show of a malformed ID: exit 2';
like $err, qr/not a visitor ID/, '... explained';

($rc, $out) = run('--state-dir', $sd, 'export', '--format', 'csv');
is $rc, 0, 'export csv: exit 0';
my @csv = split /\r\n/, $out;
is $csv[0], join(',', 'id,stage,score,since,last_seen,views,downloads,forms,form_errors,pixels,campaigns,apps,country,trigger,contact',
                    MQLFields::published_names()),
    'csv header row';
is scalar(@csv), 3, 'csv: header + 2 rows';
# the contact, then the fields published as they are (mql_fields.h), none
# set, then where the lead came from (a direct arrival's, no campaign)
my $empty_published = ',' x MQLFields::lead_names();
my $attribution = '(?:,[^,\r\n]*){' . scalar(MQLFields::attribution_names()) . '}';
like $out, qr/,"'=cmd\|calc, ""quoted"""\Q$empty_published\E$attribution\r\n/, 'csv: quoting, and a formula is defused';
($rc, $out) = run('--state-dir', $sd, 'export', '--format=json');
my $j = eval { decode_json($out) };
is ref $j, 'ARRAY', 'export json: an array';
is scalar(@$j), 2, 'json: two leads';
my ($ann) = grep { $_->{id} eq $id1 } @$j;
is $ann->{contact}, 'ann@example.com', 'json: contact';
is $ann->{counts}{forms}, 1, 'json: counts';
($rc, $out, $err) = run('--state-dir', $sd, 'export', '--format', 'xml');
is $rc, 2, 'export with a bad format: exit 2';
($rc, $out, $err) = run('--state-dir', $sd, 'export');
is $rc, 2, 'export without a format: exit 2';

($rc, $out) = run('--state-dir', $sd, 'stats');
is $rc, 0, 'stats: exit 0';
like $out, qr/^leads: 2$/m, 'stats: leads';
like $out, qr/^mql: 2$/m, 'stats: per stage';
like $out, qr/^server: running/m, 'stats: sees the running server';
like $out, qr/^writer_records_written: \d+/m, 'stats: writer counters';

# ---- set -------------------------------------------------------------------
($rc, $out, $err) = run('--state-dir', $sd, 'set', $id1, 'stage=won');
is $rc, 2, 'set with a bad stage: exit 2';
($rc, $out, $err) = run('--state-dir', $sd, 'set', $id1, 'sql');
is $rc, 2, 'set without stage=: exit 2';
($rc, $out, $err) = run('--state-dir', $sd, 'set', 'AAAAAAAAAAAAAAAAAAAAAA', 'stage=sql');
is $rc, 3, 'set of an unknown ID: exit 3';
($rc, $out, $err) = run('--state-dir', $sd, 'set', $id1, 'stage=sql');
is $rc, 0, 'set stage=sql: exit 0' or diag $err;
($rc, $out) = run('--state-dir', $sd, 'show', $id1);
like $out, qr/^stage: sql$/m, 'the DBM record says sql at once';
my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $c1));
is $env->{MQL_STAGE}, 'sql', 'the visitor\'s next request sees MQL_STAGE=sql';
my @left = glob "$sd/control/*";
is scalar(@left), 0, 'the control request was consumed';
$t->stop;
$t->start;
$env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $c1));
is $env->{MQL_STAGE}, 'sql', 'MQL_STAGE=sql after a restart';
($rc, $out) = run('--state-dir', $sd, 'set', $id2, 'stage=rejected');
is $rc, 0, 'set stage=rejected';
MQLTest::wait_for(2, sub { run('--state-dir', $sd, 'show', $id2); 1 });
($rc, $out) = run('--state-dir', $sd, 'stats');
like $out, qr/^sql: 1$/m, 'stats: one sql';
like $out, qr/^rejected: 1$/m, 'stats: one rejected';

# While the server is down, set goes to the DBM file and the snapshot.
$t->stop;
($rc, $out, $err) = run('--state-dir', $sd, '--wait', '0.2', 'set', $id2, 'stage=mql');
is $rc, 0, 'set with the server stopped: exit 0' or diag $err;
$t->start;
$env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $c2));
is $env->{MQL_STAGE}, 'mql', 'the change made while the server was down is seen after start';

# ---- forget ------------------------------------------------------------------
($rc, $out, $err) = run('--state-dir', $sd, 'forget', $id1);
is $rc, 0, 'forget: exit 0' or diag $err;
($rc, $out, $err) = run('--state-dir', $sd, 'show', $id1);
is $rc, 3, 'forgotten: show says unknown';
$env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => "$c1; x=1"));
is $env->{MQL_STAGE}, 'visitor', 'the server forgot the lead (back to a plain visitor)';
# the request above re-created a plain visitor with that ID: forget it too,
# then look for the ID in every file of the state directory
($rc) = run('--state-dir', $sd, 'forget', $id1);
$t->stop;
my @traces;
find(sub {
    return unless -f $_;
    open my $f, '<:raw', $_ or return;
    local $/;
    my $data = <$f> // '';
    push @traces, $File::Find::name if index($data, $id1) >= 0;
    require MIME::Base64;
    my $raw = MIME::Base64::decode_base64(($id1 =~ tr/-_/+\//r) . '==');
    push @traces, "$File::Find::name (binary ID)" if index($data, $raw) >= 0;
}, $sd);
is_deeply \@traces, [], 'forget leaves no trace of the ID in the state directory';
my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
done_testing;
