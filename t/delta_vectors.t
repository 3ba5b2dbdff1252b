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

# The Function library's delta applier (mql_redis.lua, apply_delta) run by
# a real redis-server against the vectors the C applier passes too
# (t/vectors/delta.txt, t/unit/test_delta.c): each record before set as
# Redis keeps it, the delta sent as the sync thread sends it (an entry of
# mql_apply_many), the record after read back.  Then what a call refuses
# and what the sequence numbers and totals make of entries sent again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use MQLRedis;
use MQLDelta;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new;
my $r = MQLDelta->connect($redis->port);
# as the module loads it: the record's layout spliced in
my $lua = `@{[ MQLTest::helper_bin('redis_library') ]}`;
is $r->command('FUNCTION', 'LOAD', 'REPLACE', $lua), 'mql', 'the library loads (FUNCTION LOAD REPLACE)';
is $r->command('FUNCTION', 'LOAD', 'REPLACE', $lua), 'mql', '... and replaces itself, as every connection does';

my $K = 'mql:{mql0}';
my @fixed = ("$K:seq", "$K:changes", "$K:totals");
my $origin = 'e' x 16;
my $seq = 0;

sub fields_of {
    my ($vkey) = @_;
    my $l = $r->command('FCALL_RO', 'mql_fields', 1, $vkey);
    return ref $l eq 'ARRAY' ? @$l : ();
}

sub same {
    my ($got, $want) = @_;
    for my $k (keys %$want) {
        if ($k eq 'score') {
            return 0 if abs($got->{score} - $want->{score}) > 1e-9 * (1 + abs $want->{score});
        }
        elsif (ref $want->{$k}) {
            return 0 if "@{ $got->{$k} }" ne "@{ $want->{$k} }";
        }
        elsif ($got->{$k} ne $want->{$k}) {
            return 0;
        }
    }
    return 1;
}

my @vectors = MQLDelta::read_vectors("$FindBin::Bin/vectors/delta.txt");
cmp_ok scalar @vectors, '>=', 20, scalar(@vectors) . ' vectors read';
my $n = 0;
for my $t (@vectors) {
    my $id = sprintf 'V%021d', ++$n;
    my $vkey = "$K:v:$id";
    $r->command('DEL', $vkey);
    $r->command('SET', $vkey, MQLDelta::pack_record($t->{before})) if $t->{before};
    my $entry = MQLDelta::hit_entry(origin => $origin, seq => ++$seq, id => $id, now => $t->{now},
                                    delta => $t->{delta});
    my $out = $r->command('FCALL', 'mql_apply_many', 4, @fixed, $vkey, $entry);
    my $got = MQLDelta::record_from_fields(fields_of($vkey));
    ok ref $out eq 'ARRAY' && substr($out->[0], 0, 1) eq 'a' && same($got, $t->{want}), $t->{name}
        or diag explain { got => $got, want => $t->{want}, reply => $out };
}

# ---- a call's form: one form, every entry read before anything is written --

{
    my $id = 'W' x 22;
    my $vkey = "$K:v:$id";
    my $d = { events => 1, items => '1:0:255:0', threshold => 100 };
    my $good = MQLDelta::hit_entry(origin => $origin, seq => ++$seq, id => $id, now => 100,
                                   delta => $d);
    my $err = $r->command('FCALL', 'mql_apply_many', 3, @fixed[0, 1], $vkey, $good);
    like $err->{error} // '', qr/mql_apply_many: 3 keys, 1 entries/,
        'mql_apply_many takes SEQ_KEY STREAM_KEY TOTALS_KEY and the visitors, no other form';
    $err = $r->command('FCALL', 'mql_apply_many', 5, @fixed, $vkey, $vkey, $good, substr($good, 0, -1));
    like $err->{error} // '', qr/entry 2 malformed/, 'a cut entry is refused...';
    is_deeply [ fields_of($vkey) ], [], '... and nothing of the call was written';
    $err = $r->command('FCALL', 'mql_apply_many', 4, @fixed, $vkey, $good . 'x');
    like $err->{error} // '', qr/entry 1 malformed/, 'bytes after the delta: refused';
    like $r->command('FCALL', 'mql_apply', 4, $vkey, @fixed, 'h')->{error} // '',
        qr/Function not found/i, 'no single-entry text form (mql_apply) any more';
    $r->command('HSET', "$K:v:" . ('H' x 22), 'score', '5');
    ok ref $r->command('FCALL', 'mql_apply_many', 4, @fixed, "$K:v:" . ('H' x 22),
                       MQLDelta::hit_entry(origin => $origin, seq => ++$seq, id => 'H' x 22,
                                           now => 100, delta => $d)) eq 'HASH',
        'a record held as a hash is no record of this library: the call fails, nothing applied';
}

# ---- the totals count each change once; a duplicate changes nothing ---------

{
    my $id = 'T' x 22;
    my $vkey = "$K:v:$id";
    my $totals = sub { my $l = $r->command('HGETALL', "$K:totals"); my %h = @$l; \%h };
    my $d = { events => 1, items => '5:0:255:0', threshold => 40, trig => '/x' };
    my $call = sub {
        my ($entry) = @_;
        my $out = $r->command('FCALL', 'mql_apply_many', 4, @fixed, $vkey, $entry);
        return ref $out eq 'ARRAY' ? substr($out->[0], 0, 1) : "error: $out->{error}";
    };
    my $before = $totals->();
    my $s = ++$seq;
    my @got = map { $call->(MQLDelta::hit_entry(origin => 'f' x 16, seq => $_, id => $id,
                                                 now => time, delta => $d)) } $s, $s, $s + 1;
    is "@got", 'a d a', 'by hand: applied, a duplicate (its number seen), applied';
    my %f = fields_of($vkey);
    is $f{c0}, 2, '... the duplicate counted no view';
    my $after = $totals->();
    is_deeply [ map { ($after->{$_} // 0) - ($before->{$_} // 0) } qw(visitors hits forgotten) ],
        [ 1, 2, 0 ], '... counted once each: one visitor, two hits (the duplicate not)';
    is $call->(MQLDelta::forget_entry(origin => 'f' x 16, seq => $s + 2, id => $id, now => time)),
        'a', 'a forget by hand';
    is(($totals->()->{forgotten} // 0) - ($before->{forgotten} // 0), 1, '... counted forgotten');
}

done_testing;
