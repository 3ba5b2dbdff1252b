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

# The admin status page: figures (HTML, ?json, ?auto), escaping of what
# visitors chose, access control, CSRF-guarded stage changes, and the
# section in mod_status's /server-status.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;

my $CONF = <<'CONF';
MQLThreshold 20
<Location /mql-status>
    SetHandler mql-status
</Location>
<Location /locked-status>
    SetHandler mql-status
    Require ip 192.0.2.1
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
CONF

my $XSS = '<script>alert(1)</script>';

sub html_num {
    my ($html, $id) = @_;
    my ($v) = $html =~ /id="\Q$id\E">([^<]*)</;
    return undef unless defined $v;
    $v =~ s/,//g;
    return $v;
}

sub json_of {
    my ($t, $path) = @_;
    my $res = $t->get($path);
    my $data = eval { JSON::PP->new->utf8->decode($res->{content}) };
    return ($res, $data);
}

# The charts' y axes: whole counts from 0, each label once.
sub axes_ok {
    my ($mpm, $html, @names) = @_;
    my %axes;
    for my $svg ($html =~ /(<svg\b.*?<\/svg>)/sg) {
        my ($name) = $svg =~ /aria-label="([^"]*)"/;
        $axes{$name} = [$svg =~ /stroke="#e4e7eb"\/><text [^>]*text-anchor="end">([^<]*)<\/text>/g];
    }
    for my $name (@names) {
        my @ticks = @{ $axes{$name} // [] };
        my %seen;
        ok @ticks >= 2 && !grep({ !/^[0-9,]+$/ || $seen{$_}++ } @ticks) && $ticks[0] eq '0',
           "$mpm: '$name' has distinct whole ticks from 0 (@ticks)";
    }
}

sub form_post {
    my ($t, $body, %h) = @_;
    return $t->request('POST', '/mql-status',
                       headers => { 'Content-Type' => 'application/x-www-form-urlencoded', %h },
                       content => $body);
}

