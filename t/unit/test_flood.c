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

/* Flood limits per client network (mql_flood.c). */
#include "tap.h"
#include <pthread.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <apr_general.h>
#include "mql_flood.h"

static const uint8_t key[16] = "flood test key!";

static uint64_t net4(const char *ip, unsigned v4, unsigned v6)
{
    uint8_t a[16];

    if (inet_pton(AF_INET, ip, a) == 1)
        return mql_flood_network(key, a, 4, v4, v6);
    inet_pton(AF_INET6, ip, a);
    return mql_flood_network(key, a, 16, v4, v6);
}

static mql_flood_t *table(uint32_t nslots)
{
    void *mem = malloc(mql_flood_size(nslots));

    mql_flood_format(mem, nslots);
    return mem;
}

static void test_networks(void)
{
    ok(net4("192.0.2.1", 24, 64) == net4("192.0.2.254", 24, 64), "same /24, same network");
    ok(net4("192.0.2.1", 24, 64) != net4("192.0.3.1", 24, 64), "next /24, another network");
    ok(net4("192.0.2.1", 32, 64) != net4("192.0.2.2", 32, 64), "/32: each address its own");
    ok(net4("192.0.2.1", 16, 64) == net4("192.0.77.1", 16, 64), "/16: wider");
    ok(net4("192.0.2.1", 20, 64) == net4("192.0.15.1", 20, 64)
       && net4("192.0.2.1", 20, 64) != net4("192.0.16.1", 20, 64), "/20: a prefix inside a byte");
    ok(net4("::ffff:192.0.2.1", 24, 64) == net4("192.0.2.9", 24, 64),
       "IPv4 mapped into IPv6 counts as IPv4");
    ok(net4("2001:db8:1:2::1", 24, 64) == net4("2001:db8:1:2:ffff::9", 24, 64), "same /64");
    ok(net4("2001:db8:1:2::1", 24, 64) != net4("2001:db8:1:3::1", 24, 64), "next /64");
    ok(net4("2001:db8:1:2::1", 24, 48) == net4("2001:db8:1:3::1", 24, 48), "/48: wider");
    ok(net4("10.0.0.0", 24, 64) != net4("a00::", 24, 8), "IPv4 and IPv6 never share a network");
}

static void test_limits(void)
{
    mql_flood_t *f = table(1024);
    uint64_t a = net4("192.0.2.1", 24, 64), b = net4("198.51.100.1", 24, 64);
    uint32_t t0 = 1764147600;           /* the start of a minute */
    int i, okays = 0;

    for (i = 0; i < 10; i++)
        okays += mql_flood_check(f, a, t0 + 5, MQL_FLOOD_VISITORS, 3, 1) == MQL_FLOOD_OK;
    is_int(okays, 3, "3 new visitors per minute: 3 of 10 pass");
    is_int(mql_flood_count(f, a, t0, MQL_FLOOD_VISITORS), 3, "count is 3");
    is_int(mql_flood_check(f, a, t0 + 59, MQL_FLOOD_VISITORS, 3, 0), MQL_FLOOD_OVER,
           "still over at the minute's last second");
    is_int(mql_flood_check(f, a, t0 + 10, MQL_FLOOD_LEADS, 2, 0), MQL_FLOOD_OK,
           "leads are counted apart from visitors");
    is_int(mql_flood_check(f, a, t0 + 10, MQL_FLOOD_LEADS, 2, 1), MQL_FLOOD_OK, "lead 1");
    is_int(mql_flood_check(f, a, t0 + 10, MQL_FLOOD_LEADS, 2, 1), MQL_FLOOD_OK, "lead 2");
    is_int(mql_flood_check(f, a, t0 + 10, MQL_FLOOD_LEADS, 2, 1), MQL_FLOOD_OVER,
           "lead 3 is over");
    is_int(mql_flood_count(f, a, t0, MQL_FLOOD_VISITORS), 3, "... and the visitors stay 3");
    is_int(mql_flood_check(f, b, t0 + 10, MQL_FLOOD_VISITORS, 3, 1), MQL_FLOOD_OK,
           "another network has its own budget");
    is_int(mql_flood_check(f, a, t0 + 60, MQL_FLOOD_VISITORS, 3, 1), MQL_FLOOD_OK,
           "the next minute starts afresh");
    is_int(mql_flood_count(f, a, t0 + 60, MQL_FLOOD_VISITORS), 1, "... counting from 1");
    is_int(mql_flood_count(f, a, t0 + 60, MQL_FLOOD_LEADS), 0, "... leads from 0");
    is_int(mql_flood_check(f, a, t0 + 60, MQL_FLOOD_VISITORS, 0, 1), MQL_FLOOD_OK,
           "limit 0: no limit");
    is_int(mql_flood_count(f, a, t0 + 60, MQL_FLOOD_VISITORS), 1, "... and nothing counted");
    for (i = 0; i < 5000; i++)
        mql_flood_check(f, b, t0 + 120, MQL_FLOOD_LEADS, 100000, 1);
    is_int(mql_flood_count(f, b, t0 + 120, MQL_FLOOD_LEADS), MQL_FLOOD_LIMIT_MAX,
           "a limit above the maximum is the maximum; the counter never overflows");
    is_int(mql_flood_count(f, b, t0 + 120, MQL_FLOOD_VISITORS), 0, "... into the visitors");
    free(f);
}

