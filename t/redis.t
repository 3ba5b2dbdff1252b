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

# MQLStore redis://: three servers sharing one Redis.  Clients send each
# request of a pool of visitors to a random server, concurrently; once the
# servers have synced, every visitor's counts, caps and score in Redis are
# what one server would have made of the same requests, each promotion is
# in the fleet's stream once and reaches the union of the MQLNotify pipes
# once (two servers have one, the third none), and every server's leads
# file holds every lead.  mqlctl set and forget on one server reach Redis
# and the others.  Every server's
# status page shows the same fleet totals: the visitors, hits, leads per
# stage and servers the test made.
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

my $redis = MQLRedis->new;
# the third server has no MQLNotify: the fleet's notifications are the
# two others' to deliver, every one of them
my $fleet = MQLFleet->new(store => $redis, servers => 3, threshold => 40, silent => 1);

# ---- the load -------------------------------------------------------------

$fleet->plan_load(40);
$fleet->start_load;
$fleet->finish_load;

# ---- the single-server result, each promotion once, every leads file --------

$fleet->check_results;

# ---- mqlctl set and forget on one server reach the others; a graceful restart --

$fleet->check_mqlctl_and_graceful;

# ---- the status page --------------------------------------------------------------

$fleet->check_status;
$fleet->check_fleet_totals;

$fleet->stop;
done_testing;
