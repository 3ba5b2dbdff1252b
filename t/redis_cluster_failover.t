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

# MQLStore redis-cluster:// (with a password) through a master failover: three servers on a
# Redis Cluster of three masters with a replica each; while clients send
# requests of a pool of visitors to random servers, the replica of the
# master holding several of mod_mql's shards takes over (CLUSTER FAILOVER:
# the old master becomes its replica and answers MOVED).  Afterwards every
# visitor's counts, caps and score are what one server would have made of
# the same requests (nothing lost, nothing counted twice), each promotion
# is notified once across the fleet and every leads file holds every lead.
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
$fleet->start_load;

# while the load goes on: the master of shard 0's slot hands over to its replica
sleep 0.2;
my ($old, $replica) = $redis->master_and_replica('mql:{mql0}:seq');
ok $replica, "shard 0's master has a replica";
is $replica->cli('CLUSTER', 'FAILOVER'), 'OK', '... which takes over during the load';
ok MQLTest::wait_for(10, sub { ($replica->cli('ROLE') // '') =~ /^master/
                               && ($old->cli('ROLE') // '') =~ /^slave/ }),
    '... the replica is master, the old master its replica';
ok $redis->wait_ok(10), '... and the cluster is ok';
ok $fleet->clients_running, '... while the clients were still sending';
$fleet->finish_load;

# ---- the single-server result, each promotion once, every leads file --------

$fleet->check_results;
$fleet->check_functions;
$fleet->note_redis_counters;
$fleet->check_status;
# the old master holds writes back while its replica catches up: a
# server whose call outlasts MQLRedisTimeout then reports an outage
# (MQL07001) and its end, and sends the queue again
$fleet->stop(qr/MQL07001/);
done_testing;
