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

# Bad directive values stop `apachectl configtest` with the file, the line,
# the directive and what it expects; good ones pass.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my @bad = (
    [ 'MQLEngine maybe',                 qr/MQLEngine: expects On or Off; got 'maybe'/ ],
    [ 'MQLHalfLife soon',                qr/MQLHalfLife: .*duration/ ],
    [ 'MQLHalfLife -3d',                 qr/MQLHalfLife: .*duration/ ],
    [ 'MQLExpire 10x',                   qr/MQLExpire: .*duration/ ],
    [ 'MQLCookieMaxAge forever',         qr/MQLCookieMaxAge: .*duration/ ],
    [ 'MQLCookieName "bad name"',        qr/MQLCookieName: expects a cookie name/ ],
    [ 'MQLCookieName a;b',               qr/MQLCookieName: expects a cookie name/ ],
    [ 'MQLCookieDomain "exa mple"',      qr/MQLCookieDomain: expects a domain name/ ],
    [ 'MQLCookieSameSite Sometimes',     qr/MQLCookieSameSite: expects Lax, Strict, None or Off/ ],
    [ 'MQLCookieSecure Perhaps',         qr/MQLCookieSecure: expects On, Off or Auto/ ],
    [ 'MQLCookieHTTPOnly yes',           qr/MQLCookieHTTPOnly: expects On or Off/ ],
    [ 'MQLMaxVisitors lots',             qr/MQLMaxVisitors: expects a number of visitors/ ],
    [ 'MQLMaxVisitors 3',                qr/MQLMaxVisitors: expects a number of visitors/ ],
    [ 'MQLStore memcached://x:1',        qr/MQLStore: expects shm, redis:\/\/\[USER:PASSWORD\@\]HOST:PORT\[\/DB\]/ ],
    [ 'MQLStore nosuch',                 qr/MQLStore: expects shm, redis:\/\/.*, redis\+unix:\/\/\/PATH or redis-cluster:\/\/.*; got 'nosuch'/ ],
    [ 'MQLStore redis://nohost',         qr/MQLStore: expects redis:\/\/\[USER:PASSWORD\@\]HOST:PORT\[\/DB\]; got/ ],
    [ 'MQLStore redis://h:99999',        qr/MQLStore: expects redis:\/\/.*HOST:PORT/ ],
    [ 'MQLStore redis://h:6379/x',       qr/MQLStore: expects .* with DB a number/ ],
    [ 'MQLStore redis+unix://relative',  qr/MQLStore: expects redis\+unix:\/\/\/absolute\/path/ ],
    [ 'MQLStore redis-cluster://h',      qr/MQLStore: expects redis-cluster:\/\/\[USER:PASSWORD\@\]HOST:PORT\[,HOST:PORT...\]; got/ ],
    [ 'MQLStore redis-cluster://h:1,',   qr/MQLStore: expects redis-cluster:\/\/\[USER:PASSWORD\@\]HOST:PORT\[,HOST:PORT...\]/ ],
    [ 'MQLStore redis-cluster://h:1,,g:2', qr/MQLStore: expects redis-cluster:\/\/\[USER:PASSWORD\@\]HOST:PORT\[,HOST:PORT...\]/ ],
    [ 'MQLStore redis-cluster://h:0',    qr/MQLStore: expects redis-cluster:\/\/\[USER:PASSWORD\@\]HOST:PORT\[,HOST:PORT...\]/ ],
    [ 'MQLRedisTimeout 0',               qr/MQLRedisTimeout: expects a time from 1ms to 60s/ ],
    [ 'MQLRedisTimeout 5min',            qr/MQLRedisTimeout: expects a time from 1ms to 60s/ ],
    [ 'MQLRedisTimeout 61s',             qr/MQLRedisTimeout: expects a time from 1ms to 60s/ ],
    [ 'MQLRedisTimeout 2x',              qr/MQLRedisTimeout: expects a time from 1ms to 60s/ ],
    [ 'MQLRedisTimeout -5ms',            qr/MQLRedisTimeout: expects a time from 1ms to 60s/ ],
    [ 'MQLThreshold 0',                  qr/MQLThreshold: expects a score from 1/ ],
    [ 'MQLThreshold high',               qr/MQLThreshold: expects a score/ ],
    [ 'MQLRequire luck',                 qr/MQLRequire: expects download, form or country/ ],
    [ 'MQLRequire country Germany',      qr/MQLRequire: expects two-letter country codes/ ],
    [ 'MQLRequire country ' . join(' ', map { "A$_" } 'A' .. 'Z', 'A' .. 'G'),
                                         qr/MQLRequire: expects at most 32 countries/ ],
    [ 'MQLPoints hug 5',                 qr/MQLPoints: expects an event/ ],
    [ 'MQLPoints view many',             qr/MQLPoints: expects points from -1000 to 1000/ ],
    [ 'MQLRule view ^/pricing',          qr/MQLRule: expects EVENT URL-REGEX POINTS/ ],
    [ 'MQLRule hover ^/pricing 5',       qr/MQLRule: expects an event/ ],
    [ 'MQLRule view "^/(pricing" 5',     qr/MQLRule: expects a valid regular expression/ ],
    [ 'MQLRule view ^/pricing 5 cap=0',  qr/MQLRule: expects cap=N with N from 1 to 255/ ],
    [ 'MQLRule view ^/pricing 5 colour=red', qr/MQLRule: expects EVENT URL-REGEX POINTS/ ],
    [ 'MQLDownloadExtensions "p df"',    qr/MQLDownloadExtensions: expects file extensions/ ],
    [ 'MQLDBMType oracle',               qr/MQLDBMType: expects one of APR's DBM types/ ],
    [ 'MQLRespectDNT sometimes',         qr/MQLRespectDNT: expects On or Off/ ],
    [ 'MQLBotFilter 2',                  qr/MQLBotFilter: expects On or Off/ ],
    [ 'MQLExcludeIP 10.0.0.0/33',        qr/MQLExcludeIP: / ],
    [ 'MQLExcludeIP not-an-address',     qr/MQLExcludeIP: / ],
    [ 'MQLExcludeIP 10.0',               qr/MQLExcludeIP: expects an IP address or network such as 192\.0\.2\.7, 10\.0\.0\.0\/8 or 2001:db8::\/32, not '10\.0'/ ],
    [ 'MQLExcludeUserAgent "(unclosed"', qr/MQLExcludeUserAgent: expects a valid regular expression/ ],
    [ 'MQLNotify /bin/cat',              qr/MQLNotify: expects a piped program/ ],
    [ 'MQLSecret /nonexistent/key',      qr/MQLSecret: expects a readable file/ ],
    [ 'MQLGeoIPDatabase /nonexistent.mmdb', qr/MQLGeoIPDatabase: expects a readable MaxMind DB/ ],
    [ "<VirtualHost 127.0.0.1:8>\nMQLMaxVisitors 1000\n</VirtualHost>",
      qr/MQLMaxVisitors cannot occur within <VirtualHost> section/ ],
    [ 'MQLRequire country DE',           qr/MQLRequire country needs MQLGeoIPDatabase/ ],
    [ 'MQLContactFrom cookie',           qr/MQLContactFrom: expects remote-user or env=NAME .*; got 'cookie'/ ],
    [ 'MQLContactFrom remote-user env=', qr/MQLContactFrom: expects remote-user or env=NAME .*; got 'env='/ ],
    [ 'MQLFreeMailDomains example.net *.com', qr/MQLFreeMailDomains: expects e-mail domains .*; got '\*\.com'/ ],
    [ 'MQLFreeMailDomains "mail .com"',  qr/MQLFreeMailDomains: expects e-mail domains/ ],
    [ 'MQLFreeMailDomains com',          qr/MQLFreeMailDomains: expects e-mail domains/ ],
    [ 'MQLAccountThreshold 0 100',       qr/MQLAccountThreshold: expects PEOPLE SCORE, PEOPLE a number of people from 1 to 100000; got '0'/ ],
    [ 'MQLAccountThreshold 3 lots',      qr/MQLAccountThreshold: expects PEOPLE SCORE, SCORE the points .*; got 'lots'/ ],
    [ 'MQLAccountThreshold 3',           qr/MQLAccountThreshold takes two arguments/ ],
    [ "<VirtualHost 127.0.0.1:8>\nMQLAccountThreshold 2 50\n</VirtualHost>",
      qr/MQLAccountThreshold cannot occur within <VirtualHost> section/ ],
);

