#!/usr/bin/perl
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
