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

# Faults under load, on 127.0.0.1 only, each bounded in time and traffic:
#   - kill -9 of httpd children while clients drive scoring,
#   - ten `graceful` restarts under load (no lead lost, no IPC object leaked),
#   - MQLStateDir made unwritable while running,
#   - a table filled with ten times its capacity,
#   - the leads DBM file deleted, then corrupted, by hand while running.
# The shared table is checked with the status page's ?json&validate
# (mql_shm_validate) after every fault.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use SDBM_File;
use JSON::PP;
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use MQLTest;

my $STATUS = "<Location /mql-status>\n    SetHandler mql-status\n</Location>\n";
# Lines a fault is expected to cause (each test adds its own).
my @KILL_OK = (qr/exit signal Killed/, qr/AH00052/);

sub status_json {
    my ($t) = @_;
    my $res = $t->get('/mql-status?json&validate');
    return eval { decode_json($res->{content}) } // {};
}

sub store_ok {
    my ($t, $what) = @_;
    my $j = status_json($t);
    ok $j->{store_valid}, "$what: the shared table is consistent"
        or diag explain $j->{store_problem};
    return $j;
}

sub env_of {
    my ($t, $cookie) = @_;
    return MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
}

# The sections below read, delete and damage the leads file by its sdbm
# names (PATH.dir, PATH.pag): the type is named.
my $SDBM = "MQLDBMType sdbm\n";

sub dbm_get {
    my ($path, $key) = @_;
    tie(my %h, 'SDBM_File', $path, O_RDONLY, 0) or return;
    my $v = $h{$key};
    untie %h;
    return $v;
}

# Forked clients, each one visitor on keep-alive connections, scoring
# views until $secs pass or the stop file appears.  Returns a handle for
# finish_load: per client its cookie, answers (200) and failures.  The
# visit that got the cookie scored one view already.
sub start_load {
    my ($t, $clients, $secs, $path) = @_;
    $path //= '/index.html';
    my $dir = $t->root . "/load.$$." . int(time * 1000);
    mkdir $dir or die "$dir: $!";
    my @kids;
    for my $c (1 .. $clients) {
        my $cookie = MQLTest::visitor_cookie($t->get('/')) or die "no cookie\n";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ua = HTTP::Tiny->new(agent => $MQLTest::UA, keep_alive => 1, timeout => 10);
            my ($ok, $bad, $last_ok) = (0, 0, 0);
            my $end = time + $secs;
            while (time < $end && !-e "$dir/stop") {
                my $r = $ua->get($t->base . $path, { headers => { Cookie => $cookie } });
                if ($r->{status} == 200) { $ok++; $last_ok = time }
                else { $bad++; sleep 0.01 }
            }
            open my $fh, '>', "$dir/$c" or POSIX::_exit(2);
            print $fh "$ok $bad $last_ok\n";
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, { pid => $pid, n => $c, cookie => "$cookie" };
    }
    return { dir => $dir, kids => \@kids };
}

sub finish_load {
    my ($load) = @_;
    open my $s, '>', "$load->{dir}/stop" or die $!;
    close $s;
    for my $k (@{ $load->{kids} }) {
        waitpid $k->{pid}, 0;
        open my $fh, '<', "$load->{dir}/$k->{n}" or next;
        @$k{qw(ok bad last_ok)} = split ' ', scalar <$fh>;
    }
    return @{ $load->{kids} };
}

# The server's children that answered requests and still run.
sub worker_children {
    my ($t) = @_;
    my $parent = $t->pid or return;
    my %child = map { $_ => 1 } split ' ', `pgrep -P $parent`;
    my %served;
    open my $log, '<', $t->access_log or return;
    while (<$log>) { $served{$1} = 1 if /^\S+ (\d+) / }
    return grep { $served{$_} } sort keys %child;
}

# IPC objects of the whole machine: SysV semaphores and shared memory,
# and /dev/shm files.
sub ipc_objects {
    my %o;
    for my $kind (qw(sem shm)) {
        open my $fh, '<', "/proc/sysvipc/$kind" or next;
        <$fh>;
        while (<$fh>) { my @f = split; $o{"$kind:$f[1]"} = 1 }
    }
    $o{"devshm:$_"} = 1 for map { s{.*/}{}r } glob '/dev/shm/*';
    return \%o;
}

