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

# MQLStore redis-cluster:// when a master dies: three servers on a Redis
# Cluster of three masters with a replica each; while clients send requests
# of a pool of visitors to random servers, the master holding shard 0's
# slot is killed (SIGKILL) and its replica takes over once the cluster
# sees it gone (cluster-node-timeout 2 s).  The servers queue meanwhile,
# find the new master in the map any live node gives, load the Function
# there and send what was not confirmed again.  Afterwards every visitor's
# counts, caps and score are what one server would have made of the same
# requests, each promotion is notified once and every leads file holds
# every lead.  (Redis replicates asynchronously: a change the dead master
# confirmed in the instant before it died and had not passed on would be
# lost; on one machine that window is far below this test's reach.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLRedis;
use MQLFleet;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis::Cluster->new(masters => 3, replicas => 1, password => "cluster-s3cret");
my $fleet = MQLFleet->new(store => $redis, servers => 3, threshold => 40, timeout => "250ms");

# ---- the load -------------------------------------------------------------

$fleet->plan_load(60);
$fleet->start_load(slowest => 1);

# while the load goes on: the master of shard 0's slot dies
sleep 0.2;
my ($old, $replica) = $redis->master_and_replica('mql:{mql0}:seq');
ok $replica, "shard 0's master has a replica";
$old->kill9;
ok MQLTest::wait_for(15, sub { ($replica->cli('ROLE') // '') =~ /^master/ }),
    '... which takes over when the master is killed during the load';
ok $redis->wait_ok(15), '... and the cluster is ok again';
$fleet->finish_load;
my $slowest = $fleet->slowest;
note sprintf 'slowest request %.1f ms', 1000 * $slowest;
# MQLRedisTimeout is 250 ms; the margin is for a busy test machine, not Redis
cmp_ok $slowest, '<', 1, 'no request waited for the dead master';

# ---- the single-server result, each promotion once, every leads file --------

$fleet->check_results;
$fleet->check_functions;
$fleet->note_redis_counters;
$fleet->check_status;
# a master gone: an outage (MQL07001) until its replica serves its slots
$fleet->stop(qr/MQL0700[14]/);
done_testing;
