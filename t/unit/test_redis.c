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
 * The pure parts of MQLStore redis://: the URL, the keys and their hash
 * tags, the queue (order, sequence numbers, a full queue, positions a
 * child damaged, the change feed, the lease), what a hit becomes in the
 * queue, the Function's arguments and the record read back from fields.
 * Redis itself is in t/redis.t.
 */
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_redis_proto.h"
#include "mql_redis_queue.h"
#include "mql_score.h"
#include "mql_cookie.h"

static apr_pool_t *pool;

static void urls(void)
{
    mql_redis_url_t u;

    ok(!mql_redis_url_parse(pool, "redis://127.0.0.1:6379", &u) && u.kind == MQL_REDIS_TCP
       && !strcmp(u.host, "127.0.0.1") && u.port == 6379 && u.db == 0 && !u.password,
       "redis://HOST:PORT");
    ok(!mql_redis_url_parse(pool, "redis://app:s3cr:t@cache.example:6380/3", &u)
       && !strcmp(u.user, "app") && !strcmp(u.password, "s3cr:t")
       && !strcmp(u.host, "cache.example") && u.port == 6380 && u.db == 3,
       "user, password (with a colon), host, port, database");
    ok(!mql_redis_url_parse(pool, "redis://:pw@h:1", &u) && !u.user && !strcmp(u.password, "pw"),
       "a password alone");
    ok(!mql_redis_url_parse(pool, "redis://[::1]:6379/", &u) && !strcmp(u.host, "::1"),
       "an IPv6 address");
    ok(!mql_redis_url_parse(pool, "redis+unix:///run/redis/redis.sock", &u)
       && u.kind == MQL_REDIS_UNIX && !strcmp(u.path, "/run/redis/redis.sock"), "redis+unix://");
    ok(!mql_redis_url_parse(pool, "redis-cluster://a:7000,b:7001,c:7002", &u)
       && u.kind == MQL_REDIS_CLUSTER && u.nnodes == 3 && u.nodes[2].port == 7002,
       "redis-cluster:// with three seeds");
    ok(mql_redis_url_parse(pool, "redis://host", &u) != NULL, "no port: refused");
    ok(mql_redis_url_parse(pool, "redis://host:0", &u) != NULL, "port 0: refused");
    ok(mql_redis_url_parse(pool, "redis://host:70000", &u) != NULL, "port 70000: refused");
    ok(mql_redis_url_parse(pool, "redis://host:1/db", &u) != NULL, "a database name: refused");
    ok(mql_redis_url_parse(pool, "redis://user:@host:1", &u) != NULL, "an empty password: refused");
    ok(mql_redis_url_parse(pool, "redis+unix://rel/sock", &u) != NULL, "a relative socket: refused");
    ok(mql_redis_url_parse(pool, "memcached://h:1", &u) != NULL, "another scheme: refused");
    ok(mql_redis_url_parse(pool, "redis-cluster://", &u) != NULL, "a cluster of none: refused");
}

/* MQLStateDir/store: the URL without its password, read back by mqlctl */
static void store_file(void)
{
    mql_redis_url_t u, back;
    const char *text;

    mql_redis_url_parse(pool, "redis://app:s3cr:t@cache.example:6380/3", &u);
    text = mql_redis_store_format(pool, &u);
    ok(!strstr(text, "s3cr"), "store: no password in it");
    ok(!mql_redis_store_parse(pool, text, &back) && back.kind == MQL_REDIS_TCP
       && !strcmp(back.host, "cache.example") && back.port == 6380 && back.db == 3
       && !strcmp(back.user, "app") && !back.password, "store: TCP, user and DB read back");
    mql_redis_url_parse(pool, "redis://[::1]:6379", &u);
    ok(!mql_redis_store_parse(pool, mql_redis_store_format(pool, &u), &back)
       && !strcmp(back.host, "::1") && !back.user, "store: an IPv6 host read back");
    mql_redis_url_parse(pool, "redis+unix:///run/redis/redis.sock", &u);
    ok(!mql_redis_store_parse(pool, mql_redis_store_format(pool, &u), &back)
       && back.kind == MQL_REDIS_UNIX && !strcmp(back.path, "/run/redis/redis.sock"),
       "store: a socket read back");
    mql_redis_url_parse(pool, "redis-cluster://u:pw@a:7000,[::2]:7001", &u);
    text = mql_redis_store_format(pool, &u);
    ok(!strstr(text, "pw@") && !mql_redis_store_parse(pool, text, &back)
       && back.kind == MQL_REDIS_CLUSTER && back.nnodes == 2 && back.nodes[1].port == 7001
       && !strcmp(back.user, "u"), "store: a cluster's nodes read back, no password");
    ok(mql_redis_store_parse(pool, "url=redis://x:pw@h:1/0\n", &back) != NULL,
       "store: credentials in its URL refused");
    ok(mql_redis_store_parse(pool, "user=a\n", &back) != NULL, "store: no url= refused");
    is_str(mql_redis_password_text(pool, "pw\n", 3), "pw", "password: newline left out");
    is_str(mql_redis_password_text(pool, "pw\r\n", 4), "pw", "password: CRLF left out");
    is_str(mql_redis_password_text(pool, "p w\n\n", 5), "p w\n", "password: one newline only");
    ok(!mql_redis_password_text(pool, "\n", 1), "password: empty refused");
    ok(!mql_redis_password_text(pool, "p\0w", 3), "password: a NUL byte refused");
}

