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

# ---- the totals count each change once, and a call without them still applies --

{
    my $K = 'mql:{mql3}';
    my $id = 'T' x 22;
    my $totals = sub { my %h = split /\n/, $redis->cli('HGETALL', "$K:totals") // ''; \%h };
    my @hit = (1, 5, 0, '', '', '', 40, 0, 0, '', 0, 0, '/x', 86400, 0);
    my $call = sub {
        my ($nkeys, $kind, $seq, @rest) = @_;
        my @keys = ("$K:v:$id", "$K:seq", "$K:changes", $nkeys == 4 ? "$K:totals" : ());
        return substr $redis->cli('FCALL', 'mql_apply', $nkeys, @keys, $kind, 'f' x 16, $seq, $id,
                                  time, @rest) // '', 0, 1;
    };
    my $before = $totals->();
    my @got = ($call->(4, 'h', 1, @hit), $call->(4, 'h', 1, @hit), $call->(3, 'h', 2, @hit));
    is "@got", 'a d a', 'mql_apply by hand: applied, a duplicate, applied with three keys';
    my $after = $totals->();
    is_deeply [ map { ($after->{$_} // 0) - ($before->{$_} // 0) } qw(visitors hits forgotten) ],
        [ 1, 1, 0 ], '... counted once: one visitor, one hit (the duplicate and the uncounted call not)';
    is $call->(4, 'f', 3), 'a', 'mql_apply forget by hand';
    is(($totals->()->{forgotten} // 0) - ($before->{forgotten} // 0), 1, '... counted forgotten');
}

$fleet->stop;
done_testing;
