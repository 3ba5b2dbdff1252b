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
 * The bot filter runs on every request, so it reads the User-Agent once:
 * a table indexed by the two bytes at each position names the tokens that
 * can start there, and only those are compared.  (Eighty strstr() calls
 * over the lower-cased string cost more than the rest of the module's
 * request path together.)
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "mql_bots.h"

/* Lower-case fragments; checked against the lower-cased User-Agent. */
static const char *const bot_tokens[] = {
    /* crawlers and search engines */
    "bot", "crawl", "spider", "slurp", "baiduspider", "yandex", "seznam",
    "facebookexternalhit", "embedly", "preview", "archiver", "ia_archiver",
    "mediapartners", "adsbot", "feedfetcher", "bingpreview", "sogou",
    /* monitors and audits */
    "pingdom", "uptime", "statuscake", "monitor", "site24x7", "newrelic",
    "datadog", "nagios", "zabbix", "check_http", "lighthouse", "pagespeed",
    "gtmetrix",
    /* headless browsers and automation */
    "headless", "phantomjs", "selenium", "webdriver", "puppeteer", "playwright",
    "electron", "slimerjs",
    /* HTTP libraries and tools */
    "curl/", "wget", "libwww", "lwp::", "http-tiny", "python-requests",
    "python-urllib", "python-httpx", "aiohttp", "go-http-client", "java/",
    "okhttp", "apache-httpclient", "httpclient", "axios", "node-fetch", "undici",
    "got (", "ruby", "php/", "guzzle", "scrapy", "httpie", "postman", "insomnia",
    "wrk", "ab/", "apachebench", "siege", "jmeter", "locust", "k6/", "hey/",
    "nikto", "sqlmap", "masscan", "zgrab", "nmap",
    NULL
};

#define NTOKENS (sizeof bot_tokens / sizeof bot_tokens[0] - 1)
#define UA_SCAN 511             /* bot markers sit early in the string */

/* Tokens by their first and by their second byte, as bit sets. */
typedef struct token_set {
    uint64_t bits[(NTOKENS + 63) / 64];
} token_set_t;

static token_set_t by_first[256], by_second[256];
/* One bit per byte pair that begins some token: most positions of a
 * browser's User-Agent are dismissed by this one test. */
static uint8_t pair_starts[65536 / 8];
static size_t token_len[NTOKENS];
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void build_index(void)
{
    size_t t;

    for (t = 0; t < NTOKENS; t++) {
        const unsigned char *tok = (const unsigned char *)bot_tokens[t];
        token_len[t] = strlen(bot_tokens[t]);
        by_first[tok[0]].bits[t / 64] |= UINT64_C(1) << (t % 64);
        /* a one-byte token would match whatever follows it */
        if (token_len[t] == 1) {
            unsigned c;
            for (c = 0; c < 256; c++) {
                unsigned pair = (unsigned)tok[0] << 8 | c;
                by_second[c].bits[t / 64] |= UINT64_C(1) << (t % 64);
                pair_starts[pair >> 3] |= (uint8_t)(1u << (pair & 7));
            }
        }
        else {
            unsigned pair = (unsigned)tok[0] << 8 | tok[1];
            by_second[tok[1]].bits[t / 64] |= UINT64_C(1) << (t % 64);
            pair_starts[pair >> 3] |= (uint8_t)(1u << (pair & 7));
        }
    }
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

int mql_is_bot(const char *ua)
{
    unsigned char low[UA_SCAN + 1];
    size_t n, i, w, t;

    if (!ua || !*ua)
        return 1;
    pthread_once(&index_once, build_index);
    for (n = 0; ua[n] && n < UA_SCAN; n++)
        low[n] = ascii_lower((unsigned char)ua[n]);
    low[n] = '\0';
    for (i = 0; i < n; i++) {
        unsigned pair = (unsigned)low[i] << 8 | low[i + 1];
        const token_set_t *f, *sec;

        if (!(pair_starts[pair >> 3] & (1u << (pair & 7))))
            continue;
        f = &by_first[low[i]];
        sec = &by_second[low[i + 1]];
        for (w = 0; w < sizeof f->bits / sizeof f->bits[0]; w++) {
            uint64_t m = f->bits[w] & sec->bits[w];
            while (m) {
                t = w * 64 + (size_t)__builtin_ctzll(m);
                m &= m - 1;
                if (token_len[t] <= n - i && memcmp(low + i, bot_tokens[t], token_len[t]) == 0)
                    return 1;
            }
        }
    }
    return 0;
}
