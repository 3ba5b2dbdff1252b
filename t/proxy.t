# A backend application behind mod_proxy_http (another httpd running a CGI
# application, without mod_mql): its X-MQL-Event and X-MQL-Contact response
# headers are scored and taken off, the visitor it sees can be passed on
# with mod_headers, and the same headers sent by a client are never
# honoured.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use SDBM_File;
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
    tie(my %h, 'SDBM_File', $t->state_dir . '/leads', O_RDONLY, 0) or return;
    my $v = $h{$id};
    untie %h;
    $v });
like $rec // '', qr/contact=bob%40example\.com/, 'the lead\'s record has the backend\'s contact';
unlike $rec // '', qr/mallory/, '... not the client\'s';
like $rec // '', qr{trigger=app:/app/signal\.cgi}, '... and the backend\'s event as trigger';
like $rec // '', qr/apps=1(;|$)/, '... one application event';

$t->stop;
$backend->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the front server\'s log';
is_deeply [$backend->unexpected_errors], [], 'no errors in the backend\'s log';
done_testing;
