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

/* Touches: reading one from a page view, its ID, the bounded dictionary
 * (mql_touch.c); and a touch resolved into a hit's delta (mql_score.c). */
#include "tap.h"
#include <stdlib.h>
#include <string.h>
#include "mql_touch.h"
#include "mql_score.h"
#include "mql_record.h"

static const uint8_t key[MQL_KEY_BYTES] = "0123456789abcdef";

static void test_read(void)
{
    mql_touch_t t;

    ok(mql_touch_read("/pricing", "utm_source=news&utm_medium=email&utm_campaign=spring",
                      NULL, "www.example.com", &t), "utm parameters: a touch of its own");
    is_str(t.source, "news", "utm_source");
    is_str(t.medium, "email", "utm_medium");
    is_str(t.campaign, "spring", "utm_campaign");
    is_str(t.landing, "/pricing", "landing path");

    ok(mql_touch_read("/a", "utm_campaign=spring%20sale", "https://news.example.org/x?y",
                      "www.example.com", &t), "a campaign without a source");
    is_str(t.source, "news.example.org", "source: the referring host");
    is_str(t.medium, "referral", "medium: referral");
    is_str(t.campaign, "spring sale", "the campaign decoded");

    ok(mql_touch_read("/blog/post", NULL, "https://Search.Example.NET/?q=x", "example.com", &t),
       "another host: a referral");
    is_str(t.source, "search.example.net", "the referring host, in lower case");
    is_str(t.medium, "referral", "medium referral");
    is_str(t.campaign, "", "no campaign");

    ok(!mql_touch_read("/", NULL, NULL, "example.com", &t), "no referer, no utm: direct");
    is_str(t.source, "direct", "source direct");
    is_str(t.medium, "direct", "medium direct");
    is_str(t.landing, "/", "landing /");

    ok(!mql_touch_read("/p", "a=1", "https://www.example.com/home", "example.com", &t),
       "the site's own host (www. aside) is no referral");
    is_str(t.source, "direct", "own host: direct");
    ok(!mql_touch_read("/p", NULL, "https://example.com:8443/", "EXAMPLE.com", &t),
       "own host with a port, case aside");
    ok(!mql_touch_read("/p", NULL, "not a url", "example.com", &t), "a Referer without a host");
    is_str(t.source, "direct", "no host: direct");

    mql_touch_read("/p", "utm_source=%01evil%0d%0aX-Header:%20y&utm_medium=%ff%fe", NULL,
                   "example.com", &t);
    is_str(t.source, "?evil??X-Header: y", "control bytes neutralised");
    is_str(t.medium, "??", "invalid UTF-8 neutralised");
    mql_touch_read("/p", "utm_source=%20%20caf%C3%A9%20", NULL, "example.com", &t);
    is_str(t.source, "caf\xc3\xa9", "trimmed, valid UTF-8 kept");
}

static void test_bounds(void)
{
    char q[2048], want[MQL_TOUCH_CAMPAIGN];
    mql_touch_t t;
    size_t n;

    strcpy(q, "utm_campaign=");
    memset(q + strlen(q), 'c', 1000);
    q[13 + 1000] = '\0';
    mql_touch_read("/p", q, NULL, "example.com", &t);
    ok(strlen(t.campaign) == MQL_TOUCH_CAMPAIGN - 1, "a long campaign cut to %d bytes",
       MQL_TOUCH_CAMPAIGN - 1);
    /* a 2-byte character across the bound is left out whole */
    strcpy(q, "utm_source=");
    n = strlen(q);
    memset(q + n, 'a', MQL_TOUCH_SOURCE - 2);
    strcpy(q + n + MQL_TOUCH_SOURCE - 2, "%C3%A9");
    mql_touch_read("/p", q, NULL, "example.com", &t);
    memset(want, 'a', MQL_TOUCH_SOURCE - 2);
    want[MQL_TOUCH_SOURCE - 2] = '\0';
    is_str(t.source, want, "cut at a character's end");
    memset(q, 0, sizeof q);
    q[0] = '/';
    memset(q + 1, 'p', 500);
    mql_touch_read(q, NULL, NULL, "example.com", &t);
    ok(strlen(t.landing) == MQL_TOUCH_LANDING - 1, "a long landing path cut");
}

