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

# mod_deflate compressing pages and downloads changes nothing that is
# counted: two visitors make the same requests, one accepting gzip and
# one not, and end with the same score and the same counts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use GDBM_File;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use MQLTest;

my $t = MQLTest->new(mpm => 'event', modules => [qw(deflate filter)], conf => <<'CONF');
MQLHalfLife 0
MQLThreshold 20
SetOutputFilter DEFLATE
CONF
$t->start;

sub slurp { my ($f) = @_; open my $fh, '<:raw', $f or die "$f: $!"; local $/; <$fh> }
my $page = slurp("$t->{docroot}/pricing.html");
my $pdf = slurp("$t->{docroot}/whitepapers/guide.pdf");

sub plain_body {
    my ($res) = @_;
    my $enc = $res->{headers}{'content-encoding'} // '';
    return $res->{content} unless $enc eq 'gzip';
    my $out;
    gunzip(\$res->{content} => \$out) or return "gunzip failed: $GunzipError";
    return $out;
}

my %seen;
for my $accept ('gzip', 'identity') {
    my %h = ('Accept-Encoding' => $accept);
    my $res = $t->get('/index.html', %h);
    my $cookie = MQLTest::visitor_cookie($res);
    ok $cookie, "$accept: a new visitor gets the cookie";
    $h{Cookie} = $cookie;
    my $want = $accept eq 'gzip' ? 'gzip' : '';

    $res = $t->get('/pricing.html', %h);
    is $res->{headers}{'content-encoding'} // '', $want, "$accept: the page is sent "
        . ($want ? 'compressed' : 'as is');
    is plain_body($res), $page, "$accept: ... and is the page";

    $res = $t->get('/whitepapers/guide.pdf', %h);
    is $res->{status}, 200, "$accept: the whitepaper is downloaded";
    is $res->{headers}{'content-encoding'} // '', $want, "$accept: ... "
        . ($want ? 'compressed' : 'as is');
    is plain_body($res), $pdf, "$accept: ... and is the file";

    # the first part of the file, then the rest: one download when the
    # end of what is sent arrives, whatever the encoding
    $res = $t->get('/whitepapers/guide.pdf', %h, Range => 'bytes=0-99');
    $seen{$accept}{first_part} = $res->{status};
    $res = $t->get('/whitepapers/guide.pdf', %h, Range => 'bytes=100-');
    $seen{$accept}{rest} = $res->{status};

    $res = $t->host_request('POST', '/cgi-bin/form.cgi', headers => \%h,
                            body => "email=$accept%40example.com");
    is $res->{status}, 302, "$accept: the contact form is accepted";

    my $env = MQLTest::env_of({ content => plain_body($t->get('/cgi-bin/env.cgi', %h)) });
    $seen{$accept}{score} = $env->{MQL_SCORE};
    $seen{$accept}{stage} = $env->{MQL_STAGE};
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    $seen{$accept}{record} = MQLTest::wait_for(5, sub {
        tie(my %db, 'GDBM_File', $t->state_dir . '/leads', GDBM_File::GDBM_READER(), 0) or return;
        my $v = $db{$id};
        untie %db;
        # the record as it stands after the form: the lead may have been
        # published before it, at its downloads
        defined $v && $v =~ /(?:^|;)forms=[1-9]/ ? $v : undef });
}

is $seen{identity}{score}, 42,
    'without compression: 2 views, 2 downloads (whole file, then the rest after a part), 1 form = 42';
is $seen{gzip}{score}, $seen{identity}{score}, 'with gzip: the same score';
is $seen{gzip}{stage}, 'mql', 'with gzip: the same stage';
my %counts = map {
    my $r = $seen{$_}{record} // '';
    $_ => join ';', map { $r =~ /(?:^|;)($_=\d+)/ ? $1 : "$_=?" } qw(views downloads forms)
} qw(gzip identity);
is $counts{identity}, 'views=2;downloads=2;forms=1', 'without compression: the counts in the record';
is $counts{gzip}, $counts{identity}, 'with gzip: the same counts in the record';
is_deeply [ @{ $seen{identity} }{qw(first_part rest)} ], [206, 206],
    'without compression: both parts of the file answered 206';
# With gzip the ranges are ranges of the compressed file, which may end
# within the first part (then the rest is 416): either way one download.
diag "with gzip the parts were answered $seen{gzip}{first_part} and $seen{gzip}{rest}";

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the log';
done_testing;
