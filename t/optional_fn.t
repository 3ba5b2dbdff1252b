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

# Another module reads the visitor's score and stage through mod_mql's
# public optional function (include/mod_mql.h).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $t = MQLTest->new(conf => '');
my $root = $t->root;
# built in the test's own directory: apxs leaves its objects beside the source
system('cp', "$MQLTest::TOP/t/probe/mod_mql_probe.c", $root) == 0 or die;
my $out = `cd $root && apxs -c -I$MQLTest::TOP/include mod_mql_probe.c 2>&1`;
is $?, 0, 'a module using include/mod_mql.h builds' or diag $out;
$t->write_conf(<<"CONF");
LoadModule mql_probe_module $root/.libs/mod_mql_probe.so
MQLHalfLife 0
MQLThreshold 3
<Location /probe>
    SetHandler mql-probe
</Location>
CONF
$t->start;

my $res = $t->get('/');
my $cookie = MQLTest::visitor_cookie($res);
my ($id) = $cookie =~ /=([^.]+)\./;
is $t->get('/probe', Cookie => $cookie)->{content}, "id=$id score=1 stage=visitor\n",
    'score and stage of a visitor';
$t->get('/pricing.html', Cookie => $cookie) for 1 .. 2;
is $t->get('/probe', Cookie => $cookie)->{content}, "id=$id score=3 stage=mql\n",
    'an MQL, as the request path sees it';
is $t->request('GET', '/probe', headers => { Cookie => $cookie, DNT => 1 })->{content},
    "not tracked\n", 'DECLINED for a request that is not tracked';
$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
