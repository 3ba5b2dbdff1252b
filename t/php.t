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

# PHP, as marketing sites run it on Debian 12: mod_php under the prefork
# MPM, and PHP-FPM behind mod_proxy_fcgi under the event MPM (php-fpm is
# started by this test, on a socket in its server root).  In both, PHP
# reads MQL_* from $_SERVER, reports an event and a contact with header()
# (the documentation's example, as written), the module takes those
# headers off the response and scores them, and PHP reads the lead back
# through dba with the documentation's reader, as written (MQLDBMType db,
# dba handler db4).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;
use Time::HiRes qw(sleep time);

my $libphp = MQLTest::apxs('LIBEXECDIR') . '/libphp8.2.so';
my $fpm = '/usr/sbin/php-fpm8.2';
ok -e $libphp, "mod_php is installed ($libphp)" or BAIL_OUT('build/deps.sh test installs libapache2-mod-php8.2');
ok -x $fpm, "php-fpm is installed ($fpm)" or BAIL_OUT('build/deps.sh test installs php8.2-fpm');

my $reader = MQLTest::doc_example('docs/leads.md', 'PHP', 1);
my $signals = MQLTest::doc_example('docs/leads.md', 'PHP', 2);
like $reader, qr/dba_open\(.*'db4'\)/, 'the documentation\'s PHP reader opens the file with db4';
like $signals, qr/^header\('X-MQL-Event: /m, 'the documentation\'s PHP events use header()';

# php-fpm is this test's: stopped however the test ends
my $fpm_pid;
END { kill 'TERM', $fpm_pid if $fpm_pid && kill 0, $fpm_pid }

sub write_file { MQLTest::write_file(@_) }

sub pages {
    my ($t) = @_;
    my $d = $t->{docroot};
    (my $read = $reader) =~ s{/var/lib/apache2/mql/leads}{${\ $t->state_dir }/leads}g;
    write_file("$d/env.php", <<'PHP');
<?php
header('Content-Type: text/plain');
foreach (['MQL_VISITOR', 'MQL_SCORE', 'MQL_STAGE', 'MQL_NEW'] as $k) {
    echo $k, '=', $_SERVER[$k] ?? '', "\n";
}
echo 'SAPI=', PHP_SAPI, "\n";
PHP
    write_file("$d/webinar.php", "<?php\n$signals?>\n<html><body>booked</body></html>\n");
    write_file("$d/lead.php", "<?php\n$read\nheader('Content-Type: application/json');\n"
                              . "echo json_encode(\$lead), \"\\n\";\n");
}

sub lead_of {
    my ($t, $cookie) = @_;
    my $res = $t->get('/lead.php', $cookie ? (Cookie => $cookie) : ());
    return undef unless $res->{status} == 200;
    return eval { decode_json($res->{content}) };
}

sub journey {
    my ($t, $label, $sapi) = @_;
    my $res = $t->get('/env.php');
    is $res->{status}, 200, "$label: a PHP page answers";
    my $env = MQLTest::env_of($res);
    is $env->{SAPI}, $sapi, "$label: ... run by $sapi";
    my $cookie = MQLTest::visitor_cookie($res);
    ok $cookie, "$label: a new visitor gets the cookie from a PHP page";
    my ($id) = ($cookie // '') =~ /^mql_vid=([^.]+)\./;
    is $env->{MQL_VISITOR}, $id, "$label: PHP sees MQL_VISITOR, the cookie's ID";
    is $env->{MQL_NEW}, '1', "$label: PHP sees MQL_NEW=1";
    is $env->{MQL_SCORE}, '0', "$label: PHP sees MQL_SCORE=0";
    is $env->{MQL_STAGE}, 'visitor', "$label: PHP sees MQL_STAGE=visitor";

    is_deeply lead_of($t, $cookie), [], "$label: the PHP reader finds no record for a plain visitor";

    $t->get('/index.html', Cookie => $cookie);                       # 1 point
    $res = $t->get('/webinar.php', Cookie => $cookie);               # 1 + 30
    is $res->{status}, 200, "$label: the page reporting an event answers";
    like $res->{content}, qr/booked/, "$label: ... with its body";
    ok !exists $res->{headers}{'x-mql-event'}, "$label: X-MQL-Event is taken off the response";
    ok !exists $res->{headers}{'x-mql-contact'}, "$label: X-MQL-Contact is taken off the response";

    $env = MQLTest::env_of($t->get('/env.php', Cookie => $cookie));
    is $env->{MQL_SCORE}, '32', "$label: the event's 30 points scored (1 view, 1 view + 30)";
    is $env->{MQL_STAGE}, 'mql', "$label: ... which makes an MQL";
    is $env->{MQL_NEW}, '0', "$label: MQL_NEW=0 on a later request";

    my $lead = MQLTest::wait_for(5, sub {
        my $l = lead_of($t, $cookie);
        ref $l eq 'HASH' && ($l->{stage} // '') eq 'mql' ? $l : undef });
    ok $lead, "$label: the documentation's PHP reader reads the lead through dba db4";
    is $lead->{contact}, 'jane@example.com', "$label: ... the contact from header()";
    is $lead->{score}, 32, "$label: ... its score";
    is $lead->{apps}, 1, "$label: ... one application event";
    like $lead->{trigger} // '', qr{^app:/webinar\.php}, "$label: ... triggered by the PHP page";
}

# ---- mod_php, prefork ----------------------------------------------------
{
    my $t = MQLTest->new(mpm => 'prefork', load => "LoadModule php_module $libphp", conf => '');
    pages($t);
    $t->write_conf(<<'CONF');
MQLHalfLife 0
MQLThreshold 20
MQLDBMType db
<FilesMatch "\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
CONF
    $t->start;
    journey($t, 'mod_php', 'apache2handler');
    $t->stop;
    is_deeply [$t->unexpected_errors], [], 'mod_php: no errors in the log';
}

# ---- PHP-FPM through mod_proxy_fcgi, event -------------------------------
{
    my $t = MQLTest->new(mpm => 'event', modules => [qw(proxy proxy_fcgi)], conf => '');
    pages($t);
    my $root = $t->root;
    my $sock = "$root/run/php-fpm.sock";
    my $pidfile = "$root/run/php-fpm.pid";
    write_file("$root/php-fpm.conf", <<"FPM");
[global]
pid = $pidfile
error_log = $root/logs/php-fpm.log
daemonize = yes
[mql]
user = www-data
group = www-data
listen = $sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0600
pm = static
pm.max_children = 4
FPM
    system($fpm, '-y', "$root/php-fpm.conf") == 0 or BAIL_OUT("php-fpm did not start");
    ok MQLTest::wait_for(10, sub { -S $sock }), 'php-fpm listens on its socket';
    $fpm_pid = do { open my $fh, '<', $pidfile or die $!; my $p = <$fh>; chomp $p; $p };
    $t->write_conf(<<"CONF");
MQLHalfLife 0
MQLThreshold 20
MQLDBMType db
<FilesMatch "\\.php\$">
    SetHandler "proxy:unix:$sock|fcgi://localhost"
</FilesMatch>
CONF
    $t->start;
    journey($t, 'PHP-FPM', 'fpm-fcgi');
    $t->stop;
    kill 'TERM', $fpm_pid;
    ok MQLTest::wait_for(10, sub { !kill 0, $fpm_pid }), 'php-fpm stopped';
    is_deeply [$t->unexpected_errors], [], 'PHP-FPM: no errors in the log';
}

done_testing;
