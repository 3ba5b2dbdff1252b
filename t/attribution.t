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

# Where each lead came from: the first touch (utm_ parameters, else the
# referring host, else direct) in the lead's DBM record, read by Perl, and
# in its notification and export; the last touch replaced by each later
# campaign or referral, never by browsing the site.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MQLTest;

my $t = MQLTest->new(conf => '');
my $root = $t->root;
my (undef, $out) = $t->notify_sink;
$t->write_conf("MQLThreshold 20\nMQLHalfLife 0\nMQLNotify \"|$root/notify.pl\"\n"
               . "<Location /mql-status>\n    SetHandler mql-status\n</Location>\n");
$t->start;
my $base = $t->base;

sub fields {
    my ($v) = @_;
    return { map { my ($k, $x) = split /=/, $_, 2; $x =~ s/%([0-9A-F]{2})/chr hex $1/ge; ($k, $x) }
             split /;/, $v // '' };
}

# A visitor's journey: page views (path, Referer or undef), then the
# contact form; its ID and its DBM record once the writer has it.
sub journey {
    my (@views) = @_;
    my ($cookie, $id);
    for my $v (@views) {
        my ($path, $referer) = @$v;
        my $res = $t->get($path, $cookie ? (Cookie => $cookie) : (),
                          defined $referer ? (Referer => $referer) : ());
        die "GET $path: $res->{status}\n" unless $res->{status} == 200;
        $cookie //= MQLTest::visitor_cookie($res) or die "no visitor cookie\n";
    }
    ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    my $res = $t->request('POST', '/cgi-bin/form.cgi', headers => {
        Cookie => $cookie, 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => 'email=x%40example.com');
    die "form not accepted: $res->{status}\n" unless $res->{status} == 302;
    my $rec = MQLTest::wait_for(5, sub { $t->leads_records->{$id} });
    return ($id, fields($rec), $cookie);
}

# a campaign's e-mail, then browsing the site, then another campaign
my ($a_id, $a, $a_cookie) = journey(['/pricing.html?utm_source=news&utm_medium=email&utm_campaign=spring'],
                                    ['/index.html', "$base/pricing.html"],
                                    ['/careers.html?utm_source=google&utm_medium=cpc&utm_campaign=summer'],
                                    ['/contact.html', "$base/careers.html"]);
is $a->{source}, 'news', 'first touch: utm_source';
is $a->{medium}, 'email', 'first touch: utm_medium';
is $a->{campaign}, 'spring', 'first touch: utm_campaign';
is $a->{landing}, '/pricing.html', 'first touch: the landing path';
is $a->{last_source}, 'google', 'last touch: the later campaign';
is $a->{last_medium}, 'cpc', 'last touch: its medium';
is $a->{last_campaign}, 'summer', 'last touch: its campaign';
is $a->{last_landing}, '/careers.html', 'browsing the site after it is no touch';

# from another site's page
my ($b_id, $b) = journey(['/index.html', 'https://blog.partner.example/post?id=1'],
                         ['/pricing.html', "$base/index.html"]);
is $b->{source}, 'blog.partner.example', 'a referral: the referring host';
is $b->{medium}, 'referral', 'medium referral';
ok !exists $b->{campaign}, 'no campaign';
is $b->{last_source}, 'blog.partner.example', 'the last touch is the first';

# typed in
my ($c_id, $c) = journey(['/index.html'], ['/pricing.html']);
is $c->{source}, 'direct', 'direct: source';
is $c->{medium}, 'direct', 'direct: medium';
is $c->{landing}, '/index.html', 'direct: landing path';

# a lead's later campaign is its new last touch, in its record
$t->get('/index.html?utm_source=newsletter&utm_medium=email&utm_campaign=autumn',
        Cookie => $a_cookie);
my $a2 = MQLTest::wait_for(5, sub {
    my $r = fields($t->leads_records->{$a_id});
    ($r->{last_campaign} // '') eq 'autumn' ? $r : undef });
ok $a2, 'a lead that comes back from a campaign: last touch updated';
is $a2 && $a2->{campaign}, 'spring', '... the first touch stays';

# client bytes: bounded, neutralised
my ($d_id, $d) = journey(['/index.html?utm_source=%01bad%0D%0Aline&utm_campaign=' . ('x' x 300)
                          . '&utm_medium=%FF']);
is $d->{source}, '?bad??line', 'control bytes neutralised';
is $d->{medium}, '?', 'invalid UTF-8 neutralised';
is length($d->{campaign}), 63, 'a long campaign cut';

# the notification and the export carry it
my $lines = MQLTest::wait_for(5, sub {
    open my $f, '<', $out or return;
    my @l = <$f>;
    @l >= 4 ? \@l : undef });
my ($na) = grep { $_->{visitor} eq $a_id } map { eval { decode_json($_) } || () } @{ $lines // [] };
is $na && $na->{source}, 'news', 'notification: source';
is $na && $na->{campaign}, 'spring', 'notification: campaign';
is $na && $na->{last_campaign}, 'summer', 'notification: last campaign';
# ---- mqlctl funnel --by ----------------------------------------------------
sub ctl { MQLTest::mqlctl('--state-dir', $t->state_dir, @_) }
# one more visitor of the spring campaign, who does not qualify
$t->get('/index.html?utm_source=news&utm_medium=email&utm_campaign=spring');
is +(ctl('set', $a_id, 'stage=sql'))[0], 0, 'A (spring) accepted by sales';
is +(ctl('set', $b_id, 'stage=rejected'))[0], 0, 'B (no campaign) rejected by sales';
sub by {
    my ($dim) = @_;
    my ($rc, $out) = ctl('funnel', '--by', $dim, '--format', 'json');
    my $j = eval { decode_json($out) } or return {};
    return { map { $_->{value} => $_ } @{ $j->{values} } };
}
my $f = MQLTest::wait_for(10, sub {
    my $f = by('campaign');
    ($f->{spring}{accepted} // 0) == 1 && ($f->{'(none)'}{rejected} // 0) == 1 ? $f : undef });
is_deeply [ @{ $f->{spring} // {} }{qw(new_visitors mqls accepted rejected)} ], [ 2, 1, 1, 0 ],
    'funnel --by campaign: spring: 2 new visitors, 1 MQL, 1 accepted';
is $f->{spring}{acceptance}, 1, '... acceptance 1';
# (start() asks for / once: a direct new visitor of no campaign)
is_deeply [ @{ $f->{'(none)'} // {} }{qw(new_visitors mqls accepted rejected)} ], [ 3, 2, 0, 1 ],
    'funnel --by campaign: (none): B, C and the first request, two MQLs, B rejected';
is $f->{'(none)'}{acceptance}, 0, '... acceptance 0';
is_deeply [ @{ $f->{'x' x 63} // {} }{qw(new_visitors mqls)} ], [ 1, 1 ], 'the cut campaign';
is scalar(keys %$f), 3, 'no other campaign';
my $src = by('source');
is_deeply [ map { $src->{$_}{new_visitors} // 0 } 'news', 'blog.partner.example', 'direct' ],
          [ 2, 1, 2 ], 'funnel --by source: new visitors per source';
is_deeply [ map { $src->{$_}{mqls} // 0 } 'news', 'blog.partner.example', 'direct' ],
          [ 1, 1, 1 ], 'funnel --by source: MQLs per source';
my $med = by('medium');
is_deeply [ map { $med->{$_}{new_visitors} // 0 } qw(email referral direct) ], [ 2, 1, 2 ],
    'funnel --by medium';
my ($rc, $text) = ctl('funnel', '--by', 'campaign');
like $text, qr/^spring\s+2\s+1\s+1\s+0\s+100\.0%$/m, 'funnel --by campaign as text';
($rc, my $csvout) = ctl('funnel', '--by', 'campaign', '--format', 'csv');
like $csvout, qr/^campaign,new_visitors,mqls,accepted,rejected,acceptance\r\n\(none\),3,2,0,1,0\.0000\r\nspring,2,1,1,0,1\.0000\r\n/,
    'funnel --by campaign as CSV';
($rc, undef, my $err) = ctl('funnel', '--by', 'country');
is $rc, 2, 'funnel --by something else: exit 2';
like $err, qr/--by expects source, medium or campaign, got 'country'/, '... said so';

# the status page's visitor view
my $html = $t->get("/mql-status?visitor=$a_id")->{content};
like $html, qr{id="first_touch">news / email / spring, /pricing\.html<}, 'status page: first touch';
like $html, qr{id="last_touch">newsletter / email / autumn, /index\.html<}, 'status page: last touch';
my $vj = $t->get("/mql-status?visitor=$a_id&json")->{content};
like $vj, qr{"first_touch":"news / email / spring, /pricing.html"}, 'status page JSON: first touch';
my $dh = $t->get("/mql-status?visitor=$d_id")->{content};
unlike $dh, qr/[\x00-\x08\x0b\x0c\x0e-\x1f]/, 'status page: no control byte of a client\'s';

$t->stop;
($rc, my $json) = MQLTest::mqlctl('--state-dir', $t->state_dir, 'export', '--format', 'json');
my $e = eval { decode_json($json) } || [];
my ($eb) = grep { $_->{id} eq $b_id } @$e;
is $eb && $eb->{source}, 'blog.partner.example', 'export json: source';
is $eb && $eb->{medium}, 'referral', 'export json: medium';
ok !grep({ /MQL096/ } $t->log_text), 'nothing refused';
is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';

done_testing;
