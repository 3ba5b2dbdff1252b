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

# Contacts from httpd's own authentication (MQLContactFrom remote-user, a
# mod_auth_basic user named by an e-mail address; env=NAME, a variable
# that SetEnv or SetEnvIf sets as mod_auth_openidc or mellon would),
# normalised, in the lead's DBM record; and the accounts behind people:
# two people of acme.example make it a marketing-qualified account,
# announced once (across a restart too), gmail.com is no account; the
# status page's Accounts section and mqlctl accounts in three formats.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MIME::Base64 ();
use MQLTest;
use MQLReceiver;

my ($t, $out, %cookie_of);
my $ctl = "$MQLTest::TOP/build/out/mqlctl";
my $auth = 'Basic ' . MIME::Base64::encode_base64('Jane.Doe@Acme.Example:secret', '');
my $bob = 'Basic ' . MIME::Base64::encode_base64('bob:secret', '');
sub event { my ($n) = @_; "signal.cgi?event=webinar%3B%20points%3D$n" }
sub id_of { my ($c) = @_; $c && $c =~ /^mql_vid=([^.]+)\./ ? $1 : undef }
sub visit {
    my ($path, %h) = @_;
    my $r = $t->get($path, %h);
    is $r->{status}, 200, "GET $path" or diag $r->{content};
    my $c = MQLTest::visitor_cookie($r);
    my $id = id_of($c);
    $cookie_of{$id} = $c if $id;
    return $id;
}
sub field { my ($rec, $name) = @_; defined $rec && $rec =~ /(?:^|;)\Q$name\E=([^;]*)/ ? $1 : undef }
sub record { my ($id) = @_; MQLTest::wait_for(8, sub { $t->leads_records->{$id} }) }
sub lines {
    open my $f, '<', $out or return ();
    return map { eval { decode_json($_) } // { bad => $_ } } <$f>;
}
sub account_lines { grep { ($_->{type} // '') eq 'account' } lines() }
sub accounts_file {
    my $text = do { open my $f, '<', $t->state_dir . '/accounts' or return {}; local $/; <$f> };
    my %a;
    for (split /\n/, $text) {
        my @f = split /\t/;
        $a{ $f[1] } = { people => $f[2], engaged => $f[3], leads => $f[4], score => $f[5],
                        announced => $f[8] } if @f == 9;
    }
    return \%a;
}


sub journey {
    my ($mpm) = @_;
    note "MPM $mpm";
    $t = MQLTest->new(mpm => $mpm, conf => '',
                      modules => [qw(auth_basic authn_core authn_file authz_user)]);
    my $root = $t->root;
    my $docroot = "$root/htdocs";
    (undef, $out) = $t->notify_sink;
    %cookie_of = ();
    # a webhook receiver for accounts only
    $MQLReceiver::dir = $root;
    my $hook_port = MQLTest::free_port();
    my $hook = MQLReceiver::receiver('hook', $hook_port, undef, 200);
    {
        open my $pw, '>', "$root/htpasswd" or die "$root/htpasswd: $!";
        for my $user ('Jane.Doe@Acme.Example', 'bob') {
            my $line = `htpasswd -nbB '$user' secret 2>/dev/null`;
            $line =~ s/\s+$//;
            die "htpasswd failed\n" unless $line =~ /^\Q$user\E:/;
            print $pw "$line\n";
        }
        close $pw;
    }
    MQLTest::give_to_server("$root/htpasswd");

    $t->write_conf(<<~"CONF");
    MQLThreshold 40
    MQLHalfLife 0
    MQLNotify "|$root/notify.pl"
    MQLContactFrom remote-user env=OIDC_CLAIM_email
    MQLContactFrom env=MQL_TEST_EMAIL
    MQLFreeMailDomains example.org
    MQLAccountThreshold 2 80
    MQLWebhook http://127.0.0.1:$hook_port/accounts events=account
    # a stand-in for a single sign-on module's claim: a request header
    SetEnvIf X-Test-Email "(.+)" MQL_TEST_EMAIL=\$1
    ScriptAlias /private/ $docroot/cgi-bin/
    ScriptAlias /sso/ $docroot/cgi-bin/
    <Location /private/>
        AuthType Basic
        AuthName "customer area"
        AuthBasicProvider file
        AuthUserFile $root/htpasswd
        Require valid-user
    </Location>
    <Location /sso/>
        SetEnv OIDC_CLAIM_email " Sam\@Beta.Example "
    </Location>
    <Location /mql-status>
        SetHandler mql-status
    </Location>
    CONF
    $t->start;

    # jane signs in (her user name an address in mixed case); the variable
    # below remote-user does not win over it
    my $jane = visit('/private/' . event(50), Authorization => $auth,
                     'X-Test-Email' => 'other@acme.example');
    my $rec = record($jane);
    ok $rec, 'jane is a lead (51 points)';
    is field($rec, 'contact'), 'jane.doe%40acme.example',
        'remote-user: her contact is the normalised address (trimmed, lowercased)';
    my $acc = MQLTest::wait_for(8, sub { accounts_file()->{'acme.example'} });
    ok $acc, 'the writer counts acme.example';
    is $acc && $acc->{people}, 1, '... one person so far';
    is $acc && $acc->{announced}, 0, '... not qualified with one person';

    # a login name that is no address is no contact
    my $bob_id = visit('/private/' . event(50), Authorization => $bob);
    $rec = record($bob_id);
    ok $rec, 'bob is a lead';
    ok !field($rec, 'contact'), 'remote-user bob (no address): no contact';

    # joe's contact comes from a variable (SetEnvIf): under the threshold
    my $joe = visit('/cgi-bin/' . event(30), 'X-Test-Email' => '  Joe@ACME.example ');
    # ann's is free mail; sam's from SetEnv in a claim's name (beta.example)
    my $ann = visit('/cgi-bin/' . event(60), 'X-Test-Email' => 'Ann@GMail.com');
    my $sam = visit('/sso/' . event(45));
    # an address of a domain MQLFreeMailDomains adds
    my $kim = visit('/cgi-bin/' . event(60), 'X-Test-Email' => 'kim@example.org');
    is field(record($ann), 'contact'), 'ann%40gmail.com', 'env=NAME (SetEnvIf): normalised';
    is field(record($sam), 'contact'), 'sam%40beta.example', 'env=NAME (SetEnv): normalised';
    my $joe_status = decode_json($t->get("/mql-status?visitor=$joe&json")->{content});
    is $joe_status->{visitor}{contact} // $joe_status->{contact}, 'joe@acme.example',
        'joe, not a lead, holds his normalised contact';

    # the application's X-MQL-Contact still works, normalised too
    my $app = visit('/cgi-bin/' . event(50) . '&contact=Mixed.Case%40Delta.Example');
    is field(record($app), 'contact'), 'mixed.case%40delta.example', 'X-MQL-Contact: normalised';

    # acme.example: jane (51) and joe (31), 82 >= 80 with 2 people: announced once
    my @a = @{ MQLTest::wait_for(10, sub { my @l = account_lines(); @l ? \@l : undef }) // [] };
    is scalar(@a), 1, 'one account notification' or diag join ' ', map { $_->{type} // 'none' } lines();
    is $a[0]{domain}, 'acme.example', '... for acme.example';
    is $a[0]{people}, 2, '... two people';
    is $a[0]{engaged}, 2, '... both engaged';
    is $a[0]{score}, 82, '... whose scores add up to 82';
    is $a[0]{leads}, 1, '... one of them a lead';
    like $a[0]{time}, qr/^\d{10}$/, '... and when';
    my $h = MQLTest::wait_for(10, sub { my $r = MQLReceiver::records($hook); @$r ? $r : undef }) // [];
    is scalar(@$h), 1, 'the account webhook got one POST (events=account: no lead\'s)';
    is_deeply eval { decode_json($h->[0]{body}) }, $a[0], '... the object of the notification line';
    my $all = accounts_file();
    ok !$all->{'gmail.com'}, 'gmail.com is not an account';
    ok !$all->{'example.org'}, 'nor a domain of MQLFreeMailDomains';
    ok $all->{'beta.example'} && !$all->{'beta.example'}{announced},
        'beta.example: an account of one person, not qualified';
    ok !grep({ $_->{bad} } lines()), 'every notification line is JSON';

    # more activity: no second announcement
    $t->get('/cgi-bin/' . event(4), Cookie => $cookie_of{$joe});     # 36: not yet a lead
    $t->get('/private/' . event(5), Authorization => $auth, Cookie => $cookie_of{$jane});
    # jane 51 + 6, joe 31 + 5: the account's score is 93 once counted again
    ok MQLTest::wait_for(8, sub { (accounts_file()->{'acme.example'}{score} // 0) == 93 }),
        'the writer counted again: acme.example now scores 93';
    is scalar(my @again = account_lines()), 1, 'still one account notification';

    # the status page
    my $st = decode_json($t->get('/mql-status?json')->{content});
    ok $st->{accounts}, 'status ?json: an accounts section';
    is $st->{accounts}{qualified}, 1, '... one marketing-qualified account';
    my ($acme) = grep { $_->{domain} eq 'acme.example' } @{ $st->{accounts}{list} // [] };
    ok $acme && $acme->{qualified} && $acme->{people} == 2 && $acme->{leads} == 1,
        '... acme.example in its list, qualified';
    is $st->{accounts}{list}[0]{domain}, 'acme.example', '... first (it has a lead)';
    my $auto = $t->get('/mql-status?auto')->{content};
    like $auto, qr/^MQLAccountsQualified: 1$/m, 'status ?auto: MQLAccountsQualified';
    like $auto, qr/^MQLAccounts: 3$/m, 'status ?auto: MQLAccounts (acme, beta, delta)';
    like $auto, qr/^MQLAccountsCounted: \d{10}$/m, 'status ?auto: when they were counted';
    my $html = $t->get('/mql-status')->{content};
    like $html, qr/<section id="accounts">.*acme\.example/s, 'status page: the Accounts section';

    # mqlctl accounts, three formats
    my $text = `$ctl --state-dir ${\ $t->state_dir } accounts`;
    is $?, 0, 'mqlctl accounts';
    like $text, qr/^acme\.example\s+2\s+2\s+1\s+\d+\s.*\d{4}-\d\d-\d\dT/m, '... text: acme.example';
    unlike $text, qr/gmail/, '... no gmail.com';
    my $csv = `$ctl --state-dir ${\ $t->state_dir } accounts --format csv`;
    is $?, 0, 'mqlctl accounts --format csv';
    like $csv, qr/^site,domain,people,engaged,leads,score,first_seen,last_seen,qualified_at\r$/m,
        '... header';
    like $csv, qr/^127\.0\.0\.1,acme\.example,2,2,1,\d+,[-\dT:Z]+,[-\dT:Z]+,\d{4}-[-\dT:Z]+\r$/m,
        '... acme.example, qualified';
    my $json = decode_json(scalar `$ctl --state-dir ${\ $t->state_dir } accounts --format json`);
    my ($j) = grep { $_->{domain} eq 'acme.example' } @{ $json->{accounts} };
    ok $j && $j->{qualified} && $j->{people} == 2, 'mqlctl accounts --format json';
    my $site = `$ctl --state-dir ${\ $t->state_dir } --site 127.0.0.1 accounts --format csv`;
    is $?, 0, 'mqlctl --site 127.0.0.1 accounts';
    like $site, qr/^127\.0\.0\.1,acme\.example,/m, '... that site\'s accounts';
    system("$ctl --state-dir ${\ $t->state_dir } --site nosuch.example accounts 2>/dev/null");
    is $? >> 8, 2, '... an unknown site is bad usage';
    system("$ctl --state-dir ${\ $t->state_dir } accounts --format xml 2>/dev/null");
    is $? >> 8, 2, '... an unknown format is bad usage';

    # a restart: announced once stays once
    $t->stop;
    $t->start;
    $t->get('/private/' . event(5), Authorization => $auth, Cookie => $cookie_of{$jane});
    ok MQLTest::wait_for(8, sub { (accounts_file()->{'acme.example'}{score} // 0) == 99 }),
        'after a restart the writer counts again (jane\'s 6 more points)';
    ok accounts_file()->{'acme.example'}{announced}, 'acme.example is still marked announced';
    is scalar(my @restart = account_lines()), 1, 'and not announced a second time';
    is scalar(@{ MQLReceiver::records($hook) }), 1, '... nor POSTed again';
    MQLReceiver::stop_receiver('hook');

    my @errors = $t->unexpected_errors;
    is scalar(@errors), 0, 'no unexpected errors' or diag join "\n", @errors;
    $t->stop;
}

journey($_) for qw(event prefork);
done_testing;
