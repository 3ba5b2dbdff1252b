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

# Deltas (mod_mql/mql_delta.h) and queue entries as the sync thread sends
# them to the Function library (mql_redis_entry_binary), the delta
# vectors of t/vectors/delta.txt, and a binary-safe Redis command: what
# the tests that talk to mql_redis.lua directly share.
package MQLDelta;
use strict;
use warnings;
use MQLFields;
use IO::Socket::INET;

my @RECORD_KEYS = qw(score first last since c k stage tev site flags cc trig);
my %NUMBER_KEYS = map { $_ => 1 } qw(score first last since stage tev site flags);

# the vectors: a list of { name, now, before (undef: none), delta, after, dirty }
sub read_vectors {
    my ($path) = @_;
    open my $f, '<', $path or die "$path: $!\n";
    my (@v, $t);
    while (<$f>) {
        chomp;
        next if /^\s*(#|$)/;
        my ($what, $rest) = /^(\S+)\s*(.*)$/;
        if ($what eq 'vector') {
            push @v, $t = { name => $rest, delta => {}, after => {} };
        }
        elsif ($what eq 'now') { $t->{now} = $rest }
        elsif ($what eq 'before') {
            $t->{before} = $rest eq 'none' ? undef : record_of(fields($rest));
        }
        elsif ($what eq 'delta') {
            # set=NAME:VALUE, once per field to set (replace=NAME:VALUE:
            # set whatever the field holds); add=NAME:ELEM:VALUE,
            # once per number to add to (two to one number are one, as
            # mql_delta_add makes them)
            $t->{delta} = fields(join ' ', grep { !/^(set|replace|add)=/ } split ' ', $rest);
            $t->{delta}{sets} = [ map { /^(set|replace)=([^:]+):(.*)$/
                                        ? [ $2, $3 eq '-' ? '' : $3, $1 eq 'replace' ? 1 : 0 ] : () }
                                  split ' ', $rest ];
            my (@adds, %at);
            for (split ' ', $rest) {
                my ($name, $elem, $value) = /^add=([^:]+):(\d+):(-?\d+)$/ or next;
                if (defined(my $i = $at{"$name:$elem"})) { $adds[$i][2] += $value }
                else { $at{"$name:$elem"} = @adds; push @adds, [ $name, $elem, $value ] }
            }
            $t->{delta}{adds} = \@adds;
        }
        elsif ($what eq 'after') { $t->{after} = fields($rest) }
        elsif ($what eq 'dirty') { $t->{dirty} = $rest }
        else { die "$path:$.: $what?\n" }
    }
    for my $t (@v) {
        my $before = $t->{before} // record_of({ first => $t->{now}, last => $t->{now},
                                                 since => $t->{now} });
        $t->{want} = record_of({ %$before, %{ $t->{after} } });
    }
    return @v;
}

sub fields {
    my ($text) = @_;
    my %h;
    for (split ' ', $text) {
        my ($k, $v) = /^([^=]+)=(.*)$/ or die "not KEY=VALUE: $_\n";
        $h{$k} = $v eq '-' ? '' : $v;
    }
    return \%h;
}

