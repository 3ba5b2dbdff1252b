#!/usr/bin/perl
# The contact form: a POST with an e-mail is accepted (302 to a thank-you
# page), one without is refused with 422.
local $/;
my $body = <STDIN> // '';
if ($ENV{REQUEST_METHOD} eq 'POST' && $body =~ /email=([^&]+)/) {
    my $email = $1;
    $email =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    print "Status: 302 Found\nLocation: /contact.html?sent=1\n";
    print "X-MQL-Contact: $email\n\n";
} else {
    print "Status: 422 Unprocessable Content\nContent-Type: text/html\n\n";
    print "<html><body>Please give an e-mail address.</body></html>\n";
}
