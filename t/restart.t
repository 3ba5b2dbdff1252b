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

# Scores and stages survive `graceful` and a full stop and start; a damaged
# snapshot is reported and skipped, never trusted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

# A plain visitor of 1 + $views points and a lead (a form), as cookies.
sub two_visitors {
    my ($t, $views) = @_;
    my $plain = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $plain) for 1 .. $views;
    my $lead = MQLTest::visitor_cookie($t->get('/'));
    $t->request('POST', '/cgi-bin/form.cgi', content => 'email=lead%40example.com',
                headers => { Cookie => $lead,
                             'Content-Type' => 'application/x-www-form-urlencoded' });
    return ($plain, $lead);
}

for my $mpm (qw(event prefork)) {
    my $t = MQLTest->new(mpm => $mpm, conf => "MQLHalfLife 0\nMQLThreshold 20\n");
    $t->start;
    my $env = sub { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $_[0])) };

    my ($plain, $lead) = two_visitors($t, 6);
    my %before = (plain => $env->($plain), lead => $env->($lead));
    is $before{plain}{MQL_SCORE}, 7, "$mpm: plain visitor scored 7";
    is $before{lead}{MQL_STAGE}, 'mql', "$mpm: lead is an MQL";

    for my $round (1 .. 3) {
        $t->graceful;
        is $env->($plain)->{MQL_SCORE}, 7, "$mpm: graceful $round: score kept";
        is $env->($lead)->{MQL_STAGE}, 'mql', "$mpm: graceful $round: stage kept";
    }

    $t->stop;
    my $snap = $t->state_dir . '/visitors.snapshot';
    ok -s $snap, "$mpm: stop writes a snapshot";
    is((stat $snap)[2] & 07777, 0600, "$mpm: snapshot is private (0600)");
    $t->start;
    is $env->($plain)->{MQL_SCORE}, 7, "$mpm: stop/start: score kept";
    is $env->($lead)->{MQL_STAGE}, 'mql', "$mpm: stop/start: stage kept";
    is $env->($lead)->{MQL_SCORE}, 21, "$mpm: stop/start: lead's score kept";
    like $t->log_text, qr/MQL00016: restored \d+ visitors/, "$mpm: the restore is logged";

    # Damage the snapshot while stopped: one flipped byte, then a truncation.
    $t->stop;
    for my $damage ('flipped byte', 'truncated') {
        open my $fh, '+<', $snap or die "$snap: $!";
        binmode $fh;
        if ($damage eq 'flipped byte') {
            seek $fh, 100, 0;
            read $fh, my $b, 1;
            seek $fh, 100, 0;
            print $fh chr(ord($b) ^ 0x55);
        }
        else {
            truncate $fh, int((-s $snap) / 2);
        }
        close $fh;
        $t->start;
        like $t->log_text, qr/MQL00015: snapshot .* not restored/,
            "$mpm: $damage: a clear log line";
        my $r = $t->get('/cgi-bin/env.cgi', Cookie => $plain);
        is $r->{status}, 200, "$mpm: $damage: the server starts and serves";
        is MQLTest::env_of($r)->{MQL_SCORE}, 0, "$mpm: $damage: an empty table, not garbage";
        $t->stop;
        open $fh, '>', $snap or die;  # prepare the next round from a good state
        close $fh;
        unlink $snap;
        $t->start;
        $t->get('/pricing.html', Cookie => $plain) for 1 .. 3;
        $t->stop;
    }
    is_deeply [$t->unexpected_errors(qr/MQL00015/, qr/MQL0102\d/)], [],
        "$mpm: no other errors in the error log";
}

# MQLMaxVisitors changed by a graceful restart: the visitors move into the
# new table (done as the server's user; the root parent never reads the
# old one), to a larger and then a smaller size.
{
    my $conf = "MQLHalfLife 0\nMQLThreshold 20\n";
    my $t = MQLTest->new(mpm => 'event', conf => "MQLMaxVisitors 1000\n$conf");
    $t->start;
    my $env = sub { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $_[0])) };
    my ($plain, $lead) = two_visitors($t, 4);
    for my $size (4000, 200) {
        $t->write_conf("MQLMaxVisitors $size\n$conf");
        $t->graceful;
        like $t->log_text, qr/MQL00032: moved \d+ visitors into the table for MQLMaxVisitors $size/,
            "MQLMaxVisitors $size: the visitors moved, and the log says so";
        is $env->($plain)->{MQL_SCORE}, 5, "MQLMaxVisitors $size: a visitor's score kept";
        is $env->($lead)->{MQL_STAGE}, 'mql', "MQLMaxVisitors $size: a lead kept";
    }
    $t->stop;
    is_deeply [$t->unexpected_errors], [], 'resized: no errors in the error log';
}

done_testing;