static void keys(void)
{
    uint8_t id[MQL_ID_BYTES];
    char k1[MQL_REDIS_KEY_LEN], k2[MQL_REDIS_KEY_LEN], k3[MQL_REDIS_KEY_LEN], text[32];
    char k4[MQL_REDIS_KEY_LEN], k5[MQL_REDIS_KEY_LEN];
    unsigned shard;

    memset(id, 0xab, sizeof id);
    id[0] = 37;
    shard = mql_redis_shard(id);
    is_int(shard, 37 % MQL_RQ_SHARDS, "the shard comes from the ID");
    mql_redis_key_visitor(k1, id);
    mql_redis_key_seq(k2, shard);
    mql_redis_key_stream(k3, shard);
    mql_redis_key_totals(k4, shard);
    mql_redis_key_servers(k5);
    mql_id_to_text(id, text);
    is_str(k1, apr_psprintf(pool, "mql:{mql%u}:v:%s", shard, text), "the visitor's key");
    is_str(k2, apr_psprintf(pool, "mql:{mql%u}:seq", shard), "the shard's sequences");
    is_str(k3, apr_psprintf(pool, "mql:{mql%u}:changes", shard), "the shard's stream");
    is_str(k4, apr_psprintf(pool, "mql:{mql%u}:totals", shard), "the shard's totals");
    ok(strstr(k1, "{mql5}") && strstr(k2, "{mql5}") && strstr(k3, "{mql5}")
       && strstr(k4, "{mql5}"), "one hash tag: one Cluster slot for the Function's keys");
    mql_redis_key_totals(k4, 15);
    is_str(k4, "mql:{mql15}:totals", "the last shard's totals");
    mql_redis_key_totals(k4, MQL_RQ_SHARDS + 2);
    is_str(k4, "mql:{mql2}:totals", "a shard number out of range wraps, as the others' do");
    is_str(k5, "mql:{mql0}:servers", "the fleet's servers, with shard 0's keys");
}

static mql_rq_t *queue(uint32_t capacity)
{
    void *base = apr_pcalloc(pool, mql_rq_size(capacity));

    mql_rq_format(base, capacity, 0x1234);
    return mql_rq_attach(pool, base, capacity, NULL, NULL, NULL);
}

