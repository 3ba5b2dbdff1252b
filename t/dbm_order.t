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

# The leads file exists, of the configured type and only that type, once
# the configuration is read, whatever the order of MQLEngine, MQLStateDir,
# MQLDBMFile, MQLDBMType and a RewriteMap reading the file.
#
# mod_rewrite checks a `RewriteMap dbm:` file in its directive, while it
# reads the configuration: every order with the RewriteMap after the
# directives naming the file (and, for gdbm and db, its type) must pass
# configtest; an order with the RewriteMap before them fails with
# mod_rewrite's own error, which shows that post_config (run after every
# directive is read) would be too late, and leaves no file behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Path qw(make_path);
use MQLTest;

my $reader = MQLTest::helper_bin('dbm_reader');
my %files_of = (sdbm => ['leads.dir', 'leads.pag'], gdbm => ['leads'], db => ['leads']);

sub permutations {
    my @items = @_;
    return ([]) unless @items;
    my @out;
    for my $i (0 .. $#items) {
        my @rest = @items;
        my ($x) = splice @rest, $i, 1;
        push @out, [ $x, @$_ ] for permutations(@rest);
    }
    return @out;
}

# every file named leads* under $dir
sub leads_files {
    my ($dir) = @_;
    opendir my $d, $dir or return ();
    return sort grep { /^leads/ } readdir $d;
}

my $t = MQLTest->new(bare => 1, conf => '');
my $root = $t->root;
my $n = 0;
my (%passed, %failed_right, %bad);

for my $type (qw(sdbm gdbm db)) {
    for my $with_file (1, 0) {
        my @names = ('MQLEngine', 'MQLStateDir', ($with_file ? 'MQLDBMFile' : ()),
                     'MQLDBMType', 'RewriteMap');
        for my $order (permutations(@names)) {
            $n++;
            my $state = "$root/c$n/state";
            my $data = "$root/c$n/data";
            make_path($data);
            # the server's user makes the file: its directory is that user's,
            # as an admin gives a leads directory of its own to www-data
            MQLTest::give_to_server($data);
            my $path = $with_file ? "$data/leads" : "$state/leads";
            my %line = (
                MQLEngine   => 'MQLEngine On',
                MQLStateDir => "MQLStateDir $state",
                MQLDBMFile  => "MQLDBMFile $data/leads",
                MQLDBMType  => "MQLDBMType $type",
                RewriteMap  => "RewriteMap leads dbm=$type:$path",
            );
            my %at = map { $order->[$_] => $_ } 0 .. $#$order;
            # where the file is known: MQLDBMFile, or MQLEngine On and
            # MQLStateDir for the default; its type: gdbm until MQLDBMType,
            # whose file db shares the name (leads) that mod_rewrite checks
            my $known = $with_file ? $at{MQLDBMFile}
                                   : ($at{MQLEngine} > $at{MQLStateDir} ? $at{MQLEngine}
                                                                        : $at{MQLStateDir});
            $known = $at{MQLDBMType} if $type eq 'sdbm' && $at{MQLDBMType} > $known;
            my $should_pass = $at{RewriteMap} > $known;
            my $label = "$type: " . join(', ', @$order);

            $t->write_conf(join "\n", map { $line{$_} } @$order);
            my ($rc, $out) = $t->configtest;
            my @left = (leads_files($state), map { "data/$_" } leads_files($data));
            my @want = map { $with_file ? "data/$_" : $_ } @{ $files_of{$type} };
            if ($should_pass) {
                my $readable = system("$reader dump $type '$path' >/dev/null 2>&1") == 0;
                if ($rc == 0 && "@left" eq "@want" && $readable) {
                    $passed{$type}++;
                }
                else {
                    $bad{$label} = "rc=$rc files=[@left] want=[@want] readable=$readable: $out";
                }
            }
            else {
                if ($rc != 0 && $out =~ /RewriteMap: file for map leads not found/ && !@left) {
                    $failed_right{$type}++;
                }
                else {
                    $bad{$label} = "expected mod_rewrite's error and no file; rc=$rc files=[@left]: $out";
                }
            }
        }
    }
}

for my $type (qw(sdbm gdbm db)) {
    ok $passed{$type}, "$type: $passed{$type} orders pass configtest with exactly the $type files ("
        . join(' ', @{ $files_of{$type} }) . "), readable as $type";
    ok $failed_right{$type}, "$type: $failed_right{$type} orders with the RewriteMap first fail "
        . "with mod_rewrite's error and leave no file";
}
is $n, 3 * (120 + 24), "every order tried: $n configurations";
is_deeply \%bad, {}, 'no order creates a wrong file or fails to start'
    or diag explain \%bad;

# The README's order, started for real: MQLEngine, MQLStateDir, MQLDBMType,
# then the RewriteMap; the map answers for a lead, and after both of
# httpd's configuration reads and post_config only the configured type's
# files exist.
for my $type (qw(gdbm db sdbm)) {
    my $s = MQLTest->new(bare => 1, conf => '');
    my $state = $s->state_dir;
    my $r = $s->root;
    open my $fh, '>', "$s->{docroot}/welcome-back.html" or die $!;
    print $fh "<html><body>welcome back, valued lead</body></html>\n";
    close $fh;
    chmod 0644, "$s->{docroot}/welcome-back.html";
    $s->write_conf(<<"CONF");
MQLEngine On
MQLStateDir $state
MQLThreshold 20
MQLDBMType $type
RewriteEngine On
RewriteMap leads dbm=$type:$state/leads
RewriteCond \${leads:%{ENV:MQL_VISITOR}|none} ^stage=mql
RewriteRule ^/pricing\\.html\$ /welcome-back.html [PT]
CONF
    ok eval { $s->start; 1 }, "$type: httpd starts with the README's order" or diag $@;
    is_deeply [leads_files($state)], $files_of{$type}, "$type: only the $type files exist";
    my ($id, $cookie) = $s->make_lead;
    ok MQLTest::wait_for(5, sub { `$reader get $type $state/leads $id` =~ /stage=mql/ }),
        "$type: the lead reaches the file";
    like $s->get('/pricing.html', Cookie => $cookie)->{content}, qr/welcome back/,
        "$type: mod_rewrite's map routes the lead";
    $s->stop;
    is_deeply [$s->unexpected_errors], [], "$type: no errors in the log";
}

done_testing;
