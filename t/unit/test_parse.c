/*
 * Copyright 2026 mod_mql maintainers
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* Parsers of directive values and of request/application input. */
#include <regex.h>
#include "tap.h"
#include <apr_general.h>
#include "mql_parse.h"

static apr_pool_t *pool;

static void duration_ok(const char *s, int64_t want)
{
    int64_t got = -1;
    const char *err = mql_parse_duration(pool, s, &got);
    ok(err == NULL && got == want, "duration '%s' = %lld (got %lld, %s)", s,
       (long long)want, (long long)got, err ? err : "no error");
}

static void duration_bad(const char *s, const char *msg_part)
{
    int64_t got = 4242;
    const char *err = mql_parse_duration(pool, s, &got);
    ok(err && strstr(err, msg_part) && got == 4242, "duration '%s' refused: %s", s,
       err ? err : "(accepted)");
}

static void test_duration(void)
{
    const char *expects = "expects a duration such as 30d, 12h, 15m or 45s";

    duration_ok("30", 30);
    duration_ok("0", 0);
    duration_ok("30s", 30);
    duration_ok("15m", 900);
    duration_ok("12h", 43200);
    duration_ok("30d", 2592000);
    duration_ok("30D", 2592000);
    duration_ok("007d", 7 * 86400);
    duration_ok("36500d", 36500LL * 86400);
    duration_ok("3153600000", 3153600000LL);

    duration_bad("", expects);
    duration_bad(NULL, expects);
    duration_bad("-5d", expects);
    duration_bad("+5d", expects);
    duration_bad("d", expects);
    duration_bad("5x", expects);
    duration_bad("5dd", expects);
    duration_bad("5 d", expects);
    duration_bad(" 5d", expects);
    duration_bad("5d ", expects);
    duration_bad("1.5h", expects);
    duration_bad("1e3", expects);
    duration_bad("0x10", expects);
    duration_bad("5w", expects);
    duration_bad("36501d", "at most 100 years");
    duration_bad("3153600001", "at most 100 years");
    duration_bad("876001h", "at most 100 years");
    duration_bad("99999999999999999999999999d", "at most 100 years");
    duration_bad("99999999999999999999999999", "at most 100 years");
    {
        int64_t v;
        is_str(mql_parse_duration(pool, "30x", &v),
               "expects a duration such as 30d, 12h, 15m or 45s, not '30x'",
               "duration message names the bad value");
    }
}

static void int_ok(const char *s, int64_t min, int64_t max, int64_t want)
{
    int64_t got = -4242;
    const char *err = mql_parse_int(pool, s, min, max, &got);
    ok(err == NULL && got == want, "int '%s' in [%lld,%lld] = %lld (%s)", s,
       (long long)min, (long long)max, (long long)want, err ? err : "ok");
}

static void int_bad(const char *s, int64_t min, int64_t max)
{
    int64_t got = -4242;
    const char *err = mql_parse_int(pool, s, min, max, &got);
    ok(err && strstr(err, "expects a whole number from") && got == -4242,
       "int '%s' in [%lld,%lld] refused: %s", s ? s : "(null)", (long long)min,
       (long long)max, err ? err : "(accepted)");
}

static void test_int(void)
{
    int_ok("100", 0, 1000, 100);
    int_ok("0", 0, 10, 0);
    int_ok("-5", -10, 10, -5);
    int_ok("+5", -10, 10, 5);
    int_ok("-0", 0, 10, 0);
    int_ok("1000", -1000, 1000, 1000);
    int_ok("-1000", -1000, 1000, -1000);
    int_ok("9223372036854775807", 0, INT64_MAX, INT64_MAX);
    int_ok("-9223372036854775807", INT64_MIN, 0, -INT64_MAX);

    int_bad("", 0, 10);
    int_bad(NULL, 0, 10);
    int_bad("-", 0, 10);
    int_bad("11", 0, 10);
    int_bad("-1", 0, 10);
    int_bad("-11", -10, 10);
    int_bad("5", 10, 20);
    int_bad("5", -20, -10);
    int_bad("1001", -1000, 1000);
    int_bad("9223372036854775808", 0, INT64_MAX);
    int_bad("99999999999999999999999", 0, INT64_MAX);
    int_bad("10 ", 0, 100);
    int_bad(" 10", 0, 100);
    int_bad("1e2", 0, 1000);
    int_bad("0x10", 0, 1000);
    int_bad("12abc", 0, 1000);
    int_bad("--1", -10, 10);
    {
        int64_t v;
        is_str(mql_parse_int(pool, "-50", 0, 100000, &v),
               "expects a whole number from 0 to 100000, not '-50'",
               "int message names range and value");
    }
}

