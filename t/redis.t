# MQLStore redis://: three servers sharing one Redis.  Clients send each
# request of a pool of visitors to a random server, concurrently; once the
# servers have synced, every visitor's counts, caps and score in Redis are
# what one server would have made of the same requests, each promotion is
# in the fleet's stream once and reaches the union of the three MQLNotify
# pipes once, and every server's leads file holds every lead.  mqlctl set
# and forget on one server reach Redis and the others.
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

my $redis = MQLRedis->new;
my $NSERVERS = 3;
my $NVISITORS = 40;
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
        my $h = $redis->record($k);
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
    my $h = $k ? $redis->record($k) : {};
    my $e = $expect{$id};
    my $stage = $e->{score} >= $THRESHOLD ? 1 : 0;
    my $got = join ',', map { $_ // '-' } @$h{qw(c0 c1 c2 k0 score stage)};
    my $want = join ',', @$e{qw(views downloads forms pricing score)}, $stage;
    $wrong++, diag "visitor $id: Redis has $got, one server makes $want" if $got ne $want;
}
is $wrong, 0, 'counts, caps, scores and stages exact for all ' . $NVISITORS . ' visitors';

# nothing in Redis holds an address: the records' bytes as stored
my $dump = join "\n", map { $redis->cli('GET', $_) } split /\n/, $redis->cli('--scan', '--pattern', 'mql:*:v:*');
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

# ---- mqlctl set and forget on one server reach the others -----------------------

my ($lead, $gone) = @leads;
my ($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $srv[0]->state_dir, 'set', $lead, 'stage=sql');
is $rc, 0, 'mqlctl set on server 1' or diag $err;
ok MQLTest::wait_for(5, sub { ($redis->record(vkey($lead))->{stage} // '') eq '2' }),
    '... reaches Redis';
ok MQLTest::wait_for(5, sub {
        !grep { (dbm_record($_, $lead) // '') !~ /(^|;)stage=sql(;|$)/ } @srv }),
    "... and every server's leads file";
MQLTest::wait_for(5, sub { grep { $_->[1]{visitor} eq $lead && $_->[1]{stage} eq 'sql' } notified() });
sleep 0.5;
is scalar(grep { $_->[1]{visitor} eq $lead && $_->[1]{stage} eq 'sql' } notified()), 1,
    '... and one notification in the fleet';

($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $srv[1]->state_dir, 'forget', $gone);
is $rc, 0, 'mqlctl forget on server 2' or diag $err;
ok MQLTest::wait_for(5, sub { !defined vkey($gone) }), '... removes the visitor from Redis';
ok MQLTest::wait_for(5, sub { !grep { defined dbm_record($_, $gone) } @srv }),
    "... and from every server's leads file";

# ---- a graceful restart: the queue and its one sync thread carry on ---------------

{
    my ($v) = grep { $_->{id} ne $gone } @visitors;
    my $k = vkey($v->{id});
    my $before = $redis->record($k)->{c0};
    $srv[2]->graceful;
    for (1 .. 20) {
        $srv[2]->host_request('GET', '/', headers => { Cookie => $v->{cookie} });
        sleep 0.02;
    }
    ok MQLTest::wait_for(5, sub { $redis->record($k)->{c0} == $before + 20 }),
        'across a graceful restart every view reaches Redis once';
    sleep 0.5;
    is $redis->record($k)->{c0}, $before + 20, '... and only once';
}

# ---- the status page --------------------------------------------------------------

my $auto = $srv[0]->get('/mql-status?auto');
like $auto->{content}, qr/^RedisConnected: 1$/m, 'status ?auto: Redis connected';
like $auto->{content}, qr/^RedisQueue: 0$/m, '... nothing queued';
my $json = eval { decode_json($srv[0]->get('/mql-status?json')->{content}) } // {};
is $json->{redis}{connected}, 1, 'status ?json: the redis section';

for my $t (@srv) {
    is_deeply [ $t->unexpected_errors ], [], 'no unexpected errors in ' . $t->port . "'s log";
    $t->stop;
}
done_testing;