for my $mpm (qw(event prefork)) {
    my $t = MQLTest->new(mpm => $mpm, conf => $CONF);
    $t->start;

    # A journey: views, a download, a form with a contact -> mql (1+1+10+20)
    my $res = $t->get('/');
    my $lead = MQLTest::visitor_cookie($res);
    my ($lead_id) = $lead =~ /^mql_vid=([^.]+)\./;
    $t->get('/pricing.html', Cookie => $lead);
    $t->get('/whitepapers/guide.pdf', Cookie => $lead);
    $res = form_post_to($t, '/cgi-bin/form.cgi', 'email=jane%40example.com', $lead);
    is $res->{status}, 302, "$mpm: contact form accepted";

    # A visitor whose User-Agent, URL and contact are markup
    my %evil = ('User-Agent' => "Mozilla/5.0 $XSS");
    $res = $t->request('GET', '/', headers => \%evil);
    my $evil = MQLTest::visitor_cookie($res);
    ok $evil, "$mpm: the scripted visitor is tracked";
    $t->request('GET', "/$XSS.pdf", headers => { %evil, Cookie => $evil });
    $res = $t->request('GET', "/cgi-bin/signal.cgi/$XSS?event=webinar;points=30&contact="
                       . "%3Cscript%3Ealert(2)%3C%2Fscript%3E%22%27%26", headers => { %evil, Cookie => $evil });
    is $res->{status}, 200, "$mpm: application signal with markup answered";

    # a contact that is not UTF-8 at all
    $res = $t->get('/cgi-bin/signal.cgi?contact=caf%E9%FF%FE%C3%28');
    my ($latin1) = MQLTest::visitor_cookie($res) =~ /^mql_vid=([^.]+)\./;

    # a few plain visitors
    $t->get('/') for 1 .. 2;

    # ---- the page itself
    $res = $t->get('/mql-status');
    is $res->{status}, 200, "$mpm: status page served";
    like $res->{headers}{'content-type'}, qr{^text/html}, "$mpm: as HTML";
    is_deeply [MQLTest::set_cookies($res)], [], "$mpm: the status page sets no visitor cookie";
    my $html = $res->{content};
    unlike $html, qr/<script/i, "$mpm: no raw <script> in the HTML";
    unlike $html, qr/<(?:img|iframe|link|object)\b/i, "$mpm: no external assets";
    like $html, qr/&lt;script&gt;alert\(2\)/, "$mpm: the contact is shown escaped";
    like $html, qr{signal\.cgi/&lt;script&gt;}, "$mpm: the trigger path is shown escaped";
    like $html, qr/<svg\b/, "$mpm: an inline SVG chart";
    like $html, qr/<style>/, "$mpm: inline CSS";
    axes_ok($mpm, $html, 'Visitors by current score');
    like $res->{headers}{'content-security-policy'} // '', qr/default-src 'none'/,
        "$mpm: a strict Content-Security-Policy";
    is $res->{headers}{'cache-control'}, 'no-store', "$mpm: not cached";

    # ---- ?json has the same figures
    my ($jres, $j) = json_of($t, '/mql-status?json');
    like $jres->{headers}{'content-type'}, qr{^application/json}, "$mpm: ?json is application/json";
    ok $j, "$mpm: ?json parses" or diag $jres->{content};
    is $j->{visitors}{tracked}, 6, "$mpm: six visitors tracked";
    is html_num($html, 'visitors'), $j->{visitors}{tracked}, "$mpm: HTML and JSON agree: visitors";
    is html_num($html, 'used-pct'), sprintf('%.1f', $j->{visitors}{used_percent}),
        "$mpm: HTML and JSON agree: capacity used";
    is html_num($html, "stage-$_"), $j->{stages}{$_}, "$mpm: HTML and JSON agree: $_"
        for qw(mql sql rejected);
    is html_num($html, 'events-total'), $j->{events_total}, "$mpm: HTML and JSON agree: events";
    is html_num($html, "ev-$_"), $j->{events}{$_}, "$mpm: HTML and JSON agree: $_ events"
        for qw(view download form app);
    is html_num($html, 'evictions'), $j->{health}{evictions}, "$mpm: HTML and JSON agree: evictions";
    is $j->{stages}{mql}, 2, "$mpm: two MQLs";
    is $j->{events}{download}, 1, "$mpm: one download (the 404 .pdf is none)";
    my ($top) = grep { $_->{id} eq $lead_id } @{ $j->{top} };
    ok $top, "$mpm: the lead is among the top visitors";
    is $top->{score}, 32, "$mpm: its score";
    is $top->{stage}, 'mql', "$mpm: its stage";
    is $top->{contact}, 'jane@example.com', "$mpm: its contact";
    is $top->{counts}{download}, 1, "$mpm: its counts";
    like $html, qr/\Q$lead_id\E/, "$mpm: the lead's ID in the HTML";
    my ($l1) = grep { $_->{id} eq $latin1 } @{ $j->{top} };
    is $l1->{contact}, "caf\x{fffd}\x{fffd}\x{fffd}\x{fffd}(", "$mpm: bytes that are not UTF-8 come out as U+FFFD";
    my ($bad) = grep { $_->{contact} =~ /script/ } @{ $j->{top} };
    is $bad->{contact}, q{<script>alert(2)</script>"'&}, "$mpm: JSON carries the raw contact, escaped";
    unlike $jres->{content}, qr/<script/, "$mpm: no raw <script> in the JSON text either";
    is scalar(grep { $_->{to} eq 'mql' } @{ $j->{changes} }), 2, "$mpm: two changes to mql";
    my $hist = 0;
    $hist += $_->{count} for @{ $j->{histogram} };
    is $hist, $j->{visitors}{tracked}, "$mpm: the histogram counts every visitor";

    # ---- ?auto
    $res = $t->get('/mql-status?auto');
    like $res->{headers}{'content-type'}, qr{^text/plain}, "$mpm: ?auto is text/plain";
    my @lines = split /\n/, $res->{content};
    ok @lines > 10, "$mpm: ?auto has lines";
    # mod_status's own keys have digits too (Load1); the funnel's lines
    # (MQLFunnelWaiting1to7d) appear once the journal has been read.
    my $auto_line = qr/^[A-Za-z][A-Za-z0-9]*: -?[0-9.]+$/;
    is scalar(grep { !/$auto_line/ } @lines), 0, "$mpm: every ?auto line is Key: value"
        or diag $res->{content};
    my $last_auto;
    my $with_funnel = MQLTest::wait_for(30, sub {
        $last_auto = $t->get('/mql-status?auto')->{content};
        $last_auto =~ /^MQLFunnelWaiting1to7d: /m ? $last_auto : undef;
    });
    ok $with_funnel, "$mpm: ?auto shows the funnel once the journal has recorded"
        or diag $last_auto;
    is scalar(grep { !/$auto_line/ } split /\n/, $with_funnel // ''), 0,
        "$mpm: the funnel's ?auto lines are Key: value too" or diag $with_funnel;
    # the funnel's charts, once the journal has recorded
    axes_ok($mpm, $t->get('/mql-status')->{content}, 'Visitors per day', 'Leads per day');
    my %auto = map { /^(\w+): (.*)$/ } @lines;
    my %keys;
    is scalar(grep { $keys{(split /:/)[0]}++ } split /\n/, $with_funnel // ''), 0,
        "$mpm: each ?auto key once";
    is $auto{MQLVisitors}, $j->{visitors}{tracked}, "$mpm: ?auto agrees: visitors";
    is $auto{MQLStageMQL}, $j->{stages}{mql}, "$mpm: ?auto agrees: MQLs";
    is $auto{MQLEventsTotal}, $j->{events_total}, "$mpm: ?auto agrees: events";

    # ---- refresh
    is $t->get('/mql-status?refresh=1')->{headers}{refresh}, 5, "$mpm: refresh bounded below";
    is $t->get('/mql-status?refresh=999999')->{headers}{refresh}, 3600, "$mpm: refresh bounded above";
    is $t->get('/mql-status?refresh=30')->{headers}{refresh}, 30, "$mpm: refresh as asked";
    ok !defined $t->get('/mql-status')->{headers}{refresh}, "$mpm: no refresh unless asked";

    # ---- access control is the admin's Require
    is $t->get('/locked-status')->{status}, 403, "$mpm: Require ip refuses other clients";
    is $t->get('/locked-status?json')->{status}, 403, "$mpm: ... for ?json too";

    # ---- the visitor view
    $res = $t->get("/mql-status?visitor=$lead_id");
    is $res->{status}, 200, "$mpm: visitor view";
    like $res->{content}, qr/jane\@example\.com/, "$mpm: shows the contact";
    my ($token) = $res->{content} =~ /name="token" value="([0-9a-f]{32})"/;
    ok $token, "$mpm: the page carries a form token";
    is $t->get('/mql-status?visitor=not-an-id')->{status}, 400, "$mpm: bad ID: 400";
    is $t->get('/mql-status?visitor=AAAAAAAAAAAAAAAAAAAAAA')->{status}, 404, "$mpm: unknown ID: 404";
    my ($vres, $v) = json_of($t, "/mql-status?visitor=$lead_id&json");
    is $v->{visitor}{stage}, 'mql', "$mpm: visitor JSON";

    # ---- GET never changes anything
    $t->get("/mql-status?visitor=$lead_id&stage=sql&token=$token");
    $t->get("/mql-status?stage=sql&visitor=$lead_id&token=$token&json");
    (undef, $v) = json_of($t, "/mql-status?visitor=$lead_id&json");
    is $v->{visitor}{stage}, 'mql', "$mpm: GET with stage parameters changes nothing";

    # ---- POSTs that must be refused
    $res = form_post($t, "visitor=$lead_id&stage=sql");
    is $res->{status}, 403, "$mpm: POST without a token: 403";
    $res = form_post($t, "visitor=$lead_id&stage=sql&token=" . ('0' x 32));
    is $res->{status}, 403, "$mpm: POST with a wrong token: 403";
    $res = form_post($t, "visitor=$lead_id&stage=sql&token=$token", Origin => 'http://evil.example');
    is $res->{status}, 403, "$mpm: POST from another origin: 403";
    $res = form_post($t, "visitor=$lead_id&stage=sql&token=$token",
                     Referer => 'http://evil.example/mql-status');
    is $res->{status}, 403, "$mpm: POST referred by another site: 403";
    $res = $t->request('POST', '/mql-status', headers => { 'Content-Type' => 'text/plain' },
                       content => "visitor=$lead_id&stage=sql&token=$token");
    is $res->{status}, 415, "$mpm: POST that is not a form: 415";
    $res = form_post($t, "visitor=$lead_id&stage=visitor&token=$token");
    is $res->{status}, 400, "$mpm: POST of an unknown stage: 400";
    is $t->request('PUT', '/mql-status')->{status}, 405, "$mpm: PUT: 405";
    (undef, $v) = json_of($t, "/mql-status?visitor=$lead_id&json");
    is $v->{visitor}{stage}, 'mql', "$mpm: still mql after the refused POSTs";

    # ---- the real form changes the stage
    my $origin = $t->base;
    $res = form_post($t, "visitor=$lead_id&stage=sql&token=$token", Origin => $origin);
    is $res->{status}, 303, "$mpm: POST with the token: 303";
    like $res->{headers}{location} // '', qr{/mql-status\?visitor=\Q$lead_id\E}, "$mpm: back to the visitor";
    is_deeply [MQLTest::set_cookies($res)], [], "$mpm: no visitor cookie from the POST";
    (undef, $v) = json_of($t, "/mql-status?visitor=$lead_id&json");
    is $v->{visitor}{stage}, 'sql', "$mpm: ?json shows the new stage";
    is $v->{changes}[0]{to}, 'sql', "$mpm: the change is recorded";
    ($jres, $j) = json_of($t, '/mql-status?json');
    is $j->{stages}{sql}, 1, "$mpm: one SQL";
    is html_num($t->get('/mql-status')->{content}, 'stage-sql'), 1, "$mpm: the HTML counts it";
    is MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $lead))->{MQL_STAGE}, 'sql',
        "$mpm: MQL_STAGE=sql for the visitor";
    $res = form_post($t, "visitor=$lead_id&stage=rejected&token=$token",
                     Referer => "$origin/mql-status?visitor=$lead_id");
    is $res->{status}, 303, "$mpm: POST referred by the page itself: 303";
    (undef, $v) = json_of($t, "/mql-status?visitor=$lead_id&json");
    is $v->{visitor}{stage}, 'rejected', "$mpm: rejected";
    like $t->log_text, qr/MQL04022: visitor \Q$lead_id\E set to stage rejected/, "$mpm: the change is logged";

    # the status page is not a tracked page
    ($jres, $j) = json_of($t, '/mql-status?json');
    is $j->{visitors}{tracked}, 6, "$mpm: viewing the page tracked nobody";

    # ---- mod_status
    $res = $t->get('/server-status?auto');
    like $res->{content}, qr/^MQLVisitors: 6$/m, "$mpm: /server-status?auto has the mod_mql section";
    like $res->{content}, qr/^MQLStageRejected: 1$/m, "$mpm: ... with the stages";
    $res = $t->get('/server-status');
    like $res->{content}, qr/mod_mql lead scoring/, "$mpm: /server-status HTML has the section";

    $t->stop;
    is_deeply [$t->unexpected_errors(qr/AH01630: client denied by server configuration: .*locked-status/)], [],
        "$mpm: no errors in the error log";
}

sub form_post_to {
    my ($t, $path, $body, $cookie) = @_;
    return $t->request('POST', $path,
                       headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                                    Cookie => $cookie },
                       content => $body);
}

done_testing;
