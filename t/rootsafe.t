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

# The server's user must never become root.  Played as an attacker who
# holds www-data (a PHP or CGI bug): every name the module and mqlctl use
# in MQLStateDir and its control directory is replaced, as www-data, by a
# dangling link, a link to a file of root's, a FIFO or a huge sparse
# file; the shared table's indexes and lock are scribbled from inside a
# child.  Then root starts, restarts gracefully and stops the server and
# runs every mqlctl command: nothing outside the state directory is
# created, changed or chowned, root neither hangs nor crashes, and the
# module says what it refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Path qw(make_path);
use POSIX qw(mkfifo setuid setgid _exit);
use Time::HiRes qw(time);
use MQLTest;

plan skip_all => 'needs root (the boundary is between root and www-data)' unless $> == 0;
my ($wuid, $wgid) = (getpwnam('www-data'))[2, 3];
plan skip_all => 'needs the www-data user' unless defined $wuid;

my $mqlctl = "$MQLTest::TOP/build/out/mqlctl";

# Run code as www-data in a child process; its exit status.
sub as_www_data {
    my ($code) = @_;
    my $pid = fork;
    if (!$pid) {
        $( = $) = "$wgid $wgid";
        setgid($wgid);
        setuid($wuid) or _exit(99);
        _exit($code->() ? 0 : 1);
    }
    waitpid $pid, 0;
    return $? >> 8;
}

# The victim: files of root's outside the state directory.
sub make_victim {
    my ($t) = @_;
    my $dir = $t->root . '/victim';
    make_path($dir);
    chmod 0755, $dir;
    for my $n (qw(target-a target-b)) {
        open my $fh, '>', "$dir/$n" or die $!;
        print $fh "root's own file\n";
        close $fh;
        chmod 0644, "$dir/$n";
    }
    return $dir;
}

sub victim_state {
    my ($dir) = @_;
    opendir my $dh, $dir or die $!;
    my @names = sort grep { !/^\.\.?$/ } readdir $dh;
    my %st;
    for my $n (@names) {
        my @s = lstat "$dir/$n";
        open my $fh, '<', "$dir/$n";
        local $/;
        my $content = $fh ? <$fh> : '';
        $st{$n} = join ':', $s[2], $s[4], $s[5], $s[7], $content // '';
    }
    return join "\n", map { "$_ => $st{$_}" } @names;
}

# Plant one kind of trap on every name, as www-data.
my @state_names = qw(visitors.snapshot writer.status writer.status.tmp sites sites.tmp
                     store store.auth .store.tmp .store.auth.tmp
                     leads leads.mqlnew leads.dir leads.pag leads.mqllock leads.mqlnew.dir
                     leads.mqlnew.pag accounts accounts.tmp);
sub plant {
    my ($t, $kind, $victim, @names) = @_;
    my $state = $t->state_dir;
    return as_www_data(sub {
        for my $n (@names) {
            my $p = "$state/$n";
            if (-d $p && !-l $p) { rename $p, "$p.moved" or return 0 }
            unlink $p;
            if ($kind eq 'dangling link') { symlink "$victim/created-$n", $p or return 0 }
            elsif ($kind eq 'link to a root file') { symlink "$victim/target-a", $p or return 0 }
            elsif ($kind eq 'FIFO') { mkfifo($p, 0666) or return 0 }
            elsif ($kind eq 'huge sparse file') {
                open my $fh, '>', $p or return 0;
                truncate $fh, 1 << 40 or return 0;
                close $fh;
            }
        }
        return 1;
    });
}

# A command as root, bounded in time: (exit status or 'hung', output).
sub bounded {
    my ($secs, @cmd) = @_;
    my $pid = open my $fh, '-|';
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or _exit(127);
    }
    my $out = '';
    my $hung = 0;
    eval {
        local $SIG{ALRM} = sub { die "alarm\n" };
        alarm $secs;
        local $/;
        $out = <$fh> // '';
        alarm 0;
    };
    if ($@) { kill 'KILL', $pid; $hung = 1 }
    close $fh;
    return ($hung ? 'hung' : $? >> 8, $out);
}

sub no_crash {
    my ($t, $what) = @_;
    my @bad = grep { /Segmentation fault|exit signal|AddressSanitizer|double free/ }
              split /\n/, $t->log_text;
    is_deeply \@bad, [], "$what: no process of the server crashed";
}

