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

# MQLStore redis+unix://: the sync thread reaches Redis through its socket,
# and a password (redis://:PASSWORD@HOST:PORT/DB) with a database number
# is used as given.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use MQLRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new(unix => 1);

sub visitor_in_redis {
    my ($r, $id, @db) = @_;
    for my $shard (0 .. 15) {
        my $h = $r->record("mql:{mql$shard}:v:$id", @db)->{c0};
        return $h if defined $h && length $h;
    }
    return undef;
}

my $t = MQLTest->new(conf => '');
$t->write_conf("MQLStore ${\ $redis->unix_url }\nMQLRedisTimeout 2s\n");
$t->start;
my ($cookie) = MQLTest::visitor_cookie($t->host_request('GET', '/'));
my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
$t->host_request('GET', '/', headers => { Cookie => $cookie }) for 1 .. 2;
ok MQLTest::wait_for(5, sub { (visitor_in_redis($redis, $id) // 0) == 3 }),
    'redis+unix://: three views in Redis';
is_deeply [ $t->unexpected_errors ], [], 'no errors';

# the Function library gone (FUNCTION FLUSH, or replaced by a server of
# another version): the calls it refused are not dropped, the library is
# loaded again on the next connection and they go again
$redis->cli('FUNCTION', 'FLUSH');
$t->host_request('GET', '/', headers => { Cookie => $cookie }) for 1 .. 2;
ok MQLTest::wait_for(5, sub { (visitor_in_redis($redis, $id) // 0) == 5 }),
    'the Function library flushed: loaded again, no view lost';
$t->stop;

# a password and a database
$redis->cli('CONFIG', 'SET', 'requirepass', 's3cret');
my $t2 = MQLTest->new(conf => '');
$t2->write_conf("MQLStore redis://:s3cret\@127.0.0.1:${\ $redis->port }/5\n");
$t2->start;
($cookie) = MQLTest::visitor_cookie($t2->host_request('GET', '/'));
($id) = $cookie =~ /^mql_vid=([^.]+)\./;
ok MQLTest::wait_for(5, sub {
        (visitor_in_redis($redis, $id, '-a', 's3cret', '--no-auth-warning', '-n', '5') // 0) == 1 }),
    'redis://:PASSWORD@HOST:PORT/5: AUTH, then database 5';
is visitor_in_redis($redis, $id, '-a', 's3cret', '--no-auth-warning', '-n', '0'), undef,
    '... not database 0';
$t2->stop;

my $t3 = MQLTest->new(conf => '');
$t3->write_conf("MQLStore redis://:wrong\@127.0.0.1:${\ $redis->port }\n");
$t3->start;
$t3->host_request('GET', '/') for 1 .. 3;
ok MQLTest::wait_for(5, sub { $t3->log_text =~ /MQL07001: .*AUTH/ }),
    'a wrong password: said in the error log';
is scalar(() = $t3->log_text =~ /MQL07001/g), 1, '... once';
$t3->stop;
$redis->cli('-a', 's3cret', '--no-auth-warning', 'CONFIG', 'SET', 'requirepass', '');
done_testing;
