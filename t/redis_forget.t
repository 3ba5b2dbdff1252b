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

# mqlctl forget with MQLStore redis://, on a Redis that asks for a
# password, the password read from a root-only file (MQLRedisPasswordFile).
#   - the server scores and syncs to Redis with the password from the file;
#     a missing, empty or oversized file fails configtest with the file,
#     the line and the path;
#   - forget on a running server: the Redis record goes, and no entry of
#     any shard's stream carries the contact, nor the ID but the one forget
#     notice the other servers of the fleet take it by;
#   - forget on a stopped server: the same, and after the next start the
#     lead does not come back (leads file, Redis);
#   - with redis-server stopped, forget fails with a clear error and a
#     non-zero exit, and says nothing was forgotten.
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

my $password = 'pw-' . join '', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24;
my $redis = MQLRedis->new(password => $password);
my $t = MQLTest->new(conf => '');
my $pwfile = $t->root . '/mql-redis.pass';
MQLTest::write_file($pwfile, "$password\n");
chmod 0600, $pwfile;

my $conf = sub {
    my ($file) = @_;
    return <<"CONF";
MQLStore redis://127.0.0.1:${\ $redis->port }
MQLRedisPasswordFile $file
MQLRedisTimeout 2s
MQLThreshold 20
MQLHalfLife 0
CONF
};

# ---- MQLRedisPasswordFile in configtest ------------------------------------

{
    my $missing = $t->root . '/no-such.pass';
    $t->write_conf($conf->($missing));
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'configtest refuses a missing MQLRedisPasswordFile';
    like $out, qr/line \d+ of \Q${\ $t->conf_file }\E/, '... with the file and line';
    like $out, qr/MQLRedisPasswordFile: cannot read \Q$missing\E/, '... and the path';

    my $big = $t->root . '/big.pass';
    MQLTest::write_file($big, 'x' x 5000);
    $t->write_conf($conf->($big));
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'configtest refuses an oversized password file';
    like $out, qr/\Q$big\E is larger than 4096 bytes/, '... saying so';

    my $empty = $t->root . '/empty.pass';
    MQLTest::write_file($empty, "\n");
    $t->write_conf($conf->($empty));
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'configtest refuses an empty password file';
    like $out, qr/\Q$empty\E holds no password/, '... saying so';

    $t->write_conf($conf->($pwfile) . "MQLStore redis://u:other\@127.0.0.1:${\ $redis->port }\n");
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'a password in the URL and in a file is refused';
    like $out, qr/keep the file's only/, '... saying which to keep';
}

$t->write_conf($conf->($pwfile));
my ($rc, $out) = $t->configtest;
is $rc, 0, 'configtest takes a 0600 password file' or diag $out;
$t->start;

# ---- helpers ------------------------------------------------------------------

# every entry of every shard's stream as "TYPE ID CONTACT"
my $lua = q{local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local t, i, c = '', '', ''
  for j = 1, #e[2] - 1, 2 do
    local f, v = e[2][j], e[2][j + 1]
    if f == 'type' then t = v elseif f == 'id' then i = v elseif f == 'contact' then c = v end
  end
  out[#out + 1] = t .. ' ' .. i .. ' ' .. c
end
return out};
sub entries {
    return map { my $s = $_; grep { length } split /\n/, $redis->cli('EVAL', $lua, 1, "mql:{mql$s}:changes") // '' }
        0 .. 15;
}
sub carrying {
    my ($id, $contact) = @_;
    return grep { my ($ty, $i, $c) = split / /, $_, 3; $i eq $id || lc($c // '') eq lc $contact } entries();
}
sub vkey_of { MQLFleet::vkey($redis, $_[0]) }
sub in_leads_file { defined MQLFleet::dbm_record($t, $_[0]) }

# a lead with a contact, in Redis and in its shard's stream with it
sub redis_lead {
    my ($id, $cookie) = $t->make_lead;
    my $contact = lc "lead-$id\@example.com";     # kept normalised
    # a few views more: the lead's figures go to the stream again
    $t->host_request('GET', '/pricing.html', headers => { Cookie => $cookie }) for 1 .. 3;
    ok MQLTest::wait_for(10, sub { my $k = vkey_of($id); $k && ($redis->record($k)->{contact} // '') eq $contact }),
        "lead $id is in Redis with its contact";
    ok MQLTest::wait_for(10, sub { grep { /\Q$contact\E$/ } entries() }), '... and in its stream with it';
    ok MQLTest::wait_for(10, sub { in_leads_file($id) }), '... and in the leads file';
    return ($id, $cookie, $contact);
}

sub clean {
    my ($id, $contact, $what) = @_;
    ok !defined vkey_of($id), "$what: the record is gone from Redis";
    my @left = carrying($id, $contact);
    is_deeply [ grep { !/^f \Q$id\E $/ } @left ], [],
        "$what: no stream entry carries the ID or the contact" or diag join "\n", @left;
    is scalar(grep { /^f \Q$id\E $/ } @left), 1, "$what: ... but the one forget notice, the ID alone";
}

ok((((stat $t->state_dir . '/store.auth')[2] // 0) & 07777) == 0600 && (stat _)[4] == 0,
   'the password mqlctl needs is in a file of root\'s alone (store.auth, 0600)') if $> == 0;
unlike do { local $/; open my $f, '<', $t->state_dir . '/store' or die; <$f> }, qr/\Q$password\E/,
    'MQLStateDir/store names the Redis without the password';

# ---- forget on a running server -------------------------------------------------

my ($id1, undef, $contact1) = redis_lead();
($rc, $out, my $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'forget', $id1);
is $rc, 0, 'mqlctl forget on a running server' or diag $err;
like $out, qr/forgotten .*Redis: record and [1-9]\d* stream entr/, '... says Redis is done';
clean($id1, $contact1, 'running server');
ok !in_leads_file($id1), '... and it is out of the leads file';

# ---- forget on a stopped server, then a start ----------------------------------

my ($id2, $cookie2, $contact2) = redis_lead();
$t->stop;
($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'forget', $id2);
is $rc, 0, 'mqlctl forget on a stopped server' or diag $err;
like $out, qr/forgotten .*Redis: record and [1-9]\d* stream entr/, '... says Redis is done';
clean($id2, $contact2, 'stopped server');
$t->start;
# a new lead reaching the leads file: the server has read the streams and
# published since it started
my ($id3) = redis_lead();
ok !in_leads_file($id2), 'after the start the forgotten lead is not back in the leads file';
ok !defined vkey_of($id2), '... nor in Redis';
($rc) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'show', $id2);
is $rc, 3, '... and mqlctl show does not know it';

# ---- Redis unreachable ------------------------------------------------------------

$redis->stop;
($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'forget', $id3);
isnt $rc, 0, 'with redis-server stopped mqlctl forget fails';
like $err, qr/Redis at 127\.0\.0\.1:\d+ \(MQLStore\) is unreachable.*nothing was forgotten/,
    '... saying Redis is unreachable and nothing was forgotten';
unlike $out, qr/forgotten/, '... and never "forgotten"';
ok in_leads_file($id3), '... and the lead is still in the leads file';

$t->stop;
is_deeply [ $t->unexpected_errors(qr/MQL07001/) ], [], 'no unexpected error in the log';
done_testing;
