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

# The visitor's state reaches mod_rewrite (server context), mod_headers, SSI,
# CGI and internal redirects.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $conf = <<'CONF';
MQLHalfLife 0
MQLThreshold 3
RewriteEngine On
RewriteCond %{ENV:MQL_STAGE} =mql
RewriteRule ^/offer$ /offer-mql.html [PT]
RewriteRule ^/offer$ /offer-plain.html [PT]
RewriteCond %{ENV:MQL_NEW} =1
RewriteRule ^/welcome$ /cgi-bin/env.cgi [PT]
Header always set X-Score "%{MQL_SCORE}e"
<Directory "${DOCROOT}/inner">
    RewriteEngine On
    RewriteRule ^go$ /cgi-bin/env.cgi [L]
</Directory>
CONF

my $t = MQLTest->new(conf => '');
$conf =~ s/\$\{DOCROOT\}/${\ $t->root }\/htdocs/;
mkdir $t->root . '/htdocs/inner';
$t->write_conf($conf);
$t->start;

my $res = $t->get('/welcome');
is $res->{status}, 200, 'server-context RewriteCond on MQL_NEW routes a new visitor';
is MQLTest::env_of($res)->{MQL_NEW}, 1, '  to the CGI, which sees MQL_NEW=1';
my $cookie = MQLTest::visitor_cookie($res);

$res = $t->get('/offer', Cookie => $cookie);
like $res->{content}, qr/for everyone/, 'a plain visitor gets the plain offer';
$t->get('/pricing.html', Cookie => $cookie) for 1 .. 3;
$res = $t->get('/offer', Cookie => $cookie);
like $res->{content}, qr/for leads/, 'RewriteCond %{ENV:MQL_STAGE} routes an MQL';
is $res->{headers}{'x-score'}, '4', 'mod_headers sees MQL_SCORE';

$res = $t->get('/score.shtml', Cookie => $cookie);
like $res->{content}, qr/score=5 stage=mql/, 'SSI sees MQL_SCORE and MQL_STAGE';

$res = $t->get('/inner/go', Cookie => $cookie);
my $env = MQLTest::env_of($res);
is $env->{MQL_STAGE}, 'mql', 'a per-directory internal redirect keeps MQL_STAGE';
ok $env->{MQL_VISITOR}, '  and MQL_VISITOR';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