# ---- traps on the state directory's files ---------------------------------
for my $kind ('dangling link', 'link to a root file', 'FIFO', 'huge sparse file') {
    my $t = MQLTest->new(mpm => 'event', conf => "MQLHalfLife 0\nMQLThreshold 5\n");
    my $victim = make_victim($t);
    $t->start;
    my $cookie = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $cookie) for 1 .. 5;
    my ($id) = $cookie =~ /=([^.]+)\./;
    $t->stop;
    my $before = victim_state($victim);

    # the DBM file is read and written by the server's user alone; a huge
    # sparse file there would only cost that user a long copy
    my @names = $kind eq 'huge sparse file' ? grep { !/^leads/ } @state_names : @state_names;
    is plant($t, $kind, $victim, @names, 'control'), 0, "$kind: planted as www-data";

    my $t0 = time;
    eval { $t->start };
    ok !$@, "$kind: root starts the server" or diag $@;
    ok time - $t0 < 15, "$kind: and does not hang doing so";
    is $t->get('/')->{status}, 200, "$kind: it serves";
    like $t->log_text, qr/MQL00015: snapshot \S+ not restored/,
        "$kind: the refused snapshot is named in the error log";
    $t0 = time;
    $t->graceful;
    my $pid = $t->pid;
    $t->stop;
    ok time - $t0 < 25, "$kind: graceful and stop do not hang";
    ok !kill(0, $pid), "$kind: the server stopped";
    no_crash($t, $kind);

    # every mqlctl command, as root, on the trapped directory
    is plant($t, $kind, $victim, @names, 'control'), 0, "$kind: planted again";
    my @base = ($mqlctl, '--state-dir', $t->state_dir, '--wait', 1);
    for my $cmd (['list'], ['show', $id], ['export', '--format', 'csv'],
                 ['export', '--format', 'json'], ['set', $id, 'stage=sql'], ['forget', $id],
                 ['stats'], ['sites'], ['--site', '127.0.0.1', 'list'], ['accounts'],
                 ['accounts', '--format', 'json']) {
        my ($rc, $out) = bounded(20, @base, @$cmd);
        isnt $rc, 'hung', "$kind: mqlctl @$cmd does not hang";
        ok $rc eq 'hung' || $rc < 128, "$kind: mqlctl @$cmd does not crash" or diag $out;
    }
    is victim_state($victim), $before,
        "$kind: nothing outside the state directory was created, changed or chowned";
    my @made = glob "$victim/created-*";
    is_deeply \@made, [], "$kind: no file created through a dangling link";
}

# ---- the signing key ------------------------------------------------------
for my $kind ('dangling link', 'link to a root file', 'FIFO', 'huge sparse file') {
    my $t = MQLTest->new(mpm => 'event', conf => '');
    my $victim = make_victim($t);
    $t->start;
    $t->stop;
    my $before = victim_state($victim);
    is plant($t, $kind, $victim, 'secret'), 0, "key, $kind: planted as www-data";
    my ($rc, $out);
    {
        local %ENV = (%ENV, $t->asan_env);
        ($rc, $out) = bounded(15, MQLTest::httpd_bin(), '-d', $t->root, '-f', $t->conf_file,
                              '-k', 'start');
    }
    isnt $rc, 'hung', "key, $kind: httpd -k start returns";
    my $refused = MQLTest::wait_for(15, sub { $t->log_text =~ /MQL00012: signing key \S+: .*refused/ });
    ok $refused, "key, $kind: the key is refused, and the error says so" or diag $out, $t->log_text;
    # (the bracket keeps pgrep from matching the shell that runs it)
    (my $pattern = '-d ' . $t->root . ' -f') =~ s{-d /}{-d [/]};
    my $gone = MQLTest::wait_for(15, sub { `pgrep -f -- '$pattern'` eq '' });
    ok $gone, "key, $kind: the server gives up at once instead of waiting on it";
    is victim_state($victim), $before, "key, $kind: nothing outside the state directory changed";
}

