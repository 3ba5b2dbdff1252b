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

# The record's fields as mod_mql/mql_fields.h lists them, for tests that
# check what a lead is published with: a field added there is then known
# to them without a change of theirs.
package MQLFields;
use strict;
use warnings;
use File::Basename qw(dirname);

my $HEADER = dirname(__FILE__) . '/../../mod_mql/mql_fields.h';

# each field as { type, member, n, redis, lead } (redis, lead: undef for NULL)
sub all {
    open my $f, '<', $HEADER or die "$HEADER: $!\n";
    my @fields;
    while (<$f>) {
        next unless /^\s*X\((\w+),\s*(\w+),\s*([^,]+?),\s*(NULL|"[^"]*"),\s*(NULL|"[^"]*")\)/;
        my @q = map { $_ eq 'NULL' ? undef : substr($_, 1, -1) } $4, $5;
        push @fields, { type => $1, member => $2, n => $3, redis => $q[0], lead => $q[1] };
    }
    die "$HEADER: no fields read\n" unless @fields;
    return @fields;
}

# the names of the fields published as they are (mql_fields.h's lead
# column), in the list's order: after the lead's own in the DBM record,
# the JSON and the CSV of a lead
sub lead_names {
    return map { $_->{lead} } grep { defined $_->{lead} } all();
}

# the names of a lead's attribution fields (mql_record.c's attr_names:
# where it came from, first touch then last), published after those
my $RECORD = dirname(__FILE__) . '/../../mod_mql/mql_record.c';
sub attribution_names {
    open my $f, '<', $RECORD or die "$RECORD: $!\n";
    local $/;
    my ($list) = <$f> =~ /attr_names\[MQL_ATTR_FIELDS\]\s*=\s*\{([^}]*)\}/
        or die "$RECORD: no attribution names\n";
    my @names = $list =~ /"(\w+)"/g;
    return @names;
}

# every field published after the contact, in order
sub published_names {
    my @names = (lead_names(), attribution_names());
    return @names;
}

1;
