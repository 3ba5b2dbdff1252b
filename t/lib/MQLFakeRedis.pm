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

# A Redis that is not one, for what a real one will not do on demand: a
# process of the test's own that speaks RESP on free ports of 127.0.0.1
# and answers as its mode says, changed while it runs with mode().
#
#   ok    every command answered as mod_mql expects of a healthy Redis
#         (FCALL mql_apply_many and mql_apply_batch: 'a' for each entry)
#   drip  every command answered by a reply that never ends: a bulk
#         string of 100 MB sent one byte each drip_ms (100) milliseconds
#   ask   a Redis Cluster that sends every call of mql_apply_* to
#         another node with -ASK, each time a node it has not named
#         before (its other ports, in turn): CLUSTER SLOTS gives every
#         slot to the first port
#
# Each accepted connection is logged as "accept PORT" in DIR/log.
package MQLFakeRedis;
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);

# new(mode => M, nodes => N (listening ports, 1 by default), drip_ms => MS)
sub new {
    my ($class, %o) = @_;
    my $self = bless { mode => 'ok', nodes => 1, drip_ms => 100, %o, owner => $$ }, $class;
    $self->{dir} = tempdir('mqlfake.XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{MQL_KEEP});
    my @listen = map {
        IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128,
                              ReuseAddr => 1) or die "no free port: $!";
    } 1 .. $self->{nodes};
    $self->{ports} = [ map { $_->sockport } @listen ];
    $self->mode($self->{mode});
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        eval { $self->_serve(@listen) };
        POSIX::_exit(0);
    }
    close $_ for @listen;
    $self->{pid} = $pid;
    return $self;
}

sub port { $_[0]{ports}[0] }
sub ports { @{ $_[0]{ports} } }
sub url { 'redis://127.0.0.1:' . $_[0]->port }
sub cluster_url { 'redis-cluster://127.0.0.1:' . $_[0]->port }

sub mode {
    my ($self, $mode) = @_;
    open my $f, '>', "$self->{dir}/mode.tmp" or die $!;
    print $f $mode;
    close $f;
    rename "$self->{dir}/mode.tmp", "$self->{dir}/mode" or die $!;
}

# the ports connections were accepted on, each once (in scalar context: how many)
sub ports_connected {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/log" or return ();
    my %p;
    while (<$f>) { $p{$1} = 1 if /^accept (\d+)/ }
    my @p = sort keys %p;
    return @p;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

# ---- the server ---------------------------------------------------------------

sub _read_mode {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/mode" or return 'ok';
    my $m = <$f> // 'ok';
    return $m;
}

sub _bulk { my $s = shift; return '$' . length($s) . "\r\n$s\r\n" }

# one command from the front of $$buf (a RESP array of bulk strings), or
# undef when it has not all come yet
sub _command {
    my ($buf) = @_;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($n, $pos) = ($1, length "*$1\r\n");
    my @args;
    for (1 .. $n) {
        return undef unless substr($$buf, $pos) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $pos += length("\$$len\r\n");
        return undef if length($$buf) < $pos + $len + 2;
        push @args, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }
    substr($$buf, 0, $pos) = '';
    return \@args;
}

sub _answer {
    my ($self, $conn, $args, $mode) = @_;
    my $cmd = uc($args->[0] // '');
    return "+PONG\r\n" if $cmd eq 'PING';
    if ($cmd eq 'CLUSTER') {
        return '*1' . "\r\n*3\r\n:0\r\n:16383\r\n*2\r\n" . _bulk('127.0.0.1') . ":$self->{ports}[0]\r\n";
    }
    return _bulk('mql') if $cmd eq 'FUNCTION';
    return "*-1\r\n" if $cmd eq 'XREAD' || $cmd eq 'XREADGROUP';
    return "*3\r\n" . _bulk('0-0') . "*0\r\n*0\r\n" if $cmd eq 'XAUTOCLAIM';
    return ":1\r\n" if $cmd eq 'XACK';
    return "*0\r\n" if $cmd eq 'HGETALL';
    if ($cmd eq 'FCALL') {
        my ($fn, $numkeys) = @$args[1, 2];
        return ":1\r\n" if $fn eq 'mql_heartbeat';
        if ($fn =~ /^mql_apply_(many|batch)$/) {
            if ($mode eq 'ask') {
                my @pool = @{ $self->{ports} }[ 1 .. $#{ $self->{ports} } ];
                my $to = $pool[ $self->{asked}++ % @pool ];
                return "-ASK 0 127.0.0.1:$to\r\n";
            }
            my $entries = $numkeys - ($1 eq 'many' ? 3 : 2);
            return "*$entries\r\n" . join '', map { _bulk('a') } 1 .. $entries;
        }
        return ":1\r\n";
    }
    return "+OK\r\n";
}

sub _serve {
    my ($self, @listen) = @_;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    $SIG{PIPE} = 'IGNORE';
    my %listener = map { fileno($_) => $_ } @listen;
    my $sel = IO::Select->new(@listen);
    my %conn;
    open my $log, '>>', "$self->{dir}/log" or die $!;
    $log->autoflush(1);
    while (1) {
        my $now = time;
        my $wait = 0.05;
        for my $c (values %conn) {
            next unless $c->{drip};
            my $left = $c->{next_drip} - $now;
            $wait = $left if $left < $wait;
        }
        $wait = 0 if $wait < 0;
        for my $s ($sel->can_read($wait)) {
            if (my $l = $listener{ fileno $s }) {
                my $new = $l->accept or next;
                print $log 'accept ', $l->sockport, "\n";
                $conn{ fileno $new } = { sock => $new, in => '', port => $l->sockport };
                $sel->add($new);
                next;
            }
            my $c = $conn{ fileno $s };
            my $got = sysread $s, my $data, 65536;
            if (!$got) {
                $sel->remove($s);
                delete $conn{ fileno $s };
                close $s;
                next;
            }
            $c->{in} .= $data;
            next if $c->{drip};
            my $out = '';
            my $mode = $self->_read_mode;
            while (my $args = _command(\$c->{in})) {
                if ($mode eq 'drip') {
                    # a reply that never ends: what follows it is not read
                    syswrite $s, "\$100000000\r\n";
                    $c->{drip} = 1;
                    $c->{next_drip} = time + $self->{drip_ms} / 1000;
                    last;
                }
                $out .= $self->_answer($c, $args, $mode);
            }
            syswrite $s, $out if length $out;
        }
        $now = time;
        for my $c (values %conn) {
            next unless $c->{drip} && $now >= $c->{next_drip};
            syswrite $c->{sock}, 'x';
            $c->{next_drip} = $now + $self->{drip_ms} / 1000;
        }
    }
}

1;
