/* Flood limits per client network (mql_flood.c). */
#include "tap.h"
#include <pthread.h>
#include <arpa/inet.h>
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

int main(void)
{
    test_networks();
    test_limits();
    test_full();
    test_threads();
    test_gate();
    return done_testing();
}
