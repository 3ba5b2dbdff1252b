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

/*
 * Parsers for directive values (durations, numbers, networks) and for the
 * little structured input that arrives with requests (X-MQL-Event, query
 * strings, URL paths).  No strtol: its tolerance of leading blanks, signs
 * and trailing junk is what lets "30 d" or "1e3" slip into a configuration.
 */
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <apr_strings.h>  /* apr_psprintf takes APR_INT64_T_FMT, not %lld */
#include "mql_parse.h"

#define DAY_SECS 86400LL
#define MAX_DURATION (100LL * 365 * DAY_SECS)   /* 100 years */

/*
 * Decimal digits of s[0..len) into *out, refusing values above max
 * (checked before each step, so no intermediate result can overflow).
 * max must not be negative.
 */
static int parse_digits(const char *s, size_t len, int64_t max, int64_t *out)
{
    int64_t v = 0;
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        int d = s[i] - '0';
        if (d < 0 || d > 9)
            return 0;
        if (v > max / 10 || (v == max / 10 && d > max % 10))
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int all_digits(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 0;
}

static int64_t unit_secs(char c)
{
    switch (c) {
    case 's': case 'S': return 1;
    case 'm': case 'M': return 60;
    case 'h': case 'H': return 3600;
    case 'd': case 'D': return DAY_SECS;
    default:            return 0;
    }
}

const char *mql_parse_duration(apr_pool_t *p, const char *s, int64_t *secs)
{
    size_t len = s ? strlen(s) : 0;
    int64_t unit = 1, n;

    if (len && unit_secs(s[len - 1])) {
        unit = unit_secs(s[len - 1]);
        len--;
    }
    if (!all_digits(s, len))
        return apr_psprintf(p, "expects a duration such as 30d, 12h, 15m or 45s, "
                            "not '%s'", s ? s : "");
    if (!parse_digits(s, len, MAX_DURATION / unit, &n))
        return apr_psprintf(p, "duration '%s' is too long (at most 100 years, "
                            "%" APR_INT64_T_FMT " s)", s, (apr_int64_t)MAX_DURATION);
    *secs = n * unit;
    return NULL;
}

const char *mql_parse_size(apr_pool_t *p, const char *s, int64_t min, int64_t max,
                           int64_t *out)
{
    size_t len = s ? strlen(s) : 0;
    int64_t unit = 1, n;
    const char *err;

    if (len && strchr("kKmMgG", s[len - 1])) {
        char u = s[len - 1];
        unit = u == 'k' || u == 'K' ? 1024 : u == 'm' || u == 'M' ? 1024 * 1024
                                                                  : 1024 * 1024 * 1024;
        s = apr_pstrndup(p, s, len - 1);
    }
    if ((err = mql_parse_int(p, s, 0, max / unit, &n)) != NULL || n * unit < min)
        return apr_psprintf(p, "expects a size from %" APR_INT64_T_FMT "K to %"
                            APR_INT64_T_FMT "G (a number with K, M or G)", min / 1024,
                            max / (1024 * 1024 * 1024));
    *out = n * unit;
    return NULL;
}

const char *mql_parse_int(apr_pool_t *p, const char *s, int64_t min, int64_t max,
                          int64_t *out)
{
    const char *text = s ? s : "";
    size_t len = strlen(text);
    int neg = 0;
    int64_t mag;
    /* the largest magnitude the range allows on that side (as unsigned,
     * since INT64_MIN has no positive counterpart) */
    uint64_t limit;

    s = text;
    if (len && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    if (!all_digits(s, len))
        goto bad;
    limit = neg ? (min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0) : (max > 0 ? (uint64_t)max : 0);
    if (limit > (uint64_t)INT64_MAX)
        limit = (uint64_t)INT64_MAX;      /* INT64_MIN itself: refused, harmless */
    if (!parse_digits(s, len, (int64_t)limit, &mag))
        goto bad;
    mag = neg ? -mag : mag;
    if (mag < min || mag > max)
        goto bad;
    *out = mag;
    return NULL;
bad:
    return apr_psprintf(p, "expects a whole number from %" APR_INT64_T_FMT " to %"
                        APR_INT64_T_FMT ", not '%s'", (apr_int64_t)min, (apr_int64_t)max, text);
}

/* ---- networks ------------------------------------------------------- */

static const char *cidr_error(apr_pool_t *p, const char *s)
{
    return apr_psprintf(p, "expects an IP address or network such as 192.0.2.7, "
                        "10.0.0.0/8 or 2001:db8::/32, not '%s'", s ? s : "");
}

/*
 * APR parses and matches; what is left here is what apr_ipsubnet_create
 * refuses although the directive has always taken it: a prefix length of 0
 * (APR takes 1 to 32 or 128) and a network written as v4-mapped IPv6.  An
 * address always gets an explicit prefix length, since without one APR
 * would take "10.0" for 10.0.0.0/16.
 */
const char *mql_parse_cidr(apr_pool_t *p, const char *s, mql_cidr_t *out)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    const char *host;
    struct in6_addr a6;
    int64_t bits;
    int mapped;
    mql_cidr_t c;

    if (!s || !*s || slash == s)
        return cidr_error(p, s);
    host = slash ? apr_pstrmemdup(p, s, (apr_size_t)(slash - s)) : s;
    c.family = strchr(host, ':') ? 6 : 4;
    bits = c.family == 4 ? 32 : 128;
    if (slash && !parse_digits(slash + 1, strlen(slash + 1), 999, &bits))
        return cidr_error(p, s);
    mapped = c.family == 6 && inet_pton(AF_INET6, host, &a6) == 1
             && IN6_IS_ADDR_V4MAPPED(&a6);
    if (!mapped && apr_ipsubnet_create(&c.net, host, c.family == 4 ? "32" : "128", p))
        return cidr_error(p, s);
    if (bits > (c.family == 4 ? 32 : 128))
        return apr_psprintf(p, "prefix length /%d in '%s' is too long for an IPv%d "
                            "address (at most %d)", (int)bits, s, c.family,
                            c.family == 4 ? 32 : 128);
    /* ::ffff:10.0.0.0/104 means 10.0.0.0/8, which is how APR's test sees
     * v4-mapped clients; shorter, it is the IPv6 network it spells */
    if (mapped && bits >= 96) {
        host = apr_psprintf(p, "%u.%u.%u.%u", a6.s6_addr[12], a6.s6_addr[13],
                            a6.s6_addr[14], a6.s6_addr[15]);
        c.family = 4;
        bits -= 96;
    }
    else if (mapped)
        host = apr_psprintf(p, "::%x:0:0", bits > 80 ? 0xffffu << (96 - bits) & 0xffffu : 0);
    c.bits = (int)bits;
    if (bits == 0)
        c.net = NULL;
    else if (apr_ipsubnet_create(&c.net, host, apr_itoa(p, c.bits), p) != APR_SUCCESS)
        return cidr_error(p, s);
    *out = c;
    return NULL;
}

static int v4mapped(const apr_sockaddr_t *sa)
{
    return sa->family == APR_INET6
           && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)sa->ipaddr_ptr);
}

