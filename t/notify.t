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

# MQLNotify: one JSON line per stage change to a piped program, which the
# server restarts when it dies; contacts cannot break the line format.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use MQLTest;

my $t = MQLTest->new(conf => '');
my $root = $t->root;
my $pidfile = "$root/notify.pid";
my (undef, $out) = $t->notify_sink(pidfile => $pidfile);
$t->write_conf("MQLThreshold 20\nMQLNotify \"|$root/notify.pl\"\n");
$t->start;

sub lines {
    open my $f, '<', $out or return ();
    return <$f>;
}

# (a CGI cannot send a raw newline in a header; quotes and backslashes it can)
my $evil = 'evil"},{"injected":1}\\@example.com';
my ($id, $cookie) = $t->make_lead(email => $evil);
my @l = @{ MQLTest::wait_for(3, sub { my @x = lines(); @x >= 1 ? \@x : undef }) // [] };
is scalar(@l), 1, 'one line for one stage change';
my $j = eval { decode_json($l[0] // '') };
ok $j, 'the line is valid JSON' or diag $l[0];
is $j->{visitor}, $id, 'visitor ID';
is $j->{old_stage}, 'visitor', 'old stage';
is $j->{stage}, 'mql', 'new stage';
is $j->{score}, 21, 'score at the change';
is $j->{counts}{forms}, 1, 'counts';
is $j->{trigger}, 'form:/cgi-bin/form.cgi', 'trigger';
like $j->{time}, qr/^\d{10}$/, 'time in Unix seconds';
is $j->{contact}, $evil, 'contact with quotes and backslash survives intact';
ok !exists $j->{injected}, 'nothing injected';
unlike $l[0], qr/\n./, 'no raw newline inside the line';

# More activity without a stage change: no line.
$t->get('/', Cookie => $cookie) for 1 .. 3;
sleep 1;
is scalar(my @n1 = lines()), 1, 'no line without a stage change';

# Sales accepts the lead: a second line.
system("$MQLTest::TOP/build/out/mqlctl", '--state-dir', $t->state_dir, 'set', $id, 'stage=sql') == 0
    or diag 'mqlctl failed';
@l = @{ MQLTest::wait_for(3, sub { my @x = lines(); @x >= 2 ? \@x : undef }) // [] };
is scalar(@l), 2, 'mqlctl set: one more line';
$j = eval { decode_json($l[1] // '') } // {};
is "$j->{old_stage}>$j->{stage}", 'mql>sql', 'the line says mql -> sql';

# Kill the program: the server restarts it and the next change arrives.
my $pid = do { open my $p, '<', $pidfile or die; local $/; <$p> };
ok kill('KILL', $pid), "notify program $pid killed";
sleep 0.3;
my ($id2) = $t->make_lead;
@l = @{ MQLTest::wait_for(10, sub { my @x = lines(); @x >= 3 ? \@x : undef }) // [] };
is scalar(@l), 3, 'after the kill, the next change still arrives (program restarted)';
$j = eval { decode_json($l[2] // '') } // {};
is $j->{visitor}, $id2, '... for the right visitor';
my $newpid = do { open my $p, '<', $pidfile or die; local $/; <$p> };
isnt $newpid, $pid, 'a new program instance is running';
sleep 1;
is scalar(my @n3 = lines()), 3, 'exactly one line per change, no duplicates';
my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;
done_testing;
