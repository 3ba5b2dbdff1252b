# MQLStore redis-cluster:// (with a password) through a master failover: three servers on a
# Redis Cluster of three masters with a replica each; while clients send
# requests of a pool of visitors to random servers, the replica of the
# master holding several of mod_mql's shards takes over (CLUSTER FAILOVER:
# the old master becomes its replica and answers MOVED).  Afterwards every
# visitor's counts, caps and score are what one server would have made of
# the same requests (nothing lost, nothing counted twice), each promotion
# is notified once across the fleet and every leads file holds every lead.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Fcntl;
use SDBM_File;
use JSON::PP;
use List::Util qw(shuffle sum);
use Time::HiRes qw(sleep time);
use MQLTest;
use MQLRedis;

plan skip_all => 'redis-server and redis-cli are not installed' unless MQLRedis::available();

my $redis = MQLRedis::Cluster->new(masters => 3, replicas => 1, password => "cluster-s3cret");
my $NSERVERS = 3;
my $NVISITORS = 60;
my $THRESHOLD = 40;

my @srv;
my $secret;
for my $i (1 .. $NSERVERS) {
    my $t = MQLTest->new(conf => '');
    if (!$secret) {
        $secret = $t->root . '/shared-secret';
        MQLTest::write_file($secret, join '', map { chr(65 + ($_ * 7) % 26) } 1 .. 32);
    }
    $t->notify_sink;
    $t->write_conf(<<"CONF");
MQLStore ${\ $redis->url }
MQLSecret $secret
MQLThreshold $THRESHOLD
MQLHalfLife 0
MQLRule view ^/pricing 10 cap=2
MQLRule download ^/whitepapers/ 15
MQLNotify "|${\ $t->root }/notify.pl"
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
    $t->start;
    push @srv, $t;
}

# ---- the load -------------------------------------------------------------

# what each action adds, as one server scores it
my %action = (
    view     => { path => '/', views => 1, points => 1 },
    pricing  => { path => '/pricing.html', views => 1, points => 1, pricing => 1 },
    download => { path => '/whitepapers/guide.pdf', downloads => 1, points => 10 + 15 },
    form     => { path => '/cgi-bin/form.cgi', forms => 1, points => 20 },
);

my (@visitors, %expect);
for my $n (1 .. $NVISITORS) {
    my $t = $srv[ int rand $NSERVERS ];
    my $res = $t->host_request('GET', '/');
    my ($cookie) = MQLTest::visitor_cookie($res) or die "no visitor cookie\n";
    my ($id) = $cookie =~ /^mql_vid=([^.]+)\./;
    push @visitors, { id => $id, cookie => $cookie };
    $expect{$id} = { views => 1, downloads => 0, forms => 0, pricing => 0, score => 1 };
}
my @work;
for my $v (@visitors) {
    my @acts = map { (qw(view view view pricing pricing download form))[ int rand 7 ] }
        1 .. 2 + int rand 8;
    for my $a (@acts) {
        my $e = $expect{ $v->{id} };
        my $d = $action{$a};
        $e->{$_} += $d->{$_} // 0 for qw(views downloads forms);
        if ($d->{pricing}) {
            $e->{score} += 10 if $e->{pricing} < 2;
            $e->{pricing}++ if $e->{pricing} < 2;
        }
        $e->{score} += $d->{points};
        push @work, [ $v, $a ];
    }
}
@work = shuffle @work;

my $WORKERS = 4;
my $t0 = time;
my @pids;
for my $w (0 .. $WORKERS - 1) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $bad = 0;
        for (my $i = $w; $i < @work; $i += $WORKERS) {
            my ($v, $a) = @{ $work[$i] };
            my $t = $srv[ int rand $NSERVERS ];
            my $res = $a eq 'form'
                ? $t->host_request('POST', $action{form}{path},
                                   headers => { Cookie => $v->{cookie} },
                                   body => "email=$v->{id}%40example.com")
                : $t->host_request('GET', $action{$a}{path}, headers => { Cookie => $v->{cookie} });
            $bad++ unless ($res->{status} // 0) =~ /^(200|302)$/;
        }
        exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}