# ---------------------------------------------------------------------
# 1. kill -9 of children while clients drive scoring
for my $mpm (qw(prefork event)) {
    my $t = MQLTest->new(mpm => $mpm, conf => "MQLHalfLife 0\nMQLThreshold 1000000\n$STATUS");
    $t->start;
    # the clients run until finish_load stops them; children are killed,
    # one that served requests at a time, until six are, however long a
    # slow machine takes to start new ones
    my $load = start_load($t, 6, 120);
    MQLTest::wait_for(10, sub { worker_children($t) });
    my ($kills, %killed) = (0);
    my $until = time + 60;
    while ($kills < 6 && time < $until) {
        my @w = grep { !$killed{$_} } worker_children($t);
        if (@w) {
            my $victim = $w[int rand @w];
            $kills++ if kill 'KILL', $victim;
            $killed{$victim} = 1;
        }
        sleep 0.4;
    }
    my $last_kill = time;
    ok kill(0, $t->pid), "$mpm: the parent survived $kills kills";
    cmp_ok $kills, '>=', 5, "$mpm: $kills children killed with SIGKILL under load";

    # Scoring resumes within a second of the last kill: a new probe visitor
    # is answered and scored.
    my $probe = MQLTest::visitor_cookie($t->get('/'));
    my $resumed = MQLTest::wait_for(1, sub {
        my $r = $t->get('/index.html', Cookie => $probe);
        $r->{status} == 200 && (env_of($t, $probe)->{MQL_SCORE} // 0) >= 1
    });
    ok $resumed, sprintf "$mpm: scoring resumed %.2f s after the last kill", time - $last_kill;

    my @kids = finish_load($load);
    my $stalled = grep { !$_->{last_ok} || $_->{last_ok} < $last_kill - 0.5 } @kids;
    is $stalled, 0, "$mpm: every client kept being answered through the kills";
    my ($answered, $failed) = (0, 0);
    for my $k (@kids) {
        $answered += $k->{ok};
        $failed += $k->{bad};
        my $score = env_of($t, $k->{cookie})->{MQL_SCORE};
        # scored before its last bytes leave: a request killed in flight
        # may count without an answer (and HTTP::Tiny retries a GET once on
        # a reused connection), but an answered one is never lost
        ok $score >= $k->{ok} + 1 && $score <= $k->{ok} + 1 + $k->{bad} + $kills,
            "$mpm: client $k->{n}: score $score for $k->{ok} answers ($k->{bad} failed)";
    }
    cmp_ok $answered, '>', 200, "$mpm: $answered requests answered, $failed cut by the kills";
    store_ok($t, "$mpm after the kills");
    $t->stop;
    is_deeply [$t->unexpected_errors(@KILL_OK, qr/cgid daemon process died/)], [],
        "$mpm: no unexpected errors";
}

# ---------------------------------------------------------------------
# 2. ten graceful restarts under load: no lead lost, no IPC object leaked
{
    my $before_start = ipc_objects();
    my $t = MQLTest->new(mpm => 'event', conf => "MQLHalfLife 0\nMQLThreshold 20\n$SDBM$STATUS");
    $t->start;
    my $running = ipc_objects();
    my $leads_file = $t->state_dir . '/leads';
    my @leads = map { [ $t->make_lead ] } 1 .. 3;
    my $load = start_load($t, 4, 40);
    for my $round (1 .. 10) {
        $t->graceful;
        push @leads, [ $t->make_lead ];
    }
    my @kids = finish_load($load);
    my $after = ipc_objects();
    my @leaked = grep { !$running->{$_} } sort keys %$after;
    is_deeply \@leaked, [], 'graceful x10: no new semaphore, shared memory segment or /dev/shm file';

    my $lost = grep { (env_of($t, $_->[1])->{MQL_STAGE} // '') ne 'mql' } @leads;
    is $lost, 0, 'graceful x10: all ' . scalar(@leads) . ' leads kept their stage';
    my $published = MQLTest::wait_for(10, sub {
        !grep { !defined dbm_get($leads_file, $_->[0]) } @leads
    });
    ok $published, 'graceful x10: every lead is in the DBM file';
    my $bad = 0;
    $bad += $_->{bad} for @kids;
    my $ok = 0;
    $ok += $_->{ok} for @kids;
    cmp_ok $ok, '>', 100, "graceful x10: $ok requests answered during the restarts";
    is $bad, 0, 'graceful x10: no request failed';
    for my $k (@kids) {
        is env_of($t, $k->{cookie})->{MQL_SCORE}, $k->{ok} + 1,
            "graceful x10: client $k->{n}: all $k->{ok} views scored";
    }
    store_ok($t, 'graceful x10');
    $t->stop;
    my $stopped = ipc_objects();
    @leaked = grep { !$before_start->{$_} } sort keys %$stopped;
    is_deeply \@leaked, [], 'graceful x10: nothing left behind after stop';
    is_deeply [$t->unexpected_errors], [], 'graceful x10: no errors';
}

# ---------------------------------------------------------------------
# 3. MQLStateDir made unwritable while running
{
    my $t = MQLTest->new(conf => "MQLHalfLife 0\nMQLThreshold 20\n$SDBM$STATUS");
    $t->start;
    my $state = $t->state_dir;
    my $leads_file = "$state/leads";
    is((stat $state)[2] & 07777, 0750, 'state directory is 0750');
    is((stat "$state/secret")[2] & 07777, 0600, 'generated secret is 0600');
    is((stat "$leads_file.pag")[2] & 07777, 0640, 'leads file is 0640');
    is((stat "$leads_file.dir")[2] & 07777, 0640, 'leads directory file is 0640');
    # nothing in MQLStateDir is open to the world (t/perms.t: whatever the
    # umask)
    my @open = grep { ((stat $_)[2] & 07777) & 006 } glob "$state/* $state/*/*";
    is_deeply \@open, [], 'nothing in the state directory is world-readable or -writable';
    ok !((stat "$state/control")[2] & 007), 'control directory closed to the world';
    my ($id1, $c1) = $t->make_lead(email => 'before@example.com');
    ok MQLTest::wait_for(5, sub { dbm_get($leads_file, $id1) }), 'a lead is published';

    chmod 0000, $state or die "chmod: $!";
    my ($id2, $c2) = $t->make_lead(email => 'during@example.com');
    ok MQLTest::wait_for(5, sub { $t->log_text =~ /MQL03010: cannot update the leads file/ }),
        'unwritable: a clear log line (MQL03010)';
    my $r = $t->get('/pricing.html', Cookie => $c1);
    is $r->{status}, 200, 'unwritable: requests are still served';
    is env_of($t, $c1)->{MQL_SCORE}, 22, 'unwritable: scoring goes on';
    like dbm_get($leads_file, $id1) // '', qr/contact=before%40example\.com/,
        'unwritable: what was written is still there';
    my $j = status_json($t);
    cmp_ok $j->{health}{writer}{dbm_errors}, '>=', 1, 'unwritable: failures counted';
    cmp_ok $j->{health}{writer}{pending}, '>=', 1, 'unwritable: the new lead waits';

    chmod 0750, $state or die "chmod: $!";
    ok MQLTest::wait_for(5, sub { dbm_get($leads_file, $id2) }),
        'writable again: the waiting lead is published';
    like dbm_get($leads_file, $id1) // '', qr/stage=mql/, 'writable again: the first lead kept';
    store_ok($t, 'unwritable state directory');
    $t->stop;
    # the periodic snapshot may fall into the unwritable minute too
    is_deeply [$t->unexpected_errors(qr/MQL03010/, qr/MQL01023/, qr/MQL03040/,
                                     qr/MQL0102[02]: snapshot/)], [],
        'unwritable: no other errors';
}

# ---------------------------------------------------------------------
# 4. ten times the table's capacity in new visitors
{
    my $slots = 100;
    my $t = MQLTest->new(conf => "MQLMaxVisitors $slots\nMQLHalfLife 0\nMQLThreshold 20\n$SDBM$STATUS");
    $t->start;
    my @leads = map { [ $t->make_lead ] } 1 .. 5;
    # in their file, confirmed by the writer, before the stream starts:
    # every newcomer is seen later than any lead, on any machine
    my $leads_file = $t->state_dir . '/leads';
    ok MQLTest::wait_for(10, sub { !grep { !defined dbm_get($leads_file, $_->[0]) } @leads }),
        '10x capacity: the leads are in the DBM file';
    my $seen = int(time);
    ok MQLTest::wait_for(10, sub {
        (status_json($t)->{health}{writer}{published_before} // 0) > $seen
    }), '10x capacity: the writer confirmed them';
    my @pids;
    for my $c (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $ua = HTTP::Tiny->new(agent => $MQLTest::UA, keep_alive => 1, timeout => 10);
            my $bad = 0;
            for (1 .. 10 * $slots / 4) {
                $bad++ unless $ua->get($t->base . '/index.html')->{status} == 200;
            }
            POSIX::_exit($bad ? 1 : 0);
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) { waitpid $_, 0; $failed++ if $? }
    is $failed, 0, 10 * $slots . ' new visitors in a table of ' . $slots . ': all answered';
    my $kept = grep { (env_of($t, $_->[1])->{MQL_STAGE} // '') eq 'mql' } @leads;
    is $kept, 5, '10x capacity: every lead kept';
    my $j = store_ok($t, '10x capacity');
    is $j->{health}{lead_evictions}, 0, '10x capacity: no lead made room';
    cmp_ok $j->{health}{evictions}, '>=', 9 * $slots - 5,
        "10x capacity: evictions counted ($j->{health}{evictions})";
    cmp_ok $j->{visitors}{tracked}, '<=', $slots, '10x capacity: never more than the capacity';
    $t->stop;
    is_deeply [$t->unexpected_errors], [], '10x capacity: no errors';
}

# ---------------------------------------------------------------------
# 5. the leads DBM file deleted, then corrupted, by hand while running
{
    my $t = MQLTest->new(conf => "MQLHalfLife 0\nMQLThreshold 20\n$SDBM$STATUS");
    $t->start;
    my $leads_file = $t->state_dir . '/leads';
    my ($id1) = $t->make_lead(email => 'first@example.com');
    ok MQLTest::wait_for(5, sub { dbm_get($leads_file, $id1) }), 'a lead is published';

    unlink "$leads_file.pag", "$leads_file.dir";
    my ($id2) = $t->make_lead(email => 'second@example.com');
    ok MQLTest::wait_for(5, sub { dbm_get($leads_file, $id2) && dbm_get($leads_file, $id1) }),
        'deleted: the file is recreated with every lead, old and new';
    like $t->log_text, qr/MQL05010: the leads file .* is missing/, 'deleted: a clear log line';
    is((stat "$leads_file.pag")[2] & 07777, 0640, 'deleted: recreated 0640');

    for my $f ("$leads_file.pag", "$leads_file.dir") {
        open my $fh, '>:raw', $f or die "$f: $!";
        print $fh join '', map { chr((($_ * 7919) >> 3) & 0xff) } 1 .. 5000;
        close $fh;
    }
    my ($id3) = $t->make_lead(email => 'third@example.com');
    ok MQLTest::wait_for(8, sub {
        dbm_get($leads_file, $id3) && dbm_get($leads_file, $id2) && dbm_get($leads_file, $id1)
    }), 'corrupted: rebuilt with every lead';
    like $t->log_text, qr/MQL0501\d: .*leads file/, 'corrupted: a clear log line';
    like dbm_get($leads_file, $id1) // '', qr/^stage=mql;.*contact=first%40example\.com/,
        'corrupted: the records are whole';
    is $t->get('/index.html')->{status}, 200, 'the server serves on';
    store_ok($t, 'DBM deleted and corrupted');
    $t->stop;
    is_deeply [$t->unexpected_errors(qr/MQL03010/, qr/MQL0501\d/)], [],
        'DBM deleted and corrupted: no other errors';
}

done_testing;
