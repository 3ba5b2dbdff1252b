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

# The release comes from the VERSION file alone: mqlctl --version, the
# module's start-up line in the error log (every generation) and the status
# page's footer show it, and debian/changelog's top entry names it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MQLTest;

my $TOP = $MQLTest::TOP;
open my $vf, '<', "$TOP/VERSION" or die "VERSION: $!";
chomp(my $version = <$vf>);
like $version, qr/^\d+\.\d+\.\d+([~+][0-9A-Za-z.+~]+)?$/, "VERSION holds a version ($version)";

# debian/changelog agrees (read as dpkg-parsechangelog would: the first line)
open my $cl, '<', "$TOP/debian/changelog" or die "debian/changelog: $!";
my ($cl_version) = (scalar <$cl>) =~ /^\S+ \(([^)]+)\)/;
is $cl_version, $version, 'debian/changelog\'s top entry names VERSION';

# mqlctl
my $out = `$TOP/build/out/mqlctl --version 2>&1`;
is $? >> 8, 0, 'mqlctl --version exits 0';
is $out, "mqlctl $version\n", 'mqlctl --version prints the version';
like `$TOP/build/out/mqlctl --help`, qr/--version/, '--help names --version';

# the module's start-up line, once per generation, and the footer
my $t = MQLTest->new(conf => <<'CONF');
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
$t->start;
my $tag = qr/\[mql:notice\] .*MQL00050: mod_mql \Q$version\E started$/m;
my @lines = $t->log_text =~ /$tag/g;
is scalar(@lines), 1, "the error log says 'MQL00050: mod_mql $version started' at start (LogLevel warn)"
    or diag $t->log_text;
$t->graceful;
@lines = $t->log_text =~ /$tag/g;
is scalar(@lines), 2, '... and again after a graceful restart';

my $res = $t->get('/mql-status');
is $res->{status}, 200, 'status page';
like $res->{content}, qr{<footer>mod_mql \Q$version\E &middot; Apache/}, 'its footer names mod_mql and the version';
is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors';
$t->stop;

# a server where the module is loaded but tracks nothing says so
my $off = MQLTest->new(engine => 0, conf => '');
$off->start;
like $off->log_text, qr/MQL00050: mod_mql \Q$version\E started \(MQLEngine Off everywhere\)/,
    'with MQLEngine Off the line says tracking is off';
$off->stop;

done_testing;