static void cidr_ok(const char *s, int family, int bits)
{
    mql_cidr_t c;
    const char *err = mql_parse_cidr(pool, s, &c);
    ok(err == NULL && c.family == family && c.bits == bits, "cidr '%s' = v%d /%d (%s)", s,
       family, bits, err ? err : "ok");
}

static void cidr_bad(const char *s, const char *msg_part)
{
    mql_cidr_t c;
    const char *err = mql_parse_cidr(pool, s, &c);
    ok(err && strstr(err, msg_part), "cidr '%s' refused: %s", s ? s : "(null)",
       err ? err : "(accepted)");
}

/* the client address as httpd hands it over (r->useragent_addr): numeric */
static apr_sockaddr_t *client(const char *ip)
{
    apr_sockaddr_t *sa = NULL;

    if (apr_sockaddr_info_get(&sa, ip, strchr(ip, ':') ? APR_INET6 : APR_INET, 0, 0, pool))
        return NULL;
    return sa;
}

static int matches(const char *cidr, const char *ip)
{
    mql_cidr_t c;
    apr_sockaddr_t *sa = client(ip);

    if (mql_parse_cidr(pool, cidr, &c) || !sa)
        return -1;
    return mql_cidr_match(&c, sa);
}

static void test_cidr(void)
{
    const char *expects = "expects an IP address or network such as";

    cidr_ok("10.0.0.0/8", 4, 8);
    cidr_ok("192.0.2.7", 4, 32);
    cidr_ok("0.0.0.0/0", 4, 0);
    cidr_ok("2001:db8::/32", 6, 32);
    cidr_ok("::1", 6, 128);
    cidr_ok("::/0", 6, 0);
    cidr_ok("::ffff:10.0.0.0/104", 4, 8);
    cidr_ok("10.1.2.3/8", 4, 8);
    cidr_ok("::ffff:10.0.0.0", 4, 32);
    cidr_ok("::ffff:10.0.0.0/96", 4, 0);
    cidr_ok("::ffff:10.0.0.0/64", 6, 64);
    cidr_ok("::ffff:10.0.0.0/88", 6, 88);
    cidr_ok("010.0.0.0/08", 4, 8);

    cidr_bad("10.0.0.0/33", "too long for an IPv4 address (at most 32)");
    cidr_bad("2001:db8::/129", "too long for an IPv6 address (at most 128)");
    cidr_bad("10.0.0.0/999", "too long");
    cidr_bad("10.0.0.0/1000", expects);
    cidr_bad("", expects);
    cidr_bad(NULL, expects);
    cidr_bad("/8", expects);
    cidr_bad("10.0.0.0/", expects);
    cidr_bad("10.0.0.0/-1", expects);
    cidr_bad("10.0.0.0/+8", expects);
    cidr_bad("10.0.0.0/8x", expects);
    cidr_bad("10.0.0.0/ 8", expects);
    cidr_bad("10.0.0/8", expects);
    cidr_bad("10.0.0.256", expects);
    cidr_bad("10.0", expects);           /* apr_ipsubnet_create alone: 10.0.0.0/16 */
    cidr_bad("10", expects);
    cidr_bad("::ffff:10.0.0.0/129", "too long for an IPv6 address (at most 128)");
    cidr_bad("::ffff:10.0.0.0/104x", expects);
    cidr_bad("example.com", expects);
    cidr_bad("2001:db8:::1", expects);
    cidr_bad("10.0.0.0/8/8", expects);
    cidr_bad("fe80::1%eth0", expects);
    cidr_bad("1111111111111111111111111111111111111111111111111111111111111111111111", expects);

    is_int(matches("10.0.0.0/8", "10.1.2.3"), 1, "10.1.2.3 in 10/8");
    is_int(matches("10.0.0.0/8", "11.1.2.3"), 0, "11.1.2.3 not in 10/8");
    is_int(matches("10.1.2.3/8", "10.200.0.1"), 1, "host bits of the network ignored");
    is_int(matches("10.0.0.0/8", "::ffff:10.1.2.3"), 1, "v4-mapped v6 matches v4 network");
    is_int(matches("10.0.0.0/8", "::ffff:11.1.2.3"), 0, "v4-mapped outside the network");
    is_int(matches("::ffff:10.0.0.0/104", "10.9.9.9"), 1, "v4-mapped network matches v4");
    is_int(matches("192.0.2.7", "192.0.2.7"), 1, "bare address matches itself");
    is_int(matches("192.0.2.7", "192.0.2.8"), 0, "bare address is a host route");
    is_int(matches("172.16.0.0/12", "172.31.255.255"), 1, "/12 upper edge");
    is_int(matches("172.16.0.0/12", "172.32.0.0"), 0, "/12 just outside");
    is_int(matches("0.0.0.0/0", "203.0.113.9"), 1, "/0 matches any v4");
    is_int(matches("0.0.0.0/0", "2001:db8::1"), 0, "v4 /0 does not match v6");
    is_int(matches("2001:db8::/32", "2001:db8:ffff::1"), 1, "v6 in /32");
    is_int(matches("2001:db8::/32", "2001:db9::1"), 0, "v6 outside /32");
    is_int(matches("2001:db8::/33", "2001:db8:8000::1"), 0, "v6 /33 odd bit");
    is_int(matches("2001:db8::/33", "2001:db8:7fff::1"), 1, "v6 /33 inside");
    is_int(matches("::1", "::1"), 1, "::1 host");
    is_int(matches("::1", "10.0.0.1"), 0, "v4 never matches a v6 network");
    is_int(matches("fe80::/10", "fe80::1%1"), 1, "zone id ignored in client address");
    is_int(matches("192.0.2.0/24", "::ffff:192.0.2.1"), 1, "v4-mapped client in v4 /24");
    is_int(matches("192.0.2.0/24", "::ffff:192.0.3.1"), 0, "v4-mapped client outside v4 /24");
    is_int(matches("0.0.0.0/0", "::ffff:192.0.2.1"), 1, "v4 /0 matches a v4-mapped client");
    is_int(matches("::/0", "2001:db8::1"), 1, "v6 /0 matches any v6");
    is_int(matches("::/0", "::ffff:192.0.2.1"), 0, "v6 /0: a v4-mapped client counts as v4");
    is_int(matches("::/0", "192.0.2.1"), 0, "v6 /0 does not match v4");
    is_int(matches("::ffff:10.0.0.0/96", "10.9.9.9"), 1, "v4-mapped ::/96 is v4 /0");
    is_int(matches("::ffff:10.0.0.0/64", "::1"), 1, "v4-mapped text shorter than /96: the v6 network");
    is_int(matches("::ffff:10.0.0.0/64", "::ffff:10.0.0.1"), 0, "... which v4-mapped clients are not in");
    is_int(matches("::ffff:10.0.0.0/88", "::ff00:0:1"), 1, "/88 keeps the high byte of ffff");
    is_int(matches("::ffff:10.0.0.0/88", "::fe00:0:1"), 0, "/88 outside");
    is_int(matches("2001:db8::/128", "2001:db8::"), 1, "v6 /128");
    {
        mql_cidr_t c;
        mql_parse_cidr(pool, "10.0.0.0/8", &c);
        ok(!mql_cidr_match(&c, NULL), "NULL address never matches");
        mql_parse_cidr(pool, "0.0.0.0/0", &c);
        ok(!mql_cidr_match(&c, NULL), "NULL address never matches /0");
    }
}

