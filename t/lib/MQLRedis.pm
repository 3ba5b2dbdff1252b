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

# A redis-server of a test's own, on a free port of 127.0.0.1 in a
# temporary directory (never the system's service), stopped when the
# object goes away: what the MQLStore redis:// tests share.
package MQLRedis;
use strict;
use warnings;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use MQLTest;

sub available { return -x '/usr/bin/redis-server' && -x '/usr/bin/redis-cli' }

# new(appendfsync => 'always'|'everysec', unix => 1, cluster => 1): started,
# with an append-only file; unix => 1 also listens on DIR/redis.sock;
# cluster => 1 makes it a Redis Cluster node (MQLRedis::Cluster joins them);
# password => P: AUTH required (and given by cli)
sub new {
    my ($class, %o) = @_;
    my $self = bless { appendfsync => 'always', %o, owner => $$ }, $class;
    $self->{dir} = tempdir('mqlredis.XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{MQL_KEEP});
    chmod 0755, $self->{dir};          # the server's user reaches the socket
    $self->{port} = MQLTest::free_port();
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }
sub url { "redis://127.0.0.1:$_[0]{port}" }
sub socket_path { "$_[0]{dir}/redis.sock" }
sub unix_url { 'redis+unix://' . $_[0]->socket_path }

sub start {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', "$self->{dir}/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/redis-server', '--port', $self->{port}, '--bind', '127.0.0.1',
            '--dir', $self->{dir}, '--save', '', '--appendonly', 'yes',
            '--appendfsync', $self->{appendfsync}, '--protected-mode', 'no',
            ($self->{unix} ? ('--unixsocket', $self->socket_path, '--unixsocketperm', '777') : ()),
            ($self->{cluster} ? ('--cluster-enabled', 'yes', '--cluster-config-file',
                                 "$self->{dir}/nodes.conf", '--cluster-node-timeout', '2000')
                              : ()),
            ($self->{password} ? ('--requirepass', $self->{password}, '--masterauth', $self->{password})
                               : ());
        exit 127;
    }
    $self->{pid} = $pid;
    for (1 .. 100) {
        return 1 if ($self->cli('PING') // '') eq 'PONG';
        sleep 0.05;
    }
    die "redis-server did not start on port $self->{port}\n";
}

# redis-cli with ARGS: its output, chomped
sub cli {
    my ($self, @args) = @_;
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" }
        '/usr/bin/redis-cli', '-p', $self->{port},
        ($self->{password} ? ('-a', $self->{password}, '--no-auth-warning') : ()), @args;
    my $out = `$cmd 2>/dev/null`;
    chomp $out if defined $out;
    return $out;
}

# a visitor record's fields (score, c0, stage...): the record is one
# binary string, which the Function library reads out (mql_fields)
sub record {
    my ($self, $key, @db) = @_;
    my @l = split /\n/, $self->cli(@db, 'FCALL_RO', 'mql_fields', 1, $key) // '', -1;
    my %h;
    while (@l >= 2) { my $k = shift @l; $h{$k} = shift @l }
    return \%h;
}

# the views (c0) a visitor's record holds, whichever shard keeps it; 0
# when it has none
sub views_of {
    my ($self, $id) = @_;
    for my $shard (0 .. 15) {
        my $r = $self->record("mql:{mql$shard}:v:$id");
        return $r->{c0} if %$r;
    }
    return 0;
}

sub signal {
    my ($self, $sig) = @_;
    kill $sig, $self->{pid};
}

sub kill9 {
    my ($self) = @_;
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'CONT', $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY {
    my ($self) = @_;
    $self->stop if $$ == $self->{owner};
}

# A Redis Cluster of the test's own: MASTERS masters with REPLICAS replicas
# each (redis-cli --cluster create; PASSWORD, when given, required by every node), every node on a free port in its own
# directory, ready once every node says cluster_state:ok.
package MQLRedis::Cluster;
use Time::HiRes qw(sleep);

sub new {
    my ($class, %o) = @_;
    my $masters = $o{masters} // 3;
    my $replicas = $o{replicas} // 0;
    my $self = bless { nodes => [] }, $class;
    $self->{password} = $o{password};
    push @{ $self->{nodes} }, MQLRedis->new(cluster => 1, password => $o{password})
        for 1 .. $masters * (1 + $replicas);
    my @addr = map { '127.0.0.1:' . $_->port } @{ $self->{nodes} };
    my $auth = $o{password} ? "-a '$o{password}' --no-auth-warning" : '';
    my $out = `/usr/bin/redis-cli $auth --cluster create @addr --cluster-replicas $replicas --cluster-yes 2>&1`;
    die "redis-cli --cluster create failed: $out\n" if $?;
    $self->wait_ok(20) or die "the cluster did not become ready\n";
    # a replica that has not finished its first sync cannot take over
    MQLTest::wait_for(20, sub {
        for my $n ($self->nodes) {
            my $r = $n->cli('INFO', 'replication') // '';
            return 0 if $r =~ /role:slave/ && $r !~ /master_link_status:up/;
        }
        return 1;
    }) or die "the cluster's replicas did not sync\n";
    return $self;
}

sub nodes { @{ $_[0]{nodes} } }

# every live node says cluster_state:ok and knows every slot
sub wait_ok {
    my ($self, $secs) = @_;
    return MQLTest::wait_for($secs, sub {
        for my $n (grep { $_->{pid} } $self->nodes) {
            my $info = $n->cli('CLUSTER', 'INFO') // '';
            return 0 unless $info =~ /cluster_state:ok/ && $info =~ /cluster_slots_ok:16384/;
        }
        return 1;
    });
}

sub url {
    my ($self) = @_;
    return 'redis-cluster://' . ($self->{password} ? ":$self->{password}\@" : '') . join ',', map { '127.0.0.1:' . $_->port } @{ $self->{nodes} }[0, 1];
}

# the nodes that are masters now
sub masters {
    my ($self) = @_;
    return grep { $_->{pid} && ($_->cli('ROLE') // '') =~ /^master/ } $self->nodes;
}

# the node's cluster ID
sub node_id { my ($self, $n) = @_; return $n->cli('CLUSTER', 'MYID') }

# the master that serves slot
sub master_of {
    my ($self, $slot) = @_;
    my $any = ($self->masters)[0];
    my $slots = $any->cli('CLUSTER', 'NODES') // '';
    for my $line (split /\n/, $slots) {
        my ($id, $addr, $flags, @rest) = split / /, $line;
        next unless $flags =~ /master/ && $flags !~ /fail/;
        for my $r (@rest[5 .. $#rest]) {
            next if $r =~ /^\[/;
            my ($a, $b) = split /-/, $r;
            $b //= $a;
            if ($slot >= $a && $slot <= $b) {
                my ($port) = $addr =~ /:(\d+)/;
                return (grep { $_->port == $port } $self->nodes)[0];
            }
        }
    }
    return undef;
}

# the master that serves key's slot, and its replica (undef when it has none)
sub master_and_replica {
    my ($self, $key) = @_;
    my $slot = (split /\n/, $self->cli('CLUSTER', 'KEYSLOT', $key))[0];
    my $master = $self->master_of($slot);
    my $id = $self->node_id($master);
    my ($replica) = grep { ($_->cli('ROLE') // '') =~ /^slave/
                           && ($_->cli('CLUSTER', 'NODES') // '') =~ /^\S+ \S+ myself,slave $id /m } $self->nodes;
    return ($master, $replica);
}

# redis-cli against the cluster (-c: it follows MOVED and ASK)
sub cli {
    my ($self, @args) = @_;
    my ($n) = grep { $_->{pid} } $self->nodes;
    return $n->cli('-c', @args);
}

# a visitor record's fields (score, c0, stage...), whichever way the
# Function library keeps it: a hash, or one string it reads out itself
# (FCALL_RO mql_fields)
sub hgetall {
    my ($self, $key) = @_;
    my $type = $self->cli('TYPE', $key) // '';
    my @l = split /\n/, ($type eq 'string' ? $self->cli('FCALL_RO', 'mql_fields', 1, $key)
                                            : $self->cli('HGETALL', $key)) // '', -1;
    my %h;
    while (@l >= 2) { my $k = shift @l; $h{$k} = shift @l }
    return \%h;
}
sub record { my ($self, $key) = @_; return $self->hgetall($key) }

# the keys matching pattern on every master
sub scan {
    my ($self, $pattern) = @_;
    my %k;
    for my $m ($self->masters) {
        $k{$_} = 1 for grep { length } split /\n/, $m->cli('--scan', '--pattern', $pattern) // '';
    }
    return sort keys %k;
}

# slot moved from its master to the master `to`, key by key (MIGRATE), as
# redis-cli --cluster reshard does, a pause after each key (seconds, 0.01
# by default) so that clients meet the slot half moved (ASK, TRYAGAIN);
# callers run it while the load goes on
sub move_slot {
    my ($self, $slot, $to, $pause) = @_;
    my $from = $self->master_of($slot) or die "no master for slot $slot\n";
    return $from if $from == $to;
    my ($fid, $tid) = ($self->node_id($from), $self->node_id($to));
    $to->cli('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $fid);
    $from->cli('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $tid);
    while (1) {
        my @keys = grep { length } split /\n/, $from->cli('CLUSTER', 'GETKEYSINSLOT', $slot, 1) // '';
        last unless @keys;
        my $r = $from->cli('MIGRATE', '127.0.0.1', $to->port, '', 0, 5000, 'KEYS', @keys);
        die "MIGRATE: $r\n" unless ($r // '') =~ /OK|NOKEY/;
        sleep $pause // 0.01;
    }
    $_->cli('CLUSTER', 'SETSLOT', $slot, 'NODE', $tid) for $to, $from, grep { $_ != $to && $_ != $from } $self->masters;
    return $from;
}

sub stop { $_->stop for $_[0]->nodes }

1;
