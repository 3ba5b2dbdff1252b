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

# Page caches in front of the module: mod_cache (disk and socache
# providers, quick handler on and off) and a shared cache downstream (a
# caching reverse proxy).  A response that hands out a new visitor cookie
# is never stored, so new visitors never share an ID; a page asked for
# with a cookie is stored and served from the cache as the site set it,
# and every view, served from the cache or not, is scored once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Find;
use MQLTest;

my $PAGE = '/pricing.html';

sub header_list {
    my ($res, $name) = @_;
    my $v = $res->{headers}{lc $name};
    return () unless defined $v;
    return ref $v ? @$v : ($v);
}

sub cache_control { join ', ', header_list($_[0], 'Cache-Control') }
sub x_cache { my ($v) = header_list($_[0], 'X-Cache'); ($v // '') =~ /^(HIT|MISS|REVALIDATE)/ ? $1 : '' }

sub ncookies { my @c = MQLTest::set_cookies($_[0]); scalar @c }

sub id_of { my ($cookie) = @_; ($cookie // '') =~ /^mql_vid=([^.]+)\./ ? $1 : undef }

sub score_of {
    my ($t, $cookie) = @_;
    my $env = MQLTest::env_of($t->get('/cgi-bin/env.cgi', Cookie => $cookie));
    return $env->{MQL_SCORE};
}

# Every byte the cache keeps, one string per file.  mod_cache also keeps
# the request headers (for Vary), so a stored Cookie header is expected;
# a stored Set-Cookie is what would be replayed to others.
sub stored_files {
    my ($dir) = @_;
    my %out;
    return %out unless -d $dir;
    find({ no_chdir => 1, wanted => sub {
        return unless -f $_;
        open my $fh, '<:raw', $_ or return;
        local $/;
        $out{$_} = <$fh>;
    } }, $dir);
    return %out;
}

# The site: HTML pages fresh for ten minutes (Expires and max-age, from
# mod_expires), as a site behind a page cache sets them.
my $SITE = <<'CONF';
MQLHalfLife 0
ExpiresActive On
ExpiresByType text/html "access plus 10 minutes"
CONF

sub scenario {
    my (%o) = @_;
    my $label = $o{label};
    my $t = MQLTest->new(modules => [qw(expires cache), @{ $o{modules} }], conf => '');
    my $cache_dir = $t->root . '/cache';
    mkdir $cache_dir;
    MQLTest::give_to_server($cache_dir);
    (my $store = $o{store}) =~ s/\$CACHE/$cache_dir/g;
    $t->write_conf(<<"CONF");
$SITE
$store
CacheQuickHandler $o{quick}
CacheHeader On
CacheLock Off
<Location /careers.html>
    MQLEngine Off
</Location>
# the README's way to exempt a path from tracking under the quick handler
CacheDisable /contact.html
<Location /contact.html>
    MQLEngine Off
</Location>
$o{extra}
CONF
    $t->start;

    # Where the module does not track, it issues no cookie and leaves the
    # page as cacheable as the site made it.
    my $off = $t->get('/careers.html');
    is ncookies($off), 0, "$label: MQLEngine Off: no cookie";
    is cache_control($off), 'max-age=600', "$label: MQLEngine Off: Cache-Control as the site set it";
    is x_cache($t->get('/careers.html', Cookie => 'other=1')), 'HIT',
        "$label: MQLEngine Off: the page was stored";

    # Four new visitors, one after the other, then a visitor who holds a
    # cookie (it was new on its first request), twice, then a fifth new
    # visitor.
    my (@ids, @cc);
    for my $n (1 .. 4) {
        my $res = $t->get($PAGE);
        my @sc = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
        is scalar(@sc), 1, "$label: new visitor $n gets exactly one visitor cookie"
            or diag explain \@sc;
        push @ids, id_of($sc[0]);
        push @cc, cache_control($res);
        is x_cache($res), 'MISS', "$label: new visitor $n: not served from the cache";
    }
    my %distinct = map { ($_ // 'none') => 1 } @ids;
    is scalar(keys %distinct), 4, "$label: four new visitors, four distinct IDs";
    is scalar(grep { /(^|,\s*)private(\s*,|$)/ } @cc), 4,
        "$label: their responses say Cache-Control: private";
    like $cc[0], qr/max-age=600/, "$label: ... beside the site's own max-age";

    my $known = "mql_vid=" . do {
        my $res = $t->get('/index.html');
        (MQLTest::visitor_cookie($res) // '') =~ s/^mql_vid=//r;
    };
    my $res = $t->get($PAGE, Cookie => $known);
    is x_cache($res), 'MISS', "$label: a known visitor's first view is a miss";
    is ncookies($res), 0, "$label: ... it sets no cookie";
    is cache_control($res), 'max-age=600', "$label: ... Cache-Control as the site set it";
    ok defined $res->{headers}{expires}, "$label: ... with the site's Expires";
    $res = $t->get($PAGE, Cookie => $known);
    is x_cache($res), 'HIT', "$label: the known visitor's next view is served from the cache";
    like $res->{content}, qr/<h1>pricing<\/h1>/, "$label: ... the page itself";

    my $other_known = "mql_vid=" . (MQLTest::visitor_cookie($t->get('/index.html')) =~ s/^mql_vid=//r);
    $res = $t->get($PAGE, Cookie => $other_known);
    is x_cache($res), 'HIT', "$label: another known visitor gets the cached page";
    is ncookies($res), 0, "$label: ... and no cookie";

    $res = $t->get($PAGE);
    is x_cache($res), 'HIT', "$label: a fifth new visitor gets the cached page";
    my @sc = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
    is scalar(@sc), 1, "$label: ... with exactly one visitor cookie, its own";
    my $fifth = id_of($sc[0]);
    ok $fifth && !grep({ $_ eq $fifth } @ids), "$label: ... a fresh ID";
    like cache_control($res), qr/(^|,\s*)private(\s*,|$)/, "$label: ... marked private";

    # An application's event is scored when the application runs; the
    # module takes the header off before mod_cache stores the page, so a
    # cached copy neither carries nor scores it.  (mod_cache_socache
    # stores only responses of a known length, which a CGI's is not.)
    if ($o{store} =~ /disk/) {
        my $app = "mql_vid=" . (MQLTest::visitor_cookie($t->get('/index.html')) =~ s/^mql_vid=//r);
        my $url = '/cgi-bin/signal.cgi?event=webinar%3B%20points%3D30';
        $res = $t->get($url, Cookie => $app);
        is x_cache($res), 'MISS', "$label: a page reporting an event runs the application";
        ok !exists $res->{headers}{'x-mql-event'}, "$label: ... X-MQL-Event taken off";
        $res = $t->get($url, Cookie => $app);
        is x_cache($res), 'HIT', "$label: ... then it comes from the cache";
        ok !exists $res->{headers}{'x-mql-event'}, "$label: ... without X-MQL-Event";
        is score_of($t, $app), 1 + 31 + 1, "$label: the event scored once, with the application";
    }

    # A view served from the cache is scored before the visitor has the
    # page, so their next request already sees it, as with any other page.
    my $late = 0;
    my $fast = "mql_vid=" . (MQLTest::visitor_cookie($t->get('/index.html')) =~ s/^mql_vid=//r);
    for my $n (1 .. 20) {
        my $hit = x_cache($t->get($PAGE, Cookie => $fast));
        $late++ unless $hit eq 'HIT' && score_of($t, $fast) == 1 + $n;
    }
    is $late, 0, "$label: 20 cached views, each seen by the visitor's very next request";

    my $exempt = "mql_vid=" . (MQLTest::visitor_cookie($t->get('/index.html')) =~ s/^mql_vid=//r);
    my $given = 0;
    for (1 .. 3) {
        $given += ncookies($t->get('/contact.html'));
        $t->get('/contact.html', Cookie => $exempt);
    }
    is $given, 0, "$label: CacheDisable and MQLEngine Off: no cookie for new visitors";
    is score_of($t, $exempt), 1, "$label: ... and no score for known ones";

    # Scores: every view once, from the cache or not.
    is score_of($t, $known), 3, "$label: known visitor: 3 views (new, miss, hit), 3 points";
    is score_of($t, $other_known), 2, "$label: second known visitor: 2 views, one from the cache";
    is score_of($t, $sc[0] =~ s/;.*//r), 1, "$label: the fifth visitor's cached view scored once";

    if ($o{inspect}) {
        my %files = stored_files($cache_dir);
        my @stored = grep { $files{$_} =~ /max-age=600/ } sort keys %files;
        ok @stored, "$label: the cache holds the page's stored headers"
            or diag join "\n", sort keys %files;
        my @leaked = grep { $files{$_} =~ /^Set-Cookie:/mi } sort keys %files;
        is_deeply \@leaked, [], "$label: no stored response carries Set-Cookie"
            or diag explain { map { $_ => $files{$_} } @leaked };
        is_deeply [grep { $files{$_} =~ /^X-MQL-/mi } sort keys %files], [],
            "$label: no stored response carries X-MQL-Event";
    }

    $t->stop;
    is_deeply [$t->unexpected_errors], [], "$label: no errors in the log";
}

for my $quick (qw(On Off)) {
    scenario(label => "disk, quick handler $quick", quick => $quick,
             modules => [qw(cache_disk)], inspect => 1,
             store => "CacheEnable disk /\nCacheRoot \$CACHE", extra => '');
    scenario(label => "socache (dbm), quick handler $quick", quick => $quick,
             modules => [qw(cache_socache socache_dbm)], inspect => 1,
             store => "CacheEnable socache /\nCacheSocache dbm:\$CACHE/objects", extra => '');
}
# shmcb, the usual socache, with an admin who lets mod_cache store private
# and no-store responses: the module's responses to new visitors still are
# not stored.
scenario(label => 'socache (shmcb), CacheStorePrivate On', quick => 'On',
         modules => [qw(cache_socache socache_shmcb)], inspect => 0,
         store => "CacheEnable socache /\nCacheSocache shmcb",
         extra => "CacheStorePrivate On\nCacheStoreNoStore On");

# ---- a shared cache downstream: a caching reverse proxy in front ----------
{
    # one page where the site replaces Cache-Control itself, in the table
    # where the module put its "private"
    my $origin = MQLTest->new(modules => [qw(expires)], conf => <<"CONF");
$SITE
<Location /contact.html>
    Header always set Cache-Control "public, max-age=600"
</Location>
CONF
    $origin->start;
    my $front = MQLTest->new(no_module => 1, modules => [qw(proxy proxy_http cache cache_disk)],
                             conf => '');
    my $cache_dir = $front->root . '/cache';
    mkdir $cache_dir;
    MQLTest::give_to_server($cache_dir);
    $front->write_conf(<<"CONF");
CacheEnable disk /
CacheRoot $cache_dir
CacheHeader On
CacheLock Off
ProxyPass / ${\ $origin->base }/
CONF
    $front->start;

    my %ids;
    for my $n (1 .. 4) {
        my $res = $front->get($PAGE);
        my @sc = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
        is scalar(@sc), 1, "caching proxy: new visitor $n gets one visitor cookie";
        $ids{ id_of($sc[0]) // 'none' }++;
    }
    is scalar(keys %ids), 4, 'caching proxy: four new visitors, four distinct IDs';

    %ids = ();
    my @cc;
    for my $n (1 .. 4) {
        my $res = $front->get('/contact.html');
        my @sc = grep { /^mql_vid=/ } MQLTest::set_cookies($res);
        $ids{ id_of($sc[0]) // 'none' }++;
        push @cc, cache_control($res);
    }
    is scalar(keys %ids), 4,
        'caching proxy: a page whose Cache-Control the site sets "always": four IDs too';
    is scalar(grep { /public, max-age=600/ && /(^|,\s*)private(\s*,|$)/ } @cc), 4,
        'caching proxy: ... the site\'s "public" and the module\'s "private", which wins';
    my $known = MQLTest::visitor_cookie($origin->get('/index.html'));
    my $res = $front->get($PAGE, Cookie => $known);
    is x_cache($res), 'MISS', 'caching proxy: a known visitor\'s page is fetched';
    $res = $front->get($PAGE, Cookie => $known);
    is x_cache($res), 'HIT', 'caching proxy: ... then stored and served from the proxy\'s cache';
    $res = $front->get($PAGE);
    is x_cache($res), 'HIT', 'caching proxy: a new visitor gets it from the proxy\'s cache too';
    is scalar(grep { /^mql_vid=/ } MQLTest::set_cookies($res)), 0,
        'caching proxy: ... without anyone\'s cookie (the origin never saw that request)';
    my %files = stored_files($cache_dir);
    ok scalar(grep { $files{$_} =~ /max-age=600/ } keys %files), 'caching proxy: the page is stored';
    is_deeply [grep { $files{$_} =~ /^Set-Cookie:/mi } sort keys %files], [],
        'caching proxy: no stored response carries Set-Cookie';
    $front->stop;
    $origin->stop;
    is_deeply [$origin->unexpected_errors], [], 'caching proxy: no errors at the origin';
    is_deeply [$front->unexpected_errors], [], 'caching proxy: no errors at the proxy';
}

done_testing;