# while the load goes on: the master of shard 0's slot hands over to its replica
sleep 0.2;
my $slot0 = (split /\n/, $redis->cli('CLUSTER', 'KEYSLOT', 'mql:{mql0}:seq'))[0];
my $old = $redis->master_of($slot0);
my $old_id = $redis->node_id($old);
my ($replica) = grep { ($_->cli('ROLE') // '') =~ /^slave/
                       && ($_->cli('CLUSTER', 'NODES') // '') =~ /^\S+ \S+ myself,slave $old_id /m } $redis->nodes;
ok $replica, "shard 0's master has a replica";
is $replica->cli('CLUSTER', 'FAILOVER'), 'OK', '... which takes over during the load';
ok MQLTest::wait_for(10, sub { ($replica->cli('ROLE') // '') =~ /^master/
                               && ($old->cli('ROLE') // '') =~ /^slave/ }),
    '... the replica is master, the old master its replica';
ok $redis->wait_ok(10), '... and the cluster is ok';
ok scalar(grep { kill 0, $_ } @pids), '... while the clients were still sending';
my $client_errors = 0;
for (@pids) { waitpid $_, 0; $client_errors++ if $? }
is $client_errors, 0, scalar(@work) . " requests answered by " . $NSERVERS . " servers";
note sprintf '%d requests in %.1f s', scalar @work, time - $t0;

my @leads = sort grep { $expect{$_}{score} >= $THRESHOLD } keys %expect;
note scalar(@leads) . ' of ' . $NVISITORS . ' visitors should be leads';
ok @leads >= 3, 'the load makes some leads';

sub vkey {
    my ($id) = @_;
    for my $shard (0 .. 15) {
        my $k = "mql:{mql$shard}:v:$id";
        return $k if ($redis->cli('EXISTS', $k) // 0) == 1;
    }
    return undef;
}

# ---- Redis holds the single-server result -----------------------------------

sub redis_matches {
    for my $id (keys %expect) {
        my $k = vkey($id) // return 0;
        my $h = $redis->hgetall($k);
        my $e = $expect{$id};
        return 0 unless $h->{c0} == $e->{views} && $h->{c1} == $e->{downloads}
            && $h->{c2} == $e->{forms} && $h->{score} == $e->{score};
    }
    return 1;
}
ok MQLTest::wait_for(10, \&redis_matches), 'every visitor in Redis as one server would score it';
my $wrong = 0;
for my $id (sort keys %expect) {
    my $k = vkey($id);
    my $h = $k ? $redis->hgetall($k) : {};
    my $e = $expect{$id};
    my $stage = $e->{score} >= $THRESHOLD ? 1 : 0;
    my $got = join ',', map { $_ // '-' } @$h{qw(c0 c1 c2 k0 score stage)};
    my $want = join ',', @$e{qw(views downloads forms pricing score)}, $stage;
    $wrong++, diag "visitor $id: Redis has $got, one server makes $want" if $got ne $want;
}
is $wrong, 0, 'counts, caps, scores and stages exact for all ' . $NVISITORS . ' visitors';

# nothing in Redis holds an address
my $dump = join "\n", map { %{ $redis->hgetall($_) } } $redis->scan('mql:*:v:*');
unlike $dump, qr/127\.0\.0\.1/, 'no IP address in the visitor records';

# idle visitors expire in Redis, leads do not
my ($plain) = grep { $expect{$_}{score} < $THRESHOLD } sort keys %expect;
SKIP: {
    skip 'no plain visitor in this draw', 1 unless $plain;
    cmp_ok $redis->cli('TTL', vkey($plain)), '>', 0, 'a plain visitor expires in Redis (MQLExpire)';
}
is $redis->cli('TTL', vkey($leads[0])), -1, 'a lead does not expire';

# ---- each promotion once: stream and notifications --------------------------

my %in_stream;
for my $shard (0 .. 15) {
    my @l = split /\n/, $redis->cli('XRANGE', "mql:{mql$shard}:changes", '-', '+');
    for (my $i = 0; $i < @l; $i++) {
        $in_stream{ $l[ $i + 3 ] }++ if $l[$i] eq 'type' && $l[ $i + 1 ] eq 's' && $l[ $i + 2 ] eq 'id';
    }
}
is_deeply [ sort keys %in_stream ], \@leads, 'the stream has a stage change for each lead';
is scalar(grep { $in_stream{$_} != 1 } keys %in_stream), 0, '... once each';

sub notified {
    my @lines;
    for my $t (@srv) {
        open my $f, '<', $t->root . '/notify.out' or next;
        push @lines, map { [ $t, decode_json($_) ] } <$f>;
    }
    return @lines;
}
MQLTest::wait_for(5, sub { notified() >= @leads });
sleep 0.5;
my @n = notified();
my %count;
$count{ $_->[1]{visitor} }++ for @n;
is_deeply [ sort keys %count ], \@leads, 'the notification pipes together name every lead';
is scalar(grep { $count{$_} != 1 } keys %count), 0, '... each once across the fleet';
is scalar(grep { ($_->[1]{stream_id} // '') =~ /^\d+-\d+$/
                 && ($_->[1]{stream} // '') =~ /^mql:\{mql\d+\}:changes$/ } @n), scalar @n,
    'each line carries its stream and entry ID';
my %by_server;
$by_server{ $_->[0]->port }++ for @n;
note 'notifications by server: ' . join ', ', map { "$_: $by_server{$_}" } sort keys %by_server;

# ---- every server's leads file holds every lead -------------------------------

sub dbm_record {
    my ($t, $id) = @_;
    tie(my %h, 'SDBM_File', $t->state_dir . '/leads', O_RDONLY, 0) or return undef;
    my $v = $h{$id};
    untie %h;
    return $v;
}

sub all_dbms {
    my ($want) = @_;
    for my $t (@srv) {
        for my $id (@leads) {
            return 0 unless $want->($t, $id, dbm_record($t, $id));
        }
    }
    return 1;
}
ok MQLTest::wait_for(2.5, sub { all_dbms(sub { defined $_[2] }) }),
    "every server's leads file holds all " . scalar(@leads) . ' leads';

# ---- the Function on every master, the fleet's servers on every master ----------

for my $m ($redis->masters) {
    like $m->cli('FUNCTION', 'LIST', 'LIBRARYNAME', 'mql') // '', qr/mql_apply/,
        'the Function library on master ' . $m->port;
}

# ---- the status page --------------------------------------------------------------

for my $t (@srv) {
    my $a = $t->get('/mql-status?auto')->{content};
    note join ', ', map { /^(Redis(?:Retries|Duplicates|LastError)): (.*)$/m ? "$1 $2" : () }
        map { my $k = $_; grep { /^$k:/ } split /\n/, $a } qw(RedisRetries RedisDuplicates RedisLastError);
}
my $auto = $srv[0]->get('/mql-status?auto');
like $auto->{content}, qr/^RedisConnected: 1$/m, 'status ?auto: Redis connected';
like $auto->{content}, qr/^RedisQueue: 0$/m, '... nothing queued';
my $json = eval { decode_json($srv[0]->get('/mql-status?json')->{content}) } // {};
is $json->{redis}{connected}, 1, 'status ?json: the redis section';

for my $t (@srv) {
    # the old master holds writes back while its replica catches up: a
    # server whose call outlasts MQLRedisTimeout then reports an outage
    # (MQL07001) and its end, and sends the queue again
    is_deeply [ $t->unexpected_errors(qr/MQL07001/) ], [], 'no unexpected errors in ' . $t->port . "'s log";
    $t->stop;
}
done_testing;
