#!/usr/bin/perl
# Shows the environment mod_mql gives to applications.
print "Content-Type: text/plain\n\n";
print "$_=$ENV{$_}\n" for sort grep { /^(MQL_|HTTP_X_MQL)/ } keys %ENV;
