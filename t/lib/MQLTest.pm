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

package MQLTest;
# A real httpd for each test: a generated server root under /tmp that loads
# the freshly built mod_mql.so, listening on a free loopback port.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT_OK = qw(browser_ua);

our $TOP = abs_path(dirname(__FILE__) . '/../..');
our $UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

sub browser_ua { $UA }

sub apxs { my $q = shift; my $v = `apxs -q $q`; chomp $v; $v }

sub httpd_bin {
    my $bin = apxs('SBINDIR') . '/' . apxs('TARGET');
    return $bin;
}

# The module under test: build/out/mod_mql.so, or the one MQL_MODULE names
# (make test-asan points it at the AddressSanitizer build).
sub module_path { $ENV{MQL_MODULE} || "$TOP/build/out/mod_mql.so" }

# Sanitizer mode (MQL_ASAN=1): httpd runs with the ASan runtime preloaded
# (MQL_ASAN_RUNTIME, else gcc's), every report goes to a file under
# logs/ of the server root, and stop() fails the test when one appears.
sub asan { $ENV{MQL_ASAN} ? 1 : 0 }

sub asan_env {
    my $self = shift;
    return () unless asan();
    my $rt = $ENV{MQL_ASAN_RUNTIME}
        || join ' ', map { my $f = `gcc -print-file-name=$_`; chomp $f; $f } qw(libasan.so libubsan.so);
    my $log = "$self->{root}/logs/sanitizer";
    return (LD_PRELOAD => $rt,
            # httpd frees its pools at exit in no particular order and keeps
            # process-lifetime allocations: leak reports would be noise
            ASAN_OPTIONS => "detect_leaks=0:halt_on_error=1:abort_on_error=0:"
                . "log_path=$log-asan:allow_user_segv_handler=0:handle_segv=1:"
                . "detect_stack_use_after_return=0",
            UBSAN_OPTIONS => "halt_on_error=1:print_stacktrace=1:log_path=$log-ubsan");
}

# Sanitizer reports written by this server so far: (file => text) pairs.
sub sanitizer_reports {
    my $self = shift;
    my @out;
    for my $f (sort glob "$self->{root}/logs/sanitizer-*") {
        open my $fh, '<', $f or next;
        local $/;
        push @out, $f, scalar <$fh>;
    }
    return @out;
}

