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

# MQLStore redis:// and the limits on new leads: a promotion that
# MQLNewLeadLimit (or the young-lead rule) holds back in the server's own
# table is held back in Redis too, so the fleet makes no lead of it and
# notifies nothing; once the network is under its limit again, the
# visitor's next request makes the lead, in Redis and in the stream.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new;
my $t = MQLTest->new(conf => '');
$t->notify_sink;
$t->write_conf(<<"CONF");
MQLStore ${\ $redis->url }
# a busy test machine may keep Redis from answering within the default
MQLRedisTimeout 2s
MQLThreshold 3
MQLHalfLife 0
MQLRule view ^/pricing 5
MQLNewLeadLimit 1
MQLNotify "|${\ $t->root }/notify.pl"
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;

sub record_of {
    my ($id) = @_;
    for my $shard (0 .. 15) {
        my $r = $redis->record("mql:{mql$shard}:v:$id");
        return $r if %$r;
    }
    return {};
}

sub promotions_in_stream {
    my ($id) = @_;
    my $n = 0;
    for my $shard (0 .. 15) {
        my @l = split /\n/, $redis->cli('XRANGE', "mql:{mql$shard}:changes", '-', '+') // '';
        for my $i (0 .. $#l - 3) {
            $n++ if $l[$i] eq 'type' && $l[ $i + 1 ] eq 's' && $l[ $i + 2 ] eq 'id' && $l[ $i + 3 ] eq $id;
        }
    }
    return $n;
}

sub notified {
    open my $f, '<', $t->root . '/notify.out' or return ();
    return <$f>;
}

# two new visitors of one network (127.0.0.1), each over the threshold
my @v;
for (1 .. 2) {
    my ($cookie) = MQLTest::visitor_cookie($t->host_request('GET', '/'));
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    $t->host_request('GET', '/pricing.html', headers => { Cookie => $cookie });
    push @v, { id => $id, cookie => $cookie };
}
ok MQLTest::wait_for(5, sub { (record_of($v[0]{id})->{stage} // '') eq '1' }),
    "the network's first lead this minute: an MQL in Redis";
ok MQLTest::wait_for(5, sub { (record_of($v[1]{id})->{c0} // 0) == 2 }),
    'the second visitor: both its requests in Redis';
my $held = record_of($v[1]{id});
is $held->{stage}, '0', '... held back there too, over MQLNewLeadLimit 1: still a visitor';
cmp_ok $held->{score}, '>=', 3, '... with its score over the threshold';
is promotions_in_stream($v[1]{id}), 0, '... and no stage change in the stream';
sleep 0.5;
is scalar(grep { /"visitor":"\Q$v[1]{id}\E"/ } notified()), 0,
    '... nor a notification';
like $t->get('/mql-status?auto')->{content}, qr/^MQLFloodLeadsHeldRate: [1-9]/m,
    'the status page counts the promotion held';

# the network under its limit again (a new start forgets the minute's
# counts, as the minute passing would): the next request makes the lead
$t->stop;
$t->start;
$t->host_request('GET', '/', headers => { Cookie => $v[1]{cookie} });
ok MQLTest::wait_for(5, sub { (record_of($v[1]{id})->{stage} // '') eq '1' }),
    'under the limit again: the next request makes the lead in Redis';
is promotions_in_stream($v[1]{id}), 1, '... once in the stream';
ok MQLTest::wait_for(3, sub { grep { /"visitor":"\Q$v[1]{id}\E"/ } notified() }), '... and notified';
is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';
$t->stop;
done_testing;