static void queue_order(void)
{
    mql_rq_t *q = queue(4);
    mql_rq_entry_t e, out[8];
    unsigned i, n;

    ok(q && mql_rq_origin(q) == 0x1234, "a queue with its origin");
    memset(&e, 0, sizeof e);
    for (i = 0; i < 4; i++) {
        e.at_us = 0;
        e.time = 100 + i;
        is_int(mql_rq_append(q, &e), APR_SUCCESS, "append %u", i);
    }
    is_int(mql_rq_append(q, &e), APR_ENOSPC, "a full queue refuses, never waits");
    is_int(mql_rq_stats(q)->dropped, 1, "... and counts it");
    n = mql_rq_peek(q, out, 2);
    ok(n == 2 && out[0].seq == 1 && out[1].seq == 2 && out[0].time == 100
       && out[0].origin == 0x1234, "peek: the oldest first, numbered from 1 by this queue");
    is_int(mql_rq_length(q), 4, "peek leaves them queued (until Redis confirms)");
    mql_rq_consume(q, 2);
    n = mql_rq_peek(q, out, 8);
    ok(n == 2 && out[0].seq == 3 && out[1].seq == 4, "consume removes the confirmed ones");
    e.time = 200;
    mql_rq_append(q, &e);
    mql_rq_append(q, &e);
    n = mql_rq_peek(q, out, 8);
    ok(n == 4 && out[2].seq == 5 && out[3].seq == 6, "around the ring, numbers go on");
    mql_rq_consume(q, 99);
    is_int(mql_rq_length(q), 0, "consuming more than queued empties it");
    /* damaged positions are not followed */
    {
        void *base = apr_pcalloc(pool, mql_rq_size(4));
        uint64_t *h;

        mql_rq_format(base, 4, 1);
        q = mql_rq_attach(pool, base, 4, NULL, NULL, NULL);
        h = (uint64_t *)((char *)base + 24);     /* head, after magic .. origin */
        h[0] = 1000;                              /* head far past tail */
        is_int(mql_rq_length(q), 0, "a head too far from the tail: empty, nothing read");
        ok(mql_rq_attach(pool, base, 8, NULL, NULL, NULL) == NULL,
           "a segment of another capacity is refused");
    }
}

static void queue_changes(void)
{
    mql_rq_t *q = queue(4);
    mql_change_t c, out[4];
    uint64_t seq = 0, lost = 0;
    char sid[MQL_RQ_STREAM_ID];
    unsigned i, n;

    memset(&c, 0, sizeof c);
    for (i = 0; i < 3; i++) {
        c.time = 10 + i;
        mql_rq_push_change(q, &c, 5, apr_psprintf(pool, "1700000000000-%u", i));
    }
    n = mql_rq_changes(q, &seq, out, 4, &lost);
    ok(n == 3 && out[0].time == 10 && out[2].time == 12 && lost == 0 && seq == 4,
       "the fleet's changes, oldest first");
    {
        unsigned shard = 0;
        ok(mql_rq_change_stream_id(q, 2, sid, sizeof sid, &shard)
           && !strcmp(sid, "1700000000000-1") && shard == 5,
           "each with its stream and entry ID");
    }
    is_int(mql_rq_change_total(q), 3, "three so far");
    for (i = 0; i < MQL_CHANGES_KEPT + 5; i++)
        mql_rq_push_change(q, &c, 0, "1-1");
    n = mql_rq_changes(q, &seq, out, 4, &lost);
    ok(n == 4 && lost == 5, "overrun: what was lost is counted");
    ok(!mql_rq_change_stream_id(q, 1, sid, sizeof sid, NULL), "an ID long gone is not made up");

    /* forgets from the fleet */
    {
        uint8_t id[MQL_ID_BYTES], got[4][MQL_ID_BYTES];

        memset(id, 7, sizeof id);
        mql_rq_push_forget(q, id);
        id[0] = 8;
        mql_rq_push_forget(q, id);
        n = mql_rq_pop_forgets(q, got, 4);
        ok(n == 2 && got[0][0] == 7 && got[1][0] == 8, "forgets: in order");
        is_int(mql_rq_pop_forgets(q, got, 4), 0, "... once");
        for (i = 0; i < MQL_RQ_FORGETS + 3; i++)
            mql_rq_push_forget(q, id);
        n = 0;
        while (mql_rq_pop_forgets(q, got, 4) == 4)
            n += 4;
        ok(n >= MQL_RQ_FORGETS - 4 && n <= MQL_RQ_FORGETS, "a full ring keeps the newest");
    }

    /* the lease */
    ok(mql_rq_lease(q, 100, 1000, 3), "the lease: free, taken");
    ok(!mql_rq_lease(q, 200, 1001, 3), "another process waits");
    ok(mql_rq_lease(q, 100, 1002, 3), "the holder renews it");
    ok(mql_rq_lease(q, 200, 1006, 3), "a silent holder loses it");
    mql_rq_release(q, 100);
    ok(!mql_rq_lease(q, 100, 1006, 3), "release by another process does nothing");
    mql_rq_release(q, 200);
    ok(mql_rq_lease(q, 100, 1006, 3), "released: free again");
}

