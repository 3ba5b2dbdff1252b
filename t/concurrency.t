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

# One visitor, many concurrent requests, several processes and threads:
# not one update is lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use HTTP::Tiny;
use POSIX ();

my ($clients, $each) = (8, 50);

for my $mpm (qw(prefork event)) {
    my $t = MQLTest->new(mpm => $mpm, conf => "MQLHalfLife 0\nMQLThreshold 1000000\n");
    $t->start;
    my $cookie = MQLTest::visitor_cookie($t->get('/cgi-bin/env.cgi'));
    ok $cookie, "$mpm: visitor cookie";

    my @pids;
    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            # keep-alive per client, so the requests spread over children
            my $ua = HTTP::Tiny->new(agent => $MQLTest::UA, keep_alive => 1, timeout => 20);
            my $bad = 0;
            for (1 .. $each) {
                my $r = $ua->get($t->base . '/index.html', { headers => { Cookie => $cookie } });
                $bad++ unless $r->{status} == 200;
            }
            POSIX::_exit($bad ? 1 : 0);
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) { waitpid $_, 0; $failed++ if $? }
    is $failed, 0, "$mpm: $clients clients x $each requests all answered 200";

    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    is $env->{MQL_SCORE}, $clients * $each, "$mpm: exactly " . $clients * $each . " points";

    # the requests really were spread over processes (prefork) or threads
    my %served_by;
    open my $log, '<', $t->access_log or die $!;
    while (<$log>) { $served_by{$1}++ if m{^\S+ (\d+) 200 .*"GET /index.html} }
    cmp_ok scalar(keys %served_by), '>=', $mpm eq 'prefork' ? 4 : 1,
        "$mpm: served by " . scalar(keys %served_by) . " processes";
    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$mpm: no errors in the error log";
}

done_testing;
