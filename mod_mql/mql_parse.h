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
 * Parsers for configuration values and for the few structured things the
 * module reads from clients and applications.  Each returns NULL on
 * success or an error message (allocated from p) saying what was expected.
 */
#ifndef MQL_PARSE_H
#define MQL_PARSE_H

#include <apr_network_io.h>
#include <apr_pools.h>
#include <stdint.h>

/* "30", "30s", "15m", "12h", "30d" -> seconds (0 .. 100 years) */
const char *mql_parse_duration(apr_pool_t *p, const char *s, int64_t *secs);
/* whole decimal number in [min, max] */
const char *mql_parse_int(apr_pool_t *p, const char *s, int64_t min, int64_t max,
                          int64_t *out);

/* "64M", "1G", "500K", "1048576" -> bytes in [min, max] */
const char *mql_parse_size(apr_pool_t *p, const char *s, int64_t min, int64_t max,
                           int64_t *out);

typedef struct mql_cidr {
    int family;            /* 4 or 6 */
    int bits;              /* prefix length */
    apr_ipsubnet_t *net;   /* NULL for /0, which APR does not take */
} mql_cidr_t;

/* "10.0.0.0/8", "192.0.2.7" (= /32), "2001:db8::/32", "::1" */
const char *mql_parse_cidr(apr_pool_t *p, const char *s, mql_cidr_t *out);
/* 1 when the client address sa (v4, v6, or v4-mapped v6) is inside c */
int mql_cidr_match(const mql_cidr_t *c, apr_sockaddr_t *sa);

/*
 * X-MQL-Event: "NAME; points=N" (points optional, then 0 is returned with
 * *has_points = 0).  NAME is [A-Za-z0-9_.-]{1,32}; N in -1000..1000.
 * Returns 1 on success.
 */
int mql_parse_app_event(const char *value, char *name, size_t namesz,
                        int *points, int *has_points);

/*
 * Content-Range of a 206, "bytes FIRST-LAST/LENGTH" (RFC 9110, 14.4), as
 * the byterange filter or a backend sent it: 1 when the part reaches the
 * end of the representation, 0 when it does not, -1 when the value is no
 * such range (NULL, an unsatisfied range, an unknown length, malformed).
 */
int mql_content_range_reaches_end(const char *value);

/*
 * Find query parameter name in a raw query string ("a=1&b=2"), comparing
 * the decoded name; copies the decoded value into buf.  1 when found.
 */
int mql_query_param(const char *query, const char *name, char *buf, size_t bufsz);

/* value of a hexadecimal digit, -1 when c is none (percent-decoding) */
int mql_hex_value(char c);

/* 1 when the path's last segment ends in ".EXT" for one of exts
 * (case-insensitive); exts is a NULL-terminated array without dots. */
int mql_path_has_extension(const char *path, const char *const *exts);

/*
 * The text every match of pattern must begin with, so that the request
 * path can turn most URLs away without running the regex engine:
 * "^/pricing" gives "/pricing", "^/docs/v2?" gives "/docs/v".  Copied into
 * out (NUL-terminated, at most outsz - 1 bytes); returns its length, 0
 * when the pattern promises nothing (not anchored, alternation anywhere).
 * *exact is set when the pattern is "^" and the literal alone, so the
 * prefix test is the whole match.  Valid for patterns compiled
 * case-sensitively and without multi-line mode.
 */
size_t mql_regex_literal_prefix(const char *pattern, char *out, size_t outsz, int *exact);

#endif