static void test_full(void)
{
    mql_flood_t *f = table(8);
    uint32_t now = 1764147600;
    int i, full = 0, okays = 0;

    for (i = 0; i < 20; i++) {
        char ip[32];
        mql_flood_verdict_t v;

        snprintf(ip, sizeof ip, "10.%d.0.1", i);
        v = mql_flood_check(f, net4(ip, 24, 64), now, MQL_FLOOD_VISITORS, 5, 1);
        full += v == MQL_FLOOD_FULL;
        okays += v == MQL_FLOOD_OK;
    }
    is_int(okays, 8, "8 slots: 8 networks counted");
    is_int(full, 12, "... the other 12 find the table full (the caller lets them through)");
    is_int(mql_flood_check(f, net4("10.0.0.1", 24, 64), now + 60, MQL_FLOOD_VISITORS, 5, 1),
           MQL_FLOOD_OK, "a minute later the slots are free again");
    free(f);
}

/* Many threads charging one network: exactly the limit passes. */
static mql_flood_t *shared;
static uint64_t shared_net;
static int passed;

static void *charger(void *arg)
{
    int i, mine = 0;

    for (i = 0; i < 2000; i++)
        mine += mql_flood_check(shared, shared_net, 1764147600,
                                (i & 1) ? MQL_FLOOD_LEADS : MQL_FLOOD_VISITORS, 700, 1)
                == MQL_FLOOD_OK;
    __atomic_fetch_add(&passed, mine, __ATOMIC_RELAXED);
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[8];
    int i;

    shared = table(64);
    shared_net = net4("203.0.113.9", 24, 64);
    for (i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, charger, NULL);
    for (i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    is_int(passed, 1400, "8 threads x 2000 tries, limit 700 each kind: exactly 1400 pass");
    is_int(mql_flood_count(shared, shared_net, 1764147600, MQL_FLOOD_VISITORS), 700,
           "700 visitors counted");
    is_int(mql_flood_count(shared, shared_net, 1764147600, MQL_FLOOD_LEADS), 700,
           "700 leads counted");
    free(shared);
}

static void test_gate(void)
{
    mql_visitor_t v;
    uint32_t now = 1764147600;

    memset(&v, 0, sizeof v);
    v.first_seen = now - 10;
    ok(!mql_flood_too_young(&v, MQL_EV_BIT(MQL_EV_FORM), now, 0, 1), "no gate: never young");
    ok(mql_flood_too_young(&v, 0, now, 11, 1), "10 s old, minimum 11 s: young");
    ok(!mql_flood_too_young(&v, 0, now, 10, 1), "10 s old, minimum 10 s: old enough");
    v.first_seen = now + 5;
    ok(mql_flood_too_young(&v, 0, now, 1, 1), "first seen in the future (clock stepped back): young");
    v.first_seen = now - 100;
    v.counts[MQL_EV_VIEW] = 1;
    ok(mql_flood_too_young(&v, MQL_EV_BIT(MQL_EV_FORM), now, 0, 3),
       "one view before and one form now: 2 events of 3");
    ok(!mql_flood_too_young(&v, MQL_EV_BIT(MQL_EV_FORM) | MQL_EV_BIT(MQL_EV_CAMPAIGN), now, 0, 3),
       "... a form with a campaign makes 3");
    v.counts[MQL_EV_DOWNLOAD] = 65535;
    ok(!mql_flood_too_young(&v, 0, now, 0, 1000), "saturated counts do not wrap");
}

/* ---- levels of client networks (MQLClientNetwork) ------------------------ */

static apr_pool_t *pool;

static const char *levels_of(const char *text, unsigned min, unsigned max)
{
    static char out[64];
    mql_flood_level_t l[MQL_FLOOD_LEVELS];
    unsigned n = 0;
    const char *err = mql_flood_parse_levels(pool, text, min, max, l, &n);

    if (err)
        return err;
    mql_flood_levels_text(l, n, out, sizeof out);
    return out;
}

static void test_parse_levels(void)
{
    is_str(levels_of("64,56*2,48*4", 16, 128), "64,56*2,48*4", "64,56*2,48*4");
    is_str(levels_of("64", 16, 128), "64", "one length, as before");
    is_str(levels_of("/24", 8, 32), "24", "a '/' before a length");
    is_str(levels_of("/64,/48*1", 16, 128), "64,48", "... in a list too; *1 is the default");
    is_str(levels_of("24,16*8", 8, 32), "24,16*8", "IPv4 levels");
    is_str(levels_of("128,64,48,32", 16, 128), "128,64,48,32", "four levels");
    is_str(levels_of("128,64,56,48,32", 16, 128), "at most 4 prefix lengths", "not five");
    is_str(levels_of("48,56", 16, 128),
           "each prefix length shorter than the one before (narrowest first)",
           "widest first refused");
    is_str(levels_of("64,64", 16, 128),
           "each prefix length shorter than the one before (narrowest first)",
           "a length twice refused");
    is_str(levels_of("64,8", 16, 128), "a prefix length from 16 to 128", "out of range");
    is_str(levels_of("64,", 16, 128), "a prefix length from 16 to 128", "an empty one");
    is_str(levels_of("64*0", 16, 128), "a factor from 1 to 100 after '*'", "factor 0");
    is_str(levels_of("64*101", 16, 128), "a factor from 1 to 100 after '*'", "factor 101");
    is_str(levels_of("64*", 16, 128), "a factor from 1 to 100 after '*'", "no factor");
    is_str(levels_of("abc", 8, 32), "a prefix length from 8 to 32", "not a number");
}

static const mql_flood_nets_t nets_default = {
    .n4 = 1, .v4 = { { 24, 1 } },
    .n6 = 3, .v6 = { { 64, 1 }, { 56, 2 }, { 48, 4 } },
};

static unsigned nets_of(const char *ip, mql_flood_net_t out[MQL_FLOOD_LEVELS])
{
    uint8_t a[16];

    if (inet_pton(AF_INET, ip, a) == 1)
        return mql_flood_networks(key, a, 4, &nets_default, out);
    inet_pton(AF_INET6, ip, a);
    return mql_flood_networks(key, a, 16, &nets_default, out);
}

static void test_network_levels(void)
{
    mql_flood_net_t a[MQL_FLOOD_LEVELS], b[MQL_FLOOD_LEVELS];

    is_int(nets_of("2001:db8:1:2::1", a), 3, "IPv6: three networks, /64, /56, /48");
    ok(a[0].hash == net4("2001:db8:1:2::1", 24, 64) && a[1].hash == net4("2001:db8:1:2::1", 24, 56)
       && a[2].hash == net4("2001:db8:1:2::1", 24, 48), "... the prefixes' networks");
    ok(a[0].times == 1 && a[1].times == 2 && a[2].times == 4, "... with their factors");
    nets_of("2001:db8:1:ff00::1", b);
    ok(a[0].hash != b[0].hash && a[1].hash != b[1].hash && a[2].hash == b[2].hash,
       "another /56 of the /48: only the /48 is shared");
    nets_of("2001:db8:1:3::1", b);
    ok(a[0].hash != b[0].hash && a[1].hash == b[1].hash, "another /64 of the /56 shares the /56");
    ok(a[0].hash != a[1].hash && a[1].hash != a[2].hash,
       "a /64 at the start of its /48 is not the /48");
    is_int(nets_of("192.0.2.1", a), 1, "IPv4: one network, the /24");
    is_int(nets_of("::ffff:192.0.2.1", b), 1, "IPv4 mapped into IPv6: the IPv4 levels");
    ok(a[0].hash == b[0].hash, "... the same /24");
    is_int(mql_flood_networks(key, (const uint8_t *)"abcdefgh", 8, &nets_default, a), 0,
           "an address of neither length: no network");
}

/* Many /64s of one /48 share the /48's budget; each /64 keeps its own. */
static void test_level_budgets(void)
{
    mql_flood_t *f = table(1024);
    uint32_t now = 1764147600;
    mql_flood_net_t n[MQL_FLOOD_LEVELS];
    int i, leads = 0, first = 0;
    uint32_t used;

    for (i = 0; i < 3; i++) {
        nets_of("2001:db8:7:100::1", n);
        first += mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1) == MQL_FLOOD_OK;
    }
    is_int(first, 2, "one /64: 2 leads of 3 (limit 2)");
    for (i = 0; i < 100; i++) {
        char ip[64];

        /* a /56 of its own each */
        snprintf(ip, sizeof ip, "2001:db8:7:%x::1", (0x02 + i) << 8);
        nets_of(ip, n);
        leads += mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1) == MQL_FLOOD_OK;
    }
    is_int(leads, 6, "100 more /64s of the /48 make 6 more: the /48's 8 (2 x 4) in all");
    nets_of("2001:db8:7:100::1", n);
    is_int(mql_flood_count(f, n[2].hash, now, MQL_FLOOD_LEADS), 8, "the /48 counted 8");
    is_int(mql_flood_count(f, n[1].hash, now, MQL_FLOOD_LEADS), 2,
           "the first /56 counted its 2 (of 4): its /64's refused third took nothing");
    nets_of("2001:db8:7:200::1", n);
    is_int(mql_flood_count(f, n[0].hash, now, MQL_FLOOD_LEADS), 1,
           "the next /64 counted its one lead");
    for (i = 0; i < 3; i++) {
        nets_of("2001:db8:6:100::1", n);
        mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1);
        nets_of("2001:db8:6:101::1", n);
        mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1);
        nets_of("2001:db8:6:102::1", n);
        mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1);
    }
    is_int(mql_flood_count(f, n[1].hash, now, MQL_FLOOD_LEADS), 4,
           "three /64s of one /56 make its 4 (2 x 2), not 6");
    used = mql_flood_used(f, now);
    for (i = 0; i < 100; i++) {
        char ip[64];

        snprintf(ip, sizeof ip, "2001:db8:7:%x::1", (0x70 + i) << 8);
        nets_of(ip, n);
        mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1);
    }
    is_int(mql_flood_used(f, now), used,
           "a /48 over its budget takes no slot for its /64s or /56s");
    nets_of("2001:db8:8::1", n);
    is_int(mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1), MQL_FLOOD_OK,
           "another /48 has budgets of its own");
    is_int(mql_flood_check_nets(f, n, 3, now + 60, MQL_FLOOD_VISITORS, 100, 1), MQL_FLOOD_OK,
           "... visitors are counted apart");
    is_int(mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_VISITORS, 0, 1), MQL_FLOOD_OK,
           "limit 0: no limit");
    for (i = 0; i < 5000; i++) {
        char ip[64];

        snprintf(ip, sizeof ip, "2001:db8:9:%x::1", (i % 256) << 8 | i / 256);
        nets_of(ip, n);
        mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_VISITORS, 1500, 0);
    }
    is_int(mql_flood_count(f, n[2].hash, now, MQL_FLOOD_VISITORS), MQL_FLOOD_LIMIT_MAX,
           "a budget above the maximum (1500 x 4) is the maximum");
    free(f);
}

