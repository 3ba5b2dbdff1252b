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

# What counts as a form: a POST answered by the site's handler or
# application (its 2xx, or the 3xx of a post-redirect-get), never a
# redirect httpd makes before any handler runs -- mod_dir's trailing
# slash, Redirect, mod_rewrite's [R] (server and directory context), an
# access check answered with a redirect.  Each case is one POST from one
# visitor whose score is read back exactly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $t = MQLTest->new(conf => '');
my $doc = $t->root . '/htdocs';
$t->write_conf(<<"CONF");
MQLHalfLife 0
MQLPoints view 0
Redirect 302 /old-form /cgi-bin/form.cgi
RewriteEngine On
RewriteRule ^/go-login\$ /contact.html [R=302,L]
<Directory $doc/whitepapers>
    RewriteEngine On
    RewriteRule ^moved\$ /contact.html [R=302,L]
</Directory>
<Location /members>
    Require all denied
    ErrorDocument 403 http://127.0.0.1/login.html
</Location>
CONF
$t->start;

sub score_of {
    my ($cookie) = @_;
    MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie))->{MQL_SCORE};
}

# A new visitor (one GET, no points with MQLPoints view 0), then the POST.
sub post_case {
    my ($path, $body, $want_status, $want_score, $name) = @_;
    my ($cookie) = MQLTest::visitor_cookie($t->get('/index.html'));
    my $res = $t->host_request('POST', $path, headers => { Cookie => $cookie },
                               body => $body);
    is $res->{status}, $want_status, "$name: answered $want_status";
    is score_of($cookie), $want_score, "$name: score $want_score";
}

# httpd's own redirects, made before any handler runs: no form
post_case('/whitepapers', 'email=a%40b.c', 301, 0, "mod_dir's trailing-slash redirect");
post_case('/whitepapers?utm_medium=email', 'email=a%40b.c', 301, 5,
          "the issue's POST /somedir?utm_medium=email (the campaign only)");
post_case('/old-form', 'email=a%40b.c', 302, 0, 'Redirect (mod_alias)');
post_case('/go-login', 'email=a%40b.c', 302, 0, "mod_rewrite [R] in server context");
post_case('/whitepapers/moved', 'email=a%40b.c', 302, 0, "mod_rewrite [R] in a <Directory>");
post_case('/members/join', 'email=a%40b.c', 302, 0, 'an access check answered by a redirect');

# the site's own answers: forms
post_case('/cgi-bin/form.cgi', 'email=a%40b.c', 302, 20, 'a CGI post-redirect-get (302)');
post_case('/cgi-bin/signal.cgi', '', 200, 20, 'a CGI answering 200');
post_case('/cgi-bin/form.cgi', 'name=x', 422, -5, 'a CGI refusing the form (422): form error');

# four of the issue's requests no longer make an MQL at the default threshold
{
    my ($cookie) = MQLTest::visitor_cookie($t->get('/index.html'));
    $t->host_request('POST', '/whitepapers?utm_medium=email', headers => { Cookie => $cookie },
                     body => 'x=1') for 1 .. 4;
    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    is $env->{MQL_SCORE}, 20, "four POST /somedir?utm_medium=email: 4 x 5 points";
    is $env->{MQL_STAGE}, 'visitor', '... and no lead';
}

my @errors = $t->unexpected_errors(qr/AH01630: client denied by server configuration/);
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
$t->stop;
done_testing;
