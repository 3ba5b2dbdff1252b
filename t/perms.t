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

# MQLStateDir holds visitor IDs, paths, contacts and the signing key: no
# local user outside the server's group reads any of it, whatever the
# umask the server was started with and whatever mode the admin gave the
# directory beforehand.  Files are 0640 or stricter, the directory 0750
# (control/, where mqlctl of the server's group leaves requests, 0770).
# SQLite makes its -wal and -shm files 0644 less the umask unless the
# database is made with a stricter mode first.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Find;
use MQLTest;

my $status = "<Location /mql-status>\nSetHandler mql-status\n</Location>\n";

# "path mode" for everything in the state directory that is open to more
# than it should be
sub too_open {
    my ($sd) = @_;
    my @bad;
    find({ no_chdir => 1, wanted => sub {
        my @st = lstat $File::Find::name or return;
        my $mode = $st[2] & 07777;
        (my $rel = $File::Find::name) =~ s{^\Q$sd\E/?}{};
        my $ok = $rel eq ''                      ? $mode == 0750
               : -d _ && $rel eq 'control'       ? !($mode & 007)
               : -d _                            ? !($mode & 027)
               :                                   !($mode & 0137);
        push @bad, sprintf '%s %04o', $rel eq '' ? '.' : $rel, $mode unless $ok;
    } }, $sd);
    return \@bad;
}

sub files_of {
    my ($sd) = @_;
    opendir my $d, $sd or return '';
    return join ' ', sort grep { !/^\.\.?$/ } readdir $d;
}

for my $case ([ 022, 0755, 'umask 022, a state directory made 0755 beforehand' ],
              [ 0, undef, 'umask 000, the module makes the directory' ]) {
    my ($umask, $premade, $name) = @$case;
    my $t = MQLTest->new(conf => '');
    my $sd = $t->state_dir;
    if (defined $premade) {
        mkdir $sd or die "$sd: $!";
        chmod $premade, $sd;
    }
    $t->write_conf("MQLThreshold 20\nMQLJournal On\n$status");
    my $old = umask $umask;
    $t->start;
    umask $old;

    my ($id) = $t->make_lead;
    $t->get('/pricing.html') for 1 .. 3;
    ok MQLTest::wait_for(20, sub { -s "$sd/journal.sqlite" && -e "$sd/journal.sqlite-wal"
                                   && -e "$sd/leads" }),
        "$name: the journal (with its -wal) and the leads file are written"
        or diag files_of($sd);
    # a reader of the journal: the status page's story of the lead
    my $res = $t->get("/mql-status?visitor=$id");
    is $res->{status}, 200, "$name: the status page shows the lead";
    # a forget makes the writer save the snapshot at once
    my ($rc) = MQLTest::mqlctl('--state-dir', $sd, 'forget', $id);
    is $rc, 0, "$name: mqlctl forget";
    ok MQLTest::wait_for(20, sub { -e "$sd/visitors.snapshot" }), "$name: the snapshot is saved"
        or diag files_of($sd);
    ok -e "$sd/journal.sqlite-shm", "$name: SQLite's -shm is there";
    my $bad = too_open($sd);
    is_deeply $bad, [], "$name: running: nothing open to others, directory 0750"
        or diag "too open: @$bad; all: " . files_of($sd);
    $t->stop;
    $bad = too_open($sd);
    is_deeply $bad, [], "$name: stopped: nothing open to others" or diag "too open: @$bad";
    is_deeply [ $t->unexpected_errors ], [], "$name: no errors";
}

done_testing;
