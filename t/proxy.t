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

# A backend application behind mod_proxy_http (another httpd running a CGI
# application, without mod_mql): its X-MQL-Event and X-MQL-Contact response
# headers are scored and taken off, the visitor it sees can be passed on
# with mod_headers, and the same headers sent by a client are never
# honoured.  A request that passes through the module twice (a virtual
# host of the same server proxying to another, MQLEngine On in server
# context as mql.conf has it) is scored once and gets one cookie; a
# backend with a key of its own cannot add a second visitor cookie.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use MQLTest;

my $backend = MQLTest->new(no_module => 1, conf => '');
$backend->start;
my $back = $backend->base;

my $t = MQLTest->new(mpm => 'event', modules => [qw(proxy proxy_http)], conf => <<"CONF");
MQLHalfLife 0
MQLThreshold 20
# the backend learns the visitor as a request header (a client's own
# X-MQL-Visitor is replaced, never passed on)
RequestHeader set X-MQL-Visitor "%{MQL_VISITOR}e" env=MQL_VISITOR
ProxyPass /app/ $back/cgi-bin/
ProxyPassReverse /app/ $back/cgi-bin/
CONF
$t->start;

sub env_via { MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $_[0])) }

# a new visitor's first request goes to the backend
my $res = $t->get('/app/env.cgi');
is $res->{status}, 200, 'a proxied page answers';
my $cookie = MQLTest::visitor_cookie($res);
ok $cookie, 'the new visitor gets the cookie on a proxied response';
my ($id) = ($cookie // '') =~ /^mql_vid=([^.]+)\./;
is MQLTest::env_of($res)->{HTTP_X_MQL_VISITOR}, $id,
    'the backend sees the visitor ID in X-MQL-Visitor (mod_headers from MQL_VISITOR)';

$res = $t->get('/app/signal.cgi?event=trial-started%3B%20points%3D40&contact=bob%40example.com',
               Cookie => $cookie);
is $res->{status}, 200, 'the backend reports an event';
like $res->{content}, qr/thanks/, '... and its page arrives';
ok !exists $res->{headers}{'x-mql-event'}, 'the backend\'s X-MQL-Event is taken off';
ok !exists $res->{headers}{'x-mql-contact'}, 'the backend\'s X-MQL-Contact is taken off';
my $env = env_via($cookie);
is $env->{MQL_SCORE}, 41, 'the backend\'s event scored: 40 points and a view';
is $env->{MQL_STAGE}, 'mql', '... an MQL';

# a client sending the application's headers gets nothing for them
$res = $t->request('GET', '/app/env.cgi',
                   headers => { Cookie => $cookie, 'X-MQL-Event' => 'forged; points=500',
                                'X-MQL-Contact' => 'mallory@example.com',
                                'X-MQL-Visitor' => 'somebody-else' });
is MQLTest::env_of($res)->{HTTP_X_MQL_VISITOR}, $id,
    'a client\'s X-MQL-Visitor is replaced before the backend sees it';
is env_via($cookie)->{MQL_SCORE}, 41, 'a client\'s X-MQL-Event is not scored';

my $rec = MQLTest::wait_for(5, sub {
    $t->leads_records->{$id} });
like $rec // '', qr/contact=bob%40example\.com/, 'the lead\'s record has the backend\'s contact';
unlike $rec // '', qr/mallory/, '... not the client\'s';
like $rec // '', qr{trigger=app:/app/signal\.cgi}, '... and the backend\'s event as trigger';
like $rec // '', qr/apps=1(;|$)/, '... one application event';

$t->stop;
$backend->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the front server\'s log';
is_deeply [$backend->unexpected_errors], [], 'no errors in the backend\'s log';

# ---- the same server in front of itself ----------------------------------
my $other = MQLTest->new(conf => '');      # a server of its own, its own key
$other->start;
my $other_base = $other->base;
my $s = MQLTest->new(mpm => 'event', modules => [qw(proxy proxy_http)], conf => '');
my $bport = MQLTest::free_port();
$s->write_conf(<<"CONF");
MQLHalfLife 0
Listen 127.0.0.1:$bport
<VirtualHost 127.0.0.1:$bport>
    ServerName backend.test
</VirtualHost>
ProxyPass /via/ http://127.0.0.1:$bport/
ProxyPass /other/ $other_base/
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$s->start;

sub tracked {
    my $j = JSON::PP->new->decode($s->get('/mql-status?json')->{content});
    return $j->{visitors}{tracked};
}
sub all_of { my $v = $_[0]; return () unless defined $v; ref $v ? @$v : ($v) }

require JSON::PP;
my $before = tracked();
$res = $s->get('/via/index.html');
is $res->{status}, 200, 'a page through a virtual host of the same server';
my @ours = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
is scalar(@ours), 1, '... one mql_vid cookie, not one per pass' or diag explain \@ours;
is scalar(grep { /\bprivate\b/ } all_of($res->{headers}{'cache-control'})), 1,
    '... one Cache-Control: private';
my $vcookie = MQLTest::visitor_cookie($res);
my ($vid) = ($vcookie // '') =~ /^mql_vid=([^.]+)\./;
$s->get('/via/index.html', Cookie => $vcookie) for 1 .. 3;
my $senv = MQLTest::env_of($s->get('/cgi-bin/env.cgi', Cookie => $vcookie));
is $senv->{MQL_VISITOR}, $vid, 'the cookie names the visitor';
is $senv->{MQL_SCORE}, 4, '4 page views through the proxy: score 4, each counted once';
is tracked() - $before, 1, '... and one visitor, no orphan';

$res = $s->get('/via/cgi-bin/env.cgi', Cookie => $vcookie);
my $benv = MQLTest::env_of($res);
is $benv->{MQL_VISITOR}, $vid, 'the backend\'s application sees the visitor';
is $benv->{MQL_SCORE}, 4, '... and its score';
ok !exists $benv->{HTTP_X_MQL_SCORED}, '... but not the mark of a scored request';
is_deeply [MQLTest::set_cookies($res)], [], '... and a known visitor gets no cookie';

$res = $s->get('/via/cgi-bin/env.cgi');
$benv = MQLTest::env_of($res);
($vcookie) = MQLTest::visitor_cookie($res);
($vid) = ($vcookie // '') =~ /^mql_vid=([^.]+)\./;
is $benv->{MQL_VISITOR}, $vid, 'a new visitor: the backend sees the ID of the front\'s cookie';
is $benv->{MQL_NEW}, 1, '... as new';

# the backend's application reports an event: scored once, by the front
$res = $s->get('/via/cgi-bin/signal.cgi?event=demo%3B%20points%3D30', Cookie => $vcookie);
ok !exists $res->{headers}{'x-mql-event'}, 'a backend\'s X-MQL-Event is taken off by the front';
is MQLTest::env_of($s->get('/cgi-bin/env.cgi', Cookie => $vcookie))->{MQL_SCORE}, 31,
    '... and scored once: 30 points and a view';

# a client cannot forge the mark: asked directly, the backend scores
$res = $s->ua->get("http://127.0.0.1:$bport/index.html",
                   { headers => { Cookie => $vcookie, 'X-MQL-Scored' => "$vid.0.00000000.AAAAAAAAAAA" } });
is $res->{status}, 200, 'a client\'s own X-MQL-Scored';
is MQLTest::env_of($s->get('/cgi-bin/env.cgi', Cookie => $vcookie))->{MQL_SCORE}, 32,
    '... is no mark: the view is scored';

# a backend with another key sets its own visitor cookie: the front's wins
$res = $s->get('/other/index.html');
@ours = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
is scalar(@ours), 1, 'a backend with its own key: still one mql_vid cookie';
($vcookie) = MQLTest::visitor_cookie($res);
($vid) = ($vcookie // '') =~ /^mql_vid=([^.]+)\./;
is MQLTest::env_of($s->get('/cgi-bin/env.cgi', Cookie => $vcookie))->{MQL_VISITOR}, $vid,
    '... the front\'s own';

$s->stop;
$other->stop;
is_deeply [$s->unexpected_errors], [], 'no errors in the log of the server in front of itself';
is_deeply [$other->unexpected_errors], [], 'no errors in the other backend\'s log';
done_testing;
