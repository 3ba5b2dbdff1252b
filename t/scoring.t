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

# A scripted visitor journey scores exactly, and the visitor becomes an MQL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $conf = <<'CONF';
MQLHalfLife 0
MQLRule view ^/pricing 10 cap=2
MQLRule view ^/careers -20
MQLRule download ^/whitepapers/ 15
<Location /px.gif>
    SetHandler mql-pixel
</Location>
CONF

for my $mpm (qw(event prefork)) {
    my $t = MQLTest->new(mpm => $mpm, conf => $conf);
    $t->start;

    my $res = $t->get('/');
    my $cookie = MQLTest::visitor_cookie($res);
    ok $cookie, "$mpm: visitor cookie";
    my ($id) = $cookie =~ /=([^.]+)\./;

    my $env = sub { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie)) };
    my $score = sub { $env->()->{MQL_SCORE} };
    my $step = sub {
        my ($want, $what, $method, $path, %o) = @_;
        my $r = $t->request($method, $path,
                            headers => { Cookie => $cookie, %{ $o{headers} // {} } },
                            content => $o{content});
        is $r->{status}, $o{status} // 200, "$mpm: $what answers " . ($o{status} // 200);
        # a range request is scored when it is logged, just after its
        # response: give it that moment
        my $got = $score->();
        for (1 .. 20) {
            last if $got == $want || !$o{headers}{Range};
            select undef, undef, undef, 0.1;
            $got = $score->();
        }
        is $got, $want, "$mpm: $what -> score $want";
        return $r;
    };

    is $score->(), 1, "$mpm: first view scores 1";
    $step->(12, 'pricing view 1', 'GET', '/pricing.html');
    $step->(23, 'pricing view 2', 'GET', '/pricing.html');
    $step->(24, 'pricing view 3: rule capped at 2', 'GET', '/pricing.html');
    $step->(5,  'careers view: negative rule', 'GET', '/careers.html');
    $step->(30, 'whitepaper download with a download rule', 'GET', '/whitepapers/guide.pdf');
    $step->(30, 'missing PDF scores nothing', 'GET', '/whitepapers/missing.pdf', status => 404);
    $step->(30, 'a stylesheet scores nothing', 'GET', '/style.css');
    $step->(50, 'form POST accepted (302)', 'POST', '/cgi-bin/form.cgi',
            content => 'email=jane%40example.com',
            headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }, status => 302);
    $step->(45, 'form POST refused (422)', 'POST', '/cgi-bin/form.cgi', content => 'name=x',
            headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }, status => 422);
    my $r = $step->(76, 'application event of 30 points (+1 view)', 'GET',
                    '/cgi-bin/signal.cgi?event=webinar%3B%20points%3D30');
    ok !exists $r->{headers}{'x-mql-event'}, "$mpm: X-MQL-Event is removed before the client";
    $step->(76, 'X-MQL-Event sent by the client is ignored', 'GET', '/cgi-bin/env.cgi',
            headers => { 'X-MQL-Event' => 'hack; points=500' });
    $step->(82, 'e-mail campaign click (+1 view, +5 campaign)', 'GET', '/?utm_medium=email');
    $r = $t->get('/px.gif', Cookie => $cookie);
    is $r->{status}, 200, "$mpm: pixel served";
    is $r->{headers}{'content-type'}, 'image/gif', "$mpm: pixel is a GIF";
    is length($r->{content}), 43, "$mpm: pixel is 43 bytes";
    like $r->{headers}{'cache-control'}, qr/no-store/, "$mpm: pixel is not cached";
    is $score->(), 85, "$mpm: pixel scores 3";
    is $env->()->{MQL_STAGE}, 'visitor', "$mpm: still a visitor at 85";
    $r = $step->(100, 'application event crossing the threshold', 'GET',
                 '/cgi-bin/signal.cgi?event=trial%3Bpoints%3D14&contact=jane%40example.com');
    ok !exists $r->{headers}{'x-mql-contact'}, "$mpm: X-MQL-Contact is removed before the client";
    is $env->()->{MQL_STAGE}, 'mql', "$mpm: an MQL at the threshold";
    $step->(81, 'careers again: the score falls', 'GET', '/careers.html');
    is $env->()->{MQL_STAGE}, 'mql', "$mpm: an MQL stays an MQL when the score falls";

    # A 206 that completes the file is a download; one that does not is not.
    my $size = -s $t->root . '/htdocs/whitepapers/guide.pdf';
    $step->(81, 'partial download (first bytes)', 'GET', '/whitepapers/guide.pdf',
            headers => { Range => 'bytes=0-99' }, status => 206);
    $step->(106, 'partial download reaching the end', 'GET', '/whitepapers/guide.pdf',
            headers => { Range => 'bytes=100-' }, status => 206);

    # HEAD requests and excluded clients score nothing, even with a cookie.
    $t->request('HEAD', '/pricing.html', headers => { Cookie => $cookie });
    $t->get('/pricing.html', Cookie => $cookie, DNT => '1');
    is $score->(), 106, "$mpm: HEAD and DNT requests score nothing";

    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$mpm: no errors in the error log";
}

# Decay: a score halves every MQLHalfLife; an MQL is not demoted by it.
{
    my $t = MQLTest->new(conf => "MQLHalfLife 2s\nMQLThreshold 30\n");
    $t->start;
    my $cookie = MQLTest::visitor_cookie($t->get('/'));
    for (1 .. 2) {
        $t->request('POST', '/cgi-bin/form.cgi', content => 'email=a%40b.example',
                    headers => { Cookie => $cookie,
                                 'Content-Type' => 'application/x-www-form-urlencoded' });
    }
    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    cmp_ok $env->{MQL_SCORE}, '>=', 30, 'decay: score before waiting';
    is $env->{MQL_STAGE}, 'mql', 'decay: an MQL';
    my $before = $env->{MQL_SCORE};
    sleep 4;
    $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    my ($lo, $hi) = ($before * 2**(-5 / 2) - 1, $before * 2**(-3 / 2) + 1);
    ok $env->{MQL_SCORE} >= $lo && $env->{MQL_SCORE} <= $hi,
        "decay: $before fell to $env->{MQL_SCORE} after 4 s with a 2 s half-life";
    is $env->{MQL_STAGE}, 'mql', 'decay does not demote an MQL';
    $t->stop;
}

# Requirements: the threshold alone is not enough.
{
    my $t = MQLTest->new(conf => "MQLHalfLife 0\nMQLThreshold 3\nMQLRequire download\n");
    $t->start;
    my $cookie = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $cookie) for 1 .. 4;
    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    is $env->{MQL_SCORE}, 5, 'require: score above the threshold';
    is $env->{MQL_STAGE}, 'visitor', 'require download: no MQL without a download';
    $t->get('/whitepapers/guide.pdf', Cookie => $cookie);
    is MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie))->{MQL_STAGE}, 'mql',
        'require download: MQL after the download';
    $t->stop;
}

done_testing;