# every field of a record, 0 or empty when not named; counts and caps as lists
sub record_of {
    my ($h) = @_;
    my %r = map { $_ => $h->{$_} // 0 } qw(score first last since stage tev site flags);
    $r{cc} = $h->{cc} // '';
    $r{trig} = $h->{trig} // '';
    # the record's other strings (fields a delta sets) as named
    $r{$_} = $h->{$_} for grep { !$NUMBER_KEYS{$_} && !/^(c|k)\d*$/ && !exists $r{$_} } keys %$h;
    for ([c => 7], [k => 8]) {
        my ($k, $n) = @$_;
        my $l = ref $h->{$k} ? $h->{$k} : [ split /,/, $h->{$k} // '' ];
        $r{$k} = [ map { $l->[$_] // 0 } 0 .. $n - 1 ];
    }
    return \%r;
}

# a record as mql_redis.lua keeps it (RECORD, format 2: every field of
# mql_fields.h with a Redis name, in its order, after an empty contact)
my %PACK = (F64 => 'd<', U32 => 'V', U16 => 'v', U8 => 'C', U16S => 'v', U8S => 'C');
sub pack_record {
    my ($r) = @_;
    my @f = grep { defined $_->{redis} } MQLFields::all();
    my $out = pack('C C v', 2, scalar @f, 0);
    for my $f (@f) {
        my $v = $r->{ $f->{redis} };
        if ($f->{type} eq 'TEXT') { $out .= pack('v/a*', $v // '') }
        elsif ($f->{type} eq 'CHARS') {
            $out .= length($v // '') == $f->{n} ? $v : "\0" x $f->{n};
        }
        elsif ($f->{type} =~ /S$/) {
            my $n = $f->{redis} eq 'c' ? 7 : 8;     # MQL_EV_COUNT, MQL_CAPPED_RULES
            $out .= pack($PACK{ $f->{type} } . $n, map { $_ // 0 } @{ $v }[0 .. $n - 1]);
        }
        else { $out .= pack($PACK{ $f->{type} }, $v // 0) }
    }
    return $out;
}

# a record from mql_fields' pairs
sub record_from_fields {
    my (%f) = @_;
    return record_of({ (map { $_ => $f{$_} } grep { !/^(c|k)\d+$/ && $_ ne 'contact' } keys %f),
                       c => [ map { $f{"c$_"} } 0 .. 6 ], k => [ map { $f{"k$_"} } 0 .. 7 ] });
}

# a delta as mql_delta_encode writes it, from a vector's delta fields
sub pack_delta {
    my ($d) = @_;
    my @items = map { [ split /:/ ] } grep { length } split /,/, $d->{items} // '';
    my $fit = $d->{fit} // '';
    my $cc = length($d->{cc} // '') == 2 ? $d->{cc} : "\0\0";
    return pack('V V C', $d->{events} // 0, $d->{half_life} // 0, scalar @items)
         . join('', map { pack('l< C C C', @$_) } @items)
         . pack('C l< a2 C C C C V d< v/a* C v/a*', $fit ne '' ? 1 : 0, $fit ne '' ? $fit : 0,
                $cc, $d->{flags} // 0, $d->{site} // 0, $d->{need_country} // 0, $d->{hold} // 0,
                $d->{need_counts} // 0, $d->{threshold} // 0, $d->{countries} // '',
                $d->{tev} // 0, $d->{trig} // '')
         . pack('C', scalar @{ $d->{sets} // [] })
         . join('', map { pack('C/a* v/a* C', @$_) } @{ $d->{sets} // [] })
         . pack('C', scalar @{ $d->{adds} // [] })
         . join('', map { pack('C/a* C l<', @$_) } @{ $d->{adds} // [] });
}

# a hit entry (kind h): the head, MQLExpire, the delta
sub hit_entry {
    my (%o) = @_;
    return pack('a1 a16 d< a22 V V', 'h', $o{origin}, $o{seq}, $o{id}, $o{now}, $o{expire} // 0)
         . pack_delta($o{delta});
}

# a forget entry (kind f): the head alone
sub forget_entry {
    my (%o) = @_;
    return pack('a1 a16 d< a22 V', 'f', $o{origin}, $o{seq}, $o{id}, $o{now});
}

# A connection speaking RESP, binary-safe (redis-cli takes no NUL bytes
# in its arguments): command(ARGS) gives the reply, an error as
# { error => TEXT }.
sub connect {
    my ($class, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
        or die "redis on $port: $!\n";
    return bless { s => $s }, $class;
}

sub command {
    my ($self, @a) = @_;
    my $s = $self->{s};
    print $s '*' . @a . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @a);
    return $self->reply;
}

sub reply {
    my ($self) = @_;
    my $s = $self->{s};
    my $line = <$s> // die "redis closed the connection\n";
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    $rest =~ s/\r\n$//;
    return $rest if $t eq '+' || $t eq ':';
    return { error => $rest } if $t eq '-';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        read($s, $buf, $rest + 2 - length $buf, length $buf) while length $buf < $rest + 2;
        return substr($buf, 0, $rest);
    }
    return [ map { $self->reply } 1 .. $rest ] if $t eq '*';
    die "redis: unexpected reply $line";
}

1;
