# Readers never see a torn record and never fail to open the leads file
# while the server writes thousands of records: for each DBM type, a C
# reader (apr_dbm) and a Perl reader loop over the file while parallel
# clients turn visitors into leads.  Also reports the writer's throughput.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use MQLTest;

my $LEADS = $ENV{MQL_CONCURRENT_LEADS} // 12000;
my $CLIENTS = 6;
my $reader = MQLTest::helper_bin('dbm_reader');
my @types = ('sdbm', 'gdbm');
push @types, 'db' if -e '/usr/lib/x86_64-linux-gnu/apr-util-1/apr_dbm_db.so'
    || glob('/usr/lib/*/apr-util-1/apr_dbm_db*.so');

# A new visitor per request: with MQLThreshold 1 one page view makes a lead.
sub client {
    my ($port, $n) = @_;
    my $ua = MQLTest::browser_ua();
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
            or next;
        print $s "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: $ua\r\nConnection: close\r\n\r\n";
        local $/;
        my $r = <$s>;
        close $s;
    }
    POSIX::_exit(0);
}

# Perl readers, by type; returns "opens records errors torn vanished".
sub perl_reader {
    my ($type, $path, $secs, $out) = @_;
    my $class = { sdbm => 'SDBM_File', gdbm => 'GDBM_File', db => 'DB_File' }->{$type};
    eval "require $class; 1" or POSIX::_exit(0);
    my ($opens, $records, $errors, $torn, $vanished) = (0) x 5;
    my %seen;
    my $end = time + $secs;
    while (time < $end) {
        my %h;
        my $ok = $type eq 'gdbm' ? tie(%h, $class, $path, GDBM_File::GDBM_READER(), 0)
               : $type eq 'db'   ? tie(%h, $class, $path, O_RDONLY, 0, do { no warnings 'once'; $DB_File::DB_HASH })
               :                   tie(%h, $class, $path, O_RDONLY, 0);
        if (!$ok) { $errors++; warn "perl $type: open: $!\n"; next }
        $opens++;
        my %now;
        while (my ($k, $v) = each %h) {
            $records++;
            $now{$k} = 1;
            $torn++, warn "perl torn: $k => $v\n"
                unless length($k) == 22 && $v =~ /^stage=(mql|sql|rejected);score=-?\d+;since=\d+;last=\d+;views=\d+;downloads=\d+;forms=\d+(;[a-z_]+=[^;=]*)*$/;
        }
        for my $k (keys %seen) {
            next if $now{$k};
            $vanished++, warn "perl vanished: $k\n" unless defined $h{$k};
        }
        $seen{$_} = 1 for keys %now;
        undef $ok;
        untie %h;
    }
    open my $f, '>', $out or die;
    print $f "opens=$opens records=$records errors=$errors torn=$torn vanished=$vanished\n";
    close $f;
    POSIX::_exit(0);
}

# Distinct keys: a walk of an sdbm file opened in the instant its directory
# deepens meets some records twice (docs/leads.md), a lookup never misses.
sub count_records {
    my ($type, $path) = @_;
    my %keys = map { /^([^\t]+)\t/ ? ($1, 1) : () } `$reader dump $type '$path' 2>/dev/null`;
    return scalar keys %keys;
}

for my $type (@types) {
    my $t = MQLTest->new(conf => "MQLThreshold 1\nMQLDBMType $type\n"
                                 . "MQLMaxVisitors " . ($LEADS * 2 + 20000) . "\nLogLevel warn\n");
    my $path = $t->state_dir . '/leads';
    $t->start;
    my $secs = 0;
    my $t0 = time;

    # readers first, for a fixed time that covers the load
    my $dur = 15;
    my $cout = $t->root . "/c_reader.out";
    my $pout = $t->root . "/perl_reader.out";
    my $cpid = fork // die;
    if (!$cpid) {
        open STDOUT, '>', $cout; open STDERR, '>', "$cout.err";
        exec $reader, 'loop', $type, $path, $dur or POSIX::_exit(1);
    }
    my $ppid = fork // die;
    if (!$ppid) {
        open STDERR, '>', "$pout.err";
        perl_reader($type, $path, $dur, $pout);
    }

    my @kids;
    my $per = int($LEADS / $CLIENTS);
    for (1 .. $CLIENTS) {
        my $pid = fork // die;
        client($t->port, $per) unless $pid;
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    my $sent = time - $t0;
    my $want = $per * $CLIENTS + 1;    # and the harness's own first request
    my $n = MQLTest::wait_for(20, sub { my $c = count_records($type, $path); $c >= $want ? $c : 0 })
        || count_records($type, $path);
    my $all = time - $t0;
    waitpid $cpid, 0;
    waitpid $ppid, 0;

    is $n, $want, "$type: all $want leads reached the DBM file";
    diag sprintf '%s: %d leads: requests done in %.1f s, all in the file after %.1f s '
        . '(%.0f records/s end to end)', $type, $want, $sent, $all, $want / $all;

    for my $which (['C reader', $cout], ['Perl reader', $pout]) {
        my ($name, $file) = @$which;
        my $res = do { open my $f, '<', $file or die "$file: $!"; local $/; <$f> // '' };
        my %r = $res =~ /(\w+)=(\d+)/g;
        ok $r{opens} > 5, "$type: $name opened the file $r{opens} times while the server wrote";
        is $r{errors}, 0, "$type: $name: no failed open or fetch";
        is $r{torn}, 0, "$type: $name: no torn record among $r{records} read";
        is $r{vanished}, 0, "$type: $name: no lead ever vanished";
        if (-s "$file.err") {
            diag "$name stderr: " . `head -5 $file.err`;
        }
    }
    my %st = map { /^(\w+)=(\d+)/ ? ($1, $2) : () } `cat @{[ $t->state_dir ]}/writer.status`;
    is $st{dbm_errors}, 0, "$type: no DBM write errors";
    ok defined $st{last_publish_cpu_ms} && $st{last_publish_cpu_ms} <= $st{last_publish_ms} + 1,
        "$type: writer.status gives the last publication's cost, its CPU time within its clock time";
    diag "$type: writer: $st{records_written} records in $st{dbm_publishes} publications, "
        . "the last took $st{last_publish_ms} ms ($st{last_publish_cpu_ms} ms of CPU)";
    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, "$type: no unexpected errors" or diag join "\n", @errors[0 .. 4];
    $t->stop;
}

done_testing;
