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

# Every reader example of README.md and docs/leads.md runs as written on
# Debian 12, against a real server's leads file of the type it is for:
# Perl (GDBM_File for gdbm, the default, and as its comment says,
# SDBM_File for sdbm, DB_File for db), Python dbm.gnu (gdbm), PHP dba db4
# (db, here with php-cli; t/php.t runs it under mod_php and PHP-FPM) and
# mod_rewrite's RewriteMap (gdbm).  Only the file's path is changed, to the test's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $php = '/usr/bin/php8.2';
ok -x $php, 'php-cli is installed' or BAIL_OUT('build/deps.sh test installs php8.2-cli');
my $DOC_PATH = '/var/lib/apache2/mql/leads';

my %ex = (
    readme_perl   => MQLTest::doc_example('README.md', '```perl'),
    readme_python => MQLTest::doc_example('README.md', '```python'),
    readme_php    => MQLTest::doc_example('README.md', '```php'),
    docs_perl     => MQLTest::doc_example('docs/leads.md', 'Perl'),
    docs_python   => MQLTest::doc_example('docs/leads.md', 'Python'),
    docs_php      => MQLTest::doc_example('docs/leads.md', 'PHP'),
);
my ($rewrite) = grep { /RewriteMap/ } map { MQLTest::doc_example('README.md', '```apache', $_) } 1, 2;
my $docs_rewrite = MQLTest::doc_example('docs/leads.md', 'mod_rewrite');
for my $name (sort keys %ex) {
    like $ex{$name}, qr/\Q$DOC_PATH\E/, "$name: the example names the default file";
}
is join('', grep { !/^\s*#/ } split /^/, $docs_rewrite), $rewrite,
    'docs/leads.md\'s mod_rewrite example is the README\'s';

sub write_file { MQLTest::write_file(@_) }

# Run an example with MQL_VISITOR set, as a CGI or PHP page has it.
sub run_example {
    my ($t, $lang, $code, $visitor) = @_;
    my $file = $t->root . "/example.$lang";
    $code =~ s/\Q$DOC_PATH\E/${\ $t->state_dir }\/leads/g;
    my @cmd;
    if ($lang eq 'pl') {
        @cmd = ('perl', $file);
    }
    elsif ($lang eq 'py') {
        $code .= "print('none' if lead is None else lead['stage'] + ' ' + lead['contact'])\n";
        @cmd = ('/usr/bin/python3', $file);    # Debian's, with python3-gdbm
    }
    else {
        $code = "<?php\n$code\necho \$lead ? \$lead['stage'] . ' ' . \$lead['contact'] : 'none', \"\\n\";\n";
        @cmd = ($php, $file);
    }
    write_file($file, $code);
    local $ENV{MQL_VISITOR} = $visitor;
    my $out = `@cmd 2>&1`;
    return ($? >> 8, $out);
}

my %cases = (
    gdbm => [ [ 'readme_perl', 'pl' ], [ 'docs_perl', 'pl' ],
              [ 'readme_python', 'py' ], [ 'docs_python', 'py' ] ],
    sdbm => [ [ 'readme_perl', 'pl', 'SDBM_File' ], [ 'docs_perl', 'pl', 'SDBM_File' ] ],
    db   => [ [ 'readme_perl', 'pl', 'DB_File' ], [ 'docs_perl', 'pl', 'DB_File' ],
              [ 'readme_php', 'php' ], [ 'docs_php', 'php' ] ],
);

for my $type (qw(sdbm gdbm db)) {
    my $t = MQLTest->new(conf => '');
    my $state = $t->state_dir;
    my $extra = '';
    if ($type eq 'gdbm') {
        write_file("$t->{docroot}/pricing-for-leads.html",
                   "<html><body>pricing for leads</body></html>\n");
        ($extra = $rewrite) =~ s/\Q$DOC_PATH\E/$state\/leads/g;
    }
    $t->write_conf("MQLThreshold 20\nMQLDBMType $type\n$extra");
    $t->start;
    my ($id, $cookie) = $t->make_lead(email => "reader+$type\@example.com");
    my ($plain) = MQLTest::visitor_cookie($t->get('/')) =~ /^mql_vid=([^.]+)\./;
    ok MQLTest::wait_for(5, sub {
        my ($rc, $out) = run_example($t, 'pl', $ex{docs_perl} =~ s/GDBM_File/
            { sdbm => 'SDBM_File', gdbm => 'GDBM_File', db => 'DB_File' }->{$type}/ger, $id);
        $out =~ /contact/ }), "$type: the lead reached the file";

    for my $case (@{ $cases{$type} }) {
        my ($name, $lang, $module) = @$case;
        my $code = $ex{$name};
        my $label = "$type: $name" . ($module ? " with $module" : '');
        if ($module) {
            like $code, qr/#.*\Q$module\E for \Q$type\E/, "$label: the example's comment says so";
            $code =~ s/GDBM_File/$module/g;
        }
        my ($rc, $out) = run_example($t, $lang, $code, $id);
        is $rc, 0, "$label: runs" or diag $out;
        if ($lang eq 'pl') {
            like $out, qr/lead since \d{10}, contact reader\+\Q$type\E\@example\.com/,
                "$label: prints the lead's contact";
        }
        else {
            is $out, "mql reader+$type\@example.com\n", "$label: reads the stage and contact";
        }
        ($rc, $out) = run_example($t, $lang, $code, $plain);
        is $rc, 0, "$label: runs for a visitor who is no lead";
        is $out, ($lang eq 'pl' ? '' : "none\n"), "$label: ... and finds no record";
    }
    if ($type eq 'gdbm') {
        like $t->get('/pricing.html', Cookie => $cookie)->{content}, qr/pricing for leads/,
            'gdbm: the README\'s RewriteMap example sends the lead to the leads\' page';
        unlike $t->get('/pricing.html')->{content}, qr/pricing for leads/,
            'gdbm: ... and others to the usual page';
    }
    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$type: no errors in the log";
}

done_testing;
