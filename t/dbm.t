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

# Leads reach the DBM file, and every reader the spec names can read them:
# Perl SDBM_File / GDBM_File, Python dbm.gnu, mod_rewrite's RewriteMap and a
# C program through apr_dbm.  Per-vhost files; a plain visitor has no record.
# The default type is gdbm, one file; the leads of an sdbm pair that an
# earlier default wrote are copied into it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use SDBM_File;
use MQLTest;

my $reader = MQLTest::helper_bin('dbm_reader');
my $python = '/usr/bin/python3';

sub fields {
    my ($v) = @_;
    return { map { my ($k, $x) = split /=/, $_, 2; $x =~ s/%([0-9A-F]{2})/chr hex $1/ge; ($k, $x) }
             split /;/, $v // '' };
}

sub perl_sdbm_get {
    my ($path, $key) = @_;
    tie(my %h, 'SDBM_File', $path, O_RDONLY, 0) or return;
    my $v = $h{$key};
    untie %h;
    return $v;
}

sub perl_gdbm_get {
    my ($path, $key) = @_;
    require GDBM_File;
    my %h;
    tie(%h, 'GDBM_File', $path, GDBM_File::GDBM_READER(), 0) or return;
    my $v = $h{$key};
    untie %h;
    return $v;
}

sub python_gdbm_get {
    my ($path, $key) = @_;
    my $v = `$python -c 'import dbm.gnu,sys; d=dbm.gnu.open(sys.argv[1],"r"); k=sys.argv[2].encode(); print(d[k].decode() if k in d else "")' '$path' '$key' 2>&1`;
    chomp $v;
    return $v eq '' ? undef : $v;
}

sub c_get {
    my ($type, $path, $key) = @_;
    my $v = `$reader get $type '$path' '$key'`;
    return $? ? undef : do { chomp $v; $v };
}

# ---- sdbm (MQLDBMType sdbm); mod_rewrite; a second virtual host ------------
{
    my $t;
    my $state = undef;
    $t = MQLTest->new(conf => '');
    $state = $t->state_dir;
    my $port = $t->port;
    my $other = "$state/other-leads";
    $t->write_conf(<<"CONF");
MQLThreshold 20
MQLDBMType sdbm
RewriteEngine On
RewriteMap leads dbm=sdbm:$state/leads
RewriteCond \${leads:%{ENV:MQL_VISITOR}|none} ^stage=mql
RewriteRule ^/pricing\\.html\$ /welcome-back.html [PT]
<VirtualHost 127.0.0.1:$port>
    ServerName 127.0.0.1
    RewriteEngine On
    RewriteOptions Inherit
</VirtualHost>
<VirtualHost 127.0.0.1:$port>
    ServerName other.test
    MQLDBMFile $other
</VirtualHost>
CONF
    # No leads file yet: mod_rewrite checks its map while it reads the
    # configuration, so mod_mql must have created it by then.
    ok !-e $state, 'sdbm: a fresh install, no state directory yet';
    open my $fh, '>', "$t->{docroot}/welcome-back.html" or die $!;
    print $fh "<html><body>welcome back, valued lead</body></html>\n";
    close $fh;
    chmod 0644, "$t->{docroot}/welcome-back.html";
    $t->start;

    ok -e "$state/leads.pag" && -e "$state/leads.dir", 'sdbm: the leads file exists at start';
    ok -e "$other.pag", 'sdbm: the second virtual host has its own file';
    is((stat "$state/leads.pag")[2] & 07777, 0640, 'sdbm: file mode 0640 (holds contacts)');

    # A plain visitor: no record.
    my $res = $t->get('/');
    my ($plain_cookie) = MQLTest::visitor_cookie($res);
    my ($plain) = $plain_cookie =~ /^mql_vid=([^.]+)\./;

    # Before the visitor is a lead, pricing is the normal page (and the
    # miss is cached by mod_rewrite: the publication must invalidate it).
    my ($id, $cookie) = ('', '');
    $res = $t->get('/');
    ($cookie) = MQLTest::visitor_cookie($res);
    ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    $res = $t->get('/pricing.html', Cookie => $cookie);
    unlike $res->{content}, qr/welcome back/, 'mod_rewrite: not a lead yet, normal page';
    $res = $t->host_request('POST', '/cgi-bin/form.cgi', headers => { Cookie => $cookie },
                            body => 'email=jane%2Btest%40example.com');
    is $res->{status}, 302, 'contact form accepted';
    my $t0 = Time::HiRes::time();
    my $v = MQLTest::wait_for(2, sub { perl_sdbm_get("$state/leads", $id) });
    ok defined $v, 'the lead is in the DBM file within 2 s';
    diag sprintf 'appeared after %.2f s', Time::HiRes::time() - $t0;
    my $f = fields($v);
    is $f->{stage}, 'mql', 'record: stage=mql';
    is $f->{score}, 22, 'record: score (2 views + 20 form)';
    is $f->{forms}, 1, 'record: forms=1';
    is $f->{views}, 2, 'record: views=2';
    is $f->{contact}, 'jane+test@example.com', 'record: contact, percent-decoded';
    is $f->{trigger}, 'form:/cgi-bin/form.cgi', 'record: trigger';
    like $f->{since}, qr/^\d{10}$/, 'record: since is Unix seconds';
    like $f->{last}, qr/^\d{10}$/, 'record: last is Unix seconds';
    like $v, qr/^stage=mql;score=\d+;since=\d+;last=\d+;views=2;downloads=0;forms=1;/,
        'record: the spec\'s field order';
    # the contact, then only where the lead came from (t/attribution.t)
    like $v, qr/contact=jane\+test%40example\.com(?:;source=[^;]*;medium=[^;]*(?:;(?:last_)?\w+=[^;]*)*)?$/,
        'record: contact percent-encoded';

    is c_get('sdbm', "$state/leads", $id), $v, 'C reader through apr_dbm: same record';
    is perl_sdbm_get("$state/leads", $plain), undef, 'a plain visitor has no record';
    is c_get('sdbm', "$state/leads", $plain), undef, 'C reader: no record for a plain visitor';
    is perl_sdbm_get("$other", $id), undef, 'the lead is not in the other host\'s file';

    $res = $t->get('/pricing.html', Cookie => $cookie);
    like $res->{content}, qr/welcome back/, 'mod_rewrite RewriteMap routes the MQL (server context)';
    $res = $t->get('/pricing.html', Cookie => $plain_cookie);
    unlike $res->{content}, qr/welcome back/, 'mod_rewrite: a plain visitor gets the normal page';

    # Routine updates of a lead reach the file too (batched).
    $t->get('/index.html', Cookie => $cookie) for 1 .. 3;
    $v = MQLTest::wait_for(5, sub {
        my $x = perl_sdbm_get("$state/leads", $id);
        $x && fields($x)->{views} == 6 ? $x : undef });
    ok $v, 'later page views reach the record within a few seconds';

    # The second virtual host writes to its own file.
    my ($id2) = $t->make_lead(host => 'other.test');
    my $v2 = MQLTest::wait_for(2, sub { perl_sdbm_get($other, $id2) });
    is fields($v2)->{stage}, 'mql', 'virtual host other.test: lead in its own MQLDBMFile';
    is perl_sdbm_get("$state/leads", $id2), undef, '... and not in the main file';

    # Many leads: every one readable by Perl and C, nothing torn.
    my @ids = map { ($t->make_lead)[0] } 1 .. 60;
    MQLTest::wait_for(3, sub { defined perl_sdbm_get("$state/leads", $ids[-1]) });
    tie(my %h, 'SDBM_File', "$state/leads", O_RDONLY, 0) or die $!;
    my $bad = grep { !defined $h{$_} || fields($h{$_})->{stage} ne 'mql' } @ids;
    is $bad, 0, '60 more leads, all readable through Perl SDBM_File';
    is scalar(keys %h), 61, 'the file holds exactly the 61 leads';
    untie %h;
    my @dump = split /\n/, `$reader dump sdbm $state/leads`;
    is scalar(@dump), 61, 'C reader walks the same 61 records';

    # State survives a restart; records are kept.
    $t->stop;
    is fields(perl_sdbm_get("$state/leads", $id))->{stage}, 'mql', 'record kept after stop';
    $t->start;
    $res = $t->get('/cgi-bin/env.cgi', Cookie => $cookie);
    is MQLTest::env_of($res)->{MQL_STAGE}, 'mql', 'MQL_STAGE=mql after a restart';
    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, 'no unexpected errors in the log' or diag join "\n", @errors;
    $t->stop;
}

# ---- gdbm, the default: Perl GDBM_File, Python dbm.gnu, C reader -----------
{
    my $t = MQLTest->new(mpm => 'prefork', conf => "MQLThreshold 20\n");
    my $state = $t->state_dir;
    # the sdbm pair an earlier version wrote by default, with two leads
    mkdir $state or die "$state: $!";
    my %old = ('A' x 22 => 'stage=sql;score=150;since=1764147600;last=1764151200;views=9;'
                         . 'downloads=1;forms=1;contact=old%40example.com',
               'B' x 22 => 'stage=mql;score=120;since=1764147600;last=1764151200;views=20;'
                         . 'downloads=0;forms=0');
    {
        tie(my %h, 'SDBM_File', "$state/leads", O_RDWR | O_CREAT, 0640) or die $!;
        %h = %old;
        untie %h;
    }
    MQLTest::give_to_server($state, "$state/leads.dir", "$state/leads.pag");
    $t->start;
    ok -e "$state/leads", 'gdbm: the leads file exists at start';
    ok !-e "$state/leads.mqlnew", '... and nothing half-made beside it';
    is perl_gdbm_get("$state/leads", 'A' x 22), $old{'A' x 22},
        'gdbm: the leads of the sdbm file of an earlier default are in it';
    is perl_gdbm_get("$state/leads", 'B' x 22), $old{'B' x 22}, '... each of them';
    like $t->log_text, qr/MQL08050: copied 2 leads of the sdbm file \Q$state\E\/leads\.dir\/\.pag/,
        '... and the log says so';
    is((stat "$state/leads")[2] & 07777, 0640, 'gdbm: file mode 0640 (holds contacts)');
    my ($id) = $t->make_lead(email => 'bob@example.org');
    my $v = MQLTest::wait_for(2, sub { perl_gdbm_get("$state/leads", $id) });
    is fields($v)->{stage}, 'mql', 'gdbm: Perl GDBM_File reads the lead within 2 s';
    is fields($v)->{contact}, 'bob@example.org', 'gdbm: contact';
    is python_gdbm_get("$state/leads", $id), $v, 'gdbm: Python dbm.gnu reads the same record';
    is c_get('gdbm', "$state/leads", $id), $v, 'gdbm: C reader through apr_dbm';
    # readers of a gdbm file do not fail while the server has written it
    my @ids = map { ($t->make_lead)[0] } 1 .. 20;
    my $fails = 0;
    for (1 .. 40) { $fails++ unless defined python_gdbm_get("$state/leads", $id) }
    is $fails, 0, 'gdbm: Python never fails to open the file while the server writes';
    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, 'gdbm: no unexpected errors' or diag join "\n", @errors;
    $t->stop;
}

done_testing;
