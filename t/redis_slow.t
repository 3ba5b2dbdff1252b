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

# MQLStore redis:// against a Redis that trickles: it accepts the
# connection and answers every command one byte each 100 ms, never to the
# end (t/lib/MQLFakeRedis.pm, drip).  Each byte comes well within
# MQLRedisTimeout, but a command's whole reply must too: the server says
# so and drops the connection, scoring goes on, a graceful restart and a
# stop are not held up by the sync thread (no child is killed), and what
# was queued is kept in the spill file and reaches a real Redis later.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use MQLTest;
use MQLRedis;
use MQLFakeRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $fake = MQLFakeRedis->new(mode => 'drip', drip_ms => 100);
my $t = MQLTest->new(conf => '');
sub configure {
    my ($url) = @_;
    $t->write_conf(<<"CONF");
MQLStore $url
MQLRedisTimeout 250ms
MQLHalfLife 0
LogLevel notice
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
}
configure($fake->url);
$t->start;

my @visitors;
for (1 .. 10) {
    my $res = $t->host_request('GET', '/');
    my ($cookie) = MQLTest::visitor_cookie($res) or die "no cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    push @visitors, [ $id, $cookie ];
}
ok MQLTest::wait_for(10, sub { $t->log_text =~ /MQL07201: Redis at 127\.0\.0\.1:\d+ sent no whole reply within 250 ms/ }),
    'a reply trickled byte by byte: the timeout logged (MQL07201)';
ok MQLTest::wait_for(5, sub { $t->get('/mql-status?auto')->{content} =~ /^RedisConnected: 0$/m }),
    '... and the status page says Redis is not connected';
like $t->get('/mql-status?auto')->{content}, qr/^RedisLastError: no whole reply within 250 ms/m,
    '... with why';
cmp_ok scalar(() = $t->log_text =~ /MQL07201/g), '<=', 1,
    '... said once, not at each of the reconnections';

# a graceful restart: the old generation's sync thread stops at once and
# keeps its queue in the spill file
my $t0 = time;
$t->graceful;
# (the visitors' changes and the requests of MQLTest's own checks)
sub kept { return map { $_ >= 10 ? 1 : () } $t->log_text =~ /MQL07007: (\d+) changes not yet in Redis kept in/g }
ok MQLTest::wait_for(8, sub { kept() == 1 }),
    'graceful: the old sync thread stopped and kept the changes queued';
note sprintf 'the old thread stopped %.1f s after the graceful restart', time - $t0;
is $t->get('/')->{status}, 200, '... and the new generation answers';

$t->host_request('GET', '/', headers => { Cookie => $_->[1] }) for @visitors;
$t0 = time;
$t->stop;
my $took = time - $t0;
note sprintf 'stopped in %.1f s', $took;
cmp_ok $took, '<', 8, 'stop: done promptly though Redis still trickles';
unlike $t->log_text, qr/still did not exit|SIGKILL/, '... no child had to be killed';
is kept(), 2, '... and the changes queued since were kept too';
ok -s $t->state_dir . '/redis-spill', '... in the spill file';

# a real Redis: everything kept reaches it
$fake->stop;
my $redis = MQLRedis->new;
configure($redis->url);
$t->start;
sub views { $redis->views_of($_[0]) }
my @missing;
MQLTest::wait_for(15, sub { @missing = grep { views($_->[0]) != 2 } @visitors; !@missing });
is scalar(@missing), 0, 'with a real Redis, every visitor has both its views there'
    or diag join ', ', map { "$_->[0]: " . views($_->[0]) } @missing;

is_deeply [ $t->unexpected_errors(qr/MQL07001/) ], [], 'no unexpected errors';
$t->stop;
done_testing;
