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

# The contact area belongs to leads first.  A table of 2048 visitors keeps
# 64 contacts in memory: plain visitors who post a form with an address
# (junk or real) must not crowd a lead's address out, and once the area
# holds only leads' addresses, those already in the DBM file give way to a
# new lead's -- the file keeps theirs, and a record written again for such
# a lead never loses the address the file holds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;
use JSON::PP;
use Fcntl;
use Time::HiRes qw(time);

my $t = MQLTest->new(conf => "MQLMaxVisitors 2048\nMQLHalfLife 0\nMQLThreshold 30\n"
                           . "<Location /mql-status>\nSetHandler mql-status\n</Location>\n");
$t->start;
my $status = sub { decode_json($t->get('/mql-status?json')->{content}) };
sub dbm_all { $t->leads_records }
sub field { my ($rec, $name) = @_; defined $rec && $rec =~ /(?:^|;)\Q$name\E=([^;]*)/ ? $1 : undef }
sub pct { (my $s = shift) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $s }

# A visitor who views the home page and posts the contact form: 21
# points, a plain visitor with a contact.  With a download first (+10)
# the form makes a lead, and the address comes with it.
sub visitor_with_contact {
    my ($email, $download) = @_;
    my $c = MQLTest::visitor_cookie($t->get('/')) or die "no cookie\n";
    $t->get('/whitepapers/guide.pdf', Cookie => $c) if $download;
    my $r = $t->request('POST', '/cgi-bin/form.cgi', headers => { Cookie => $c },
                        content => 'email=' . pct($email));
    die "form not accepted: $r->{status}\n" unless $r->{status} == 302;
    my ($id) = $c =~ /^mql_vid=([^.]+)\./;
    return ($id, $c);
}

my $st = $status->();
is $st->{health}{contacts_capacity}, 64, 'the table keeps 64 contacts';

# 1. Seventy junk form posts fill the area with plain visitors' addresses.
visitor_with_contact("junk$_\@example.com") for 1 .. 70;
$st = $status->();
is $st->{health}{contacts}, 64, 'the area is full of plain visitors\' addresses';
is $st->{stages}{mql}, 0, 'none of them is a lead';

# A real lead's address is kept all the same.
my ($real, $real_cookie) = visitor_with_contact('real@example.com', 1);
ok MQLTest::wait_for(10, sub { defined dbm_all()->{$real} }), 'the lead is published';
is field(dbm_all()->{$real}, 'contact'), 'real%40example.com',
    'its record has its address, though plain visitors filled the area';
unlike $t->log_text, qr/MQL01004/, 'no contact refused (MQL01004)';

# 2. Leads' addresses only: 63 more leads take the rest of the plain
# visitors' places.
my @leads = ([ $real, 'real@example.com', $real_cookie ]);
for my $n (1 .. 63) {
    my ($id, $c) = visitor_with_contact("lead$n\@example.com", 1);
    push @leads, [ $id, "lead$n\@example.com", $c ];
}
my $with_contact = sub {
    my $all = dbm_all();
    return scalar grep { (field($all->{ $_->[0] }, 'contact') // '') eq pct($_->[1]) } @_;
};
ok MQLTest::wait_for(10, sub { $with_contact->(@leads) == 64 }),
    'all 64 leads are in the file with their addresses';
$st = $status->();
is $st->{stages}{mql}, 64, '64 leads';
is $st->{health}{contacts}, 64, 'the area holds their 64 addresses';
is $st->{health}{contacts_dropped}, 0, 'none refused';

# The table counts a lead as in its file once the writer confirmed it.
my $seen = int(time);
ok MQLTest::wait_for(10, sub { ($status->()->{health}{writer}{published_before} // 0) > $seen }),
    'the writer confirmed them';

# Ten more leads: published leads' addresses give way in memory.
my @late;
for my $n (1 .. 10) {
    my ($id, $c) = visitor_with_contact("late$n\@example.com", 1);
    push @late, [ $id, "late$n\@example.com", $c ];
}
ok MQLTest::wait_for(10, sub { $with_contact->(@late) == 10 }),
    'ten more leads, each published with its address';
$st = $status->();
is $st->{health}{contacts_dropped}, 0, 'still none refused';
unlike $t->log_text, qr/MQL01004/, 'nor logged as refused';

# Every lead is seen again: each record is written anew, and those whose
# address the table gave up keep the one their file held.
my $all = dbm_all();
my %views = map { $_->[0] => field($all->{ $_->[0] }, 'views') } @leads, @late;
$t->get('/pricing.html', Cookie => $_->[2]) for @leads, @late;
ok MQLTest::wait_for(10, sub {
    my $now = dbm_all();
    !grep { (field($now->{ $_->[0] }, 'views') // 0) != $views{ $_->[0] } + 1 } @leads, @late;
}), 'all 74 records written again with the new view';
is $with_contact->(@leads, @late), 74, 'every one still has its address';
$st = $status->();
is $st->{stages}{mql}, 74, 'and every lead is still in the table';

$t->stop;
is_deeply [$t->unexpected_errors], [], 'no errors in the error log';
done_testing;
