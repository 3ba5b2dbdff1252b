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

# GeoIP: MQL_COUNTRY for IPv4 and IPv6 clients (through mod_remoteip),
# MQLRequire country and MQLRule country, start-up errors for bad
# databases, and a database replaced on disk while the server runs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);
use MQLTest;

my %NETS = ('198.51.100.0/25' => 'DE', '198.51.100.128/25' => 'US',
            '2001:db8:1::/48' => 'FR', '2001:db8:2::/48' => 'de');
my ($DE, $US, $FR, $DE6, $NOWHERE) = ('198.51.100.10', '198.51.100.200', '2001:db8:1::5',
                                      '2001:db8:2::7', '203.0.113.9');

my $PROXY = <<'CONF';
RemoteIPHeader X-Real-IP
RemoteIPInternalProxy 127.0.0.1
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF

# A request from $ip (as mod_remoteip presents it); returns (env, cookie).
sub from {
    my ($t, $ip, $path, $cookie) = @_;
    my $res = $t->request('GET', $path // '/cgi-bin/env.cgi',
                          headers => { 'X-Real-IP' => $ip, $cookie ? (Cookie => $cookie) : () });
    return (MQLTest::env_of($res), $cookie // MQLTest::visitor_cookie($res), $res);
}

sub server_with {
    my ($mpm, $conf) = @_;
    my $t = MQLTest->new(mpm => $mpm, conf => $PROXY);
    my $db = MQLTest::write_mmdb($t->root . '/countries.mmdb', \%NETS);
    $t->write_conf("MQLGeoIPDatabase $db\n$PROXY$conf");
    return ($t, $db);
}

# ---- countries, MQLRequire country
for my $mpm (qw(event prefork)) {
    my ($t) = server_with($mpm, "MQLThreshold 3\nMQLRequire country DE\n");
    my ($rc, $out) = $t->configtest;
    is $rc, 0, "$mpm: configtest accepts the database" or diag $out;
    $t->start;

    my ($env, $de) = from($t, $DE);
    is $env->{MQL_COUNTRY}, 'DE', "$mpm: IPv4 address in Germany";
    ($env) = from($t, $US);
    is $env->{MQL_COUNTRY}, 'US', "$mpm: IPv4 address in the US";
    ($env) = from($t, $FR);
    is $env->{MQL_COUNTRY}, 'FR', "$mpm: IPv6 address in France";
    ($env) = from($t, $DE6);
    is $env->{MQL_COUNTRY}, 'DE', "$mpm: lower-case code in the database comes out upper-case";
    ($env) = from($t, $NOWHERE);
    is $env->{MQL_COUNTRY}, undef, "$mpm: an address the database does not know: no MQL_COUNTRY";
    ($env) = from($t, '127.0.0.1');
    is $env->{MQL_COUNTRY}, undef, "$mpm: loopback: no MQL_COUNTRY";

    # target country reaches mql, the other does not
    my (undef, $us) = from($t, $US, '/index.html');
    for (1 .. 3) { from($t, $DE, '/index.html', $de); from($t, $US, '/index.html', $us) }
    ($env) = from($t, $DE, undef, $de);
    is $env->{MQL_STAGE}, 'mql', "$mpm: a German visitor over the threshold is an MQL";
    ($env) = from($t, $US, undef, $us);
    cmp_ok $env->{MQL_SCORE}, '>=', 3, "$mpm: the US visitor has the points";
    is $env->{MQL_STAGE}, 'visitor', "$mpm: ... but is no MQL under MQLRequire country DE";

    # looked up once, then kept with the visitor
    ($env) = from($t, $US, undef, $de);
    is $env->{MQL_COUNTRY}, 'DE', "$mpm: the country stays with the visitor";

    # the status page shows it
    my $res = $t->get('/mql-status?json');
    my $j = JSON::PP->new->utf8->decode($res->{content});
    my %cc = map { $_->{stage} => $_->{country} } @{ $j->{top} };
    is $cc{mql}, 'DE', "$mpm: the status page shows the lead's country";
    is $j->{health}{geoip}, JSON::PP::true, "$mpm: and that GeoIP is on";

    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$mpm: no errors in the error log";
}

# ---- MQLRule country: fit points, once
{
    my ($t) = server_with('event', "MQLRule country DE AT 50\nMQLRule country US -5\n");
    $t->start;
    my ($env, $de) = from($t, $DE, '/index.html');
    ($env) = from($t, $DE, undef, $de);
    is $env->{MQL_SCORE}, 51, 'fit points for a German visitor with the first view';
    from($t, $DE, '/index.html', $de) for 1 .. 2;
    ($env) = from($t, $DE, undef, $de);
    is $env->{MQL_SCORE}, 53, 'fit points granted once';
    my (undef, $us) = from($t, $US, '/index.html');
    from($t, $US, '/index.html', $us);
    ($env) = from($t, $US, undef, $us);
    is $env->{MQL_SCORE}, -3, 'negative fit points once: 1 + 1 - 5';
    my (undef, $fr) = from($t, $FR, '/index.html');
    ($env) = from($t, $FR, undef, $fr);
    is $env->{MQL_SCORE}, 1, 'no fit points for another country';
    $t->stop;
    is_deeply [$t->unexpected_errors], [], 'fit rules: no errors in the error log';
}

# ---- bad databases stop configtest with a clear message
{
    my $t = MQLTest->new;
    my $corrupt = $t->root . '/corrupt.mmdb';
    open my $fh, '>:raw', $corrupt or die;
    print $fh join '', map { chr int rand 256 } 1 .. 4096;
    close $fh;
    chmod 0644, $corrupt;
    $t->write_conf("MQLGeoIPDatabase $corrupt\n");
    my ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'a corrupt database fails configtest';
    like $out, qr/MQLGeoIPDatabase: expects a MaxMind DB file/, '... saying what is expected';
    like $out, qr/\Q$corrupt\E/, '... naming the file';
    like $out, qr/line \d+ of/, '... and the line';

    my $truncated = $t->root . '/truncated.mmdb';
    MQLTest::write_mmdb($truncated, \%NETS);
    truncate $truncated, 100;
    $t->write_conf("MQLGeoIPDatabase $truncated\n");
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'a truncated database fails configtest';
    like $out, qr/MQLGeoIPDatabase: /, '... with the directive named';

    $t->write_conf("MQLGeoIPDatabase " . $t->root . "/missing.mmdb\n");
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'a missing database fails configtest';
    like $out, qr/MQLGeoIPDatabase: expects a readable MaxMind DB file/, '... clearly';

    $t->write_conf("MQLGeoIPDatabase " . $t->root . "\n");
    ($rc, $out) = $t->configtest;
    isnt $rc, 0, 'a directory is no database';
}

# ---- the database replaced on disk while the server runs
{
    my ($t, $db) = server_with('event', '');
    $t->start;
    my ($env) = from($t, $DE);
    is $env->{MQL_COUNTRY}, 'DE', 'before the update: DE';

    # new visitors keep arriving while the file is replaced (atomically)
    my $seen = $t->root . '/seen.txt';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open my $out, '>', $seen or _exit(1);
        my $end = time + 5;
        while (time < $end) {
            my ($e) = from($t, $DE);
            print $out(($e->{MQL_COUNTRY} // 'none') . "\n");
        }
        close $out;
        _exit(0);
    }
    sleep 1;
    my %moved = (%NETS, '198.51.100.0/25' => 'AT');
    MQLTest::write_mmdb($db, \%moved);
    waitpid $pid, 0;
    open my $in, '<', $seen or die;
    chomp(my @answers = <$in>);
    ok @answers > 20, 'visitors kept coming during the update (' . scalar(@answers) . ')';
    is scalar(grep { !/^(DE|AT)$/ } @answers), 0, 'every answer was the old or the new country'
        or diag join ' ', grep { !/^(DE|AT)$/ } @answers;

    sleep 3;    # longer than the check interval of every process
    my %after;
    for (1 .. 20) { my ($e) = from($t, $DE); $after{ $e->{MQL_COUNTRY} // 'none' }++ }
    is_deeply \%after, { AT => 20 }, 'after the update, new visitors get the new country';

    # a half-written file appearing in place of the database is refused,
    # the previous database stays in use
    my $bad = "$db.partial";
    open my $fh, '>:raw', $bad or die;
    print $fh "\0" x 2048;
    close $fh;
    chmod 0644, $bad;
    rename $bad, $db or die;
    sleep 3;
    my %during;
    for (1 .. 10) { my ($e) = from($t, $US); $during{ $e->{MQL_COUNTRY} // 'none' }++ }
    is_deeply \%during, { US => 10 }, 'a broken replacement is refused; the last good one answers';
    like $t->log_text, qr/MQL04005: MQLGeoIPDatabase .* cannot be opened/, '... and a warning names it';

    # `apache2 -k stop` reads the configuration too: give it a good file
    MQLTest::write_mmdb($db, \%moved);
    my $parent = $t->pid;
    $t->stop;
    ok !kill(0, $parent), 'the server stopped';
    is_deeply [$t->unexpected_errors], [], 'replacement: no errors in the error log';
}

done_testing;
