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

# new(appendfsync => 'always'|'everysec', unix => 1): started, with an
# append-only file; unix => 1 also listens on DIR/redis.sock
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
            ($self->{unix} ? ('--unixsocket', $self->socket_path, '--unixsocketperm', '777') : ());
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
        '/usr/bin/redis-cli', '-p', $self->{port}, @args;
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

1;