int mql_cidr_match(const mql_cidr_t *c, apr_sockaddr_t *sa)
{
    if (!c || !sa)
        return 0;
    if (c->net)
        return apr_ipsubnet_test(c->net, sa);
    /* /0: the whole family, v4-mapped clients counting as IPv4 as above */
    if (c->family == 4)
        return sa->family == APR_INET || v4mapped(sa);
    return sa->family == APR_INET6 && !v4mapped(sa);
}

/* ---- X-MQL-Event ---------------------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *s, const char *end)
{
    while (s < end && is_ows(*s))
        s++;
    return s;
}

static const char *trim_ows_end(const char *start, const char *end)
{
    while (end > start && is_ows(end[-1]))
        end--;
    return end;
}

static int is_event_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '_' || c == '.' || c == '-';
}

/* "-12", "+5", "30" within -1000..1000 */
static int parse_points(const char *s, const char *end, int *points)
{
    int neg = 0;
    int64_t v;

    if (s < end && (*s == '-' || *s == '+')) {
        neg = *s == '-';
        s++;
    }
    if (!parse_digits(s, (size_t)(end - s), 1000, &v))
        return 0;
    *points = (int)(neg ? -v : v);
    return 1;
}

/*
 * One ";"-separated parameter.  Only "points" is known; anything else is
 * refused rather than ignored, so that a typo such as "point=30" is
 * reported instead of silently scoring nothing.
 */