static int match_prefix(const void *re, const char *subject)
{
    return !strncmp(subject, (const char *)re, strlen((const char *)re));
}

static void entry_from_hit(void)
{
    mql_scoring_t sc;
    mql_rule_t rules[3];
    mql_fit_rule_t fit = { "DEAT", 7 };
    mql_hit_t hit;
    mql_delta_t d;
    mql_rq_entry_t e;
    uint8_t id[MQL_ID_BYTES];

    mql_scoring_defaults(&sc);
    memset(rules, 0, sizeof rules);
    rules[0].event = MQL_EV_VIEW;
    rules[0].url_re = "/pricing";
    rules[0].points = 10;
    rules[0].cap = 2;
    rules[0].cap_slot = 3;
    rules[1].event = MQL_EV_VIEW;
    rules[1].url_re = "/pri";
    rules[1].points = 4;
    rules[2].event = MQL_EV_DOWNLOAD;
    rules[2].points = 15;
    sc.rules = rules;
    sc.nrules = 3;
    sc.match = match_prefix;
    sc.fit_rules = &fit;
    sc.nfit_rules = 1;
    sc.threshold = 55;
    sc.half_life = 3600;
    sc.require = MQL_REQ_COUNTRY;
    sc.require_countries = "DE";
    memset(&hit, 0, sizeof hit);
    hit.events = MQL_EV_BIT(MQL_EV_VIEW) | MQL_EV_BIT(MQL_EV_CAMPAIGN);
    hit.path = "/pricing/enterprise-plans-for-very-large-teams";
    hit.country = "at";
    hit.site = 2;
    memset(id, 9, sizeof id);
    mql_score_resolve(&sc, &hit, &d);
    memset(&e, 0, sizeof e);
    memcpy(e.id, id, MQL_ID_BYTES);
    e.kind = MQL_RQ_HIT;
    e.time = 1234;
    e.hit = d;
    is_int(d.events, hit.events, "the events, for the counts");
    is_int(d.nitems, 2, "two items: the uncapped points, one capped rule");
    ok(d.items[0].points == 1 + 5 + 4 && d.items[0].slot == MQL_DELTA_UNCAPPED,
       "the events' points (view, campaign) and the uncapped rules that matched, summed");
    ok(d.items[1].slot == 3 && d.items[1].points == 10 && d.items[1].cap == 2,
       "a capped rule: its slot, points and cap, for the store to count");
    ok(d.has_fit && d.fit_points == 7, "the fit rules for the hit's country");
    ok(d.threshold == 55 && d.half_life == 3600 && d.need_country && !d.need_counts
       && !strcmp(d.countries, "DE"), "the virtual host's criteria travel with it");
    is_int(strlen(d.trigger), MQL_TRIGGER_LEN - 1, "the path cut to a trigger's length");
    is_int(d.trigger_event, MQL_EV_CAMPAIGN, "the event a promotion would record");
    ok(d.country[0] == 'A' && d.country[1] == 'T' && d.site == 2, "country (upper case) and site");
    is_int(d.set_flags, MQL_VF_COUNTRY, "the country looked up: the flag to set");
    {
        mql_hit_t other = hit;
        mql_delta_t od;

        other.path = "/elsewhere";
        mql_score_resolve(&sc, &other, &od);
        ok(od.nitems == 1 && od.items[0].points == 1 + 5, "no rule matched: the events' points");
        other.events = MQL_EV_BIT(MQL_EV_DOWNLOAD);
        other.country = "--";
        mql_score_resolve(&sc, &other, &od);
        ok(od.items[0].points == 10 + 15 && !od.country[0] && !od.has_fit
           && od.set_flags == MQL_VF_COUNTRY, "\"--\": looked up, no country, no fit due");
    }

    /* the entry as mql_apply_many takes it (entry_from_binary) */
    {
        char b[MQL_REDIS_ENTRY_MAX];
        const unsigned char *u = (const unsigned char *)b;
        size_t n, h = 1 + 16 + 8 + 22 + 4, x = h + 4 + 9;
        double dbl;
        uint64_t bits = 0;
        mql_delta_t back;
        int i;

        e.seq = 77;
        e.origin = 0xabcdef;
        n = mql_redis_entry_binary(&e, 86400, b);
        /* head, expire, events half-life nitems, 2 items, fit, country,
         * flags site need hold, need_counts, threshold, "DE", event, trigger,
         * no fields to set, no numbers to add to */
        is_int((int)n, (int)(h + 4 + 9 + 2 * 7 + 5 + 2 + 4 + 4 + 8 + 2 + 2 + 1 + 2
                             + MQL_TRIGGER_LEN - 1 + 1 + 1), "binary: the hit's length");
        ok(b[0] == 'h' && !memcmp(b + 1, "0000000000abcdef", 16), "binary: kind and origin");
        for (i = 7; i >= 0; i--)
            bits = bits << 8 | u[17 + i];
        memcpy(&dbl, &bits, sizeof dbl);
        ok(dbl == 77, "binary: the sequence");
        ok(u[h] == (86400 & 255) && u[h + 1] == ((86400 >> 8) & 255), "binary: expire");
        ok(u[h + 12] == 2 && u[x] == 10 && u[x + 7] == 10 && u[x + 12] == 3 && u[x + 13] == 2,
           "binary: the items: uncapped 10, the capped rule's points, slot, cap");
        x += 14;
        ok(u[x] == 1 && u[x + 1] == 7 && b[x + 5] == 'A' && b[x + 6] == 'T',
           "binary: fit points and country");
        ok(u[x + 23] == 2 && !memcmp(b + x + 25, "DE", 2), "binary: the required countries");
        ok(u[x + 27] == MQL_EV_CAMPAIGN, "binary: the trigger event");
        ok(mql_delta_decode(b + h + 4, n - h - 4, &back) == n - h - 4
           && back.nitems == 2 && back.items[1].slot == 3 && back.threshold == 55
           && !strcmp(back.countries, "DE") && !strcmp(back.trigger, d.trigger)
           && back.fit_points == 7 && back.events == d.events,
           "binary: the delta reads back as it was");
        ok(!mql_delta_decode(b + h + 4, n - h - 5, &back), "binary: a cut delta is refused");
        e.kind = MQL_RQ_FORGET;
        is_int((int)mql_redis_entry_binary(&e, 0, b), (int)h, "binary: a forget is the head only");
        e.kind = MQL_RQ_CONTACT;
        strcpy(e.contact, "a@b.example");
        is_int((int)mql_redis_entry_binary(&e, 5, b), (int)(h + 2 + 11 + 4),
               "binary: a contact, its length and expire");
        e.kind = MQL_RQ_HIT;
    }
}