/* A full table lifts no limit on leads; new visitors go on. */
static void test_full_levels(void)
{
    mql_flood_t *f = table(8);
    uint32_t now = 1764147600;
    mql_flood_net_t n[MQL_FLOOD_LEVELS];
    mql_flood_stats_t st;
    mql_lead_gate_t g;
    mql_visitor_t v;
    uint8_t addr[16];
    int i, full = 0;

    for (i = 0; i < 20; i++) {
        char ip[32];

        snprintf(ip, sizeof ip, "10.%d.0.1", i);
        nets_of(ip, n);
        mql_flood_check_nets(f, n, 1, now, MQL_FLOOD_VISITORS, 5, 0);
    }
    is_int(mql_flood_used(f, now), 8, "20 IPv4 networks fill 8 slots");
    memset(&f->stats, 0, sizeof f->stats);
    nets_of("2001:db8:1:2::1", n);
    for (i = 0; i < 50; i++)
        full += mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_LEADS, 2, 1) == MQL_FLOOD_FULL;
    is_int(full, 50, "a fresh network, table full: 50 of 50 promotions held (fail closed)");
    mql_flood_stats(f, &st);
    is_int(st.table_full, 50, "... each lookup without a slot counted");
    is_int(mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_VISITORS, 2, 0), MQL_FLOOD_FULL,
           "a new visitor of it: FULL, let through by the caller");
    is_int(mql_flood_count(f, n[0].hash, now, MQL_FLOOD_VISITORS), 0, "... uncounted: no slot");

    /* the gate: held, counted, the visitor left as it was */
    memset(&v, 0, sizeof v);
    v.first_seen = now - 100;
    inet_pton(AF_INET6, "2001:db8:1:2::1", addr);
    memset(&g, 0, sizeof g);
    g.table = f;
    g.key = key;
    g.addr = addr;
    g.addr_len = 16;
    g.nets = &nets_default;
    g.lead_limit = 2;
    g.min_events = 1;
    memset(&f->stats, 0, sizeof f->stats);
    is_int(mql_lead_gate_admit(&g, &v, now), 0, "the lead gate holds a promotion when full");
    mql_flood_stats(f, &st);
    is_int(st.leads_held_full, 1, "... counted as held: table full");
    is_int(st.table_full, 1, "... and as a lookup without a slot");
    is_int(st.leads_held_rate, 0, "... not as over the limit");
    is_int(mql_lead_gate_admit(&g, &v, now + 60), 1, "a minute later the slots are free: a lead");
    g.lead_limit = 0;
    is_int(mql_lead_gate_admit(&g, &v, now), 1, "MQLNewLeadLimit 0: no table looked at");
    free(f);

    /* wider levels that have a slot still count a visitor let through */
    f = table(8);
    nets_of("2001:db8:5::1", n);
    mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_VISITORS, 4, 0);
    for (i = 0; i < 20; i++) {
        char ip[32];

        snprintf(ip, sizeof ip, "10.%d.0.1", i);
        nets_of(ip, n);
        mql_flood_check_nets(f, n, 1, now, MQL_FLOOD_VISITORS, 5, 0);
    }
    full = 0;
    for (i = 0; i < 40; i++) {
        char ip[64];

        snprintf(ip, sizeof ip, "2001:db8:5:%x::1", 0x100 + i);
        nets_of(ip, n);
        full += mql_flood_check_nets(f, n, 3, now, MQL_FLOOD_VISITORS, 4, 0) == MQL_FLOOD_FULL;
    }
    is_int(full, 15, "40 fresh /64s of a /48 that holds a slot: 15 let through (16 of the /48)");
    is_int(mql_flood_count(f, n[2].hash, now, MQL_FLOOD_VISITORS), 16, "... the /48 counted them");
    free(f);
}

