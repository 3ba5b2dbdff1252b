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