static void record_fields(void)
{
    const char *f[] = { "score", "41.5", "first", "100", "last", "200", "since", "150",
                        "c0", "3", "c2", "70000", "stage", "1", "tev", "2", "site", "4",
                        "flags", "3", "cc", "DE", "k3", "2", "trig", "/contact",
                        "contact", "jane@example.com", "unknown", "x" };
    size_t l[30];
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];
    int i;

    for (i = 0; i < 30; i++)
        l[i] = strlen(f[i]);
    memset(id, 5, sizeof id);
    ok(mql_redis_record_from_pairs(f, l, 30, id, &v, contact), "a record from its fields");
    ok(v.score == 41.5 && v.first_seen == 100 && v.last_seen == 200 && v.stage_since == 150,
       "score and times");
    ok(v.counts[0] == 3 && v.counts[2] == 65535 && v.caps[3] == 2, "counts (saturated), caps");
    ok(v.stage == MQL_STAGE_MQL && v.trigger_event == 2 && v.site == 4 && v.flags == 3
       && v.country[0] == 'D' && !strcmp(v.trigger, "/contact"), "stage, trigger, site, country");
    is_str(contact, "jane@example.com", "the contact");
    ok(!memcmp(v.id, id, MQL_ID_BYTES), "the ID is the one asked for");
    f[13] = "9";
    mql_redis_record_from_pairs(f, l, 30, id, &v, NULL);
    ok(v.stage < MQL_STAGE_COUNT, "a stage out of range is bounded");
    ok(!mql_redis_record_from_pairs(f + 2, l + 2, 28, id, &v, NULL), "no score: no record");
}

