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

# mqlctl --site NAME: each virtual host with its own MQLDBMFile is a site,
# named as on its status page (?site=); the server lists its sites in
# MQLStateDir/sites at each start, and mqlctl --site reads that site's
# leads file only.  mqlctl sites lists them; an unknown site, a missing
# list and --site with --dbm or --type are bad usage (exit 2).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use MQLTest;


sub run { MQLTest::mqlctl(@_) }    # (exit status, stdout, stderr)

# ---- no server needed ----------------------------------------------------------
my $empty = tempdir('mqlsites.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($rc, $out, $err) = run('--state-dir', $empty, '--site', 'a.test', 'list');
is $rc, 2, 'no list of sites: exit 2';
like $err, qr{no list of sites in \Q$empty\E/sites: the server writes it when it starts},
    '... saying where it looked and who writes it';
($rc, $out, $err) = run('--state-dir', $empty, 'sites');
is $rc, 1, 'mqlctl sites without the list: exit 1 (a missing file)';
($rc, $out, $err) = run('--site', 'a.test', '--dbm', '/tmp/x', 'list');
is $rc, 2, '--site with --dbm: exit 2';
like $err, qr/--site a\.test names the leads file and its type: give it without --dbm/,
    '... explained';
($rc, $out, $err) = run('--site=a.test', '--type', 'gdbm', 'list');
is $rc, 2, '--site with --type: exit 2';
($rc, $out, $err) = run('--site=', 'list');
is $rc, 2, 'an empty --site: exit 2';

# Root stays root on a state directory of root's own (nobody else may write
# there); the list then says which file root reads and rewrites, so it is
# taken only when root wrote it.
SKIP: {
    my ($wuid, $wgid) = (getpwnam('www-data'))[2, 3];
    skip 'needs root and the www-data user', 4 unless $> == 0 && defined $wuid;
    my $dir = tempdir('mqlsites.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    open my $f, '>', "$dir/sites" or die $!;
    print $f "x.test\tsdbm\t$dir/elsewhere/leads\n";
    close $f;
    chmod 0644, "$dir/sites";
    chown $wuid, $wgid, "$dir/sites";
    ($rc, $out, $err) = run('--state-dir', $dir, '--site', 'x.test', 'list');
    is $rc, 2, "root, a root-owned state directory, a list of www-data's: exit 2";
    like $err, qr/sites is not a regular file of at most \d+ bytes that only root may write; not read/,
        '... it is not read';
    chown 0, 0, "$dir/sites";
    ($rc, $out, $err) = run('--state-dir', $dir, '--site', 'x.test', 'list');
    is $rc, 1, "... root's own list is read (then: no such leads file, exit 1)";
    like $err, qr{no leads file \Q$dir\E/elsewhere/leads \(type sdbm\) for site x\.test}, '... said so';
}

# ---- a server with two customers' sites ---------------------------------------
my $t = MQLTest->new(conf => '');
my $port = $t->port;
my $sd = $t->state_dir;
my $vhosts = <<"CONF";
MQLHalfLife 0
MQLThreshold 20
<VirtualHost 127.0.0.1:$port>
    ServerName a.test
    MQLDBMFile $sd/leads-a
    MQLDBMType sdbm
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName b.test
    MQLDBMFile $sd/leads-b
    MQLDBMType gdbm
</VirtualHost>
CONF
$t->write_conf($vhosts);
$t->start;

my ($a_id) = $t->make_lead(host => 'a.test', email => 'ann@a.example');
my ($b_id, $b_cookie) = $t->make_lead(host => 'b.test', email => 'bob@b.example');
ok MQLTest::wait_for(5, sub { (run('--state-dir', $sd, '--site', 'a.test', 'list'))[1] =~ /$a_id/ }),
    "a.test's lead reaches its leads file";
ok MQLTest::wait_for(5, sub { (run('--state-dir', $sd, '--site', 'b.test', 'list'))[1] =~ /$b_id/ }),
    "b.test's lead reaches its leads file";

# the list the server wrote
my $text = do { local $/; open my $f, '<', "$sd/sites" or die "$sd/sites: $!"; <$f> };
like $text, qr/^a\.test\tsdbm\t\Q$sd\E\/leads-a$/m, 'MQLStateDir/sites: a.test, its type and file';
like $text, qr/^b\.test\tgdbm\t\Q$sd\E\/leads-b$/m, '... b.test, with its gdbm';
is((stat "$sd/sites")[2] & 07777, 0640, '... 0640, as the leads files');
is((stat "$sd/sites")[4], (stat $sd)[4], '... owned by the server\'s user (the state directory\'s owner)');

($rc, $out, $err) = run('--state-dir', $sd, 'sites');
is $rc, 0, 'mqlctl sites: exit 0' or diag $err;
like $out, qr/^SITE\s+TYPE\s+FILE$/m, '... a header';
like $out, qr/^a\.test\s+sdbm\s+\Q$sd\E\/leads-a$/m, '... a.test';
like $out, qr/^b\.test\s+gdbm\s+\Q$sd\E\/leads-b$/m, '... b.test';
like $out, qr/^127\.0\.0\.1\s+gdbm\s+\Q$sd\E\/leads$/m, '... and the main server\'s';

($rc, $out, $err) = run('--state-dir', $sd, '--site', 'a.test', 'list');
is $rc, 0, '--site a.test list: exit 0' or diag $err;
my @rows = grep { /\S/ } split /\n/, $out;
is scalar(@rows), 2, "... a header and a.test's one lead";
like $out, qr/^\Q$a_id\E\s+mql\s.*ann\@a\.example$/m, "... a.test's lead";
unlike $out, qr/\Q$b_id\E|bob\@b\.example/, "... nothing of b.test's";
($rc, $out, $err) = run('--state-dir', $sd, '--site=b.test', 'list');
is $rc, 0, '--site=b.test list: exit 0' or diag $err;
like $out, qr/^\Q$b_id\E\s+mql\s.*bob\@b\.example$/m, "... b.test's lead (a gdbm file)";
unlike $out, qr/\Q$a_id\E|ann\@a\.example/, "... nothing of a.test's";
($rc, $out) = run('--state-dir', $sd, '--site', 'B.TEST', 'list');
like $out, qr/\Q$b_id\E/, 'a name in other case is the same site (as ?site=)';

($rc, $out) = run('--state-dir', $sd, '--site', 'a.test', 'show', $a_id);
is $rc, 0, '--site a.test show of its lead: exit 0';
like $out, qr/^contact: ann\@a\.example$/m, '... its contact';
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'a.test', 'show', $b_id);
is $rc, 3, "--site a.test show of b.test's lead: exit 3 (not in that site's file)";
($rc, $out) = run('--state-dir', $sd, '--site', 'b.test', 'export', '--format', 'json');
my $j = eval { decode_json($out) };
is_deeply [map { $_->{id} } @{ $j // [] }], [$b_id], "--site b.test export: b.test's lead only";
($rc, $out) = run('--state-dir', $sd, '--site', 'a.test', 'export', '--format', 'csv');
my @csv = split /\r\n/, $out;
is scalar(@csv), 2, '--site a.test export csv: a header and one lead';
($rc, $out) = run('--state-dir', $sd, '--site', 'b.test', 'stats');
is $rc, 0, '--site b.test stats: exit 0';
like $out, qr/^site: b\.test$/m, '... names the site';
like $out, qr/^dbm_file: \Q$sd\E\/leads-b$/m, '... and its file';
like $out, qr/^dbm_type: gdbm$/m, '... of its type';
like $out, qr/^leads: 1$/m, '... one lead';

# ---- unknown sites --------------------------------------------------------------
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'nosuch.test', 'list');
is $rc, 2, 'an unknown site: exit 2';
my ($names) = $err =~ /no site 'nosuch\.test' in \Q$sd\E\/sites; the sites are: (.*)$/m;
is_deeply [sort split /, /, $names // ''], ['127.0.0.1', 'a.test', 'b.test'],
    '... with the names of the known sites' or diag $err;
is $out, '', '... and nothing on standard output';
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'all', 'list');
is $rc, 2, '--site all is no site (mqlctl reads one leads file)';
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'a.test', '--dbm', "$sd/leads-b", 'list');
is $rc, 2, '--site with --dbm, server running: still exit 2';

# ---- set and forget through a site ------------------------------------------------
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'a.test', 'set', $b_id, 'stage=sql');
is $rc, 3, "--site a.test set of b.test's lead: exit 3 (not a lead of that site)";
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'b.test', 'set', $b_id, 'stage=sql');
is $rc, 0, '--site b.test set of its lead: exit 0' or diag $err;
($rc, $out) = run('--state-dir', $sd, '--site', 'b.test', 'show', $b_id);
like $out, qr/^stage: sql$/m, "... b.test's file says sql at once";
my $env = MQLTest::env_of($t->host_request('GET', '/cgi-bin/env.cgi', host => 'b.test',
                                           headers => { Cookie => $b_cookie }));
