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
 * The Cookie request header, as any client may send it: walk it for a few
 * names, one at a time and all at once, verify every value found as a visitor cookie and as
 * the mark a proxied request carries (X-MQL-Scored), and parse it as a bare ID.  Checks that every value lies inside the header, that the walk
 * always advances, and that anything accepted is the one canonical
 * spelling (re-encoding it gives back the same text).
 */
#include "fuzz.h"
#include "mql_cookie.h"

static const uint8_t key[MQL_KEY_BYTES] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};

static const char *const names[] = { "mql_vid", "mql_optout", "consent", "a", "\"", "x y" };

static void check_value(const char *v, size_t n)
{
    uint8_t id[MQL_ID_BYTES];
    char text[MQL_ID_TEXT_LEN + 1], cookie[MQL_COOKIE_VALUE_LEN + 1], mark[MQL_SCORED_LEN + 1];
    const uint32_t now = 0x66000000;
    int is_new;

    if (mql_cookie_verify(key, v, n, id)) {
        /* only the exact text the server signs is accepted */
        mql_cookie_sign(key, id, cookie);
        FUZZ_CHECK(n == MQL_COOKIE_VALUE_LEN && memcmp(cookie, v, n) == 0);
    }
    /* the proxy's mark (X-MQL-Scored), at any age: what is accepted is
     * what the server signs, to the letter */
    if (mql_scored_check(key, v, n, now, UINT32_MAX, id, &is_new)) {
        uint32_t t = (uint32_t)strtoul(v + MQL_ID_TEXT_LEN + 3, NULL, 16);

        FUZZ_CHECK(n == MQL_SCORED_LEN);
        mql_scored_sign(key, id, is_new, t, mark);
        FUZZ_CHECK(memcmp(mark, v, n) == 0);
    }
    if (mql_id_from_text(v, n, id)) {
        mql_id_to_text(id, text);
        FUZZ_CHECK(n == MQL_ID_TEXT_LEN && memcmp(text, v, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = fuzz_strndup(data, size);
    size_t hlen = strlen(h), i;
    mql_cookie_found_t first[sizeof names / sizeof names[0]];

    mql_cookie_find(h, names, sizeof names / sizeof names[0], first);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *pos = h, *v = NULL;
        size_t n = 0;
        int count = 0;

        while ((pos = mql_cookie_next(pos, names[i], &v, &n)) != NULL) {
            FUZZ_CHECK(pos > h && pos <= h + hlen);
            FUZZ_CHECK(v >= h && v + n <= h + hlen && v + n <= pos);
            /* the one-walk search finds the same first pair */
            if (count++ == 0)
                FUZZ_CHECK(first[i].val == v && first[i].vlen == n && first[i].rest == pos);
            check_value(v, n);
        }
        FUZZ_CHECK(count > 0 || first[i].val == NULL);
    }
    /* the whole input as one cookie value and as an ID */
    check_value((const char *)data, size);
    free(h);
    return 0;
}