static void event_ok(const char *v, const char *name, int points, int has)
{
    char n[33] = "";
    int pts = 99, hp = 99;
    int r = mql_parse_app_event(v, n, sizeof n, &pts, &hp);
    ok(r == 1 && strcmp(n, name) == 0 && pts == points && hp == has,
       "event '%s' -> %s %d %d (got %d %s %d %d)", v, name, points, has, r, n, pts, hp);
}

static void event_bad(const char *v)
{
    char n[33];
    int pts, hp;
    ok(mql_parse_app_event(v, n, sizeof n, &pts, &hp) == 0, "event '%s' refused",
       v ? v : "(null)");
}

static void test_app_event(void)
{
    char small[5];
    int pts, hp;

    event_ok("webinar; points=30", "webinar", 30, 1);
    event_ok("webinar;points=30", "webinar", 30, 1);
    event_ok("  webinar \t ;  points =  30  ", "webinar", 30, 1);
    event_ok("trial-started; points=-20", "trial-started", -20, 1);
    event_ok("a.b_c-D9; points=+5", "a.b_c-D9", 5, 1);
    event_ok("webinar; POINTS=1", "webinar", 1, 1);
    event_ok("webinar; points=1000", "webinar", 1000, 1);
    event_ok("webinar; points=-1000", "webinar", -1000, 1);
    event_ok("webinar; points=0", "webinar", 0, 1);
    event_ok("webinar", "webinar", 0, 0);
    event_ok("webinar;", "webinar", 0, 0);
    event_ok("webinar; ; points=3;", "webinar", 3, 1);
    event_ok("abcdefghijklmnopqrstuvwxyz012345; points=1", "abcdefghijklmnopqrstuvwxyz012345",
             1, 1);

    event_bad("webinar; points=1001");
    event_bad("webinar; points=-1001");
    event_bad("webinar; points=99999999999999999999");
    event_bad("webinar; points=abc");
    event_bad("webinar; points=3x");
    event_bad("webinar; points=3 4");
    event_bad("webinar; points=1.5");
    event_bad("webinar; points=");
    event_bad("webinar; points=-");
    event_bad("webinar; points");
    event_bad("webinar; point=3");
    event_bad("webinar; points=1; points=2");
    event_bad("webinar; label=x");
    event_bad("");
    event_bad("   ");
    event_bad(NULL);
    event_bad("; points=3");
    event_bad("web inar; points=3");
    event_bad("web/inar; points=3");
    event_bad("webinär; points=3");
    event_bad("web\x01inar");
    event_bad("abcdefghijklmnopqrstuvwxyz0123456; points=1");
    ok(mql_parse_app_event("longer", small, sizeof small, &pts, &hp) == 0,
       "name longer than the caller's buffer refused");
    ok(mql_parse_app_event("abcd", small, sizeof small, &pts, &hp) == 1
       && strcmp(small, "abcd") == 0, "name exactly fitting the buffer");
}

