#!/usr/bin/perl
# sisimai-count.pl -- the peer side of bench/analyze.sh.
# Runs Sisimai->make on each path given (mbox, Maildir or file), with
# Sisimai's defaults, and prints the total number of results (one per failed
# recipient) on standard output.  Debian package: libsisimai-perl.
use strict;
use warnings;
use Sisimai;

die "usage: $0 MBOX...\n" unless @ARGV;
my $n = 0;
for my $path (@ARGV) {
    die "sisimai-count: $path: no such file or folder\n" unless -e $path;
    my $r = Sisimai->make($path);
    $n += scalar @{ $r // [] };
}
print "$n\n";
