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

# The libFuzzer targets (t/fuzz/fuzz_*.c), each run briefly: one test per
# target, ok when it ran its time without a crash, a leak, a sanitizer
# report or a failed invariant.  FUZZ_SECONDS sets the time per target
# (5 here; `make fuzz` runs them 60 s each).  Crashing inputs are kept in
# build/out/fuzz/artifacts/TARGET/; replay one with
#   build/out/fuzz/TARGET FILE
# New inputs that reach new code go to build/out/fuzz/corpus/TARGET/ and
# are reused by the next run; the seeds live in t/fuzz/corpus/TARGET/.
use strict;
use warnings;
use FindBin;
use File::Path qw(make_path);
use Test::More;

my $root = "$FindBin::Bin/..";
my $out  = "$root/build/out/fuzz";
my $secs = $ENV{FUZZ_SECONDS} // 5;
chdir $root or die "cd $root: $!";

# clang and its libFuzzer runtime: install them when missing (as root on
# a fresh Debian machine), never skip.
system('build/deps.sh', 'fuzz') == 0
    or BAIL_OUT('clang and libFuzzer are needed: build/deps.sh fuzz failed');
my $log = `make -s fuzz-build 2>&1`;
if ($? != 0) {
    diag $log;
    BAIL_OUT('building the fuzz targets failed');
}

my @targets = map { m{/(fuzz_\w+)\.c$} ? $1 : () } sort glob 't/fuzz/fuzz_*.c';
ok @targets >= 6, scalar(@targets) . ' fuzz targets';

for my $t (@targets) {
    my $corpus = "$out/corpus/$t";
    my $art    = "$out/artifacts/$t";
    make_path($corpus, $art);
    my @dirs = ($corpus, grep { -d } "t/fuzz/corpus/$t", "$out/seeds/$t");
    my @cmd = ("$out/$t", "-max_total_time=$secs", '-print_final_stats=1', '-timeout=10',
               '-rss_limit_mb=2048', "-artifact_prefix=$art/", @dirs);
    my $started = time;
    my $output = `@cmd 2>&1`;
    my $rc = $?;
    my ($execs) = $output =~ /stat::number_of_executed_units:\s*(\d+)/;
    my @cov = $output =~ /\bcov: (\d+)/g;
    my $cov = $cov[-1];
    $execs //= 0;
    if (!ok $rc == 0 && $execs > 0,
        sprintf '%s: %d executions in %d s%s', $t, $execs, time - $started,
        defined $cov ? ", coverage $cov" : '') {
        my @lines = split /\n/, $output;
        splice @lines, 0, @lines - 60 if @lines > 60;
        diag join "\n", @lines;
        diag "crashing inputs: " . join(' ', glob "$art/*");
    }
}

done_testing;
