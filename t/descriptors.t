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

# The site's programs (CGI, PHP's shell_exec, whatever they start) run as
# the server's user, forked from the server's children: they must inherit
# no descriptor the module opened.  A write end of the MQLNotify pipe in
# their hands lets them feed forged lines ("stage":"sql") to the
# notification program; the journal, the DBM files, the GeoIP database
# and the Redis connection are the module's alone.  And the MQLNotify
# program runs as the server's user, never as root.
#
# A program lists its open descriptors (/proc/self/fd); what httpd without
# the module gives it is the reference.  PHP's shell_exec() starts it
# from the child that serves the request, which is also the writer's (one
# child, prefork): nothing closes there what was not opened close-on-exec.
# A CGI under mod_cgid is started by a daemon the parent forked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use MQLTest;
use MQLRedis;

plan skip_all => 'needs /proc' unless -d '/proc/self/fd';
my $libphp = MQLTest::apxs('LIBEXECDIR') . '/libphp8.2.so';
ok -e $libphp, "mod_php is installed ($libphp)"
    or BAIL_OUT('build/deps.sh test installs libapache2-mod-php8.2');

my $ONE_CHILD = "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\n"
    . "MaxRequestWorkers 1\n";

my $FDS = <<'PL';
# Lists the descriptors this program was given (but the one that reads
# the list) and who started it.
opendir my $d, '/proc/self/fd' or die;
my $own = fileno $d;
my @fds = sort { $a <=> $b } grep { /^\d+$/ && $_ != $own } readdir $d;
print "ppid ", getppid(), "\n";
print "fd $_ ", (readlink("/proc/self/fd/$_") // '?'), "\n" for @fds;
PL

# how: php (mod_php under prefork, one child) or cgid (the usual server)
sub server {
    my ($how, %o) = @_;
    my $t = $how eq 'php'
        ? MQLTest->new(conf => '', mpm => 'prefork', mpm_tuning => $ONE_CHILD,
                       load => "LoadModule php_module $libphp", %o)
        : MQLTest->new(conf => '', %o);
    my $root = $t->root;
    MQLTest::write_file("$root/fds.pl", $FDS);
    MQLTest::write_file("$t->{docroot}/fds.php", "<?php\nheader('Content-Type: text/plain');\n"
                        . "echo shell_exec('exec /usr/bin/perl $root/fds.pl');\n");
    MQLTest::write_file("$t->{docroot}/cgi-bin/fds.cgi", "#!/usr/bin/perl\n"
                        . "print \"Content-Type: text/plain\\n\\n\";\n$FDS");
    chmod 0755, "$t->{docroot}/cgi-bin/fds.cgi";
    $t->{how} = $how;
    return $t;
}

sub conf_of {
    my ($how) = @_;
    return $how eq 'php' ? "<FilesMatch \"\\.php\$\">\n    SetHandler application/x-httpd-php\n"
                           . "</FilesMatch>\n" : '';
}

# What the program was given, as { fd => what }: 0, 1 and 2 as "std"
# (the request's own pipes or socket), the others by what they are, a
# file of the server root named as ROOT/...; and the program's parent.
sub fds_of {
    my ($t) = @_;
    my $root = $t->root;
    my $res = $t->get($t->{how} eq 'php' ? '/fds.php' : '/cgi-bin/fds.cgi');
    my (%fd, $ppid);
    for (split /\n/, $res->{content} // '') {
        if (my ($n, $what) = /^fd (\d+) (.*)$/) {
            $what =~ s{^\Q$root\E/}{ROOT/};
            $fd{$n} = $n > 2 ? $what : 'std';
        }
        $ppid = $1 if /^ppid (\d+)$/;
    }
    return (\%fd, $ppid);
}

# The same, by what they are (mod_php holds the page's script open, under
# a number that depends on what was opened before it).
sub kinds { my ($fd) = @_; return [ sort values %$fd ] }

sub show { my ($fd) = @_; join ', ', map { "$_ -> $fd->{$_}" } sort { $a <=> $b } keys %$fd }

# What httpd itself gives such a program: 0, 1 and 2, and what this test
# was itself given by whoever started it.
my %plain;
for my $how (qw(php cgid)) {
    my $t = server($how, no_module => 1);
    $t->write_conf(conf_of($how));
    $t->start;
    my ($fd) = fds_of($t);
    $plain{$how} = $fd;
    is_deeply [ grep { $_ <= 2 } sort { $a <=> $b } keys %$fd ], [ 0, 1, 2 ],
        "httpd without the module, $how: the program gets 0, 1 and 2"
        or diag show($fd);
    # mod_php's script is PHP's own, not httpd's
    my @more = grep { $_ > 2 && !-e "/proc/$$/fd/$_" && $fd->{$_} ne 'ROOT/htdocs/fds.php' }
               keys %$fd;
    is_deeply \@more, [], "$how: ... and nothing else of httpd's" or diag show($fd);
    $t->stop;
}

# A webhook receiver that takes connections and never answers: the
# writer's request to it stays open while the program looks.
my $hung = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64)
    or die "listen: $!";

