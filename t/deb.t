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

# The Debian package: `make deb` into a temporary directory, lintian on the
# result (no error, no warning), and what the .deb holds: files, modes,
# owners, conffiles, dependencies, the maintainer scripts' handling of
# /var/lib/apache2/mql, the man pages.  Installing, upgrading and purging it
# on a fresh Debian root is `make test-deb` (build/deb-system-test.sh).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use MQLTest;

my $TOP = $MQLTest::TOP;
my $tmp = tempdir('mqldeb.XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{MQL_KEEP});
open my $vf, '<', "$TOP/VERSION" or die;
chomp(my $version = <$vf>);
chomp(my $arch = `dpkg --print-architecture`);
my $pkg = "libapache2-mod-mql_${version}_$arch.deb";

# ---- build ----------------------------------------------------------------
my $out = `make -s -C $TOP deb DEB_OUT=$tmp LINTIAN=no 2>&1`;
is $?, 0, 'make deb succeeds' or diag $out;
ok -f "$tmp/$pkg", "it built $pkg";
ok -f "$tmp/mod-mql_$version.dsc" && -f "$tmp/mod-mql_$version.tar.xz",
    'and the source package (.dsc, .tar.xz)';
my ($changes) = glob "$tmp/mod-mql_${version}_*.changes";
ok $changes, 'and a .changes listing them' or BAIL_OUT('nothing to check');
ok !-e "$tmp/mod-mql-$version", 'the build copy of the checkout is removed';

# ---- lintian ----------------------------------------------------------------
# The same run twice: as an admin sees it, and as JSON, which names every
# file lintian examined and every hint down to the pedantic ones.
my $lintian = `lintian --fail-on error,warning $changes 2>&1`;
my $lintian_rc = $? >> 8;
my @bad = grep { /^[EW]: / } split /\n/, $lintian;
is_deeply \@bad, [], 'lintian: no errors and no warnings' or diag $lintian;
is $lintian_rc, 0, 'lintian --fail-on error,warning exits 0';
my $json = `lintian --fail-on none --exp-output format=json -I --pedantic $changes 2>/dev/null`;
my $report = eval { JSON::PP->new->decode($json) };
ok $report, 'lintian\'s JSON report parses' or diag $json;
my @files = map { @{ $_->{input_files} } } @{ $report->{groups} || [] };
my %examined = map { ($_->{path} =~ m{([^/]+)$})[0] => 1 } @files;
ok $examined{$pkg} && $examined{"mod-mql_$version.dsc"},
    'lintian examined the .deb and the source package (' . join(' ', sort keys %examined) . ')';
my @hints = map { @{ $_->{hints} } } @files;
is_deeply [ map { "$_->{visibility}: $_->{tag}" } grep { $_->{visibility} =~ /^(error|warning)$/ } @hints ],
    [], 'no hint of error or warning visibility';
diag "lintian $report->{lintian_version}: "
    . (@hints ? join('; ', map { "$_->{visibility}: $_->{tag} $_->{pointer}{item}{name}" } @hints) : 'no hints');

# ---- contents ---------------------------------------------------------------
my %entry;    # path => [mode string, owner]
for (`dpkg-deb -c $tmp/$pkg`) {
    my ($mode, $owner, undef, undef, undef, $path) = split ' ', $_, 6;
    chomp $path;
    $path =~ s{^\./}{/};
    $path =~ s{/$}{} unless $path eq '/';
    $entry{$path} = [$mode, $owner];
}
my %want = (
    '/usr/lib/apache2/modules/mod_mql.so'          => '-rw-r--r--',
    '/usr/bin/mqlctl'                              => '-rwxr-xr-x',
    '/etc/apache2/mods-available/mql.load'         => '-rw-r--r--',
    '/etc/apache2/mods-available/mql.conf'         => '-rw-r--r--',
    '/usr/share/man/man1/mqlctl.1.gz'              => '-rw-r--r--',
    '/usr/share/man/man8/mod_mql.8.gz'             => '-rw-r--r--',
    '/usr/share/doc/libapache2-mod-mql/README.md.gz'   => '-rw-r--r--',
    '/usr/share/doc/libapache2-mod-mql/SECURITY.md.gz' => '-rw-r--r--',
    '/usr/share/doc/libapache2-mod-mql/copyright'      => '-rw-r--r--',
    '/usr/share/doc/libapache2-mod-mql/docs/leads.md.gz' => '-rw-r--r--',
    '/var/lib/apache2/mql'                         => 'drwxr-xr-x',
);
for my $path (sort keys %want) {
    is $entry{$path} && $entry{$path}[0], $want{$path}, "$path: $want{$path}";
}
is_deeply [ grep { $entry{$_}[1] ne 'root/root' } sort keys %entry ], [],
    'every file in the .deb is root\'s (www-data gets the state directory from postinst)';
is_deeply [ grep { $entry{$_}[0] =~ /[sS]|^.{8}w/ } sort keys %entry ], [],
    'nothing set-id or world-writable';
is_deeply [ grep { m{^/var/lib/apache2/mql/} } sort keys %entry ], [],
    'nothing shipped inside the state directory';
is_deeply [ grep { m{^/etc/apache2/mods-enabled} } sort keys %entry ], [],
    'nothing in mods-enabled: the module is not enabled by the package';

# ---- control ----------------------------------------------------------------
my $control = `dpkg-deb -f $tmp/$pkg`;
like $control, qr/^Package: libapache2-mod-mql$/m, 'Package: libapache2-mod-mql';
like $control, qr/^Version: \Q$version\E$/m, "Version: $version (from VERSION)";
like $control, qr/^Depends: .*\bapache2-api-20120211\b/m, 'depends on the httpd module API (dh_apache2)';
like $control, qr/^Depends: .*\blibmaxminddb0\b/m, 'and on libmaxminddb (shlibs)';
like $control, qr/^Recommends: .*\bapache2\b/m, 'recommends apache2 (a2enmod, the service)';
my $ctl = "$tmp/control";
system('dpkg-deb', '-e', "$tmp/$pkg", $ctl) == 0 or die;
my $read = sub { open my $f, '<', "$ctl/$_[0]" or return ''; local $/; scalar <$f> };
is $read->('conffiles'), "/etc/apache2/mods-available/mql.conf\n/etc/apache2/mods-available/mql.load\n",
    'mql.load and mql.conf are conffiles';

# ---- maintainer scripts -----------------------------------------------------
my $postinst = $read->('postinst');
like $postinst, qr/dpkg-statoverride --list "\$STATE"/, 'postinst: an existing statoverride is kept';
like $postinst, qr/dpkg-statoverride --update --add www-data www-data 0750 "\$STATE"/,
    'postinst: /var/lib/apache2/mql www-data:www-data 0750 by dpkg-statoverride';
like $postinst, qr{^STATE=/var/lib/apache2/mql$}m, '... for /var/lib/apache2/mql';
unlike $postinst, qr/\bapache2_invoke\b|a2enmod/, 'postinst does not enable the module';
my $code = join '', grep { !/^\s*#/ } map { split /^/, $read->($_) } qw(postinst prerm postrm);
unlike $code, qr/\b(chown|chmod|chgrp|install|mkdir|ln|mv|cp)\s/,
    'no maintainer script changes files by path (only dpkg-statoverride and rm -rf on purge)';
like $read->('prerm'), qr/"\$1" = "remove".*apache2_invoke dismod \$conf/s,
    'prerm disables the module on remove (apache2-maintscript-helper)';
my $postrm = $read->('postrm');
like $postrm, qr/if \[ "\$1" = "purge" \]; then\n\s+rm -rf "\$STATE"\n/, 'postrm: purge deletes the state';
like $postrm, qr/dpkg-statoverride --remove "\$STATE"/, '... and its statoverride';
like $postrm, qr/"\$1" = "purge".*apache2_invoke dismod/s, '... and disables the module';
is system('sh', '-n', "$ctl/$_"), 0, "$_ is valid sh" for qw(postinst prerm postrm);

# ---- the files themselves ---------------------------------------------------
my $x = "$tmp/x";
system('dpkg-deb', '-x', "$tmp/$pkg", $x) == 0 or die;
my $libexec = MQLTest::apxs('LIBEXECDIR');
my $load = do { local $/; open my $f, '<', "$x/etc/apache2/mods-available/mql.load" or die; <$f> };
is_deeply [ $load =~ /^\s*(LoadModule\s.*)$/mg ], ["LoadModule mql_module $libexec/mod_mql.so"],
    'mql.load loads the shipped mod_mql.so';
is system('cmp', '-s', "$x/etc/apache2/mods-available/mql.conf", "$TOP/conf/mql.conf"), 0,
    'mql.conf is conf/mql.conf';
is `$x/usr/bin/mqlctl --version`, "mqlctl $version\n", 'the packaged mqlctl says its version';
my $so = do { local $/; open my $f, '<:raw', "$x/usr/lib/apache2/modules/mod_mql.so" or die; <$f> };
# the version as a string of its own or the tail of one ("mod_mql/1.0.0",
# the webhooks' User-Agent: the linker keeps one copy of both)
ok $so =~ /(?:\0|\/)\Q$version\E\0/ && index($so, 'MQL00050: mod_mql %s started') >= 0,
    'the packaged module carries the version for its start-up line';
my $dyn = `readelf -d $x/usr/bin/mqlctl $x/usr/lib/apache2/modules/mod_mql.so 2>&1`;
my $relro = () = `readelf -l $x/usr/bin/mqlctl $x/usr/lib/apache2/modules/mod_mql.so` =~ /GNU_RELRO/g;
is $relro, 2, 'both binaries are linked with RELRO (dpkg-buildflags reached the Makefile)';
my $now = () = $dyn =~ /\bBIND_NOW\b|FLAGS.*\bNOW\b/g;
ok $now >= 2, '... and BIND_NOW' or diag $dyn;

# ---- man pages --------------------------------------------------------------
for my $page ("$x/usr/share/man/man1/mqlctl.1.gz", "$x/usr/share/man/man8/mod_mql.8.gz") {
    my $warn = `LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $page 2>&1 >/dev/null`;
    is $warn, '', "man --warnings is silent on " . ($page =~ m{([^/]+)\.gz$})[0];
}
my $man8 = `zcat $x/usr/share/man/man8/mod_mql.8.gz`;
my $src = do { local $/; open my $f, '<', "$TOP/mod_mql/mod_mql_config.c" or die; <$f> };
my %dirs = map { $_ => 1 } $src =~ /AP_INIT_\w+\("(MQL\w+)"/g;
$dirs{$_} = 1 for $src =~ /SRV_FLAG\("(MQL\w+)"/g;
ok keys(%dirs) >= 20, 'found the directives of mod_mql_config.c (' . keys(%dirs) . ')';
is_deeply [ grep { $man8 !~ /^\.BI "\Q$_\E /m } sort keys %dirs ], [],
    'mod_mql(8) documents every directive';
my $man1 = `zcat $x/usr/share/man/man1/mqlctl.1.gz`;
my $ctlsrc = do { local $/; open my $f, '<', "$TOP/mod_mql/mqlctl.c" or die; <$f> };
my @opts = $ctlsrc =~ /\{ "([a-z-]+)", (?:'\w'|O_\w+), [01], "/g;
my @cmds = $ctlsrc =~ /!strcmp\(cmd, "([a-z]+)"\) && nargs/g;
ok @opts >= 6 && @cmds >= 6, "found mqlctl's options (@opts) and commands (@cmds)";
(my $man1_plain = $man1) =~ s/\\-/-/g;
is_deeply [ grep { $man1_plain !~ /^\.B(?:I|R)? --\Q$_\E\b/m } @opts ], [],
    'mqlctl(1) documents every option';
is_deeply [ grep { $man1_plain !~ /^\.BI? "?\Q$_\E\b/m } @cmds ], [],
    'mqlctl(1) documents every command';

done_testing;
