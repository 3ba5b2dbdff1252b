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


# MQLWebhook with MQLStore redis://: two servers with the same receiver;
# each MQL of the fleet, made on either server, is delivered once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLRedis;
use MQLReceiver;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new;
my $port = MQLTest::free_port();
my @srv;
my $secret;
for my $i (1 .. 2) {
    my $t = MQLTest->new(conf => '');
    if (!$secret) {
        $secret = $t->root . '/shared-secret';
        MQLTest::write_file($secret, join '', map { chr(65 + ($_ * 7) % 26) } 1 .. 32);
        $MQLReceiver::dir = $t->root;
    }
    $t->write_conf(<<"CONF");
MQLStore redis://127.0.0.1:${\ $redis->port }
MQLRedisTimeout 2s
MQLSecret $secret
MQLThreshold 20
MQLHalfLife 0
MQLNewLeadLimit 0
MQLWebhook http://127.0.0.1:$port/hook secret=fleet-secret
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
    $t->start;
    push @srv, $t;
}
my $log = MQLReceiver::receiver('fleet', $port, 'fleet-secret', 200);

my @ids;
for my $n (0 .. 7) {
    my ($id) = $srv[ $n % 2 ]->make_lead;
    push @ids, $id;
}
my $recs = MQLTest::wait_for(20, sub {
    my $r = MQLReceiver::records($log);
    my %v = map { (eval { decode_json($_->{body})->{visitor} } // '') => 1 } @$r;
    (grep { $v{$_} } @ids) == @ids ? $r : undef
}) // MQLReceiver::records($log);
my %per;
for (@$recs) {
    my $j = eval { decode_json($_->{body}) } // {};
    $per{ $j->{visitor} // '' }++ if ($j->{stage} // '') eq 'mql';
}
is scalar(grep { ($per{$_} // 0) >= 1 } @ids), 8, 'every MQL of the fleet reached the receiver';
is scalar(grep { ($per{$_} // 0) == 1 } @ids), 8, '... each once';
is scalar(grep { $_->{verified} } @$recs), scalar(@$recs), 'every one signed';
is scalar(grep { eval { decode_json($_->{body})->{stream_id} } } @$recs), scalar(@$recs),
    'each names its fleet stream entry';
my %ids;
$ids{ $_->{delivery} }++ for @$recs;
is scalar(keys %ids), scalar(@$recs), 'one delivery ID each';

# the servers' own counts: what each sent adds up to the fleet's MQLs
my $sum = MQLTest::wait_for(10, sub {
    my $n = 0;
    for my $t (@srv) {
        my $a = $t->status_auto;
        return undef if ($a->{DeliveriesPending} // 1) != 0;
        $n += $a->{DeliveriesDelivered} // 0;
    }
    $n == 8 ? $n : undef;
});
is $sum, 8, 'the two servers delivered 8 in all, none pending';
for my $t (@srv) {
    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
    $t->stop;
}
done_testing;
