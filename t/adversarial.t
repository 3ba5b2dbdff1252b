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

# Adversarial input from clients and applications, sent byte for byte to
# 127.0.0.1: oversized cookies and paths, a thousand cookies, NUL and
# control bytes, invalid UTF-8, X-MQL-Event with absurd points, X-MQL-*
# headers sent by the client, and injection attempts through X-MQL-Contact
# into the DBM record and the MQLNotify JSON.  Every case: the server
# answers (no 5xx), no child crashes, and no visitor's data is corrupted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLFields;

my $UA = MQLTest::browser_ua();
my %FIELDS = map { $_ => 1 } qw(stage score since last views downloads forms form_errors
                                 pixels campaigns apps country trigger contact),
                              MQLFields::published_names();
# the record's fields published as they are (mql_fields.h)
my %PUBLISHED = map { $_ => 1 } MQLFields::published_names();

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

# A request as raw bytes; returns { status, headers (lower-case => [values]), content }.
sub send_raw { $t->raw_bytes($_[0]) }

sub req {
    my ($target, @headers) = @_;
    my $ua = (grep { /^User-Agent:/i } @headers) ? '' : "User-Agent: $UA\r\n";
    return send_raw("GET $target HTTP/1.1\r\nHost: 127.0.0.1\r\n$ua"
                    . join('', map { "$_\r\n" } @headers) . "Connection: close\r\n\r\n");
}