is $env->{MQL_STAGE}, 'sql', '... and the running server (MQL_STAGE=sql)';
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'a.test', 'forget', $a_id);
is $rc, 0, '--site a.test forget: exit 0' or diag $err;
($rc) = run('--state-dir', $sd, '--site', 'a.test', 'show', $a_id);
is $rc, 3, '... gone from its file';

# ---- the list follows the configuration --------------------------------------------
$t->write_conf($vhosts . <<"CONF");
<VirtualHost 127.0.0.1:$port>
    ServerName c.test
    MQLDBMFile $sd/leads-c
</VirtualHost>
CONF
$t->graceful;
($rc, $out) = run('--state-dir', $sd, 'sites');
like $out, qr/^c\.test\s+gdbm\s+\Q$sd\E\/leads-c$/m, 'a graceful restart lists a new site';
($rc, $out, $err) = run('--state-dir', $sd, '--site', 'c.test', 'list');
is $rc, 0, '... which mqlctl --site reads' or diag $err;
my @left = glob "$sd/sites.tmp*";
is_deeply \@left, [], 'no temporary file is left';


# a stopped server's snapshot holds every site's visitors: --site takes only
# a lead of its own file there too
$t->stop;
($rc, $out, $err) = run('--state-dir', $sd, '--wait', '0.2', '--site', 'a.test', 'set', $b_id,
                        'stage=rejected');
is $rc, 3, "server stopped: --site a.test set of b.test's lead: exit 3";
($rc, $out, $err) = run('--state-dir', $sd, '--wait', '0.2', '--site', 'b.test', 'set', $b_id,
                        'stage=rejected');
is $rc, 0, '... --site b.test set of its own lead: exit 0' or diag $err;
$t->start;
$env = MQLTest::env_of($t->host_request('GET', '/cgi-bin/env.cgi', host => 'b.test',
                                        headers => { Cookie => $b_cookie }));
is $env->{MQL_STAGE}, 'rejected', '... which the server has after its start';

my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;
done_testing;
