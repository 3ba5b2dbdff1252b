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

# Attribution with MQLStore redis://: a visitor who lands on server A from
# a campaign and qualifies on server B keeps A's first touch in B's leads
# file (and A's); the touch reached B through the fleet's dictionary of
# touches in Redis, not through the visitor.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use MQLRedis;
use MQLFleet;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis->new;
my $fleet = MQLFleet->new(store => $redis, servers => 2, threshold => 40);
my ($a, $b) = $fleet->servers;

sub fields {
    my ($v) = @_;
    return { map { my ($k, $x) = split /=/, $_, 2; $x =~ s/%([0-9A-F]{2})/chr hex $1/ge; ($k, $x) }
             split /;/, $v // '' };
}

# lands on A from the spring e-mail (a view, a campaign and the pricing rule: 16 points)
my $res = $a->get('/pricing.html?utm_source=news&utm_medium=email&utm_campaign=spring');
my ($cookie) = MQLTest::visitor_cookie($res) or die "no visitor cookie\n";
my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
ok MQLTest::wait_for(10, sub { $redis->views_of($id) >= 1 }),
    'the first touch reached Redis';
like $redis->cli('HLEN', 'mql:{mql0}:touches'), qr/^[1-9]\d*$/,
    'the fleet\'s dictionary of touches has it';

# browses B (an internal page: no touch), then sends B's form twice (46)
$b->get('/index.html', Cookie => $cookie, Referer => $b->base . '/pricing.html');
for (1 .. 2) {
    my $r = $b->request('POST', '/cgi-bin/form.cgi', headers => {
        Cookie => $cookie, 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => 'email=jane%40example.com');
    is $r->{status}, 302, "form $_ on B";
}
my $rec_b = MQLTest::wait_for(15, sub {
    my $r = fields($b->leads_records->{$id});
    ($r->{stage} // '') eq 'mql' && ($r->{source} // '') ne 'other' && $r->{source} ? $r : undef });
ok $rec_b, 'B publishes the lead';
is $rec_b && $rec_b->{source}, 'news', 'B: source of the first touch, made on A';
is $rec_b && $rec_b->{medium}, 'email', 'B: medium';
is $rec_b && $rec_b->{campaign}, 'spring', 'B: campaign';
is $rec_b && $rec_b->{landing}, '/pricing.html', 'B: landing path';
my $rec_a = MQLTest::wait_for(15, sub {
    my $r = fields($a->leads_records->{$id});
    ($r->{stage} // '') eq 'mql' ? $r : undef });
is $rec_a && $rec_a->{campaign}, 'spring', 'A: the same first touch';

# a visitor of B from a referral who qualifies on A
$res = $b->get('/index.html', Referer => 'https://blog.partner.example/post');
my ($c2) = MQLTest::visitor_cookie($res);
my ($id2) = $c2 =~ /^mql_vid=([^.]+)\./;
MQLTest::wait_for(10, sub { $redis->views_of($id2) >= 1 });
for (1 .. 2) {
    $a->request('POST', '/cgi-bin/form.cgi', headers => {
        Cookie => $c2, 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => 'email=joe%40example.com');
}
my $rec2 = MQLTest::wait_for(15, sub {
    my $r = fields($a->leads_records->{$id2});
    ($r->{source} // 'other') ne 'other' ? $r : undef });
is $rec2 && $rec2->{source}, 'blog.partner.example', 'A: the referral B saw';
is $rec2 && $rec2->{medium}, 'referral', 'A: medium referral';

for my $t ($a, $b) {
    ok !grep({ /MQL07\d{3}|MQL096/ } $t->log_text), 'no Redis error or refused touch in '
        . $t->base;
}
$fleet->stop;
done_testing;
