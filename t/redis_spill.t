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

# MQLStore redis:// with Redis away under full load: the spill file in
# MQLStateDir stays within MQLRedisSpillMax.  Once it is full and the
# queue in shared memory too, the newest changes are refused: counted on
# the status page and said in the error log once (not once per change);
# pages are answered as ever.  When Redis is back, what was kept reaches
# it, the file's oldest changes first.  Bad sizes fail the configuration
# test with the file, the line and what is expected.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;
use MQLRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();
plan skip_all => 'ab (apache2-utils) is not installed' unless -x '/usr/bin/ab';

my $t = MQLTest->new(conf => '');
for my $bad ('10', '63K', '65G', '12Q', 'lots', '-1M') {
    $t->write_conf("MQLStore redis://127.0.0.1:1\nMQLRedisSpillMax $bad\n");
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, "MQLRedisSpillMax $bad: the configuration test fails";
    like $out, qr/Syntax error on line \d+ of \Q${\ $t->conf_file }\E:\s*MQLRedisSpillMax: expects a size from 64K to 64G \(a number with K, M or G\); got '\Q$bad\E'/,
        '... saying where and what is expected';
}
for my $good ('64K', '64k', '2M', '64G') {
    $t->write_conf("MQLStore redis://127.0.0.1:1\nMQLRedisSpillMax $good\n");
    my ($rc, $out) = $t->configtest;
    is $rc, 0, "MQLRedisSpillMax $good is taken" or diag $out;
}

my $MAX = 64 * 1024;
my $redis = MQLRedis->new;
$t->write_conf(<<"CONF");
MQLStore ${\ $redis->url }
MQLRedisTimeout 250ms
MQLRedisSpillMax 64K
MQLJournal Off
MQLHalfLife 0
LogLevel notice
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;

sub status { $t->status_auto }
sub views { $redis->views_of($_[0]) }

my ($cookie) = MQLTest::visitor_cookie($t->host_request('GET', '/')) or die "no cookie\n";
my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
ok MQLTest::wait_for(10, sub { views($id) == 1 }), 'Redis up: the first view reaches it';

# Redis away; more views of one visitor than the queue (32 768) and the
# file (64K: some 230) hold
$redis->kill9;
my $n = 36000;
my $spill = $t->state_dir . '/redis-spill';
my $ua = MQLTest::browser_ua();
my $ab = `ab -q -n $n -c 8 -k -H 'User-Agent: $ua' -C '$cookie' ${\ $t->base }/ 2>&1`;
my ($complete) = $ab =~ /^Complete requests:\s+(\d+)/m;
my ($failed) = $ab =~ /^Failed requests:\s+(\d+)/m;
is $complete, $n, "$n views answered with Redis away" or diag $ab;
is $failed, 0, '... none failed';
unlike $ab, qr/Non-2xx responses/, '... all of them 200';

my $s = status();
cmp_ok -s $spill, '<=', $MAX, "the spill file stays within MQLRedisSpillMax (${\ -s $spill} bytes)";
cmp_ok -s $spill, '>', $MAX - 1024, '... having been filled up to it';
is $s->{RedisSpillBytes}, -s $spill, 'the status page shows its size';
is $s->{RedisQueue}, 32768, 'the queue in shared memory is full';
my $dropped = $s->{RedisSpillDropped};
cmp_ok $dropped, '>', 0, "the changes beyond both are dropped and counted ($dropped)";
is $s->{RedisQueueFull}, $dropped, '... every refusal one of those';
is status()->{RedisSpillDropped}, $dropped, '... (the status page makes none)';
my $json = decode_json($t->get('/mql-status?json')->{content});
is $json->{redis}{spill_dropped}, $dropped, '... and ?json says so too';
like $t->get('/mql-status')->{content}, qr/Redis spill full \(lost\)/, '... and the page';
my @said = $t->log_text =~ /(MQL07202: .*)/g;
is scalar(@said), 1, 'the error log says so once, not once per change' or diag join "\n", @said;
like $said[0] // '', qr/MQL07202: Redis spill file \Q$spill\E is at MQLRedisSpillMax \(65536 bytes\) and the queue is full: \d+ changes dropped/,
    '... naming the file and the limit';

# Redis back: the file, then the queue, reach it; only the refused are missing
$redis->start;
ok MQLTest::wait_for(60, sub { my $x = status(); $x->{RedisQueue} == 0 && $x->{RedisSpillPending} == 0 }),
    'Redis back: the spill file and the queue are sent';
ok MQLTest::wait_for(10, sub { views($id) == 1 + $n - $dropped }),
    'Redis has every view but those refused (' . (1 + $n - $dropped) . ')'
    or diag 'Redis has ' . views($id);
is status()->{RedisSpillBytes}, 16, 'the file is empty again (its header alone)';

is_deeply [ $t->unexpected_errors(qr/MQL07001|MQL07202/) ], [], 'no unexpected errors';
$t->stop;
done_testing;