sub new_cookie {
    my ($res) = @_;
    for (@{ $res->{headers}{'set-cookie'} // [] }) { return $1 if /^(mql_vid=[^;]+)/ }
    return;
}

sub id_of { my ($c) = @_; $c =~ /^mql_vid=([^.]+)\./ ? $1 : undef }

sub env_for {
    my ($cookie) = @_;
    return MQLTest::env_of(req('/cgi-bin/env.cgi', "Cookie: $cookie"));
}

# The server answered, and not with an error of ours.
sub answered {
    my ($res, $what, @allowed) = @_;
    my $st = $res->{status};
    ok $st && $st < 500 && (!@allowed || grep { $st == $_ } @allowed),
        "$what: answered $st" . (@allowed ? " (expected @allowed)" : '');
}

sub dbm_get {
    my ($key) = @_;
    return $t->leads_records->{$key};
}

# "name=value;..." with %XX decoded; undef when a field is malformed.
sub decode_record {
    my ($v) = @_;
    my %f;
    for (split /;/, $v, -1) {
        my ($k, $x) = /^([a-z_]+)=([^;=]*)$/ or return;
        return if exists $f{$k};
        $x =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        $f{$k} = $x;
    }
    return \%f;
}

sub qenc { my ($s) = @_; $s =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $s }

# A reference visitor whose data must come out of all this unchanged.
my $ref = new_cookie(req('/index.html')) or BAIL_OUT('no visitor cookie');
req('/pricing.html', "Cookie: $ref") for 1 .. 4;
is env_for($ref)->{MQL_SCORE}, 5, 'reference visitor: 5 views';

# ---- oversized and numerous cookies ------------------------------------
# httpd refuses a header line longer than LimitRequestFieldSize (8190).
my $limit = 8190;
{
    my $filler = 'x=' . ('a' x ($limit - length('Cookie: x=') - length("; $ref")));
    my $line = "Cookie: $filler; $ref";
    is length($line), $limit, 'a Cookie line of exactly 8190 bytes';
    my $r = req('/cgi-bin/env.cgi', $line);
    answered($r, '8 KB cookie below the limit', 200);
    is MQLTest::env_of($r)->{MQL_VISITOR}, id_of($ref), '8 KB cookie: the visitor is recognised';
    ok !new_cookie($r), '8 KB cookie: no new cookie';

    $r = req('/index.html', 'Cookie: x=' . ('a' x 7800) . '; mql_vid=' . ('b' x 300));
    answered($r, '8 KB garbage cookie', 200);
    ok new_cookie($r), '8 KB garbage cookie: a fresh visitor';

    $r = req('/index.html', 'Cookie: x=' . ('a' x ($limit + 10)) . "; $ref");
    answered($r, 'cookie above the limit', 400);
}
{
    my $many = join '; ', map { sprintf('%x=1', $_) } 1 .. 1000;
    my $line = "Cookie: $many; $ref";
    cmp_ok length($line), '<', $limit, '1 000 cookies fit in one header';
    my $r = req('/cgi-bin/env.cgi', $line);
    answered($r, '1 000 cookies', 200);
    is MQLTest::env_of($r)->{MQL_VISITOR}, id_of($ref), '1 000 cookies: visitor recognised';

    my $forged = join '; ', map { 'mql_vid=' . ('A' x 22) . '.' . sprintf('%022d', $_) } 1 .. 120;
    $r = req('/cgi-bin/env.cgi', "Cookie: $forged; $ref");
    answered($r, '120 forged visitor cookies then the real one', 200);
    is MQLTest::env_of($r)->{MQL_VISITOR}, id_of($ref), 'forged cookies: the signed one wins';

    $r = req('/index.html', 'Cookie: ' . join('; ', ('mql_vid=') x 800));
    answered($r, '800 empty visitor cookies', 200);
}

# ---- NUL, control bytes, invalid UTF-8 --------------------------------
for my $case (
    [ 'NUL byte in a cookie',          "Cookie: mql_vid=\x00abc" ],
    [ 'control bytes in a cookie',     "Cookie: a=\x01\x02\x1b[31m; mql_vid=\x7f" ],
    [ 'percent-NUL in a cookie',       'Cookie: mql_vid=%00%0d%0a.%00' ],
    [ 'tab in a cookie',               "Cookie: mql_vid=\tabc\t; b=\t" ],
    [ 'invalid UTF-8 in a cookie',     "Cookie: mql_vid=\xff\xfe\xc0\xaf.\xed\xa0\x80" ],
    [ 'invalid UTF-8 User-Agent',      "User-Agent: Mozilla/5.0 \xff\xfe\xc0\xaf (X11)" ],
    [ 'control bytes in User-Agent',   "User-Agent: Mozilla/5.0 \x01\x7f" ],
    [ 'invalid UTF-8 Referer',         "Referer: http://example.com/\xff\xfe" ],
    [ 'DNT with junk',                 "DNT: 1\xff" ],
) {
    my ($what, @h) = @$case;
    answered(req('/index.html', @h), $what);
}
for my $target ('/index.html%00', '/index.html?utm_medium=email%00&x=%0d%0a',
                "/\xff\xfe.html", '/%ff%fe%c0%af.html', '/index.html?%ff%fe=%c0%af',
                '/index.html?utm_medium=email&utm_medium=%00%ff', '/%2e%2e/%2e%2e/etc/passwd') {
    (my $shown = $target) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
    answered(req($target), "URL $shown");
}

# ---- 8 KB URL paths ----------------------------------------------------
{
    # longer than the file system's PATH_MAX: 403 from httpd's core
    answered(req('/' . ('a' x 8000)), '8 KB path of one name', 403);
    answered(req('/a' x 4000), '8 KB path of many names', 403);
    answered(req('/a' x 2000), '4 KB path of many names', 404);
    answered(req('/' . ('a' x 9000)), 'path above LimitRequestLine', 414);
    # a real page under an 8 KB path, with an event that makes a lead: the
    # trigger path is cut, the DBM record stays small
    my $r = req('/cgi-bin/signal.cgi' . ('/p' x 1950) . '?event=' . qenc('webinar; points=50')
                . '&pad=' . ('q' x 4000));
    answered($r, '8 KB URL (4 KB path) to an application', 200);
    my $id = id_of(new_cookie($r) // '');
    my $rec = MQLTest::wait_for(5, sub { dbm_get($id) });
    ok $rec && length($rec) < 1008, '8 KB path: a lead record of ' . length($rec // '') . ' bytes';
    my $f = decode_record($rec // '');
    is $f && $f->{stage}, 'mql', '8 KB path: the record decodes';
    like $f && $f->{trigger}, qr{^app:/cgi-bin/signal\.cgi[/p]+$}, '8 KB path: trigger cut short';
}

# ---- X-MQL-Event with absurd points ------------------------------------
for my $case (['99999999999999999999', 1], ['2147483648', 1], ['1001', 1], ['-1001', 1],
              ['abc', 1], ['1e9', 1], ['0x10', 1], ['', 1], ['5; points=6', 1],
              ['-50', -49], ['+7', 8], ['1000', 1001]) {
    my ($points, $want) = @$case;
    my $r = req('/cgi-bin/signal.cgi?event=' . qenc("webinar; points=$points"));
    answered($r, "X-MQL-Event points=$points", 200);
    ok !$r->{headers}{'x-mql-event'}, "points=$points: the header does not reach the client";
    my $c = new_cookie($r);
    is env_for($c)->{MQL_SCORE}, $want, "points=$points: score $want";
}
like $t->log_text, qr/MQL00030: ignored X-MQL-Event/, 'bad points are logged (MQL00030)';

# ---- X-MQL-* sent by the client: ignored --------------------------------
{
    my $c = new_cookie(req('/index.html'));
    my $r = req('/index.html', "Cookie: $c", 'X-MQL-Event: webinar; points=500',
                'X-MQL-Contact: attacker@example.com');
    answered($r, 'client sends X-MQL-Event and X-MQL-Contact', 200);
    is env_for($c)->{MQL_SCORE}, 2, 'client X-MQL-Event: not scored (two views only)';
    my $j = eval { decode_json(req('/mql-status?json&visitor=' . id_of($c))->{content}) } // {};
    ok !$j->{visitor}{contact}, 'client X-MQL-Contact: no contact kept';
}

# ---- injection through X-MQL-Contact -----------------------------------
my @contacts = (
    'a;stage=sql;score=999',
    'x=y',
    q{"double" and 'single' quotes},
    '"},{"injected":1,"stage":"sql","x":"',
    '\\u0000 back\\slash \\"',
    '%0d%0a%3b%3d literal percents',
    "tab\there",
    '<script>alert(1)</script>@example.com',
    "J\xc3\xbcrgen <j\@example.com>",
    'contact=evil;trigger=x',
    ';;;===',
    "\xff\xfe\xc0\xaf\@example.com",
);
my %lead_of;
for my $contact (@contacts) {
    my $r = req('/cgi-bin/signal.cgi?event=' . qenc('webinar; points=50')
                . '&contact=' . qenc($contact));
    answered($r, "X-MQL-Contact " . (JSON::PP->new->ascii->encode([$contact])), 200);
    ok !$r->{headers}{'x-mql-contact'}, 'the contact header does not reach the client';
    $lead_of{$contact} = id_of(new_cookie($r) // '');
}
# CR LF cannot cross a CGI header; what reaches the module ends at the break
{
    my $r = req('/cgi-bin/signal.cgi?event=' . qenc('webinar; points=50')
                . '&contact=' . qenc("crlf\@example.com\r\nX-Injected: 1"));
    answered($r, 'X-MQL-Contact with CR LF', 200);
    $lead_of{'crlf@example.com'} = id_of(new_cookie($r) // '');
}
# invalid UTF-8 in the path that made a lead (its trigger)
my $bad_path_lead;
{
    my $r = req('/cgi-bin/signal.cgi/%ff%fe%c0%af?event=' . qenc('webinar; points=50'));
    answered($r, 'invalid UTF-8 in an application path', 200);
    $bad_path_lead = id_of(new_cookie($r) // '');
}
ok MQLTest::wait_for(8, sub { dbm_get($bad_path_lead) }), 'invalid UTF-8 trigger: published';
{
    my $f = decode_record(dbm_get($bad_path_lead) // '');
    is $f && $f->{trigger}, "app:/cgi-bin/signal.cgi/\xff\xfe\xc0\xaf",
        'invalid UTF-8 trigger: the DBM record keeps the bytes exactly';
}
ok MQLTest::wait_for(8, sub { !grep { !dbm_get($_) } values %lead_of }),
    'every lead reached the DBM file';
for my $contact (sort keys %lead_of) {
    my $shown = JSON::PP->new->ascii->encode([$contact]);
    my $rec = dbm_get($lead_of{$contact}) // '';
    my $f = decode_record($rec);
    ok $f, "DBM $shown: the record parses" or diag $rec;
    next unless $f;
    is_deeply [grep { !$FIELDS{$_} } sort keys %$f], [], "DBM $shown: no foreign field";
    is $f->{contact}, $contact, "DBM $shown: contact decodes to exactly the value";
    is $f->{stage}, 'mql', "DBM $shown: stage untouched";
    is $f->{score}, 51, "DBM $shown: score untouched";
}

# Notifications: one line per stage change, each one JSON object.
my @lines = @{ MQLTest::wait_for(8, sub {
    open my $f, '<', $out or return;
    my @l = <$f>;
    # every lead made here: the 8 KB path, the points cases that crossed 20, the contacts
    @l >= keys(%lead_of) ? \@l : undef;
}) // [] };
my (%by_visitor, $bad_json);
for my $l (@lines) {
    my $j = eval { JSON::PP->new->utf8->decode($l) };
    $bad_json++, diag("not JSON: $l") unless ref $j eq 'HASH';
    next unless ref $j eq 'HASH';
    $by_visitor{ $j->{visitor} }++;
    is_deeply [sort grep { !/^(type|time|visitor|old_stage|stage|score|trigger_event|counts|current_score|trigger|contact|country|story)$/
                           && !$PUBLISHED{$_} } keys %$j],
        [], 'notification: no foreign key';
}
ok !$bad_json, scalar(@lines) . ' notification lines, each a JSON object';
is scalar(grep { $_ > 1 } values %by_visitor), 0, 'one line per stage change';
for my $contact (sort keys %lead_of) {
    my ($j) = grep { $_->{visitor} eq $lead_of{$contact} }
              map { eval { JSON::PP->new->utf8->decode($_) } // () } @lines;
    my $want = $contact;
    if (utf8::decode($want)) {
        is $j && $j->{contact}, $want, 'notification contact ' . JSON::PP->new->ascii->encode([$want]);
    }
    else {          # invalid UTF-8: each bad byte becomes U+FFFD
        like $j && $j->{contact}, qr/^\x{fffd}{4}\@example\.com$/,
            'notification contact with invalid UTF-8: replacement characters';
    }
}

# The status page renders every one of them as valid JSON and escaped HTML.
{
    my $res = req('/mql-status?json&validate');
    my $j = eval { JSON::PP->new->utf8->decode($res->{content}) };
    ok $j, 'status ?json parses with every hostile value in it';
    ok $j && $j->{store_valid}, 'the shared table is consistent';
    my $html = req('/mql-status')->{content};
    unlike $html, qr/<script>alert/, 'status HTML: contacts escaped';
}

# ---- the reference visitor is intact; nobody crashed ---------------------
my $env = env_for($ref);
is $env->{MQL_SCORE}, 5, 'reference visitor: score untouched';
is $env->{MQL_STAGE}, 'visitor', 'reference visitor: stage untouched';
$t->stop;
unlike $t->log_text, qr/exit signal|AH00052|Segmentation|AddressSanitizer/, 'no child crashed';
# httpd's own refusal of a path above the document root
is_deeply [map { substr $_, 0, 300 } $t->unexpected_errors(qr/AH10244: invalid URI path/,
                                                            qr/AH00127: Cannot map GET/)],
    [], 'no errors in the error log';

done_testing;
