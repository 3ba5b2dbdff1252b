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

# A webhook receiver for the tests: an HTTP server on 127.0.0.1, in a
# child process, that answers as told and logs one JSON line per request
# (time, path, X-MQL-Delivery, X-MQL-Signature and whether it matches the
# secret, Content-Type, body, the answer given).
package MQLReceiver;
use strict;
use warnings;
use JSON::PP;
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use Time::HiRes qw(time);
use POSIX ();

# receiver(NAME, PORT, SECRET, THEN, PLAN...): a receiver on PORT that
# answers from PLAN in turn, then THEN ("200", "503", "302" to
# $ENV{MQL_ELSEWHERE}, "endless": a 200 whose body never ends); appends one
# JSON line per request to $dir/NAME.log, which it returns.
our $dir;             # where the logs go: the test's root
our %receivers;
sub receiver {
    my ($name, $port, $secret, $then, @plan) = @_;
    my $log = "$dir/$name.log";
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                       Listen => 16, ReuseAddr => 1) or die "listen $port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $listen;
        $receivers{$name} = $pid;
        return $log;
    }
    $SIG{PIPE} = 'IGNORE';
    open my $out, '>>', $log or POSIX::_exit(1);
    select((select($out), $| = 1)[0]);
    while (1) {
        my $c = $listen->accept;
        if (!$c) {
            next if $!{EINTR};
            last;
        }
        my (%h, $first);
        local $SIG{ALRM} = sub { die "timeout\n" };
        my $ok = eval {
            alarm 10;
            $first = <$c> // die "eof\n";
            while (my $l = <$c>) {
                last if $l =~ /^\r?\n$/;
                $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*?)\r?\n$/;
            }
            my $body = '';
            read($c, $body, $h{'content-length'} // 0) if $h{'content-length'};
            $h{body} = $body;
            1;
        };
        # a client that went away (a writer killed mid-request) leaves no
        # alarm behind to end this receiver later
        alarm 0;
        next unless $ok;
        my $answer = @plan ? shift @plan : $then;
        my %rec = (time => time, path => (split ' ', $first)[1], delivery => $h{'x-mql-delivery'},
                   signature => $h{'x-mql-signature'}, type => $h{'content-type'},
                   body => $h{body}, answer => $answer);
        $rec{verified} = ($h{'x-mql-signature'} // '') eq 'sha256=' . hmac_sha256_hex($h{body}, $secret)
            ? 1 : 0 if defined $secret;
        if ($answer eq 'endless') {
            print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
            my ($sent, $chunk, $deadline) = (0, 'x' x 8192, time + 20);
            while (time < $deadline) {
                my $n = syswrite $c, $chunk;
                last unless defined $n;
                $sent += $n;
            }
            $rec{sent} = $sent;
        }
        elsif ($answer eq '302') {
            print $c "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:$ENV{MQL_ELSEWHERE}/stolen\r\n"
                . "Content-Length: 0\r\nConnection: close\r\n\r\n";
        }
        else {
            my $reason = $answer == 200 ? 'OK' : 'Service Unavailable';
            print $c "HTTP/1.1 $answer $reason\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        }
        print $out encode_json(\%rec), "\n";
        close $c;
    }
    POSIX::_exit(0);
}

sub stop_receiver {
    my ($name) = @_;
    my $pid = delete $receivers{$name} or return;
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub records {
    my ($log) = @_;
    open my $f, '<', $log or return [];
    return [ map { decode_json($_) } <$f> ];
}

END { local $?; stop_receiver($_) for keys %receivers }

1;