static void test_id(void)
{
    mql_touch_t a, b;
    char ia[MQL_TOUCH_ID_LEN], ib[MQL_TOUCH_ID_LEN], ic[MQL_TOUCH_ID_LEN];
    uint8_t other[MQL_KEY_BYTES] = "fedcba9876543210";
    int i;

    mql_touch_read("/p", "utm_source=ab&utm_medium=c", NULL, "x", &a);
    mql_touch_read("/p", "utm_source=a&utm_medium=bc", NULL, "x", &b);
    mql_touch_id(key, &a, ia);
    mql_touch_id(key, &b, ib);
    is_int(strlen(ia), MQL_TOUCH_ID_LEN - 1, "an ID is 7 characters");
    for (i = 0; i < MQL_TOUCH_ID_LEN - 1; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", ia[i]))
            break;
    is_int(i, MQL_TOUCH_ID_LEN - 1, "of the URL-safe alphabet");
    ok(strcmp(ia, ib), "the strings' bounds are part of the ID");
    mql_touch_id(key, &a, ic);
    is_str(ic, ia, "the same touch, the same ID (every server of a fleet)");
    mql_touch_id(other, &a, ic);
    ok(strcmp(ic, ia), "another key, another ID");
}

static void touch_n(mql_touch_t *t, int n)
{
    char q[64];

    snprintf(q, sizeof q, "utm_campaign=c%d", n);
    mql_touch_read("/p", q, NULL, "x", t);
}

static void test_dict(void)
{
    uint32_t cap = 64;
    void *mem = calloc(1, mql_touch_dict_size(cap));
    mql_touch_dict_t *d = mql_touch_dict_attach(mem, cap, 1);
    mql_touch_stats_t st;
    mql_touch_t t, got;
    char id[MQL_TOUCH_ID_LEN], first[MQL_TOUCH_ID_LEN];
    int i, kept = 0, refused = 0;

    touch_n(&t, 0);
    mql_touch_id(key, &t, first);
    ok(mql_touch_dict_put(d, first, &t, 1000, 3600), "a touch kept");
    ok(mql_touch_dict_put(d, first, &t, 1001, 3600), "again: there already");
    ok(mql_touch_dict_get(d, first, &got) && !strcmp(got.campaign, "c0"), "and read back");
    mql_touch_dict_stats(d, &st);
    is_int(st.used, 1, "one entry");
    mql_touch_dict_hold(d, first);

    /* a flood of distinct campaigns: bounded, counted, the held one stays */
    for (i = 1; i <= 1000; i++) {
        touch_n(&t, i);
        mql_touch_id(key, &t, id);
        if (mql_touch_dict_put(d, id, &t, 1002, 3600))
            kept++;
        else
            refused++;
    }
    mql_touch_dict_stats(d, &st);
    ok(st.used <= cap, "never more entries than places (%u)", st.used);
    is_int(st.overflow, refused, "every refusal counted");
    ok(refused > 0 && kept + refused == 1000, "a flood overflows (%d kept, %d refused)", kept,
       refused);
    ok(mql_touch_dict_get(d, first, &got) && !strcmp(got.campaign, "c0"),
       "the lead's touch is still there");

    /* much later: idle entries give their places, the held one does not */
    for (i = 2000; i < 2000 + 1000; i++) {
        touch_n(&t, i);
        mql_touch_id(key, &t, id);
        mql_touch_dict_put(d, id, &t, 1002 + 7200, 3600);
    }
    mql_touch_dict_stats(d, &st);
    ok(st.replaced > 0, "idle entries replaced (%lu)", (unsigned long)st.replaced);
    ok(mql_touch_dict_get(d, first, &got), "a held entry is never replaced");
    is_int(st.held, 1, "one held");

    is_int(mql_touch_dict_expire(d, 100000) + 1, st.used, "expire drops all but the held one");
    mql_touch_dict_stats(d, &st);
    is_int(st.used, 1, "one entry left");
    ok(mql_touch_dict_get(d, first, &got), "the held one");

    ok(!mql_touch_dict_put(d, "short", &t, 1, 1), "a malformed ID refused");
    ok(!mql_touch_dict_get(d, "AAAAAAA", &got), "an unknown ID is unknown");
    ok(!mql_touch_dict_get(NULL, first, &got), "no dictionary: nothing known");

    /* found again as it was (a graceful restart), emptied when another size */
    ok(mql_touch_dict_attach(mem, cap, 0) == d && mql_touch_dict_get(d, first, &got),
       "attached again: kept");
    free(mem);
}

static void test_fleet(void)
{
    uint32_t cap = 64;
    void *mem = calloc(1, mql_touch_dict_size(cap));
    mql_touch_dict_t *d = mql_touch_dict_attach(mem, cap, 1);
    char ids[8][MQL_TOUCH_ID_LEN], id[MQL_TOUCH_ID_LEN], buf[sizeof(mql_touch_t)];
    mql_touch_t t, ts[8], back;
    size_t n;
    int i;

    is_int(mql_touch_dict_unshared(d, ids, ts, 8, 0), 0, "nothing new: nothing to share");
    for (i = 0; i < 3; i++) {
        touch_n(&t, i);
        mql_touch_id(key, &t, id);
        mql_touch_dict_put(d, id, &t, 100, 3600);
    }
    touch_n(&t, 9);
    mql_touch_id(key, &t, id);
    mql_touch_dict_learn(d, id, &t, 100, 3600);
    is_int(mql_touch_dict_unshared(d, ids, ts, 2, 0), 2, "made here: shared, max at a time");
    is_int(mql_touch_dict_unshared(d, ids, ts, 8, 0), 1, "the rest; a learnt one is not sent back");
    is_int(mql_touch_dict_unshared(d, ids, ts, 8, 0), 0, "each once");
    touch_n(&t, 20);
    mql_touch_id(key, &t, id);
    mql_touch_dict_put(d, id, &t, 100, 3600);
    touch_n(&t, 21);
    mql_touch_id(key, &t, ids[0]);
    mql_touch_dict_put(d, ids[0], &t, 100, 3600);
    mql_touch_dict_hold(d, ids[0]);
    is_int(mql_touch_dict_unshared(d, ids, ts, 8, 1), 1, "the fleet's full: a lead's touch only");
    is_str(ts[0].campaign, "c21", "... that one");
    is_int(mql_touch_dict_unshared(d, ids, ts, 8, 0), 0, "the other given up");

    mql_touch_read("/landing", "utm_source=news&utm_medium=email&utm_campaign=spring", NULL,
                   "x", &t);
    n = mql_touch_pack(&t, buf);
    ok(mql_touch_unpack(buf, n, &back) && !memcmp(&back, &t, sizeof t), "packed and back");
    ok(!mql_touch_unpack(buf, n - 1, &back), "cut: no touch");
    ok(!mql_touch_unpack("a\0b\0c\0", 6, &back), "three strings: no touch");
    ok(mql_touch_unpack("a\x01\0b\0\0/\0", 8, &back) && !strcmp(back.source, "a?"),
       "another server's strings neutralised");
    free(mem);
}

static void test_resolve(void)
{
    mql_scoring_t sc;
    mql_hit_t hit;
    mql_delta_t dl;
    mql_visitor_t v;

    mql_scoring_defaults(&sc);
    memset(&hit, 0, sizeof hit);
    memset(&v, 0, sizeof v);
    hit.events = MQL_EV_BIT(MQL_EV_VIEW);
    hit.path = "/";
    hit.touch_id = "AAAAAAA";
    hit.touch_replaces = 0;
    mql_score_resolve(&sc, &hit, &dl);
    mql_delta_apply(&v, &dl, 100);
    is_str(v.first_touch, "AAAAAAA", "a direct arrival: the first touch");
    is_str(v.last_touch, "AAAAAAA", "and the last");
    hit.touch_id = "BBBBBBB";
    hit.touch_replaces = 1;
    mql_score_resolve(&sc, &hit, &dl);
    mql_delta_apply(&v, &dl, 101);
    is_str(v.first_touch, "AAAAAAA", "a campaign later: the first touch stays");
    is_str(v.last_touch, "BBBBBBB", "the last touch is the campaign");
    hit.touch_id = "CCCCCCC";
    hit.touch_replaces = 0;
    mql_score_resolve(&sc, &hit, &dl);
    mql_delta_apply(&v, &dl, 102);
    is_str(v.last_touch, "BBBBBBB", "a direct visit does not replace the last touch");
    hit.touch_id = NULL;
    mql_score_resolve(&sc, &hit, &dl);
    is_int(dl.nsets, 0, "no touch: nothing to set");
}

static void test_record(void)
{
    apr_pool_t *p;
    uint32_t cap = 16;
    void *mem = calloc(1, mql_touch_dict_size(cap));
    mql_touch_dict_t *d = mql_touch_dict_attach(mem, cap, 1);
    mql_touch_stats_t st;
    mql_visitor_t v;
    mql_lead_t l, back;
    mql_touch_t t;
    char id[MQL_TOUCH_ID_LEN];
    const char *rec, *kept;

    apr_pool_create(&p, NULL);
    mql_touch_read("/landing", "utm_source=news&utm_medium=email&utm_campaign=spring", NULL,
                   "x", &t);
    mql_touch_id(key, &t, id);
    mql_touch_dict_put(d, id, &t, 100, 3600);
    memset(&v, 0, sizeof v);
    v.stage = MQL_STAGE_MQL;
    memcpy(v.first_touch, id, MQL_TOUCH_ID_LEN);
    memcpy(v.last_touch, "ZZZZZZZ", MQL_TOUCH_ID_LEN);
    mql_touch_dict_use(d);
    mql_lead_from_visitor(&l, &v, NULL, 100, 0, p);
    rec = mql_record_encode(p, &l);
    ok(strstr(rec, ";source=news;medium=email;campaign=spring;landing=/landing;") != NULL,
       "the DBM record has the first touch: %s", rec);
    ok(strstr(rec, ";last_source=other;last_medium=other;last_campaign=other") != NULL,
       "a touch the dictionary does not know reads other");
    mql_touch_dict_stats(d, &st);
    is_int(st.held, 1, "a lead holds its touch");
    ok(mql_record_decode(p, rec, strlen(rec), &back) && !strcmp(back.attr[MQL_ATTR_CAMPAIGN], "spring"),
       "decoded back");
    /* the dictionary lost it: the file's strings stand */
    mql_touch_dict_use(NULL);
    memset(v.first_touch, 0, sizeof v.first_touch);
    mql_lead_from_visitor(&l, &v, NULL, 100, 0, p);
    kept = mql_record_keep(p, mql_record_encode(p, &l), rec, strlen(rec));
    ok(strstr(kept, ";source=news;") != NULL, "kept from the file: %s", kept);
    apr_pool_destroy(p);
    free(mem);
}

int main(void)
{
    apr_initialize();
    test_read();
    test_bounds();
    test_id();
    test_dict();
    test_fleet();
    test_resolve();
    test_record();
    apr_terminate();
    return done_testing();
}
