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

# Several servers sharing one MQLStore redis:// or redis-cluster:// (an
# MQLRedis or MQLRedis::Cluster): what the Redis fleet tests share.  The
# servers, a pool of visitors each sending random requests to random
# servers concurrently, what one server would have made of those requests,
# and the checks that the store, the stream, the notification pipes and
# the leads files hold just that.
package MQLFleet;
use strict;
use warnings;
use Fcntl;
use JSON::PP;
use List::Util qw(shuffle);
use Time::HiRes qw(sleep time);
use Test::More;
use MQLTest;

# what each action adds, as one server scores it
our %action = (
    view     => { path => '/', views => 1, points => 1 },
    pricing  => { path => '/pricing.html', views => 1, points => 1, pricing => 1 },
    download => { path => '/whitepapers/guide.pdf', downloads => 1, points => 10 + 15 },
    form     => { path => '/cgi-bin/form.cgi', forms => 1, points => 20 },
);

# the key of visitor id's record in store (an MQLRedis or a Cluster), or
# undef when it has none
sub vkey {
    my ($store, $id) = @_;
    for my $shard (0 .. 15) {
        my $k = "mql:{mql$shard}:v:$id";
        return $k if ($store->cli('EXISTS', $k) // 0) == 1;
    }
    return undef;
}

# new(store => $redis, servers => 3, threshold => 40, silent => 0,
#     timeout => '2s'): the servers started, with one secret, a
# notification sink (but for the last SILENT servers, which have no
# MQLNotify and must leave the fleet's notifications to the others) and
# the status page.  TIMEOUT is their MQLRedisTimeout: these tests check
# what the fleet holds, not how fast Redis answers, and a busy test
# machine can keep a healthy Redis from answering within the default
# 250 ms (an outage in the log, where none happened); the runs that
# kill Redis's nodes ask for less.
sub new {
    my ($class, %o) = @_;
    # probes: requests MQLTest makes itself (GET / without a cookie once
    # each server starts, and after a graceful restart), each a visitor
    # and a hit in the fleet's totals
    my $self = bless { servers => 3, threshold => 40, workers => 4, probes => 0, views => 0,
                       silent => 0, timeout => '2s', %o, srv => [] }, $class;
    my $secret;
    for my $i (1 .. $self->{servers}) {
        my $t = MQLTest->new(conf => '');
        if (!$secret) {
            $secret = $t->root . '/shared-secret';
            MQLTest::write_file($secret, join '', map { chr(65 + ($_ * 7) % 26) } 1 .. 32);
        }
        my $notify = '';
        if ($i <= $self->{servers} - $self->{silent}) {
            $t->notify_sink;
            $notify = qq{MQLNotify "|${\ $t->root }/notify.pl"};
        }
        $t->write_conf(<<"CONF");
MQLStore ${\ $self->{store}->url }
MQLRedisTimeout $self->{timeout}
MQLSecret $secret
MQLThreshold $self->{threshold}
# every client is 127.0.0.1: no limit on its new leads (t/redis_flood.t
# tests the limit)
MQLNewLeadLimit 0
MQLHalfLife 0
MQLRule view ^/pricing 10 cap=2
MQLRule download ^/whitepapers/ 15
$notify
<Location /mql-status>
    SetHandler mql-status
</Location>
CONF
        $t->start;
        $self->{probes}++;
        push @{ $self->{srv} }, $t;
    }
    return $self;
}

sub servers { @{ $_[0]{srv} } }
sub store { $_[0]{store} }
sub visitors { @{ $_[0]{visitors} } }
sub expect { $_[0]{expect} }
sub leads { @{ $_[0]{leads} } }
sub vkey_of { my ($self, $id) = @_; return vkey($self->{store}, $id) }

# NVISITORS visitors, each with a first view on a random server, then 2 to
# 9 random actions each, shuffled, and what one server makes of them
sub plan_load {
    my ($self, $nvisitors) = @_;
    my @srv = $self->servers;
    my (@visitors, %expect);
    for my $n (1 .. $nvisitors) {
        my $t = $srv[ int rand @srv ];
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
    @{$self}{qw(nvisitors visitors expect work)} = ($nvisitors, \@visitors, \%expect, [ shuffle @work ]);
}

# the work sent by four clients at once, each request to a random server;
# slowest => 1: each client writes its slowest request's seconds to
# slowest.N in the first server's root (see slowest)
sub start_load {
    my ($self, %o) = @_;
    my @srv = $self->servers;
    my @work = @{ $self->{work} };
    my $WORKERS = $self->{workers};
    $self->{t0} = time;
    my @pids;
    for my $w (0 .. $WORKERS - 1) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my ($bad, $slowest) = (0, 0);
            for (my $i = $w; $i < @work; $i += $WORKERS) {
                my ($v, $a) = @{ $work[$i] };
                my $t1 = time;
                my $t = $srv[ int rand @srv ];
                my $res = $a eq 'form'
                    ? $t->host_request('POST', $action{form}{path},
                                       headers => { Cookie => $v->{cookie} },
                                       body => "email=$v->{id}%40example.com")
                    : $t->host_request('GET', $action{$a}{path}, headers => { Cookie => $v->{cookie} });
                $bad++ unless ($res->{status} // 0) =~ /^(200|302)$/;
                $slowest = time - $t1 if time - $t1 > $slowest;
            }
            MQLTest::write_file($srv[0]->root . "/slowest.$w", $slowest) if $o{slowest};
            exit($bad ? 1 : 0);
        }
        push @pids, $pid;
    }
    $self->{pids} = \@pids;
    return @pids;
}

# the clients still running
sub clients_running { return scalar grep { kill 0, $_ } @{ $_[0]{pids} } }

# the clients waited for: every request answered
sub finish_load {
    my ($self) = @_;
    my $client_errors = 0;
    for (@{ $self->{pids} }) { waitpid $_, 0; $client_errors++ if $? }
    is $client_errors, 0, scalar(@{ $self->{work} }) . " requests answered by " . $self->{servers} . " servers";
    note sprintf '%d requests in %.1f s', scalar @{ $self->{work} }, time - $self->{t0};
}

# the slowest request of all the clients (start_load(slowest => 1)), seconds
sub slowest {
    my ($self) = @_;
    my $root = $self->{srv}[0]->root;
    my ($slowest) = sort { $b <=> $a }
        map { open my $f, '<', "$root/slowest.$_" or die; scalar <$f> } 0 .. $self->{workers} - 1;
    return $slowest;
}

# the visitors that should be leads; some should be
sub check_leads {
    my ($self) = @_;
    my $expect = $self->{expect};
    my @leads = sort grep { $expect->{$_}{score} >= $self->{threshold} } keys %$expect;
    $self->{leads} = \@leads;
    note scalar(@leads) . ' of ' . $self->{nvisitors} . ' visitors should be leads';
    ok @leads >= 3, 'the load makes some leads';
    return @leads;
}

# the store holds the single-server result, no address, and expires plain
# visitors, not leads
sub check_store {
    my ($self) = @_;
    my ($redis, $expect, $THRESHOLD) = @{$self}{qw(store expect threshold)};
    my $matches = sub {
        for my $id (keys %$expect) {
            my $k = vkey($redis, $id) // return 0;
            my $h = $redis->record($k);
            my $e = $expect->{$id};
            return 0 unless $h->{c0} == $e->{views} && $h->{c1} == $e->{downloads}
                && $h->{c2} == $e->{forms} && $h->{score} == $e->{score};
        }
        return 1;
    };
    ok MQLTest::wait_for(10, $matches), 'every visitor in Redis as one server would score it';
    my $wrong = 0;
    for my $id (sort keys %$expect) {
        my $k = vkey($redis, $id);
        my $h = $k ? $redis->record($k) : {};
        my $e = $expect->{$id};
        my $stage = $e->{score} >= $THRESHOLD ? 1 : 0;
        my $got = join ',', map { $_ // '-' } @$h{qw(c0 c1 c2 k0 score stage)};
        my $want = join ',', @$e{qw(views downloads forms pricing score)}, $stage;
        $wrong++, diag "visitor $id: Redis has $got, one server makes $want" if $got ne $want;
    }
    is $wrong, 0, 'counts, caps, scores and stages exact for all ' . $self->{nvisitors} . ' visitors';

    # nothing in Redis holds an address: the records' bytes as stored, or
    # on a cluster their fields
    my $dump = $redis->isa('MQLRedis::Cluster')
        ? join "\n", map { %{ $redis->hgetall($_) } } $redis->scan('mql:*:v:*')
        : join "\n", map { $redis->cli('GET', $_) } split /\n/, $redis->cli('--scan', '--pattern', 'mql:*:v:*');
    unlike $dump, qr/127\.0\.0\.1/, 'no IP address in the visitor records';

    # idle visitors expire in Redis, leads do not
    my ($plain) = grep { $expect->{$_}{score} < $THRESHOLD } sort keys %$expect;
    SKIP: {
        skip 'no plain visitor in this draw', 1 unless $plain;
        cmp_ok $redis->cli('TTL', vkey($redis, $plain)), '>', 0, 'a plain visitor expires in Redis (MQLExpire)';
    }
    is $redis->cli('TTL', vkey($redis, $self->{leads}[0])), -1, 'a lead does not expire';
}

# the notification pipes' lines, each as [ server, decoded line ]
sub notified {
    my ($self) = @_;
    my @lines;
    for my $t ($self->servers) {
        open my $f, '<', $t->root . '/notify.out' or next;
        push @lines, map { [ $t, decode_json($_) ] } <$f>;
    }
    return @lines;
}

# each promotion once in the stream, once across the notification pipes;
# the lines notified
sub check_promotions {
    my ($self) = @_;
    my ($redis, @leads) = ($self->{store}, $self->leads);
    my %in_stream;
    for my $shard (0 .. 15) {
        my @l = split /\n/, $redis->cli('XRANGE', "mql:{mql$shard}:changes", '-', '+');
        for (my $i = 0; $i < @l; $i++) {
            $in_stream{ $l[ $i + 3 ] }++ if $l[$i] eq 'type' && $l[ $i + 1 ] eq 's' && $l[ $i + 2 ] eq 'id';
        }
    }
    is_deeply [ sort keys %in_stream ], \@leads, 'the stream has a stage change for each lead';
    is scalar(grep { $in_stream{$_} != 1 } keys %in_stream), 0, '... once each';

    MQLTest::wait_for(5, sub { $self->notified >= @leads });
    sleep 0.5;
    my @n = $self->notified;
    my %count;
    $count{ $_->[1]{visitor} }++ for @n;
    is_deeply [ sort keys %count ], \@leads, 'the notification pipes together name every lead';
    is scalar(grep { $count{$_} != 1 } keys %count), 0, '... each once across the fleet';
    is scalar(grep { ($_->[1]{stream_id} // '') =~ /^\d+-\d+$/
                     && ($_->[1]{stream} // '') =~ /^mql:\{mql\d+\}:changes$/ } @n), scalar @n,
        'each line carries its stream and entry ID';
    return @n;
}

sub note_by_server {
    my ($self, @n) = @_;
    my %by_server;
    $by_server{ $_->[0]->port }++ for @n;
    note 'notifications by server: ' . join ', ', map { "$_: $by_server{$_}" } sort keys %by_server;
}

# server t's leads file's record of id
sub dbm_record {
    my ($t, $id) = @_;
    return $t->leads_records->{$id};
}

sub check_leads_files {
    my ($self) = @_;
    my @leads = $self->leads;
    my $all = sub {
        for my $t ($self->servers) {
            for my $id (@leads) {
                return 0 unless defined dbm_record($t, $id);
            }
        }
        return 1;
    };
    ok MQLTest::wait_for(2.5, $all), "every server's leads file holds all " . scalar(@leads) . ' leads';
}

# mqlctl set and forget on one server reach the store and the others; a
# graceful restart loses and doubles no view
sub check_mqlctl_and_graceful {
    my ($self) = @_;
    my ($redis, @srv) = ($self->{store}, $self->servers);
    my ($lead, $gone) = $self->leads;
    my ($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $srv[0]->state_dir, 'set', $lead, 'stage=sql');
    is $rc, 0, 'mqlctl set on server 1' or diag $err;
    ok MQLTest::wait_for(5, sub { ($redis->record(vkey($redis, $lead))->{stage} // '') eq '2' }),
        '... reaches Redis';
    ok MQLTest::wait_for(5, sub {
            !grep { (dbm_record($_, $lead) // '') !~ /(^|;)stage=sql(;|$)/ } @srv }),
        "... and every server's leads file";
    MQLTest::wait_for(5, sub { grep { $_->[1]{visitor} eq $lead && $_->[1]{stage} eq 'sql' } $self->notified });
    sleep 0.5;
    is scalar(grep { $_->[1]{visitor} eq $lead && $_->[1]{stage} eq 'sql' } $self->notified), 1,
        '... and one notification in the fleet';

    ($rc, $out, $err) = MQLTest::mqlctl('--state-dir', $srv[1]->state_dir, 'forget', $gone);
    is $rc, 0, 'mqlctl forget on server 2' or diag $err;
    ok MQLTest::wait_for(5, sub { !defined vkey($redis, $gone) }), '... removes the visitor from Redis';
    ok MQLTest::wait_for(5, sub { !grep { defined dbm_record($_, $gone) } @srv }),
        "... and from every server's leads file";

    # a graceful restart: the queue and its one sync thread carry on
    my ($v) = grep { $_->{id} ne $gone } $self->visitors;
    my $k = vkey($redis, $v->{id});
    my $before = $redis->record($k)->{c0};
    $srv[2]->graceful;
    $self->{probes}++;
    for (1 .. 20) {
        $srv[2]->host_request('GET', '/', headers => { Cookie => $v->{cookie} });
        $self->{views}++;
        sleep 0.02;
    }
    # twenty views (a point each) may make that visitor a lead now
    my $e = $self->{expect}{ $v->{id} };
    $self->{late_leads} = $e->{score} < $self->{threshold} && $e->{score} + 20 >= $self->{threshold} ? 1 : 0;
    $e->{score} += 20;
    ok MQLTest::wait_for(5, sub { $redis->record($k)->{c0} == $before + 20 }),
        'across a graceful restart every view reaches Redis once';
    sleep 0.5;
    is $redis->record($k)->{c0}, $before + 20, '... and only once';
}

# what the load made, checked: the leads, the store, each promotion once,
# the leads files
sub check_results {
    my ($self) = @_;
    $self->check_leads;
    $self->check_store;
    $self->note_by_server($self->check_promotions);
    $self->check_leads_files;
}

# the Function library on every master of the cluster
sub check_functions {
    my ($self) = @_;
    for my $m ($self->{store}->masters) {
        like $m->cli('FUNCTION', 'LIST', 'LIBRARYNAME', 'mql') // '', qr/mql_apply/,
            'the Function library on master ' . $m->port;
    }
}

# each server's retries, duplicates and last error, as notes
sub note_redis_counters {
    my ($self) = @_;
    for my $t ($self->servers) {
        my $a = $t->get('/mql-status?auto')->{content};
        note join ', ', map { /^(Redis(?:Retries|Duplicates|LastError)): (.*)$/m ? "$1 $2" : () }
            map { my $k = $_; grep { /^$k:/ } split /\n/, $a } qw(RedisRetries RedisDuplicates RedisLastError);
    }
}

# a server's fleet totals from its status page (?auto), RedisFleet* keys
sub fleet_auto {
    my ($t) = @_;
    return { map { /^RedisFleet(\w+): (-?\d+)$/ ? ($1, $2) : () }
             split /\n/, $t->get('/mql-status?auto')->{content} // '' };
}

# after the load and check_mqlctl_and_graceful: every server's status
# page shows the same fleet totals, and they are what this test sent:
# every visitor it made (its probes too), every request that scores, the
# leads but the one forgotten, one of them made SQL; the shards' hashes
# in Redis add up to the same
sub check_fleet_totals {
    my ($self) = @_;
    my ($redis, @srv) = ($self->{store}, $self->servers);
    my $nleads = scalar $self->leads;
    my %want = (
        Servers => scalar @srv,
        Visitors => $self->{nvisitors} + $self->{probes},
        Hits => $self->{nvisitors} + @{ $self->{work} } + $self->{views} + $self->{probes},
        Forgotten => 1,
        StageMQL => $nleads - 2 + ($self->{late_leads} // 0),
        StageSQL => 1,
        StageRejected => 0,
    );
    my $shown = sub {
        my ($t) = @_;
        my $h = fleet_auto($t);
        return { map { $_ => $h->{$_} } keys %want };
    };
    ok MQLTest::wait_for(10, sub { !grep { !eq_hash($shown->($_), \%want) } @srv }),
        'every server shows the fleet totals: ' . join ', ', map { "$_ $want{$_}" } sort keys %want;
    is_deeply $shown->($_), \%want, '... server ' . $_->port for @srv;
    cmp_ok fleet_auto($srv[0])->{ReadAge}, '<=', 2, '... read within the last seconds';

    my %sum;
    for my $shard (0 .. 15) {
        my @l = split /\n/, $redis->cli('HGETALL', "mql:{mql$shard}:totals") // '';
        while (my ($k, $v) = splice @l, 0, 2) { $sum{$k} += $v }
    }
    my @expiring = grep { ($redis->cli('TTL', "mql:{mql$_}:totals") // '') !~ /^-[12]$/ } 0 .. 15;
    is "@expiring", '', "no shard's totals expire"
        or diag join ', ', map { "shard $_: TTL " . ($redis->cli('TTL', "mql:{mql$_}:totals") // '?') } @expiring;
    is_deeply [ @sum{qw(visitors hits forgotten stage1 stage2)} ],
        [ @want{qw(Visitors Hits Forgotten StageMQL StageSQL)} ],
        "the shards' totals in Redis add up to the same";

    my $json = eval { decode_json($srv[1]->get('/mql-status?json')->{content}) } // {};
    my $f = $json->{redis}{fleet} // {};
    is_deeply [ @$f{qw(servers visitors hits forgotten)}, @{ $f->{stages} // {} }{qw(mql sql rejected)} ],
        [ @want{qw(Servers Visitors Hits Forgotten StageMQL StageSQL StageRejected)} ],
        'status ?json: redis.fleet the same';
    my $html = $srv[2]->get('/mql-status')->{content} // '';
    like $html, qr/id="fleet-hits">\Q${\ commify($want{Hits}) }\E</, 'the HTML page shows the fleet\'s hits';
}

sub commify { my $n = reverse shift; $n =~ s/(\d{3})(?=\d)/$1,/g; return scalar reverse $n }

# the first server's status page: connected, nothing queued
sub check_status {
    my ($self) = @_;
    my $srv = $self->{srv}[0];
    my $auto = $srv->get('/mql-status?auto');
    like $auto->{content}, qr/^RedisConnected: 1$/m, 'status ?auto: Redis connected';
    like $auto->{content}, qr/^RedisQueue: 0$/m, '... nothing queued';
    my $json = eval { decode_json($srv->get('/mql-status?json')->{content}) } // {};
    is $json->{redis}{connected}, 1, 'status ?json: the redis section';
}

# no unexpected errors (but those matching @allowed) in any server's log;
# the servers stopped
sub stop {
    my ($self, @allowed) = @_;
    for my $t ($self->servers) {
        is_deeply [ $t->unexpected_errors(@allowed) ], [], 'no unexpected errors in ' . $t->port . "'s log";
        $t->stop;
    }
}

1;
