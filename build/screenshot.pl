#!/usr/bin/perl
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

# Start a throw-away test server (t/lib/MQLTest.pm), play a scripted demo
# journey of a few dozen visitors, and render the status page with
# headless chromium into docs/status.png.
#   build/screenshot.pl [OUTPUT.png]      (run by build/screenshot.sh)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use File::Temp qw(tempdir);
use MQLTest;

my $top = $MQLTest::TOP;
my $out = shift // "$top/docs/status.png";
my $chromium = $ENV{CHROMIUM} // 'chromium';

my $t = MQLTest->new(mpm => 'event', conf => '');
my $db = MQLTest::write_mmdb($t->root . '/countries.mmdb', {
    '198.51.100.0/26'   => 'DE', '198.51.100.64/26' => 'US', '198.51.100.128/26' => 'GB',
    '198.51.100.192/26' => 'FR', '203.0.113.0/25'   => 'AT', '203.0.113.128/25' => 'CH',
    '2001:db8:1::/48'   => 'NL', '2001:db8:2::/48'  => 'SE',
});
$t->write_conf(<<"CONF");
MQLGeoIPDatabase $db
MQLThreshold 40
MQLRule view ^/pricing 4
MQLRule view ^/careers -3
MQLRule country DE AT CH 5
RemoteIPHeader X-Real-IP
RemoteIPInternalProxy 127.0.0.1
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;

my @ips = map({ "198.51.100.$_" } 3, 70, 140, 200, 9, 77, 150, 210, 20, 90)
        , map({ "203.0.113.$_" } 5, 140, 30), '2001:db8:1::7', '2001:db8:2::9';
my @names = qw(jane.doe m.schmidt a.martin l.jensen p.rossi k.tanaka s.novak e.berg
               j.smith o.keller);
my $n = 0;

sub visit {
    my ($ip, $cookie, $method, $path, $body) = @_;
    my %h = ('X-Real-IP' => $ip, $cookie ? (Cookie => $cookie) : ());
    $h{'Content-Type'} = 'application/x-www-form-urlencoded' if $body;
    my $res = $t->request($method, $path, headers => \%h, defined $body ? (content => $body) : ());
    return $cookie // MQLTest::visitor_cookie($res);
}

# Forty-odd visitors: most read a page or two, some come back for pricing,
# download the whitepaper, book a webinar or send the contact form.
srand 42;
for my $i (1 .. 46) {
    my $ip = $ips[$i % @ips];
    my $c = visit($ip, undef, 'GET', '/');
    my $depth = $i % 9;
    visit($ip, $c, 'GET', '/pricing.html') for 1 .. ($depth > 2 ? 2 : 0) + ($i % 3);
    visit($ip, $c, 'GET', '/careers.html') if $i % 11 == 0;
    visit($ip, $c, 'GET', '/index.html?utm_medium=email&utm_campaign=spring') if $i % 4 == 0;
    visit($ip, $c, 'GET', '/whitepapers/guide.pdf') if $depth >= 5;
    if ($depth >= 7) {
        my $who = $names[$n++ % @names];
        visit($ip, $c, 'POST', '/cgi-bin/form.cgi', "email=$who%40example.com");
    }
    visit($ip, $c, 'GET', '/cgi-bin/signal.cgi?event=webinar;points=25') if $depth == 8 || $i % 10 == 6;
    visit($ip, $c, 'POST', '/cgi-bin/form.cgi', 'name=') if $i % 13 == 0;
}

# Sales accepts one lead and rejects another, through the page's own form.
my $json = $t->get('/mql-status?json')->{content};
my @mql = $json =~ /"id":"([A-Za-z0-9_-]{22})","score":\d+,"stage":"mql"/g;
for my $decision (qw(sql rejected sql)) {
    my $id = shift @mql or last;
    my ($token) = $t->get("/mql-status?visitor=$id")->{content} =~ /name="token" value="(\w+)"/;
    $t->request('POST', '/mql-status',
                headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                             Origin => $t->base },
                content => "visitor=$id&stage=$decision&token=$token");
}

# Let the background writer start its rounds, so the page shows it at work.
for (1 .. 40) {
    my $auto = $t->get('/mql-status?auto')->{content};
    last unless $auto =~ /^MQLWriterRunning: 0$/m;
    select undef, undef, undef, 0.25;
}

# ... and its journal: the verdicts reach the funnel and the criteria.
for (1 .. 40) {
    last if $t->get('/mql-status?auto')->{content} =~ /^MQLFunnelAcceptance: /m;
    select undef, undef, undef, 0.25;
}
# The lead with the longest story, for its visitor view.
my ($story_id) = $t->get('/mql-status?json')->{content} =~ /"id":"([A-Za-z0-9_-]{22})"/;

# The overview, the whole page (funnel, criteria, top visitors), and one
# lead's view with its story: OUT and OUT with "story" for "status".
my $story_out = $out;
$story_out = "$out.story.png" unless $story_out =~ s/status(\.png)$/story$1/;
my $rc = 0;
for my $shot ([ $out, '/mql-status', '1280,2300' ],
              [ $story_out, "/mql-status?visitor=$story_id", '1280,1300' ]) {
    my ($file, $path, $size) = @$shot;
    my $profile = tempdir('mql-chromium.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @cmd = ($chromium, qw(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
               --disable-background-networking --disable-component-update --disable-sync
               --hide-scrollbars), "--user-data-dir=$profile", "--screenshot=$file",
               "--window-size=$size", $t->base . $path);
    print "rendering ", $t->base, "$path into $file\n";
    $rc ||= system(@cmd);
    die "chromium failed ($rc)\n" if $rc || !-s $file;
    print "wrote $file\n";
}
$t->stop;
