#!/usr/bin/perl
# The demo's contact form: accepts a POST with an e-mail address, tells
# mod_mql who the visitor is (X-MQL-Contact) and redirects to a thank-you
# page; without an address it answers 422 (a form-error).
use strict;
use warnings;

my $body = '';
read STDIN, $body, $ENV{CONTENT_LENGTH} // 0;
my %f;
for (split /&/, $body) {
    my ($k, $v) = split /=/, $_, 2;
    next unless defined $v;
    $v =~ tr/+/ /;
    $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    $f{$k} = $v;
}
if (($ENV{REQUEST_METHOD} // '') eq 'POST' && ($f{email} // '') =~ /^[^@\s]+@[^@\s]+$/) {
    print "Status: 303 See Other\nLocation: /thanks.html\nX-MQL-Contact: $f{email}\n\n";
}
else {
    print "Status: 422 Unprocessable Content\nContent-Type: text/html\n\n";
    print "<html><body><p>Please give a valid e-mail address. <a href=\"/contact.html\">Back</a></p></body></html>\n";
}