static int parse_event_param(const char *s, const char *end, int *points, int *has_points)
{
    const char *eq = memchr(s, '=', (size_t)(end - s));
    const char *kend, *v;

    if (!eq)
        return 0;
    kend = trim_ows_end(s, eq);
    if ((size_t)(kend - s) != 6 || strncasecmp(s, "points", 6) != 0 || *has_points)
        return 0;
    v = skip_ows(eq + 1, end);
    if (!parse_points(v, trim_ows_end(v, end), points))
        return 0;
    *has_points = 1;
    return 1;
}

int mql_parse_app_event(const char *value, char *name, size_t namesz,
                        int *points, int *has_points)
{
    const char *s, *end, *semi, *nend;
    size_t nlen;
    int pts = 0, has = 0;

    if (!value || !name || namesz == 0)
        return 0;
    end = value + strlen(value);
    s = skip_ows(value, end);
    semi = strchr(s, ';');
    nend = trim_ows_end(s, semi ? semi : end);
    nlen = (size_t)(nend - s);
    if (nlen < 1 || nlen > 32 || nlen >= namesz)
        return 0;
    for (const char *c = s; c < nend; c++)
        if (!is_event_name_char(*c))
            return 0;

    while (semi) {
        const char *ps = skip_ows(semi + 1, end), *pe;
        semi = strchr(ps, ';');
        pe = trim_ows_end(ps, semi ? semi : end);
        if (pe == ps)
            continue;               /* "NAME;" or ";;": empty parameter */
        if (!parse_event_param(ps, pe, &pts, &has))
            return 0;
    }
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    *points = pts;
    *has_points = has;
    return 1;
}

/* ---- Content-Range -------------------------------------------------- */

/* Decimal digits at *s, at most 18 (no overflow); 0 when there are none
 * or too many. */
static int take_number(const char **s, const char *end, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    while (p < end && *p >= '0' && *p <= '9' && p - *s < 18)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == *s || (p < end && *p >= '0' && *p <= '9'))
        return 0;
    *s = p;
    *out = v;
    return 1;
}

int mql_content_range_reaches_end(const char *value)
{
    const char *s, *end;
    uint64_t first, last, length;

    if (!value)
        return -1;
    end = value + strlen(value);
    s = skip_ows(value, end);
    if (end - s < 6 || strncasecmp(s, "bytes", 5) != 0 || (s[5] != ' ' && s[5] != '\t'))
        return -1;
    s = skip_ows(s + 5, end);
    end = trim_ows_end(s, end);
    if (!take_number(&s, end, &first) || s == end || *s++ != '-'
        || !take_number(&s, end, &last) || s == end || *s++ != '/'
        || !take_number(&s, end, &length) || s != end
        || first > last || last >= length)
        return -1;
    return last == length - 1;
}

/* ---- query strings -------------------------------------------------- */

int mql_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode one form-encoded character at *s (before end): '+' is a space,
 * "%XX" a byte; a '%' not followed by two hex digits stands for itself, as
 * browsers and PHP treat it.  Advances *s.
 */
static unsigned char decode_char(const char **s, const char *end)
{
    const char *c = *s;

    if (*c == '+') {
        *s = c + 1;
        return ' ';
    }
    if (*c == '%' && end - c >= 3 && mql_hex_value(c[1]) >= 0 && mql_hex_value(c[2]) >= 0) {
        *s = c + 3;
        return (unsigned char)(mql_hex_value(c[1]) * 16 + mql_hex_value(c[2]));
    }
    *s = c + 1;
    return (unsigned char)*c;
}