static void test_query(void)
{
    char buf[64], tiny[4];

    ok(mql_query_param("utm_medium=email&utm_campaign=webinar", "utm_medium", buf, sizeof buf)
       && strcmp(buf, "email") == 0, "first parameter");
    ok(mql_query_param("a=1&utm_campaign=webinar", "utm_campaign", buf, sizeof buf)
       && strcmp(buf, "webinar") == 0, "last parameter");
    ok(mql_query_param("q=hello+world%21", "q", buf, sizeof buf)
       && strcmp(buf, "hello world!") == 0, "'+' and %%XX decoded in values");
    ok(mql_query_param("utm%5Fmedium=email", "utm_medium", buf, sizeof buf)
       && strcmp(buf, "email") == 0, "percent-encoded name compared decoded");
    ok(mql_query_param("my+name=x", "my name", buf, sizeof buf) && strcmp(buf, "x") == 0,
       "'+' in names is a space");
    ok(mql_query_param("a=%zz%4", "a", buf, sizeof buf) && strcmp(buf, "%zz%4") == 0,
       "malformed escapes kept literally");
    ok(mql_query_param("flag&x=1", "flag", buf, sizeof buf) && strcmp(buf, "") == 0,
       "parameter without '=' found, empty value");
    ok(mql_query_param("a=&b=2", "a", buf, sizeof buf) && strcmp(buf, "") == 0,
       "empty value");
    ok(mql_query_param("a=1&a=2", "a", buf, sizeof buf) && strcmp(buf, "1") == 0,
       "first of repeated parameters");
    ok(mql_query_param("&&a=1&", "a", buf, sizeof buf) && strcmp(buf, "1") == 0,
       "empty pairs skipped");
    ok(mql_query_param("x=a%3Db", "x", buf, sizeof buf) && strcmp(buf, "a=b") == 0,
       "encoded '=' in value");
    ok(!mql_query_param("utm_mediumx=email", "utm_medium", buf, sizeof buf),
       "longer name does not match");
    ok(!mql_query_param("utm_mediu=email", "utm_medium", buf, sizeof buf),
       "shorter name does not match");
    ok(!mql_query_param("UTM_MEDIUM=email", "utm_medium", buf, sizeof buf),
       "names are case-sensitive");
    ok(!mql_query_param("", "a", buf, sizeof buf), "empty query");
    ok(!mql_query_param(NULL, "a", buf, sizeof buf), "NULL query");
    ok(!mql_query_param("a%00=1", "a", buf, sizeof buf), "%%00 in a name does not match");
    ok(mql_query_param("a=123456789", "a", tiny, sizeof tiny) && strcmp(tiny, "123") == 0,
       "value truncated to the buffer");
    ok(mql_query_param("a=%41%42%43%44%45", "a", tiny, sizeof tiny)
       && strcmp(tiny, "ABC") == 0, "decoded value truncated to the buffer");
    ok(mql_query_param("a=1", "a", tiny, 0), "zero-sized buffer: found, nothing written");
    ok(mql_query_param("a=%4", "a", buf, sizeof buf) && strcmp(buf, "%4") == 0,
       "escape cut by the end of the query");
    {
        char *big = malloc(20000);
        memcpy(big, "junk=", 5);
        memset(big + 5, '%', 10000);
        memcpy(big + 10005, "&utm_medium=email", 18);
        ok(mql_query_param(big, "utm_medium", buf, sizeof buf) && strcmp(buf, "email") == 0,
           "parameter after 10000 stray '%%'");
        free(big);
    }
}

