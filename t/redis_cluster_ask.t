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

# MQLStore redis-cluster:// against a cluster that redirects without end,
# as a malicious or confused one may: every call of mql_apply_many is sent
# on with -ASK, each time to a node it has not named before
# (t/lib/MQLFakeRedis.pm, ask), until the client has met more nodes than it
# keeps connections to (64).  A connection with calls sent and replies
# still to read must never be the one closed to make room (under ASan, in
# t/sanitized.t, a use after free otherwise); nothing queued is lost, and
# once the cluster answers, every change reaches it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use MQLFakeRedis;

my $fake = MQLFakeRedis->new(mode => 'ask', nodes => 100);
my $t = MQLTest->new(conf => <<"CONF");
MQLStore ${\ $fake->cluster_url }
MQLRedisTimeout 250ms
LogLevel notice
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;

sub status { $t->status_auto }

# visitors of many shards: each batch is calls to many nodes at once
my $n = 30;
is scalar(grep { $t->host_request('GET', '/')->{status} == 200 } 1 .. $n), $n,
    "$n new visitors answered";
ok MQLTest::wait_for(30, sub { $fake->ports_connected >= 80 }),
    'the calls were sent on to more nodes than the client keeps'
    or diag scalar($fake->ports_connected) . ' nodes connected to';
is $t->get('/')->{status}, 200, 'the server answers meanwhile';
cmp_ok status()->{RedisApplied}, '==', 0, '... and nothing was taken as applied';

$fake->mode('ok');
ok MQLTest::wait_for(15, sub { my $s = status(); $s->{RedisQueue} == 0 && $s->{RedisApplied} >= $n }),
    'the cluster answering again: every queued change applied'
    or diag explain status();

is_deeply [ $t->unexpected_errors(qr/MQL07001/) ], [], 'no unexpected errors';
$t->stop;
done_testing;
