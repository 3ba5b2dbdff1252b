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

# Hostile bytes on their way out: every JSON producer (notifications, the
# status page's ?json, mqlctl export) writes valid UTF-8 JSON whatever the
# client sent (the invalid sequences of the UTF-8 spec in URL paths and
# contacts), mqlctl's text for people shows control bytes escaped, CSV
# stays RFC 4180, and a damaged DBM file makes mqlctl fail loudly instead
# of printing a short list.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Fcntl;
use SDBM_File;
use MIME::Base64 qw(encode_base64url);
use MQLTest;

my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub run { MQLTest::mqlctl(@_) }    # (exit status, stdout, stderr)

# Both strict readers the issue names: Perl's JSON::PP (bytes, utf8) and
# Python's json.loads after a strict UTF-8 decode.
sub perl_json { my $j = eval { JSON::PP->new->utf8->decode($_[0]) }; $j }
sub python_json_ok {
    my ($text) = @_;
    my $f = "/tmp/mql-json.$$";
    open my $fh, '>:raw', $f or die $!;
    print $fh $text;
    close $fh;
    my $rc = system($python, '-c',
        'import json,sys; json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))', $f);
    unlink $f;
    return $rc == 0;
}

sub qenc { (my $s = shift) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $s }

my $t = MQLTest->new(conf => '');
my $root = $t->root;
my (undef, $out) = $t->notify_sink;
$t->write_conf(<<"CONF");
MQLHalfLife 0
MQLThreshold 20
MQLNotify "|$root/notify.pl"
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;
my $sd = $t->state_dir;