static void test_extension(void)
{
    static const char *const exts[] = { "pdf", "docx", "zip", NULL };
    static const char *const none[] = { NULL };
    static const char *const empty[] = { "", NULL };

    ok(mql_path_has_extension("/whitepapers/guide.pdf", exts), "/guide.pdf");
    ok(mql_path_has_extension("/x.PDF", exts), "upper case extension");
    ok(mql_path_has_extension("/a/b/c.tar.zip", exts), "last extension counts");
    ok(mql_path_has_extension("guide.docx", exts), "relative path");
    ok(!mql_path_has_extension("/a.pdf/", exts), "directory named like a file");
    ok(!mql_path_has_extension("/a.pdf/view", exts), "extension in an earlier segment");
    ok(!mql_path_has_extension("/guide.pdfx", exts), "longer extension");
    ok(!mql_path_has_extension("/guidepdf", exts), "no dot");
    ok(!mql_path_has_extension("/guide.pd", exts), "shorter extension");
    ok(!mql_path_has_extension("/.pdf", exts), "hidden file without a name");
    ok(!mql_path_has_extension("/pdf", exts), "segment is the extension itself");
    ok(!mql_path_has_extension(".pdf", exts), "relative hidden file without a name");
    ok(!mql_path_has_extension("/guide.", exts), "dot at the end");
    ok(mql_path_has_extension("/a.b/x.y.zip", exts), "dots in earlier segments and the name");
    ok(mql_path_has_extension("x.pdf", exts), "one-letter name");
    ok(!mql_path_has_extension("", exts), "empty path");
    ok(!mql_path_has_extension(NULL, exts), "NULL path");
    ok(!mql_path_has_extension("/guide.pdf", none), "empty list");
    ok(!mql_path_has_extension("/guide.", empty), "empty extension never matches");
    {
        /* the first byte's case is folded with bit 0x20, which also maps
         * some non-letters onto others: the full compare turns them away */
        static const char *const odd[] = { "7z", "PdF", "_x", NULL };

        ok(mql_path_has_extension("/a.7z", odd), "digit first");
        ok(!mql_path_has_extension("/a.\x17z", odd), "0x17 is not '7'");
        ok(mql_path_has_extension("/a.pDf", odd), "mixed case on both sides");
        ok(!mql_path_has_extension("/a.\x7fx", odd), "0x7f is not '_'");
        ok(mql_path_has_extension("/a._X", odd), "non-letter first, letter after");
        ok(!mql_path_has_extension("/a.pd", odd), "same first letter, shorter");
    }
}

static void prefix_is(const char *pattern, const char *want, int want_exact)
{
    char buf[64];
    int exact;
    size_t n = mql_regex_literal_prefix(pattern, buf, sizeof buf, &exact);

    ok(n == strlen(want) && strcmp(buf, want) == 0 && exact == want_exact,
       "prefix of '%s' is '%s'%s (got '%s'%s)", pattern, want, want_exact ? ", exact" : "",
       n ? buf : "", exact ? ", exact" : "");
}

/* Checked against a regex engine: every subject the pattern matches
 * starts with the prefix, and for an exact prefix nothing else matches. */
