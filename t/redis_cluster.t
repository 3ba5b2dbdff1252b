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

# MQLStore redis-cluster://: three servers sharing a Redis Cluster of three
# masters.  Clients send each request of a pool of visitors to a random
# server, concurrently, while slots of mod_mql's shards move from one
# master to another (MIGRATE, as redis-cli --cluster reshard does: the
# servers meet ASK, TRYAGAIN and MOVED); once the servers have synced,
# every visitor's counts, caps and score in the cluster are what one
# server would have made of the same requests (nothing lost, nothing
# counted twice), each promotion is in its shard's stream once and reaches
# the union of the three MQLNotify pipes once, and every server's leads
# file holds every lead.  The Function is on every master.  Every
# server's status page shows the same fleet totals, summed over the
# shards on the three masters: what the test sent.
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

my $redis = MQLRedis::Cluster->new(masters => 3);
my $fleet = MQLFleet->new(store => $redis, servers => 3, threshold => 40);
my @srv = $fleet->servers;

# ---- the load -------------------------------------------------------------

$fleet->plan_load(60);
$fleet->start_load;

# while the load goes on: four shards' slots each to another master
sleep 0.2;
my @moved;
for my $shard (0 .. 3) {
    my $slot = (split /\n/, $redis->cli('CLUSTER', 'KEYSLOT', "mql:{mql$shard}:seq"))[0];
    my ($from) = $redis->master_of($slot);
    my ($to) = grep { $_ != $from } $redis->masters;
    $redis->move_slot($slot, $to, 0.05);
    push @moved, $redis->master_of($slot) == $to ? 1 : 0;
}
is_deeply \@moved, [ 1, 1, 1, 1 ], 'four slots moved to another master during the load';
# what the masters refused or redirected meanwhile (the servers' calls, and
# none of this test's yet)
note 'master ' . $_->port . ': ' . join(' ', map { /^errorstat_(\w+):count=(\d+)/ ? "$1=$2" : () }
                                       split /\r?\n/, $_->cli('INFO', 'errorstats') // '')
    . ' ' . join(' ', map { /^cmdstat_(asking|multi|exec):calls=(\d+)/ ? "$1=$2" : () }
                 split /\r?\n/, $_->cli('INFO', 'commandstats') // '')
    for $redis->masters;
ok $fleet->clients_running, '... while the clients were still sending';
$fleet->finish_load;
$fleet->check_leads;

# ---- Redis holds the single-server result -----------------------------------

$fleet->check_store;

# ---- each promotion once: stream and notifications --------------------------

my @n = $fleet->check_promotions;
# every notification acknowledged, those read from a slot half moved
# included: none left pending to be delivered again after the claim delay
ok MQLTest::wait_for(5, sub {
        !grep { ((split /\n/, $redis->cli('XPENDING', "mql:{mql$_}:changes", 'mql-notify'))[0] // 1) != 0 }
            0 .. 15 }),
    'no notification left unacknowledged in any shard';
$fleet->note_by_server(@n);

# ---- every server's leads file holds every lead -------------------------------

$fleet->check_leads_files;

# ---- mqlctl set and forget on one server reach the others; a graceful restart --

$fleet->check_mqlctl_and_graceful;

# ---- the Function on every master, the fleet's servers on every master ----------

$fleet->check_functions;

# ---- the status page --------------------------------------------------------------

ok scalar(grep { $_->log_text =~ /MQL07101: Redis Cluster slot \d+ is served by 127\.0\.0\.1:\d+ now/ } @srv),
    'the servers followed the moved slots (MOVED, MQL07101)';
$fleet->note_redis_counters;
$fleet->check_status;
$fleet->check_fleet_totals;
$fleet->stop;
done_testing;