/* A record as Redis keeps it (mql_redis.lua, RECORD) */
static void record_binary(void)
{
    unsigned char b[128];
    size_t n = 0;
    double score = 41.5;
    uint64_t bits;
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];
    uint8_t id[MQL_ID_BYTES];
    int i;

#define PUT(x, w) do { uint64_t x_ = (x); int w_; \
        for (w_ = 0; w_ < (w); w_++) b[n++] = (unsigned char)(x_ >> (8 * w_)); } while (0)
    memcpy(&bits, &score, sizeof bits);
    PUT(1, 1);
    PUT(bits, 8);
    PUT(100, 4);
    PUT(4000000000u, 4);
    PUT(150, 4);
    PUT(3, 2);
    PUT(0, 2);
    PUT(65535, 2);
    for (i = 0; i < 4; i++)
        PUT(0, 2);
    PUT(MQL_STAGE_MQL, 1);
    PUT(2, 1);
    PUT(4, 1);
    PUT(3, 1);
    for (i = 0; i < 8; i++)
        PUT(i == 3 ? 2 : 0, 1);
    b[n++] = 'D';
    b[n++] = 'E';
    PUT(8, 2);
    memcpy(b + n, "/contact", 8);
    n += 8;
    PUT(17, 2);
    memcpy(b + n, "jane\0doe@ex ample", 17);
    n += 17;
#undef PUT
    memset(id, 6, sizeof id);
    ok(mql_redis_record_from_binary((char *)b, n, id, &v, contact), "a record as Redis keeps it");
    ok(v.score == 41.5 && v.first_seen == 100 && v.last_seen == 4000000000u
       && v.stage_since == 150, "binary: score and times");
    ok(v.counts[0] == 3 && v.counts[2] == 65535 && v.caps[3] == 2, "binary: counts, caps");
    ok(v.stage == MQL_STAGE_MQL && v.trigger_event == 2 && v.site == 4 && v.flags == 3
       && v.country[0] == 'D' && !strcmp(v.trigger, "/contact"), "binary: stage, trigger, site");
    ok(!memcmp(contact, "jane\0doe@ex ample", 17) && !contact[17], "binary: the contact's bytes");
    ok(!memcmp(v.id, id, MQL_ID_BYTES), "binary: the ID is the one asked for");
    ok(!mql_redis_record_from_binary((char *)b, n - 1, id, &v, contact), "a cut record: none");
    ok(!mql_redis_record_from_binary((char *)b, n + 1, id, &v, contact), "trailing bytes: none");
    ok(!mql_redis_record_from_binary("", 0, id, &v, contact), "empty: none");
    b[0] = 3;
    ok(!mql_redis_record_from_binary((char *)b, n, id, &v, contact), "another format: none");
    b[0] = 1;
    b[35] = 200;
    mql_redis_record_from_binary((char *)b, n, id, &v, NULL);
    ok(v.stage < MQL_STAGE_COUNT, "binary: a stage out of range is bounded");
}