/* Threads charging many /64s of one /48 at once: exactly its budget
 * passes, and the refunds of refused charges lose no count. */
static mql_flood_t *lv_table;
static int lv_passed;

static void *level_charger(void *arg)
{
    int i, mine = 0, base = (int)(intptr_t)arg;

    for (i = 0; i < 500; i++) {
        mql_flood_net_t n[MQL_FLOOD_LEVELS];
        char ip[64];

        /* each /64 in a /56 of its own: the /48 is the budget that binds */
        snprintf(ip, sizeof ip, "2001:db8:42:%x::1", ((base * 7 + i) % 40) << 8);
        nets_of(ip, n);
        mine += mql_flood_check_nets(lv_table, n, 3, 1764147600, MQL_FLOOD_VISITORS, 30, 0)
                == MQL_FLOOD_OK;
    }
    __atomic_fetch_add(&lv_passed, mine, __ATOMIC_RELAXED);
    return NULL;
}

static void test_level_threads(void)
{
    pthread_t th[8];
    mql_flood_net_t n[MQL_FLOOD_LEVELS];
    int i, sum64 = 0;

    lv_table = table(4096);
    for (i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, level_charger, (void *)(intptr_t)i);
    for (i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    is_int(lv_passed, 120, "8 threads x 500 new visitors over 40 /64s of one /48: its 120 pass");
    nets_of("2001:db8:42::1", n);
    is_int(mql_flood_count(lv_table, n[2].hash, 1764147600, MQL_FLOOD_VISITORS), 120,
           "the /48 counted 120: refunds lost nothing");
    for (i = 0; i < 40; i++) {
        char ip[64];

        snprintf(ip, sizeof ip, "2001:db8:42:%x::1", i << 8);
        nets_of(ip, n);
        sum64 += (int)mql_flood_count(lv_table, n[0].hash, 1764147600, MQL_FLOOD_VISITORS);
        ok(mql_flood_count(lv_table, n[0].hash, 1764147600, MQL_FLOOD_VISITORS) <= 30,
           "/64 number %d within its 30", i);
    }
    is_int(sum64, 120, "the /64s' counts add up to the /48's");
    free(lv_table);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_networks();
    test_limits();
    test_full();
    test_threads();
    test_gate();
    test_parse_levels();
    test_network_levels();
    test_level_budgets();
    test_full_levels();
    test_level_threads();
    return done_testing();
}