/* Does the encoded text [s, end) decode to exactly name? */
static int decoded_equals(const char *s, const char *end, const char *name)
{
    while (s < end) {
        if (!*name || decode_char(&s, end) != (unsigned char)*name)
            return 0;
        name++;
    }
    return *name == '\0';
}

/* Decode [s, end) into buf, truncating to bufsz - 1 bytes. */
static void decode_into(const char *s, const char *end, char *buf, size_t bufsz)
{
    size_t o = 0;

    if (bufsz == 0)
        return;
    while (s < end && o + 1 < bufsz)
        buf[o++] = (char)decode_char(&s, end);
    buf[o] = '\0';
}

int mql_query_param(const char *query, const char *name, char *buf, size_t bufsz)
{
    const char *s = query;

    if (!query || !name)
        return 0;
    while (*s) {
        const char *end = strchr(s, '&'), *eq;

        if (!end)
            end = s + strlen(s);
        eq = memchr(s, '=', (size_t)(end - s));
        if (end > s && decoded_equals(s, eq ? eq : end, name)) {
            decode_into(eq ? eq + 1 : end, end, buf, bufsz);
            return 1;
        }
        s = *end ? end + 1 : end;
    }
    return 0;
}

/* ---- paths ---------------------------------------------------------- */

static unsigned char ascii_lower(char c)
{
    unsigned char x = (unsigned char)c;

    return x >= 'A' && x <= 'Z' ? (unsigned char)(x + ('a' - 'A')) : x;
}

/* ASCII case-insensitive equality of n bytes: no locale, no call.  Stops
 * at the first difference, so a shorter NUL-terminated b is safe. */
static int ascii_caseeq(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return 0;
    return 1;
}

int mql_path_has_extension(const char *path, const char *const *exts)
{
    const char *end, *ext;
    size_t elen;
    unsigned char c0;

    if (!path || !exts)
        return 0;
    /* Back from the end to the last segment's last dot: extensions are
     * alphanumeric, so only the text after it can be one. */
    end = path + strlen(path);
    for (ext = end; ext > path && ext[-1] != '/' && ext[-1] != '.'; ext--)
        ;
    /* no dot, nothing after it, or nothing before it ("/.pdf" is a
     * hidden file) */
    if (ext == path || ext[-1] != '.' || ext == end || ext - 1 == path || ext[-2] == '/')
        return 0;
    elen = (size_t)(end - ext);
    /* The first letter turns most list entries away without a call: bit
     * 0x20 folds the case of a letter in one instruction, and may let a
     * non-letter through, which ascii_caseeq then turns away. */
    c0 = (unsigned char)(ext[0] | 0x20);
    for (; *exts; exts++)
        if ((unsigned char)((*exts)[0] | 0x20) == c0 && ascii_caseeq(ext, *exts, elen)
            && (*exts)[elen] == '\0')
            return 1;
    return 0;
}

/* Only the characters that stand for themselves anywhere in a pattern. */
static int is_plain_literal(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c && strchr("/-_~%,=&:;@!", c));
}

size_t mql_regex_literal_prefix(const char *pattern, char *out, size_t outsz, int *exact)
{
    const char *p;
    size_t n = 0;

    *exact = 0;
    if (outsz == 0)
        return 0;
    out[0] = '\0';
    if (!pattern || pattern[0] != '^' || strchr(pattern, '|'))
        return 0;
    for (p = pattern + 1; is_plain_literal(*p) && n + 1 < outsz; p++)
        out[n++] = *p;
    if (*p && strchr("?*+{", *p)) {
        n = n ? n - 1 : 0;          /* "^/ab?" requires "/a" only */
    }
    else if (!*p) {
        *exact = n > 0;
    }
    out[n] = '\0';
    return n;
}