# ---- leads whose trigger path holds each kind of invalid UTF-8 ----------
my %paths = (
    'F8 80 80 (lead byte past F4)' => '%F8%80%80',
    'overlong slash C0 AF'         => '%C0%AF',
    'overlong E0 80 AF'            => '%E0%80%AF',
    'surrogate ED A0 80'           => '%ED%A0%80',
    'past U+10FFFF F4 90 80 80'    => '%F4%90%80%80',
    'FE FF'                        => '%FE%FF',
    'truncated E2 82'              => '%E2%82',
    'lone continuation 80'         => '%80x',
);
my %lead;
for my $name (sort keys %paths) {
    my $r = $t->get("/cgi-bin/signal.cgi/$paths{$name}?event=" . qenc('webinar; points=50'));
    is $r->{status}, 200, "path $name: answered";
    my ($id) = (MQLTest::visitor_cookie($r) // '') =~ /^mql_vid=([^.]+)/;
    $lead{"path $name"} = $id;
}
# ---- contacts that try to drive an admin's terminal ----------------------
my %contacts = (
    'title (OSC 0)'       => "\e]0;owned\a\@example.com",
    'erase lines'         => "x\e[2K\e[1A\e[2K\@example.com",
    'hidden text'         => "\e[8mhidden\e[0m\@example.com",
    'C1 CSI as UTF-8'     => "\xc2\x9b" . "31m\@example.com",
    'raw C1 byte'         => "\x9b" . "31m\@example.com",
    'right-to-left'       => "\xe2\x80\xae" . "moc.elpmaxe\@evil",
    'invalid UTF-8'       => "\xf8\x80\x80\xed\xa0\x80\@example.com",
    'backspaces'          => "real\@example.com\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\bfake",
);
for my $name (sort keys %contacts) {
    my ($id) = $t->make_lead(email => $contacts{$name});
    $lead{"contact $name"} = $id;
}
ok MQLTest::wait_for(10, sub {
    my ($rc, $o) = run('--state-dir', $sd, 'export', '--format', 'json');
    my $j = perl_json($o);
    $j && @$j >= keys %lead;
}), 'every lead reached the DBM file';

# ---- notifications --------------------------------------------------------
my @lines = @{ MQLTest::wait_for(10, sub {
    open my $f, '<', $out or return;
    my @l = <$f>;
    @l >= keys %lead ? \@l : undef;
}) // [] };
is scalar(@lines), scalar(keys %lead), 'one notification per lead';
my %note;
for my $l (@lines) {
    my $j = perl_json($l);
    ok $j, 'notification line parses with JSON::PP (strict UTF-8)' or diag $l;
    ok python_json_ok($l), "... and with Python's json.loads";
    $note{ $j->{visitor} } = $j if $j;
}
like $note{ $lead{'path F8 80 80 (lead byte past F4)'} }{trigger} // '',
    qr{^app:/cgi-bin/signal\.cgi/\x{fffd}+$}, 'the F8 80 80 trigger arrives as U+FFFD';
is $note{ $lead{'contact title (OSC 0)'} }{contact}, "\e]0;owned\a\@example.com",
    'a contact with escape sequences arrives exactly (JSON escapes them)';
unlike join('', @lines), qr/[\x00-\x09\x0b-\x1f\x7f]/, 'no raw control byte in any line';

# ---- status page ?json ------------------------------------------------------
{
    my $res = $t->get('/mql-status?json');
    ok perl_json($res->{content}), 'status ?json parses with JSON::PP';
    ok python_json_ok($res->{content}), "status ?json parses with Python's json.loads";
    for my $name (sort keys %lead) {
        my $one = $t->get("/mql-status?json&visitor=$lead{$name}")->{content};
        ok perl_json($one) && python_json_ok($one), "status ?json&visitor= of $name parses";
    }
}

# ---- mqlctl export --format json ------------------------------------------
my ($rc, $o, $err) = run('--state-dir', $sd, 'export', '--format', 'json');
is $rc, 0, 'export json: exit 0';
my $exp = perl_json($o);
ok $exp, 'export json parses with JSON::PP';
ok python_json_ok($o), "export json parses with Python's json.loads";
my %exp = map { $_->{id} => $_ } @{ $exp // [] };
is $exp{ $lead{'contact erase lines'} }{contact}, "x\e[2K\e[1A\e[2K\@example.com",
    'export json: the contact intact, escaped as JSON';
is $exp{ $lead{'contact invalid UTF-8'} }{contact}, "\x{fffd}" x 6 . '@example.com',
    'export json: invalid UTF-8 contact as U+FFFD, one per invalid byte';

# ---- human-readable output: nothing raw reaches the terminal -----------------
sub terminal_safe {
    my ($text) = @_;
    return 0 if $text =~ /[\x00-\x09\x0b-\x1f\x7f]/;       # C0 but newline, DEL
    my $copy = $text;
    return 0 unless utf8::decode($copy);                     # valid UTF-8
    return 0 if $copy =~ /[\x{80}-\x{9f}\x{202a}-\x{202e}\x{2066}-\x{2069}]/;  # C1, bidi
    return 1;
}
($rc, $o, $err) = run('--state-dir', $sd, 'list');
is $rc, 0, 'list: exit 0';
ok terminal_safe($o), 'list: no control byte, C1, bidi override or invalid UTF-8 raw'
    or diag explain $o;
like $o, qr/\\x1b\]0;owned\\x07\@example\.com/, 'list: the OSC title sequence shown escaped';
like $o, qr/\\xc2\\x9b31m/, 'list: the C1 CSI shown escaped';
like $o, qr/\\u202emoc/, 'list: the right-to-left override shown escaped';
like $o, qr/real\@example\.com(\\x08){16}fake/, 'list: backspaces shown, not applied';
for my $name (sort keys %lead) {
    ($rc, $o, $err) = run('--state-dir', $sd, 'show', $lead{$name});
    ok $rc == 0 && terminal_safe($o), "show $name: exit 0, nothing raw" or diag explain $o;
}
($rc, $o, $err) = run('--state-dir', $sd, 'show', $lead{'path F8 80 80 (lead byte past F4)'});
like $o, qr{^trigger: app:/cgi-bin/signal\.cgi/\\xf8\\x80\\x80$}m,
    'show: the invalid trigger bytes shown as \\xHH';
($rc, $o, $err) = run('--state-dir', $sd, 'stats');
ok $rc == 0 && terminal_safe($o), 'stats: exit 0, nothing raw';

# ---- CSV stays RFC 4180 (bytes as given, quoted where needed) ---------------
($rc, $o, $err) = run('--state-dir', $sd, 'export', '--format', 'csv');
is $rc, 0, 'export csv: exit 0';
{
    # RFC 4180: CRLF records, fields quoted when they hold , " CR or LF
    my @rows;
    my $s = $o;
    while (length $s) {
        my @f;
        while (1) {
            if ($s =~ s/^"((?:[^"]|"")*)"//) { (my $v = $1) =~ s/""/"/g; push @f, $v }
            else { $s =~ s/^([^,\r\n"]*)//; push @f, $1 }
            last unless $s =~ s/^,//;
        }
        $s =~ s/^\r\n// or do { fail 'CSV record ends in CRLF'; last };
        push @rows, \@f;
    }
    my ($head, @data) = @rows;
    my ($ci) = grep { $head->[$_] eq 'contact' } 0 .. $#$head;
    my ($ii) = grep { $head->[$_] eq 'id' } 0 .. $#$head;
    my %csv = map { $_->[$ii] => $_->[$ci] } @data;
    is scalar(@data), scalar(keys %lead), 'CSV: one record per lead';
    is $csv{ $lead{'contact title (OSC 0)'} }, "\e]0;owned\a\@example.com",
        'CSV: a contact comes back byte for byte (a program reads CSV, not a terminal)';
}

# ---- a damaged DBM file -------------------------------------------------------
# 60 records span several sdbm pages; one page past the first is
# overwritten so that APR refuses it.
my $dbm = "$root/damaged";
{
    tie my %h, 'SDBM_File', $dbm, O_RDWR | O_CREAT, 0600 or die "$dbm: $!";
    for my $i (1 .. 60) {
        my $id = encode_base64url(pack 'N4', $i, $i * 7, $i * 13, 42);
        $h{$id} = "stage=mql;score=$i;since=1764147600;last=1764151200;views=14;"
                . "contact=lead$i%40example.com";
    }
    untie %h;
}
($rc, $o) = run('--dbm', $dbm, '--type', 'sdbm', 'list');
is $rc, 0, 'the undamaged file lists';
is scalar(() = $o =~ /^\S{22}  mql /mg), 60, '... all 60 leads';
my @on_page;        # leads that live on the page about to be damaged
{
    open my $p, '<:raw', "$dbm.pag" or die $!;
    local $/;
    my $pag = <$p>;
    ok length($pag) >= 3 * 1024, 'the file has at least three pages';
    @on_page = substr($pag, 1024, 1024) =~ /([A-Za-z0-9_-]{22})stage=/g;
    open my $w, '+<:raw', "$dbm.pag" or die $!;
    seek $w, 1024, 0;
    print $w "\xff\xff\xff\xff";
    close $w;
}
for my $cmd (['list'], ['export', '--format', 'csv'], ['export', '--format', 'json'], ['stats']) {
    ($rc, $o, $err) = run('--dbm', $dbm, '--type', 'sdbm', @$cmd);
    is $rc, 1, "damaged file: '@$cmd' exits 1";
    like $err, qr/\Q$dbm\E is damaged/, "... and says the file is damaged";
    is $o, '', '... and prints no partial list';
}
SKIP: {
    skip 'no record found on the damaged page', 2 unless @on_page;
    ($rc, $o, $err) = run('--dbm', $dbm, '--type', 'sdbm', 'show', $on_page[0]);
    is $rc, 1, 'damaged file: show of a lead on the damaged page exits 1 (not "unknown")';
    like $err, qr/is damaged/, '... and says why';
}

# ---- the error log repeats application text escaped -------------------------
# (httpd escapes the messages of its error log itself; this checks that
# nothing of ours bypasses it)
{
    my $r = $t->get('/cgi-bin/signal.cgi?event=' . qenc("\e]0;owned\a\e[2J; points=x"));
    is $r->{status}, 200, 'malformed X-MQL-Event with escape sequences: answered';
    my $line = MQLTest::wait_for(3, sub { (grep { /MQL00030/ } split /\n/, $t->log_text)[0] });
    ok $line, 'the warning MQL00030 is logged';
    ok $line && $line !~ /[\x00-\x1f\x7f]/ && $line =~ /'\\x1b\]0;owned\\x07\\x1b\[2J/,
        '... with the control bytes escaped (\\x1b), never raw' or diag explain $line;
}

my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;
done_testing;
