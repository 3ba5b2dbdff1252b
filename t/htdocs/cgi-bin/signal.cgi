#!/usr/bin/perl
# An application that tells mod_mql about events only it knows.
# ?event=NAME;points=N  ?contact=ID  (query values, percent-decoded)
my %q;
for (split /&/, $ENV{QUERY_STRING} // '') {
    my ($k, $v) = split /=/, $_, 2;
    $v //= '';
    $v =~ tr/+/ /;
    $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    $q{$k} = $v;
}
print "X-MQL-Event: $q{event}\n" if defined $q{event};
print "X-MQL-Contact: $q{contact}\n" if defined $q{contact};
print "Content-Type: text/html\n\n<html><body>thanks</body></html>\n";
