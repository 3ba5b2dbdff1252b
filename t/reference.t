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

# The directive reference has one source, mod_mql(8): every directive the
# module registers is documented there and nothing else is, and the other
# places that name directives (the example mql.conf, the man pages, the
# configuration examples of README.md and docs/) name only real ones.
# Reads the sources only: no httpd, no build.
use strict;
use warnings;
use FindBin;
use Test::More;

my $TOP = "$FindBin::Bin/..";

sub slurp {
    my ($file) = @_;
    open my $fh, '<', "$TOP/$file" or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

# ---- what the module registers ----------------------------------------------
# A command_rec entry is AP_INIT_*("MQLName", ...) or a macro of the same
# file that expands to one (SRV_FLAG("MQLName", ...)).
my %registered;
for my $file (map { s{^\Q$TOP\E/}{}r } glob "$TOP/mod_mql/*.c") {
    my $src = slurp($file);
    (my $joined = $src) =~ s/\\\n/ /g;
    my @macros = $joined =~ /^\s*#\s*define\s+(\w+)\([^)]*\)[^\n]*\bAP_INIT_\w+/mg;
    my $callers = join '|', 'AP_INIT_\w+', map { quotemeta } @macros;
    $registered{$_} = $file for $src =~ /\b(?:$callers)\(\s*"(MQL\w+)"/g;
}
ok keys(%registered) >= 30, 'found the registered directives (' . keys(%registered) . ')';

# ---- what mod_mql(8) documents ----------------------------------------------
my $man8 = slurp('man/mod_mql.8');
my ($section) = $man8 =~ /^\.SH DIRECTIVES\n(.*?)^\.SH /ms;
ok defined $section, 'mod_mql(8) has a DIRECTIVES section';
$section //= '';
my @entries = split /^\.TP\n/m, $section;
shift @entries;
my %documented;
for my $entry (@entries) {
    my ($name) = $entry =~ /\A\.BI "(MQL\w+) "/ or next;
    ok !$documented{$name}, "mod_mql(8) documents $name once";
    $documented{$name} = 1;
    like $entry, qr/^Default: .+\.$/m, "mod_mql(8): $name has a default";
    like $entry, qr/^Context: (?:server|server-wide|server, directory)\.$/m,
        "mod_mql(8): $name has a context";
}
is_deeply [ grep { !$documented{$_} } sort keys %registered ], [],
    'mod_mql(8) documents every registered directive';
is_deeply [ grep { !$registered{$_} } sort keys %documented ], [],
    'mod_mql(8) documents no directive the module does not register';

# ---- other places that name directives --------------------------------------
# A directive is MQL, a capital, then letters with a lower-case one among
# them: MQL_STAGE, MQLs, MQLCTL_... and the log tags (MQL00050) are not.
sub unknown_in {
    my ($text) = @_;
    my %seen;
    return [ grep { !$registered{$_} && !$seen{$_}++ } $text =~ /\b(MQL[A-Z][A-Za-z]*[a-z][A-Za-z]*)\b/g ];
}
is_deeply unknown_in(slurp('conf/mql.conf')), [], 'conf/mql.conf names only real directives';
is_deeply unknown_in($man8), [], 'mod_mql(8) names only real directives';
is_deeply unknown_in(slurp('man/mqlctl.1')), [], 'mqlctl(1) names only real directives';

# The configuration examples of the documentation (```apache blocks; the
# status page's ?auto keys, which also begin with MQL, are in prose).
for my $doc ('README.md', map { s{^\Q$TOP\E/}{}r } glob "$TOP/docs/*.md") {
    my $text = slurp($doc);
    my $blocks = join "\n", $text =~ /^```apache\n(.*?)^```/msg;
    is_deeply unknown_in($blocks), [], "$doc: its configuration examples name only real directives";
}

# ---- one hand-written reference ----------------------------------------------
my $readme = slurp('README.md');
# A reference row names a directive with its arguments in its first cell
# (| `MQLEngine On\|Off` | ...).
my @rows = grep { $registered{ (/^\| *`(MQL\w+) /)[0] // '' } } $readme =~ /^(\|[^\n]*)/mg;
is_deeply \@rows, [], 'README.md carries no directive table of its own';
ok $readme =~ m{\(man/mod_mql\.8\)}, 'README.md links to mod_mql(8)';

done_testing;
