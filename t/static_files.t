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

# A file that httpd serves as it is (style sheet, script, image, font),
# asked for by GET without a query, can be no event: the module skips its
# scoring, and its response filter when mod_headers is not loaded.  The
# visitor is still recognised and exported, and every way such a URL can
# still score does: a campaign query, a POST, an error document of the
# application, a download, a header that mod_headers adds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

sub visitor {
    my ($t) = @_;
    my $res = $t->get('/');
    my $cookie = MQLTest::visitor_cookie($res) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    return ($cookie, $id);
}

sub score_of {
    my ($t, $cookie) = @_;
    return MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie))->{MQL_SCORE};
}

# ---- without mod_headers: no filter on such a file ---------------------
{
    my $t = MQLTest->new(conf => <<'CONF');
MQLHalfLife 0
ErrorDocument 404 /cgi-bin/signal.cgi?event=missing%3B%20points%3D7
LogFormat "%U %{mql_visitor}n %{MQL_SCORE}e %{MQL_STAGE}e %{MQL_NEW}e" envlog
CustomLog logs/env_log envlog
CONF
    # the suite loads mod_headers everywhere; this server goes without
    my $conf_file = $t->root . '/httpd.conf';
    open my $in, '<', $conf_file or die $!;
    my $conf = do { local $/; <$in> };
    close $in;
    ok $conf =~ s/^LoadModule headers_module .*\n//m, 'no mod_headers';
    open my $out, '>', $conf_file or die $!;
    print $out $conf;
    close $out;
    $t->start;

    my ($cookie, $id) = visitor($t);
    is score_of($t, $cookie), 1, 'first view scores 1';

    for my $path (qw(/style.css /style.css /style.css)) {
        my $r = $t->get($path, Cookie => $cookie);
        is $r->{status}, 200, "$path answered";
        ok !MQLTest::visitor_cookie($r), "$path: a known visitor gets no new cookie";
    }
    is score_of($t, $cookie), 1, 'style sheets score nothing';

    # the visitor is still recognised, and exported, on such a request
    my $lines = MQLTest::wait_for(10, sub {
        open my $fh, '<', $t->root . '/logs/env_log' or return;
        my @l = grep { m{^/style\.css } } <$fh>;
        return @l >= 3 ? \@l : undef;
    });
    is scalar @{ $lines // [] }, 3, 'three style sheet requests logged';
    is $_, "/style.css $id 1 visitor 0\n", 'style sheet: visitor, score, stage, not new'
        for @{ $lines // [] };

    my $r = $t->get('/style.css?utm_medium=email', Cookie => $cookie);
    is $r->{status}, 200, 'style sheet with a campaign query answered';
    is score_of($t, $cookie), 6, '  and scored as a campaign click (+5)';

    $r = $t->get('/missing.css', Cookie => $cookie);
    is $r->{status}, 404, 'missing style sheet: 404 from the error document';
    ok !exists $r->{headers}{'x-mql-event'}, '  its X-MQL-Event taken off';
    is score_of($t, $cookie), 13, '  and scored (+7): the error document is the application';

    $t->get('/whitepapers/guide.pdf', Cookie => $cookie);
    is score_of($t, $cookie), 23, 'a download scores (+10)';

    $r = $t->request('POST', '/style.css', headers => { Cookie => $cookie,
                     'Content-Type' => 'application/x-www-form-urlencoded' }, content => 'a=b');
    my $want = $r->{status} == 200 ? 43 : $r->{status} == 405 ? 18 : -1;
    is score_of($t, $cookie), $want, "POST to a style sheet ($r->{status}) scores as a form";

    # a new visitor's first request for a file: cookie, not scored
    $r = $t->get('/style.css');
    my $fresh = MQLTest::visitor_cookie($r);
    ok $fresh, 'a new visitor asking for a style sheet gets a cookie';
    like $r->{headers}{'cache-control'} // '', qr/private/, '  in a response kept from shared caches';
    is score_of($t, $fresh), 0, '  and scores nothing';

    is_deeply [$t->unexpected_errors], [], 'no unexpected errors';
    $t->stop;
}

# ---- with mod_headers: its X-MQL-* headers still taken and scored ------
# (headers set early, when the request is read: mod_headers' own filter
# runs after the module's, so a late one is neither taken nor scored, with
# or without this path)
{
    my $t = MQLTest->new(conf => <<'CONF');
MQLHalfLife 0
Header always set X-MQL-Event "tag; points=3" early
LogFormat "%U %{MQL_SCORE}e" envlog
CustomLog logs/env_log envlog
CONF
    $t->start;
    my ($cookie) = visitor($t);
    for (1 .. 2) {
        my $r = $t->get('/style.css', Cookie => $cookie);
        is $r->{status}, 200, 'mod_headers: style sheet answered';
        ok !exists $r->{headers}{'x-mql-event'}, '  X-MQL-Event from mod_headers taken off';
    }
    # each request's MQL_SCORE is the score before it: the page +1 +3,
    # each style sheet +3
    my $lines = MQLTest::wait_for(10, sub {
        open my $fh, '<', $t->root . '/logs/env_log' or return;
        my @l = grep { m{^/style\.css } } <$fh>;
        return @l >= 2 ? \@l : undef;
    });
    is_deeply $lines, ["/style.css 4\n", "/style.css 7\n"],
        'mod_headers: its X-MQL-Event on a style sheet scores';
    is_deeply [$t->unexpected_errors], [], 'mod_headers: no unexpected errors';
    $t->stop;
}

done_testing;
