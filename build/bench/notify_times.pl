#!/usr/bin/perl
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

# MQLNotify program of `build/bench.sh redis`: each notification line
# appended to LOG after the time it arrived ("EPOCH_SECONDS LINE").
#   notify_times.pl LOG
use strict;
use warnings;
use Time::HiRes qw(time);

open my $out, '>>', $ARGV[0] or die "$ARGV[0]: $!\n";
$out->autoflush(1);
while (my $line = <STDIN>) {
    printf $out "%.6f %s", time, $line;
}