# ---- the shared table, scribbled from inside a child ------------------------
my $probe_root = MQLTest->new(mpm => 'event', conf => '')->root;
system('cp', "$MQLTest::TOP/t/probe/mod_mql_scribble.c", $probe_root) == 0 or die;
my $build = `cd $probe_root && apxs -I$MQLTest::TOP/mod_mql -c mod_mql_scribble.c 2>&1`;
is $?, 0, 'the scribbling module builds' or diag $build;
my $scribble_conf = <<"CONF";
LoadModule mql_scribble_module $probe_root/.libs/mod_mql_scribble.so
MQLHalfLife 0
MQLThreshold 3
<Location /scribble>
    SetHandler mql-scribble
</Location>
CONF

{
    my $t = MQLTest->new(mpm => 'prefork', conf => $scribble_conf);
    $t->start;
    my $lead = MQLTest::visitor_cookie($t->get('/'));
    $t->request('POST', '/cgi-bin/form.cgi', content => 'email=lead%40example.com',
                headers => { Cookie => $lead, 'Content-Type' => 'application/x-www-form-urlencoded' });
    $t->get('/pricing.html', Cookie => $lead) for 1 .. 3;
    my $plain = MQLTest::visitor_cookie($t->get('/'));
    $t->get('/pricing.html', Cookie => $plain);
    like $t->get('/scribble?indexes')->{content}, qr/scribbled [1-9]\d* slots/,
        'indexes: a child scribbled the contact indexes, the free list and the capacity';
    my $t0 = time;
    $t->graceful;
    ok time - $t0 < 15, 'indexes: graceful does not hang';
    like $t->log_text, qr/MQL00031/, 'indexes: the parent refuses the table whose header '
        . 'disagrees with the size it made it for, and starts a new one';
    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $plain));
    is $env->{MQL_SCORE}, 2, 'indexes: visitors come back from the snapshot saved as www-data';
    # no contact could be followed: the snapshot holds records and nothing
    # else (48-byte header, its records of the size the header gives,
    # 8-byte checksum)
    my $snap = $t->state_dir . '/visitors.snapshot';
    open my $sfh, '<:raw', $snap or die "$snap: $!";
    my $bytes = do { local $/; <$sfh> };
    my ($record_size) = unpack 'V', substr($bytes, 16, 4);
    my ($count, $contacts) = unpack 'V V', substr($bytes, 28, 8);
    ok $record_size >= 96 && $record_size < 256, "indexes: a record of $record_size bytes";
    is $contacts, 0, 'indexes: the snapshot carries no contact an out-of-range index pointed at';
    is length($bytes), 48 + $record_size * $count + 8, 'indexes: and not a byte more than its records';
    unlike $bytes, qr/lead\@example\.com/, 'indexes: the dropped contact is not in it';
    $t->stop;
    no_crash($t, 'indexes');
    $t->start;
    is MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $plain))->{MQL_SCORE}, 2,
        'indexes: and again after a stop and a start';
    $t->stop;
}

{
    my $t = MQLTest->new(mpm => 'prefork', conf => $scribble_conf);
    $t->start;
    my $plain = MQLTest::visitor_cookie($t->get('/'));
    like $t->get('/scribble?hold')->{content}, qr/held 0/, 'hold: a child holds the table lock';
    my ($t0, $pid) = (time, $t->pid);
    $t->stop;
    ok time - $t0 < 15, 'hold: stop does not hang on the held lock';
    ok !kill(0, $pid), 'hold: the server stopped';
    no_crash($t, 'hold');
    $t->start;
    is $t->get('/')->{status}, 200, 'hold: the server starts again and serves';
    $t->stop;
}

{
    my $t = MQLTest->new(mpm => 'prefork', conf => $scribble_conf);
    $t->start;
    $t->get('/');
    like $t->get('/scribble?lockword')->{content}, qr/lock word set/,
        'lockword: a child makes the table lock impossible to take';
    my ($t0, $pid) = (time, $t->pid);
    $t->stop;
    my $took = time - $t0;
    ok $took < 19, "lockword: stop finishes ($took s): the parent never waits on that lock";
    ok !kill(0, $pid), 'lockword: the server stopped';
    like $t->log_text, qr/MQL00041: saving the snapshot did not finish/,
        'lockword: the error log says the snapshot could not be saved, and why';
    no_crash($t, 'lockword');
    $t->start;
    is $t->get('/')->{status}, 200, 'lockword: the server starts again and serves';
    $t->stop;
}

done_testing;
