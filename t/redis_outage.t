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

# MQLStore redis:// through outages: Redis killed (-9) and started again
# during the load, then stopped (SIGSTOP) for 3 s.  No request waits for
# it, nothing scored is lost (appendfsync always), each server says so once
# per outage in its error log, and every promotion still reaches MQLNotify
# once.  Then the servers stop while Redis is down: what they queued goes to
# the spill file in MQLStateDir and reaches Redis after the next start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use List::Util qw(max);
use Time::HiRes qw(sleep time);
use MQLTest;
use MQLRedis;
use MQLFleet;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new(appendfsync => 'always');
my $THRESHOLD = 40;
# long enough that a busy test machine's slowest request stays under it,
# short enough that the 3 s pause below is an outage
my $TIMEOUT_MS = 1000;
my @srv;
my $secret;
for my $i (1 .. 2) {
    my $t = MQLTest->new(conf => '');
    if (!$secret) {
        $secret = $t->root . '/shared-secret';
        MQLTest::write_file($secret, 'k' x 32);
    }
    $t->notify_sink;
    $t->write_conf(<<"CONF");
MQLStore ${\ $redis->url }
MQLRedisTimeout ${TIMEOUT_MS}ms
MQLSecret $secret
MQLThreshold $THRESHOLD
MQLNewLeadLimit 0
MQLHalfLife 0
MQLRule view ^/pricing 10 cap=2
MQLNotify "|${\ $t->root }/notify.pl"
LogLevel notice
CONF
    $t->start;
    push @srv, $t;
}

my %points = ('/' => 1, '/pricing.html' => 1, '/whitepapers/guide.pdf' => 10);
my (@visitors, %expect);
for (1 .. 30) {
    my $res = $srv[ int rand 2 ]->host_request('GET', '/');
    my ($cookie) = MQLTest::visitor_cookie($res) or die "no cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    push @visitors, [ $id, $cookie ];
    $expect{$id} = { views => 1, downloads => 0, pricing => 0, score => 1 };
}

sub expect_action {
    my ($id, $path) = @_;
    my $e = $expect{$id};
    $e->{score} += $points{$path};
    if ($path eq '/whitepapers/guide.pdf') { $e->{downloads}++ }
    else { $e->{views}++ }
    if ($path eq '/pricing.html' && $e->{pricing} < 2) { $e->{pricing}++; $e->{score} += 10 }
}

# The load: two clients for $secs seconds, each logging what was answered
# and how long it took.
sub load {
    my ($secs, $tag) = @_;
    my @pids;
    for my $w (1 .. 2) {
        my $log = $srv[0]->root . "/load-$tag-$w.log";
        my $pid = fork // die;
        if (!$pid) {
            srand($$ ^ time);
            open my $out, '>', $log or die;
            my $end = time + $secs;
            while (time < $end) {
                my $v = $visitors[ int rand @visitors ];
                my $path = (keys %points)[ int rand 3 ];
                my $t0 = time;
                my $res = $srv[ int rand 2 ]->host_request('GET', $path, headers => { Cookie => $v->[1] });
                printf $out "%s %s %d %.4f\n", $v->[0], $path, $res->{status} // 0, time - $t0;
                sleep 0.005;
            }
            exit 0;
        }
        push @pids, [ $pid, $log ];
    }
    return @pids;
}

sub finish_load {
    my (@pids) = @_;
    my ($n, $bad, @lat) = (0, 0);
    for (@pids) {
        waitpid $_->[0], 0;
        open my $f, '<', $_->[1] or die;
        while (<$f>) {
            my ($id, $path, $status, $secs) = split;
            $n++;
            push @lat, $secs;
            if ($status == 200) { expect_action($id, $path) } else { $bad++ }
        }
    }
    return ($n, $bad, @lat);
}

