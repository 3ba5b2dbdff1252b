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
 * Directive values: durations, whole numbers and networks, with a second
 * fuzzed address to match against the network.
 * Input: DURATION '\n' NUMBER '\n' CIDR '\n' ADDRESS '\n' then 16 bytes
 *        for the number's bounds.
 *
 * Checks: values inside their documented ranges; a number in canonical
 * form agrees with strtoll; a network contains its own address.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include "fuzz.h"
#include "mql_parse.h"

#define MAX_DURATION (100LL * 365 * 86400)

static int64_t fuzz_i64(const uint8_t **data, size_t *size)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | fuzz_byte(data, size);
    return (int64_t)v;
}

static void check_int(apr_pool_t *p, const char *s, int64_t min, int64_t max)
{
    int64_t got = 0, again = 0;
    const char *err = mql_parse_int(p, s, min, max, &got);
    char canon[32];
    long long ref;
    char *end;

    if (!err) {
        FUZZ_CHECK(got >= min && got <= max);
        snprintf(canon, sizeof canon, "%lld", (long long)got);
        FUZZ_CHECK(mql_parse_int(p, canon, min, max, &again) == NULL && again == got);
    }
    /* the C library agrees on plain decimal text ([+-]?digits) */
    if (*s && strspn(s + (*s == '-' || *s == '+'), "0123456789") == strlen(s)
        && s[*s == '-' || *s == '+'] != '\0') {
        errno = 0;
        ref = strtoll(s, &end, 10);
        if (errno == 0 && ref >= min && ref <= max)
            FUZZ_CHECK(!err && got == ref);
        else
            FUZZ_CHECK(err != NULL);
    }
}

/* a numeric address as httpd's client address, never a name to resolve */
static apr_sockaddr_t *numeric(apr_pool_t *p, const char *s)
{
    unsigned char buf[16];
    int family = strchr(s, ':') ? AF_INET6 : AF_INET;
    apr_sockaddr_t *sa;

    if (inet_pton(family, s, buf) != 1
        || apr_sockaddr_info_get(&sa, s, family == AF_INET ? APR_INET : APR_INET6, 0, 0, p))
        return NULL;
    return sa;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *dur = fuzz_field(&data, &size, '\n');
    char *num = fuzz_field(&data, &size, '\n');
    char *net = fuzz_field(&data, &size, '\n');
    char *ip = fuzz_field(&data, &size, '\n');
    int64_t a = fuzz_i64(&data, &size), b = fuzz_i64(&data, &size), secs = -1;
    mql_cidr_t c;
    apr_sockaddr_t *sa;
    char *host;

    if (!mql_parse_duration(p, dur, &secs))
        FUZZ_CHECK(secs >= 0 && secs <= MAX_DURATION);
    check_int(p, num, a < b ? a : b, a < b ? b : a);
    check_int(p, num, 0, 1000);
    check_int(p, num, INT64_MIN, INT64_MAX);

    memset(&c, 0xaa, sizeof c);
    if (!mql_parse_cidr(p, net, &c)) {
        FUZZ_CHECK(c.family == 4 || c.family == 6);
        FUZZ_CHECK(c.bits >= 0 && c.bits <= (c.family == 4 ? 32 : 128));
        FUZZ_CHECK((c.net == NULL) == (c.bits == 0));
        /* a network contains its own address, but for v4-mapped text
         * shorter than /96: that is the IPv6 network, v4-mapped clients
         * count as IPv4 */
        host = apr_pstrndup(p, net, strcspn(net, "/"));
        if ((sa = numeric(p, host)) && !(c.family == 6 && sa->family == APR_INET6
                && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)sa->ipaddr_ptr)))
            FUZZ_CHECK(mql_cidr_match(&c, sa));
        if ((sa = numeric(p, ip)))
            (void)mql_cidr_match(&c, sa);
    }
    free(dur);
    free(num);
    free(net);
    free(ip);
    apr_pool_destroy(p);
    return 0;
}