# Fails the running test once per new report file.
sub check_sanitizer {
    my $self = shift;
    return unless asan();
    my %r = $self->sanitizer_reports;
    for my $f (sort keys %r) {
        next if $self->{reported}{$f}++;
        require Test::More;
        my $tb = Test::More->builder;
        $tb->ok(0, "no sanitizer report ($f)");
        $tb->diag($r{$f});
    }
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                  ReuseAddr => 1) or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# new(mpm => 'event'|'prefork', conf => "extra directives", engine => 1,
#     modules => [more httpd modules by name, e.g. qw(cache cache_disk)],
#     load => "LoadModule lines of modules outside mod_NAME.so, e.g. PHP",
#     bare => 1: no MQLStateDir or MQLEngine of its own,
#     cgi => 'cgi': mod_cgi rather than mod_cgid,
#     mpm_tuning => "the MPM's directives", in place of the usual ones)
sub new {
    my ($class, %o) = @_;
    my $self = bless { mpm => 'event', engine => 1, %o, owner => $$ }, $class;
    $self->{root} = tempdir('mqltest.XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{MQL_KEEP});
    chmod 0755, $self->{root};
    $self->{port} = free_port();
    $self->{state} //= "$self->{root}/state";
    $self->{docroot} = "$self->{root}/htdocs";
    $self->_site;
    $self->write_conf($o{conf} // '');
    return $self;
}

sub root { $_[0]{root} }
sub port { $_[0]{port} }
sub state_dir { $_[0]{state} }
sub base { "http://127.0.0.1:$_[0]{port}" }
sub error_log { "$_[0]{root}/logs/error_log" }
sub access_log { "$_[0]{root}/logs/access_log" }

sub _copy_tree {
    my ($from, $to) = @_;
    make_path($to);
    opendir my $d, $from or die "$from: $!";
    for my $e (readdir $d) {
        next if $e =~ /^\.\.?$/;
        if (-d "$from/$e") { _copy_tree("$from/$e", "$to/$e") }
        else { copy("$from/$e", "$to/$e") or die "copy $e: $!"; chmod((stat "$from/$e")[2] & 0777, "$to/$e") }
    }
}

sub _site {
    my $self = shift;
    _copy_tree("$TOP/t/htdocs", $self->{docroot});
    make_path("$self->{root}/logs", "$self->{root}/run");
    if ($> == 0) {
        my ($uid, $gid) = (getpwnam('www-data'))[2, 3];
        chown $uid, $gid, "$self->{root}/run", "$self->{root}/logs";
    }
}

sub user_directives {
    return '' unless $> == 0;
    return "User www-data\nGroup www-data\n";
}

sub write_conf {
    my ($self, $extra) = @_;
    my $mods = apxs('LIBEXECDIR');
    my $mpm = $self->{mpm};
    my $so = module_path();
    # cgi => 'cgi': CGI scripts forked by the children themselves (as
    # mod_php's shell_exec does), instead of mod_cgid's daemon
    my $cgi = $self->{cgi} // 'cgid';
    my @mods = (qw(authz_core authz_host mime dir alias env headers rewrite setenvif
                   remoteip status), $cgi, 'include', @{ $self->{modules} // [] });
    my $load = join '', map { "LoadModule ${_}_module $mods/mod_$_.so\n" } @mods;
    $load .= "$self->{load}\n" if $self->{load};
    my $mpm_tuning = $self->{mpm_tuning} // ($mpm eq 'prefork'
        ? "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\nMaxRequestWorkers 16\n"
        : "StartServers 2\nThreadsPerChild 16\nMinSpareThreads 8\nMaxRequestWorkers 32\n"
          . "ServerLimit 4\n");
    my $engine = $self->{engine} ? "MQLEngine On\n" : '';
    my $mql = $self->{no_module} ? '' : "LoadModule mql_module $so\n";
    # The suite plays hundreds of visitors and leads from 127.0.0.1 within
    # seconds: exactly what the flood limits stop on a real server.  They
    # are off here unless a test asks for them (flood => 1); t/flood.t
    # tests them, and their defaults.
    my $limits = $self->{flood} ? '' : "MQLNewVisitorLimit 0
MQLNewLeadLimit 0
";
    # bare => 1: the module is loaded and the test writes every directive
    # (but the limits, which bear on no file)
    my $mqlconf = $self->{no_module} ? '' : $self->{bare} ? $limits
                : "MQLStateDir $self->{state}
$engine$limits";
    my $conf = <<"CONF";
ServerRoot $self->{root}
ServerName 127.0.0.1
Listen 127.0.0.1:$self->{port}
PidFile $self->{root}/run/httpd.pid
DefaultRuntimeDir $self->{root}/run
ErrorLog $self->{root}/logs/error_log
LogLevel warn
LoadModule mpm_${mpm}_module $mods/mod_mpm_$mpm.so
$load$mql
@{[ user_directives() ]}
$mpm_tuning
@{[ $cgi eq 'cgid' ? "ScriptSock $self->{root}/run/cgid.sock" : '' ]}
TypesConfig /etc/mime.types
AddType text/html .html
AddOutputFilter INCLUDES .shtml
AddType text/html .shtml
DocumentRoot $self->{docroot}
DirectoryIndex index.html
LogFormat "%h %P %>s %b \\"%r\\" %{mql_visitor}n" mql
CustomLog $self->{root}/logs/access_log mql
KeepAlive On
<Directory />
    Require all granted
    Options +ExecCGI +Includes
</Directory>
ScriptAlias /cgi-bin/ $self->{docroot}/cgi-bin/
$mqlconf
$extra
CONF
    open my $fh, '>', "$self->{root}/httpd.conf" or die $!;
    print $fh $conf;
    close $fh;
    $self->{conf_text} = $conf;
}

sub conf_file { "$_[0]{root}/httpd.conf" }

sub _ctl {
    my ($self, @args) = @_;
    my $bin = httpd_bin();
    local %ENV = (%ENV, $self->asan_env);
    my $out = `$bin -d $self->{root} -f $self->{root}/httpd.conf @args 2>&1`;
    return ($? >> 8, $out);
}

# configtest: returns (exit code, output)
sub configtest { my $self = shift; return $self->_ctl('-t') }

sub pid {
    my $self = shift;
    open my $fh, '<', "$self->{root}/run/httpd.pid" or return;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

sub _wait_port {
    my ($self, $up) = @_;
    my $deadline = time + 15;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                      Timeout => 1);
        return 1 if $up && $s;
        return 1 if !$up && !$s;
        close $s if $s;
        sleep 0.05;
    }
    return 0;
}

sub start {
    my $self = shift;
    my ($rc, $out) = $self->_ctl('-k', 'start');
    die "httpd did not start ($rc): $out\n" . $self->log_text if $rc;
    $self->_wait_port(1) or die "httpd not listening on $self->{port}\n" . $self->log_text;
    $self->{running} = 1;
    # the children must be ready to answer, not only the listener
    for (1 .. 100) { last if $self->ua->get($self->base . '/')->{status} < 500; sleep 0.05 }
    return $self;
}

sub stop {
    my $self = shift;
    return unless $self->{running};
    my $pid = $self->pid;
    # -k stop re-reads the configuration; when a test has made it invalid,
    # signal the parent directly.
    my ($rc) = $self->_ctl('-k', 'stop');
    kill 'TERM', $pid if $rc && $pid;
    my $deadline = time + 20;
    while ($pid && kill(0, $pid) && time < $deadline) { sleep 0.05 }
    kill 'KILL', $pid if $pid && kill(0, $pid);
    $self->_wait_port(0);
    $self->{running} = 0;
    $self->check_sanitizer;
}

sub graceful {
    my $self = shift;
    my $gen = $self->_count_log(qr/resuming normal operations/);
    $self->_ctl('-k', 'graceful');
    my $deadline = time + 20;
    while (time < $deadline) {
        last if $self->_count_log(qr/resuming normal operations/) > $gen;
        sleep 0.05;
    }
    for (1 .. 100) { last if $self->ua->get($self->base . '/')->{status} < 500; sleep 0.05 }
}

sub _count_log {
    my ($self, $re) = @_;
    my $n = 0;
    open my $fh, '<', $self->error_log or return 0;
    while (<$fh>) { $n++ if $_ =~ $re }
    return $n;
}

sub log_text {
    my $self = shift;
    open my $fh, '<', $self->error_log or return '';
    local $/;
    return scalar <$fh>;
}

# error-level lines not matching any of the allowed patterns
sub unexpected_errors {
    my ($self, @allowed) = @_;
    my @bad;
    for my $line (split /\n/, $self->log_text) {
        next unless $line =~ /\[(?:[a-z_]+:)?(error|crit|alert|emerg)\]/;
        next if grep { $line =~ $_ } @allowed;
        push @bad, $line;
    }
    # a sanitizer report is never allowed
    my %r = $self->sanitizer_reports;
    push @bad, map { "sanitizer report $_" } sort keys %r;
    return @bad;
}

sub ua {
    my ($self, %h) = @_;
    return HTTP::Tiny->new(agent => $UA, max_redirect => 0, timeout => 10,
                           keep_alive => 0, %h);
}

# request($method, $path, headers => {...}, content => '...')
sub request {
    my ($self, $method, $path, %o) = @_;
    my %headers = %{ $o{headers} // {} };
    my $ua = $self->ua(agent => exists $headers{'User-Agent'} ? '' : $UA);
    return $ua->request($method, $self->base . $path,
                        { headers => \%headers,
                          defined $o{content} ? (content => $o{content}) : () });
}

# Bytes sent as they are on a new connection, for input no well-behaved
# client sends.  Returns { status, headers => { lower-case name => [values] },
# content } with a chunked body decoded.
sub raw_bytes {
    my ($self, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Timeout => 15) or die "connect: $!";
    binmode $s;
    print $s $bytes;
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status_line, @lines) = split /\r\n/, $head // '';
    my ($status) = ($status_line // '') =~ m{^HTTP/\S+ (\d+)};
    my %h;
    for (@lines) { push @{ $h{ lc $1 } }, $2 if /^([^:]+):\s*(.*)$/ }
    $body //= '';
    if (($h{'transfer-encoding'}[0] // '') =~ /chunked/i) {
        my $plain = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last unless $n;
            $plain .= substr $body, 0, $n, '';
            $body =~ s/^\r\n//;
        }
        $body = $plain;
    }
    return { status => $status // 0, headers => \%h, content => $body };
}

# A request with the given header lines, written byte for byte.  Headers
# come back as HTTP::Tiny gives them: a value, or [values] when repeated.
sub raw {
    my ($self, $method, $path, @header_lines) = @_;
    my $host = (grep { /^Host:/i } @header_lines) ? '' : "Host: 127.0.0.1\r\n";
    my $res = $self->raw_bytes("$method $path HTTP/1.1\r\n${host}User-Agent: $UA\r\n"
        . join('', map { "$_\r\n" } @header_lines) . "Connection: close\r\n\r\n");
    for my $v (values %{ $res->{headers} }) { $v = $v->[0] if @$v == 1 }
    return $res;
}

sub get { my ($self, $path, %h) = @_; $self->request('GET', $path, headers => \%h) }

# The Set-Cookie values of a response, as a list
sub set_cookies {
    my ($res) = @_;
    my $sc = $res->{headers}{'set-cookie'};
    return () unless defined $sc;
    return ref $sc ? @$sc : ($sc);
}

# the "name=value" part of the visitor cookie set by the response, if any
sub visitor_cookie {
    my ($res, $name) = @_;
    $name //= 'mql_vid';
    for (set_cookies($res)) { return $1 if /^(\Q$name\E=[^;]*)/ }
    return;
}

# Every record of a leads file of the default type (gdbm), as a hash
# reference: the server's own (state_dir/leads) or the one at $path; {}
# while there is none.
sub leads_records {
    my ($self, $path) = @_;
    require GDBM_File;
    tie(my %h, 'GDBM_File', $path // $self->state_dir . '/leads', GDBM_File::GDBM_READER(), 0)
        or return {};
    my %copy = %h;
    untie %h;
    return \%copy;
}

# The status page's ?auto figures, as a hash reference (the page must be
# at /mql-status).
sub status_auto {
    my $self = shift;
    my %s = $self->get('/mql-status?auto')->{content} =~ /^(\w+): (.*)$/mg;
    return \%s;
}

# the environment as seen by the env.cgi script
sub env_of {
    my ($res) = @_;
    my %env;
    for (split /\n/, $res->{content} // '') { $env{$1} = $2 if /^([A-Za-z_0-9]+)=(.*)$/ }
    return \%env;
}

# write_mmdb($path, { '198.51.100.0/25' => 'DE', '2001:db8:1::/48' => 'FR', ... }):
# a small MaxMind DB of countries (as GeoLite2-Country lays them out),
# written to a temporary file beside $path and renamed over it, so a
# running server never sees half a file.  World-readable: the server's
# children run as www-data.
sub write_mmdb {
    my ($path, $nets, %o) = @_;
    require MaxMind::DB::Writer::Tree;
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version               => 6,
        record_size              => 24,
        database_type            => $o{type} // 'MQL-Test-Country',
        languages                => ['en'],
        description              => { en => 'mod_mql test countries' },
        remove_reserved_networks => 0,     # the tests use documentation networks
        map_key_type_callback    => sub {
            { country => 'map', registered_country => 'map', iso_code => 'utf8_string' }->{ $_[0] };
        },
    );
    for my $net (sort keys %$nets) {
        $tree->insert_network($net, { country => { iso_code => $nets->{$net} } });
    }
    my $tmp = "$path.tmp.$$";
    open my $fh, '>:raw', $tmp or die "$tmp: $!";
    $tree->write_tree($fh);
    close $fh or die "$tmp: $!";
    chmod 0644, $tmp;
    rename $tmp, $path or die "rename $tmp: $!";
    return $path;
}

sub DESTROY {
    my $self = shift;
    local $?;
    # forked test clients share the object; only its creator stops httpd
    $self->stop if $self->{running} && $$ == $self->{owner};
}

# ---- helpers for the DBM, mqlctl and notification tests ----------------

# A request with a chosen Host header (name-based virtual hosts) and an
# optional body: ($method, $path, host => NAME, body => TEXT, headers => {...}).
sub host_request {
    my ($self, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    my @lines = map { "$_: $h{$_}" } sort keys %h;
    my $body = $o{body} // '';
    push @lines, 'Content-Type: application/x-www-form-urlencoded',
        'Content-Length: ' . length($body) if length $body;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Timeout => 10) or die "connect: $!";
    binmode $s;
    print $s "$method $path HTTP/1.1\r\nHost: " . ($o{host} // '127.0.0.1')
        . "\r\nUser-Agent: $UA\r\n" . join('', map { "$_\r\n" } @lines)
        . "Connection: close\r\n\r\n$body";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\S+ (\d+)};
    my %hdr;
    for (split /\r\n/, $head // '') {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $hdr{$k} = exists $hdr{$k} ? [ ref $hdr{$k} ? @{ $hdr{$k} } : $hdr{$k}, $v ] : $v;
    }
    return { status => $status // 0, headers => \%hdr, content => $content // '' };
}

# A new visitor who sends the contact form: with MQLThreshold 20 that makes
# an MQL with a contact.  Returns (ID, "mql_vid=..." cookie).
sub make_lead {
    my ($self, %o) = @_;
    my $res = $self->host_request('GET', '/', host => $o{host});
    my ($cookie) = visitor_cookie($res) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    my $email = $o{email} // "lead-$id\@example.com";
    (my $enc = $email) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
    $res = $self->host_request('POST', '/cgi-bin/form.cgi', host => $o{host},
                               headers => { Cookie => $cookie }, body => "email=$enc");
    die "form not accepted: $res->{status}\n" unless $res->{status} == 302;
    return ($id, $cookie);
}

# Poll $code every 50 ms until it returns true or the deadline passes; its
# last value.  The
# deadline is what the condition needs on a quiet machine, times
# MQL_TEST_WAIT_SCALE (3 unless set): a slower or busier machine than the
# author's only makes the wait longer, and a condition met early costs
# nothing more.
my $WAIT_SCALE = ($ENV{MQL_TEST_WAIT_SCALE} // '') =~ /^\d+(?:\.\d+)?$/
    ? $ENV{MQL_TEST_WAIT_SCALE} : 3;

sub wait_for {
    my ($secs, $code) = @_;
    my $deadline = time + $secs * $WAIT_SCALE;
    my $v;
    while (1) {
        $v = $code->();
        return $v if $v || time >= $deadline;
        sleep 0.05;
    }
}

# Build a helper binary of build/out (e.g. dbm_reader) when missing or out
# of date: make decides, so a helper is rebuilt when the core changes too.
sub helper_bin {
    my ($name) = @_;
    my $bin = "$TOP/build/out/$name";
    system("make -s -C $TOP build/out/$name >/dev/null") == 0 or die "cannot build $name\n";
    return $bin;
}

# A code example of the documentation, as written: the indented block
# under the heading ("### PHP") of a Markdown file, or the fenced block of
# that language ("```perl") when the heading is given as "```perl"; the
# nth such block (from 1).  Dies when there is none, so a test that runs
# the documentation fails when the documentation changes shape.
sub doc_example {
    my ($file, $where, $nth) = @_;
    $nth //= 1;
    open my $fh, '<', "$TOP/$file" or die "$file: $!";
    my @lines = <$fh>;
    close $fh;
    my @found;
    if ($where =~ /^```(\w+)/) {
        my $lang = $1;
        my $in;
        for (@lines) {
            if (!defined $in && /^```\Q$lang\E\s*$/) { $in = ''; next }
            if (defined $in && /^```\s*$/) { push @found, $in; undef $in; next }
            $in .= $_ if defined $in;
        }
    }
    else {
        my ($under, $in);
        for (@lines) {
            if (/^#+ /) { $under = /^#+ \Q$where\E\s*$/; next }
            next unless $under;
            if (/^    (.*\n)/ || (defined $in && /^\s*$/)) {
                $in .= defined $1 ? $1 : "\n";
                next;
            }
            if (defined $in) { push @found, $in; undef $in }
        }
        push @found, $in if defined $in;
    }
    my $code = $found[ $nth - 1 ] // die "no example $nth under '$where' in $file\n";
    $code =~ s/\n+\z/\n/;
    return $code;
}

# A file of TEXT at PATH that the server's children can read.
sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $path;
}

# mqlctl as it was built, with ARGS: (exit status, standard output,
# standard error).
sub mqlctl {
    my (@args) = @_;
    my $err = "/tmp/mqlctl.err.$$";
    my $cmd = join ' ', map { "'$_'" } "$TOP/build/out/mqlctl", @args;
    my $out = `$cmd 2>$err`;
    my $rc = $? >> 8;
    my $text = do { local $/; open my $f, '<', $err; <$f> // '' };
    unlink $err;
    return ($rc, $out, $text);
}

# A program for MQLNotify that appends every line it reads to
# ROOT/notify.out (and, when asked, writes its PID to PIDFILE):
# returns (program, output file).
sub notify_sink {
    my ($self, %o) = @_;
    my $root = $self->{root};
    my $out = "$root/notify.out";
    my $pid = $o{pidfile} ? "open my \$p, '>', '$o{pidfile}' or die; print \$p \$\$; close \$p;\n"
                          : '';
    open my $fh, '>', "$root/notify.pl" or die "$root/notify.pl: $!";
    print $fh "#!/usr/bin/perl\n$pid"
        . "open my \$o, '>>', '$out' or die;\nselect \$o; \$| = 1;\n"
        . "while (my \$line = <STDIN>) { print \$o \$line }\n";
    close $fh;
    chmod 0755, "$root/notify.pl";
    # the program runs as the server's user, in a server root of root's
    for my $f ($out, $o{pidfile} // ()) {
        open my $c, '>>', $f or die "$f: $!";
        close $c;
        give_to_server($f);
    }
    return ("$root/notify.pl", $out);
}

# Files the server's children must read: readable by www-data when root.
sub give_to_server {
    my (@paths) = @_;
    return unless $> == 0;
    my ($uid, $gid) = (getpwnam('www-data'))[2, 3];
    chown $uid, $gid, @paths;
}

1;