sub mismatches {
    my @bad;
    for my $id (sort keys %expect) {
        my $k = MQLFleet::vkey($redis, $id);
        my $h = $k ? $redis->record($k) : {};
        my $e = $expect{$id};
        my $got = join ',', map { $_ // '-' } @$h{qw(c0 c1 k0 score)};
        my $want = join ',', @$e{qw(views downloads pricing score)};
        push @bad, "$id: Redis $got, expected $want" if $got ne $want;
    }
    return @bad;
}

# ---- kill -9 and restart, then SIGSTOP for 3 s, under load ---------------

my @pids = load(9, 'outage');
sleep 1.5;
$redis->kill9;
note 'redis-server killed';
sleep 1.5;
$redis->start;
note 'redis-server started again';
sleep 1.5;
$redis->signal('STOP');
note 'redis-server stopped';
sleep 3;
$redis->signal('CONT');
note 'redis-server continued';
my ($n, $bad, @lat) = finish_load(@pids);
@lat = sort { $a <=> $b } @lat;
note sprintf '%d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms', $n, 1000 * $lat[ @lat / 2 ],
    1000 * $lat[ int(@lat * 0.99) ], 1000 * $lat[-1];
is $bad, 0, "$n requests answered during the outages";
cmp_ok $lat[-1] * 1000, '<', $TIMEOUT_MS, 'no request waited for Redis (slowest under MQLRedisTimeout)';

my @wrong;
MQLTest::wait_for(15, sub { @wrong = mismatches(); !@wrong });
is scalar(@wrong), 0, 'nothing lost, nothing counted twice: every visitor exact in Redis'
    or diag join "\n", @wrong[ 0 .. ($#wrong < 9 ? $#wrong : 9) ];

my @leads = sort grep { $expect{$_}{score} >= $THRESHOLD } keys %expect;
sub notified {
    my @lines;
    for my $t (@srv) {
        open my $f, '<', $t->root . '/notify.out' or next;
        push @lines, map { decode_json($_) } <$f>;
    }
    return @lines;
}
MQLTest::wait_for(5, sub { notified() >= @leads });
sleep 0.5;
my %by_id;
my %ids;
for (notified()) { $by_id{ $_->{visitor} }++; $ids{"$_->{stream} $_->{stream_id}"}++ }
is_deeply [ sort keys %by_id ], \@leads, 'every promotion notified (' . scalar(@leads) . ')';
is scalar(grep { $ids{$_} > 1 } keys %ids), 0, 'no stream entry notified twice'
    or diag join "\n", map { my $t = $_; map { $t->port . ": $_" } grep { /"stream_id"/ } split /\n/, `cat ${\ $t->root}/notify.out` } @srv;

for my $t (@srv) {
    my $log = $t->log_text;
    my $down = () = $log =~ /MQL07001/g;
    my $up = () = $log =~ /MQL07002/g;
    ok $down >= 1 && $down <= 2, 'server ' . $t->port . ": the outages logged once each ($down)";
    is $up, $down, '... and each end of one';
    my $auto = $t->get('/mql-status?auto');
}

# ---- stopped while Redis is away: the spill file ------------------------------

$redis->kill9;
@pids = load(1.5, 'spill');
finish_load(@pids);
$_->stop for @srv;
ok -s $_->state_dir . '/redis-spill', 'server ' . $_->port . ': the queue kept in MQLStateDir'
    for @srv;
my @logged = grep { $_->log_text =~ /MQL07007/ } @srv;
is scalar(@logged), 2, 'each server said what it kept';
$redis->start;
$_->start for @srv;
MQLTest::wait_for(15, sub { @wrong = mismatches(); !@wrong });
is scalar(@wrong), 0, 'after the next start, Redis has every change the servers kept'
    or diag join "\n", @wrong[ 0 .. ($#wrong < 9 ? $#wrong : 9) ];

for my $t (@srv) {
    is_deeply [ $t->unexpected_errors(qr/MQL0700[14]/) ], [],
        'no unexpected errors in ' . $t->port . "'s log";
    $t->stop;
}
done_testing;
