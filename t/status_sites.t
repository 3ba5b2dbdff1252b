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

# One visitor table, several customers: a status page in a virtual host
# shows and changes its own site's visitors only (MQLStatusSites own, the
# default); choose lets ?site= show the others, all shows every site.  The
# form token is bound to the virtual host and the action.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;

my $t = MQLTest->new(conf => '');
my $port = $t->port;
my $sd = $t->state_dir;
my $status = "<Location /mql-status>\n        SetHandler mql-status\n    </Location>";
$t->write_conf(<<"CONF");
MQLHalfLife 0
MQLThreshold 20
<VirtualHost 127.0.0.1:$port>
    ServerName a.test
    MQLDBMFile $sd/leads-a
    $status
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName b.test
    MQLDBMFile $sd/leads-b
    $status
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName admin.test
    MQLDBMFile $sd/leads-admin
    <Location /mql-status>
        SetHandler mql-status
        MQLStatusSites choose
    </Location>
    <Location /all-status>
        SetHandler mql-status
        MQLStatusSites all
    </Location>
</VirtualHost>
CONF
$t->start;

my ($a_id) = $t->make_lead(host => 'a.test', email => 'ann@a.example');
my ($b_id) = $t->make_lead(host => 'b.test', email => 'bob@b.example');

sub get { my ($host, $path) = @_; $t->host_request('GET', $path, host => $host) }
sub json_at {
    my ($host, $path) = @_;
    my $r = get($host, $path);
    return ($r, eval { decode_json($r->{content}) });
}
# the leads listed (the harness's own start-up request left a plain visitor)
sub ids_in { my ($j) = @_; [sort map { $_->{id} } grep { $_->{stage} ne 'visitor' } @{ $j->{top} // [] }] }
sub token_at {
    my ($host, $path) = @_;
    my ($tok) = get($host, $path)->{content} =~ /name="token" value="([0-9a-f]{32})"/;
    return $tok;
}
sub post_stage {
    my ($host, $path, $id, $stage, $token) = @_;
    return $t->host_request('POST', $path, host => $host,
                            body => "visitor=$id&stage=$stage&token=$token");
}
sub stage_of {
    my ($id) = @_;
    my (undef, $j) = json_at('admin.test', "/all-status?json&visitor=$id");
    return $j && $j->{visitor}{stage};
}

# ---- each customer's page shows its own leads -------------------------------
my ($r, $j) = json_at('a.test', '/mql-status?json');
is_deeply ids_in($j), [$a_id], "a.test's page lists a.test's lead only";
is $j->{site}, 'a.test', '... and says which site it shows';
is $j->{stages}{mql}, 1, '... its totals count its own leads (1 MQL)';
is scalar(grep { $_->{id} eq $b_id } @{ $j->{changes} }), 0, "... no stage change of b.test's lead";
($r, $j) = json_at('b.test', '/mql-status?json');
is_deeply ids_in($j), [$b_id], "b.test's page lists b.test's lead only";
unlike get('a.test', '/mql-status')->{content}, qr/\Q$b_id\E|bob\@b\.example/,
    "a.test's HTML page holds nothing of b.test's lead";
like get('a.test', '/mql-status?auto')->{content}, qr/^MQLStageMQL: 1$/m, '?auto counts 1 MQL';
is get('a.test', "/mql-status?visitor=$b_id")->{status}, 404, "a.test: b.test's lead is unknown (404)";
is get('a.test', "/mql-status?visitor=$b_id&json")->{status}, 404, '... also as JSON';
is get('a.test', "/mql-status?visitor=$a_id")->{status}, 200, "a.test: its own lead shows";
is get('a.test', '/mql-status?site=all')->{status}, 403, 'MQLStatusSites own: ?site=all refused (403)';
is get('a.test', '/mql-status?site=b.test')->{status}, 403, '... and ?site=b.test';
is get('a.test', '/mql-status?site=a.test')->{status}, 200, '... its own name is fine';

# ---- stage changes: own site only; the token is bound to host and action ------
my $tok_a = token_at('a.test', "/mql-status?visitor=$a_id");
my $tok_b = token_at('b.test', "/mql-status?visitor=$b_id");
ok $tok_a && $tok_b, 'both pages carry a form token';
isnt $tok_a, $tok_b, 'the tokens of two virtual hosts differ';
is post_stage('a.test', '/mql-status', $b_id, 'rejected', $tok_a)->{status}, 404,
    "a.test cannot change b.test's lead, even with a valid a.test token (404)";
is stage_of($b_id), 'mql', "... b.test's lead is still an MQL";
is post_stage('a.test', '/mql-status', $a_id, 'sql', $tok_b)->{status}, 403,
    "b.test's token is refused on a.test's page (bound to the host)";
is stage_of($a_id), 'mql', '... nothing changed';
is post_stage('a.test', '/mql-status', $a_id, 'sql', $tok_a)->{status}, 303,
    "a.test's own token changes a.test's own lead (303)";
is stage_of($a_id), 'sql', '... now sql';

# ---- the hosting admin's pages ----------------------------------------------
($r, $j) = json_at('admin.test', '/mql-status?json');
is_deeply ids_in($j), [], 'MQLStatusSites choose: its own site by default (no leads)';
($r, $j) = json_at('admin.test', '/mql-status?json&site=all');
is_deeply ids_in($j), [sort $a_id, $b_id], '... ?site=all shows every site';
is $j->{site}, 'all', '... and says so';
($r, $j) = json_at('admin.test', '/mql-status?json&site=b.test');
is_deeply ids_in($j), [$b_id], '... ?site=b.test shows that one';
is get('admin.test', '/mql-status?site=nosuch.test')->{status}, 404, '... an unknown site: 404';
is get('admin.test', "/mql-status?visitor=$b_id")->{status}, 200, '... any lead by its ID';
($r, $j) = json_at('admin.test', '/all-status?json');
is_deeply ids_in($j), [sort $a_id, $b_id], 'MQLStatusSites all: every site';
my $tok_choose = token_at('admin.test', "/mql-status?visitor=$b_id");
my $tok_all = token_at('admin.test', "/all-status?visitor=$b_id");
is post_stage('admin.test', '/all-status', $b_id, 'rejected', $tok_choose)->{status}, 403,
    "a token of another action path on the same host is refused (bound to the action)";
is post_stage('admin.test', '/all-status', $b_id, 'rejected', $tok_all)->{status}, 303,
    'the admin changes any site\'s lead with the right token';
is stage_of($b_id), 'rejected', '... now rejected';

my @errors = $t->unexpected_errors;
is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
like $t->log_text, qr/MQL04024: .*belongs to another site/, 'the refused change is logged';
$t->stop;

# ---- a bad value --------------------------------------------------------------
my $c = MQLTest->new(conf => "<Location /s>\n  MQLStatusSites everyone\n</Location>");
my ($rc, $o) = $c->configtest;
isnt $rc, 0, 'configtest refuses MQLStatusSites everyone';
like $o, qr/MQLStatusSites: expects own .* choose .* or all; got 'everyone'/, '... saying what it expects';
like $o, qr/line \d+ of \Q${\ $c->conf_file }\E/, '... with the file and line';
done_testing;