for my $case (@bad) {
    my ($directive, $expect) = @$case;
    my $t = MQLTest->new(conf => "# test\n$directive\n");
    my ($rc, $out) = $t->configtest;
    my $first = (split /\n/, $directive)[0];
    isnt $rc, 0, "configtest fails: $first";
    like $out, $expect, "  says what $first expects";
    if ($directive !~ /needs MQLGeoIP|VirtualHost/ && $expect !~ /needs/) {
        like $out, qr/line \d+ of \Q${\ $t->conf_file }\E/, '  names the file and line'
            unless $directive =~ /country DE$/;
    }
}

# Every directive with a good value, in server and virtual-host scope.
my $good = <<'CONF';
MQLMaxVisitors 5000
MQLRedisTimeout 500ms
MQLHalfLife 12h
MQLExpire 30d
MQLCookieName visitor
MQLCookieMaxAge 400d
MQLCookieSameSite None
MQLCookieSecure Auto
MQLCookieHTTPOnly On
MQLThreshold 80
MQLRequire download
MQLRequire form
MQLPoints view 2
MQLPoints form-error -10
MQLRule view ^/pricing 5 cap=3
MQLRule view ^/careers -20
MQLRule view . 3 referer=linkedin\.com query=utm_campaign=webinar
MQLRule app . 1
MQLDownloadExtensions pdf .docx zip
MQLDBMType sdbm
MQLRespectDNT On
MQLConsentCookie cookie_consent
MQLBotFilter On
MQLExcludeUserAgent Monitor
MQLExcludeIP 10.0.0.0/8 192.0.2.1 2001:db8::/32 ::1
MQLOptOutCookie no_tracking
MQLNotify "|/bin/cat"
MQLContactFrom remote-user env=OIDC_CLAIM_email
MQLFreeMailDomains example.net isp.*
MQLAccountThreshold 3 150
<VirtualHost 127.0.0.1:9>
    MQLContactFrom env=MELLON_mail
    MQLEngine On
    MQLThreshold 50
    MQLRule download \.pdf$ 15
    MQLCookieDomain .example.com
</VirtualHost>
<Directory /tmp>
    MQLEngine Off
</Directory>
CONF
# MQLRedisTimeout takes httpd's time units, a number alone being seconds;
# a v4-mapped network is the IPv4 one
for my $conf ('MQLRedisTimeout 2', 'MQLRedisTimeout 1min', 'MQLRedisTimeout 1ms',
              'MQLExcludeIP ::ffff:192.0.2.0/120 0.0.0.0/0 ::/0') {
    my ($rc, $out) = MQLTest->new(conf => "$conf\n")->configtest;
    is $rc, 0, "configtest passes: $conf" or diag $out;
}

my $t = MQLTest->new(conf => $good);
my ($rc, $out) = $t->configtest;
is $rc, 0, 'a configuration using every directive passes configtest';
like $out, qr/Syntax OK/, '  Syntax OK';

done_testing;