# The module with everything that opens a descriptor: the notification
# program, the journal, the leads file, GeoIP, a webhook's outbox and its
# request in flight (and Redis when asked).
sub everything_on {
    my ($t, $store) = @_;
    my $root = $t->root;
    my (undef, $out) = $t->notify_sink;
    my $ids = "$root/notify.ids";
    # the program says who it runs as, then drains its input as the sink
    open my $fh, '>', "$root/notify-ids.pl" or die $!;
    print $fh "#!/usr/bin/perl\nopen my \$i, '>', '$ids' or die;\n"
        . "print \$i \"\$< \$> \", (split / /, \$()[0], ' ', (split / /, \$))[0], \"\\n\";\n"
        . "close \$i;\nexec '$root/notify.pl' or die;\n";
    close $fh;
    chmod 0755, "$root/notify-ids.pl";
    open my $c, '>', $ids or die;
    close $c;
    MQLTest::give_to_server($ids);
    my $mmdb = MQLTest::write_mmdb("$root/countries.mmdb", { '127.0.0.0/8' => 'DE' });
    $t->write_conf("MQLThreshold 20\nMQLNotify \"|$root/notify-ids.pl\"\n"
                   . "MQLJournal On\nMQLGeoIPDatabase $mmdb\n"
                   . "MQLWebhook http://127.0.0.1:${\ $hung->sockport }/hook\n"
                   . ($store ? "MQLStore $store\nMQLRedisTimeout 2s\n" : '') . conf_of($t->{how}));
    return ($out, $ids);
}

sub lines_of { open my $f, '<', $_[0] or return 0; my @l = <$f>; return scalar @l }

sub slurp { open my $f, '<', $_[0] or return ''; local $/; return scalar <$f> // '' }

sub check_server {
    my ($name, $t, $out, $ids) = @_;
    my $sd = $t->state_dir;
    my ($id) = $t->make_lead;
    ok MQLTest::wait_for(20, sub { lines_of($out) >= 1 }), "$name: the lead is notified";
    ok MQLTest::wait_for(20, sub { -s "$sd/journal.sqlite" && slurp("$sd/leads") =~ /\Q$id\E/ }),
        "$name: the lead is in the journal and the leads file";
    my @held;
    $hung->blocking(0);
    ok MQLTest::wait_for(20, sub { my $c = $hung->accept; push @held, $c if $c; -s "$sd/outbox.sqlite" && @held }),
        "$name: the lead is in the webhook's outbox, its request in flight";
    my ($fd, $ppid) = fds_of($t);
    is_deeply kinds($fd), kinds($plain{ $t->{how} }),
        "$name: the program gets what it gets from httpd without the module"
        or diag 'with the module: ' . show($fd) . '; without: ' . show($plain{ $t->{how} });
    if ($t->{how} eq 'php') {
        my %st = map { /^(\w+)=(\d+)/ ? ($1, $2) : () } split /\n/, slurp("$sd/writer.status");
        is $ppid, $st{pid}, "$name: ... started from the writer's own process";
    }
    SKIP: {
        skip 'the server runs as its own user only when started as root', 3 unless $> == 0;
        my ($wuid, $wgid) = (getpwnam('www-data'))[2, 3];
        ok MQLTest::wait_for(10, sub { slurp($ids) =~ /\n/ }), "$name: the program started";
        (my $who = slurp($ids)) =~ s/\n//;
        is $who, "$wuid $wuid $wgid $wgid", "$name: the MQLNotify program runs as www-data";
        # every instance of the program: none is root's
        my $root = $t->root;
        my @progs = grep { slurp("/proc/$_/cmdline") =~ m{\Q$root\E/notify} }
                    map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';
        is_deeply [ grep { ((stat "/proc/$_")[4] // $wuid) != $wuid } @progs ], [],
            "$name: no instance of it belongs to another user";
    }
}

for my $how (qw(php cgid)) {
    my $t = server($how);
    my ($out, $ids) = everything_on($t);
    $t->start;
    check_server($how, $t, $out, $ids);
    is_deeply [ $t->unexpected_errors ], [], "$how: no errors";
    $t->stop;
}

SKIP: {
    skip 'redis-server and redis-cli are not installed', 7 unless MQLRedis::available();
    my $redis = MQLRedis->new;
    my $t = server('php');
    my ($out, $ids) = everything_on($t, $redis->url);
    $t->start;
    check_server('php, Redis', $t, $out, $ids);
    is_deeply [ $t->unexpected_errors ], [], 'php, Redis: no errors';
    $t->stop;
}

done_testing;
