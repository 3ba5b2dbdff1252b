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

# A representative part of the integration suite again, against the module
# built with AddressSanitizer and UndefinedBehaviorSanitizer: httpd gets the
# runtime by LD_PRELOAD, and a test fails when a sanitizer report appears
# in its server root (t/lib/MQLTest.pm, MQL_ASAN=1): the Makefile's
# SANITIZED_TESTS.  `make test-asan` runs more (ASAN_TESTS) with their
# whole TAP output.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $top = $MQLTest::TOP;
my @tests = split ' ', `make -s -C $top print-sanitized-tests`;
BAIL_OUT('no list of sanitized tests') unless @tests;
my $out = `make -s -C $top asan-module 2>&1`;
BAIL_OUT("the sanitizer build failed:\n$out") if $?;

my $cc = $ENV{CC} || 'cc';
chomp(my $asan = `$cc -print-file-name=libasan.so`);
chomp(my $ubsan = `$cc -print-file-name=libubsan.so`);
local $ENV{MQL_ASAN} = 1;
local $ENV{MQL_MODULE} = "$top/build/out/asan-module/mod_mql.so";
local $ENV{MQL_ASAN_RUNTIME} = "$asan $ubsan";

for my $t (@tests) {
    my $tap = `cd $top && prove $t 2>&1`;
    my ($count) = $tap =~ /Tests=(\d+)/;
    ok $? == 0, sprintf '%s under ASan+UBSan (%s tests)', $t, $count // '?'
        or diag $tap;
}
done_testing;