/* Format 2: the layout of mql_fields.h, both ways */
static void record_layout(void)
{
    char buf[MQL_REDIS_RECORD_MAX], contact[MQL_CONTACT_LEN];
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v, back, want;
    const mql_field_t *last;
    const char *lua, *at, *end, *last_format = NULL;
    size_t n, cut;
    int i, nredis;

    memset(&v, 0, sizeof v);
    memset(id, 7, sizeof id);
    memcpy(v.id, id, sizeof id);
    v.score = -12.25;
    v.first_seen = 1;
    v.last_seen = 4000000000u;
    v.stage_since = 3;
    for (i = 0; i < MQL_EV_COUNT; i++)
        v.counts[i] = (uint16_t)(65535 - i);
    v.stage = MQL_STAGE_SQL;
    v.trigger_event = MQL_EV_FORM;
    v.site = 9;
    v.flags = MQL_VF_COUNTRY;
    memcpy(v.country, "FR", 2);
    for (i = 0; i < MQL_CAPPED_RULES; i++)
        v.caps[i] = (uint8_t)(i * 30);
    memset(v.trigger, 'p', sizeof v.trigger - 1);
    /* the fields after these, whatever mql_fields.h adds: each set too */
    for (i = MQL_FIELD_trigger + 1; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t k;

        if (mql_field_width(f))
            for (k = 0; k < mql_field_elems(f); k++)
                mql_field_set(f, &v, k, (uint64_t)(k + 1) * 3);
        else
            memset((char *)&v + f->offset, 'q', f->type == MQL_FT_TEXT ? f->size - 1 : f->size);
    }
    last = &mql_fields[MQL_FIELD_COUNT - 1];
    n = mql_redis_record_binary(&v, "jo@example.com", buf);
    ok(n <= MQL_REDIS_RECORD_MAX && buf[0] == MQL_REDIS_RECORD_FORMAT, "format 2: %zu bytes", n);
    ok(mql_redis_record_from_binary(buf, n, id, &back, contact), "format 2 reads back");
    ok(!memcmp(&v, &back, sizeof v), "format 2: every field as it was");
    is_str(contact, "jo@example.com", "format 2: the contact");
    ok(!mql_redis_record_from_binary(buf, n - 1, id, &back, contact), "format 2 cut: none");
    ok(!mql_redis_record_from_binary(buf, n + 1, id, &back, contact),
       "format 2, trailing bytes: none");
    /* a record of a build with fewer fields: the last left out (as it is
     * written: a TEXT field its length and bytes, any other its size) */
    cut = n - (last->type == MQL_FT_TEXT ? 2 + strlen((char *)&v + last->offset) : last->size);
    buf[1]--;
    ok(mql_redis_record_from_binary(buf, cut, id, &back, contact), "format 2, fewer fields");
    want = v;
    memset((char *)&want + last->offset, 0, last->size);
    ok(((char *)&back)[last->offset] == '\0' && !memcmp(back.caps, v.caps, sizeof v.caps)
       && back.score == v.score && !memcmp(&back, &want, sizeof want),
       "fewer fields: the rest zero, the others read");
    buf[1] += 2;
    ok(!mql_redis_record_from_binary(buf, cut, id, &back, contact),
       "more fields promised than the record holds: none");
    n = mql_redis_record_binary(&v, NULL, buf);
    ok(mql_redis_record_from_binary(buf, n, id, &back, contact) && !contact[0],
       "format 2 without a contact");
    lua = mql_redis_layout_lua(pool);
    ok(strstr(lua, "{ 'score', 'n', 1, 'd' }") && strstr(lua, "{ 'c', 'n', 7, 'H' }")
       && strstr(lua, "{ 'cc', 'c', 2, 'c2' }") && strstr(lua, "{ 'trig', 's', 1, 'Hc0' }")
       && !strstr(lua, "'id'"), "the Lua layout names every Redis field, not the ID");
    /* RECORD_FORMATS: a format per field with a name in Redis, the last
     * that of a whole record, which starts with the fields to the trigger */
    ok(strstr(lua, "'<BBHc0dI4I4I4HHHHHHHBBBBc2BBBBBBBBHc0',") != NULL,
       "the Lua format of a record to the trigger");
    for (i = 0, nredis = 0; i < MQL_FIELD_COUNT; i++)
        nredis += mql_fields[i].redis != NULL;
    at = strstr(lua, "local RECORD_FORMATS = ");
    for (i = 0, end = at ? strchr(at, '\n') : NULL; end && !strncmp(end, "\n    '", 6); i++)
        last_format = end + 5, end = strchr(end + 1, '\n');
    is_int(i, nredis, "a format per field with a name in Redis");
    ok(i && !strncmp(last_format, "'<BBHc0dI4I4I4HHHHHHHBBBBc2BBBBBBBBHc0", 38) && end
       && !strncmp(end, "\n}\n", 3), "the Lua format of a whole record: the list's last");
    lua = mql_redis_library(pool, "a\n-- x " MQL_REDIS_LAYOUT_MARK " y\nb\n");
    ok(!strncmp(lua, "a\n-- generated", 14) && !strcmp(lua + strlen(lua) - 2, "b\n"),
       "the layout replaces the marked line");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    urls();
    store_file();
    keys();
    queue_order();
    queue_changes();
    entry_from_hit();
    record_fields();
    record_binary();
    record_layout();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