static void prefix_agrees_with_regex(void)
{
    static const char *const patterns[] = {
        "^/pricing", "^/pricing$", "^/docs/v2?", "^/a+b", "^/ab*", "^/ab{2}",
        "^/pricing|^/plans", "^/case/.*", "^/x[yz]", "^/%7e~user", "pricing", "^", NULL
    };
    static const char *const subjects[] = {
        "/pricing", "/pricing.html", "/pricing/", "/Pricing", "/pricin", "/plans",
        "/docs/v", "/docs/v2", "/docs/x", "/ab", "/a", "/abb", "/aab", "/case/x",
        "/xy", "/x", "/%7e~user/1", "/blog/pricing", "", NULL
    };
    int i, j, wrong = 0, checked = 0;

    for (i = 0; patterns[i]; i++) {
        char prefix[64];
        int exact;
        size_t n = mql_regex_literal_prefix(patterns[i], prefix, sizeof prefix, &exact);
        regex_t re;

        if (regcomp(&re, patterns[i], REG_EXTENDED | REG_NOSUB) != 0) {
            wrong++;
            continue;
        }
        for (j = 0; subjects[j]; j++) {
            int matches = regexec(&re, subjects[j], 0, NULL, 0) == 0;
            int starts = strncmp(subjects[j], prefix, n) == 0;

            checked++;
            if ((matches && !starts) || (exact && matches != starts)) {
                printf("# '%s' on '%s': regex %d, prefix '%s' %d\n", patterns[i],
                       subjects[j], matches, prefix, starts);
                wrong++;
            }
        }
        regfree(&re);
    }
    ok(wrong == 0, "literal prefixes agree with the regex engine on %d cases", checked);
}

static void test_regex_prefix(void)
{
    char small[4];
    int exact;

    prefix_is("^/pricing", "/pricing", 1);
    prefix_is("^/pricing$", "/pricing", 0);
    prefix_is("^/pricing.html", "/pricing", 0);
    prefix_is("^/docs/v2?", "/docs/v", 0);
    prefix_is("^/ab*", "/a", 0);
    prefix_is("^/a+", "/", 0);
    prefix_is("^/ab{2}", "/a", 0);
    prefix_is("^/a\\.pdf", "/a", 0);
    prefix_is("^/(a|b)", "", 0);
    prefix_is("^/pricing|/plans", "", 0);
    prefix_is("/pricing", "", 0);
    prefix_is("^(?i)/pricing", "", 0);
    prefix_is("^", "", 0);
    prefix_is("", "", 0);
    ok(mql_regex_literal_prefix("^/pricing", small, sizeof small, &exact) == 3
       && strcmp(small, "/pr") == 0 && !exact, "a prefix longer than the buffer is cut, not exact");
    ok(mql_regex_literal_prefix(NULL, small, sizeof small, &exact) == 0 && !exact,
       "NULL pattern");
    prefix_agrees_with_regex();
}

static void test_content_range(void)
{
    static const struct { const char *v; int want; } cases[] = {
        { "bytes 0-99/3051", 0 },
        { "bytes 100-3050/3051", 1 },
        { "bytes 0-3050/3051", 1 },
        { "bytes 0-0/1", 1 },
        { "BYTES 10-19/20", 1 },
        { "  bytes  5-9/10  ", 1 },
        { "bytes\t5-9/10", 1 },
        { "bytes 0-99/100", 1 },             /* a gzip that fits the first part */
        { "bytes 0-98/100", 0 },
        { "bytes 999999999999999998-999999999999999998/999999999999999999", 1 },
        { "bytes 0-1/9999999999999999999", -1 },   /* 19 digits: refused, no overflow */
        { "bytes */3051", -1 },
        { "bytes 0-99/*", -1 },
        { "bytes 0-99", -1 },
        { "bytes 100-99/3051", -1 },
        { "bytes 0-3051/3051", -1 },
        { "bytes 0-99/3051x", -1 },
        { "bytes -5-99/3051", -1 },
        { "bytes 0--99/3051", -1 },
        { "bytes0-99/3051", -1 },
        { "items 0-99/100", -1 },
        { "bytes", -1 },
        { "", -1 },
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok(mql_content_range_reaches_end(cases[i].v) == cases[i].want,
           "Content-Range '%s' -> %d", cases[i].v, cases[i].want);
    ok(mql_content_range_reaches_end(NULL) == -1, "no Content-Range -> -1");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_duration();
    test_int();
    test_cidr();
    test_app_event();
    test_content_range();
    test_query();
    test_extension();
    test_regex_prefix();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
