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
 * MQLStore redis-cluster://: the key slot (CRC16 of the hash tag, as
 * Redis computes it: the values below are CLUSTER KEYSLOT's), the shards'
 * slots, the MOVED and ASK replies read, the slot map from CLUSTER SLOTS
 * and MOVED, the URL.  A real cluster is in
 * t/redis_cluster.t.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_redis_proto.h"
#include "mql_redis_cluster.h"

static unsigned slot(const char *k)
{
    return mql_redis_keyslot(k, strlen(k));
}

/* redisReply trees built by hand: what hiredis makes of CLUSTER SLOTS */
static redisReply *r_int(apr_pool_t *p, long long v)
{
    redisReply *r = apr_pcalloc(p, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *r_str(apr_pool_t *p, const char *s)
{
    redisReply *r = apr_pcalloc(p, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = apr_pstrdup(p, s);
    r->len = strlen(s);
    return r;
}

static redisReply *r_arr(apr_pool_t *p, size_t n, ...)
{
    redisReply *r = apr_pcalloc(p, sizeof *r);
    va_list ap;
    size_t i;

    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = apr_pcalloc(p, sizeof *r->element * (n ? n : 1));
    va_start(ap, n);
    for (i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

/* [start, end, [host, port, id], [replica host, port, id]] */
static redisReply *range(apr_pool_t *p, long long a, long long b, const char *host, int port)
{
    return r_arr(p, 4, r_int(p, a), r_int(p, b),
                 r_arr(p, 3, r_str(p, host), r_int(p, port), r_str(p, "id")),
                 r_arr(p, 3, r_str(p, "10.9.9.9"), r_int(p, 9999), r_str(p, "replica")));
}

static void slot_map(apr_pool_t *p)
{
    mql_redis_url_t u;
    mql_rc_t *rc;
    const char *host = NULL;
    redisReply *r;

    mql_redis_url_parse(p, "redis-cluster://127.0.0.1:7000", &u);
    rc = mql_rc_make(p, &u, 250);
    ok(!mql_rc_slot_master(rc, 0, &host), "no map: no slot served");
    r = r_arr(p, 3, range(p, 0, 5460, "10.0.0.1", 7000), range(p, 5461, 10922, "10.0.0.2", 7001),
              range(p, 10923, 16383, "", 7002));
    ok(mql_rc_take_slots(rc, r, "10.0.0.3"), "CLUSTER SLOTS taken");
    is_int(mql_rc_masters(rc), 3, "three masters (replicas are not)");
    ok(mql_rc_slot_master(rc, 0, &host) == 7000 && !strcmp(host, "10.0.0.1"), "slot 0");
    ok(mql_rc_slot_master(rc, 5460, &host) == 7000, "slot 5460: the end of a range");
    ok(mql_rc_slot_master(rc, 5461, &host) == 7001 && !strcmp(host, "10.0.0.2"), "slot 5461");
    ok(mql_rc_slot_master(rc, 16383, &host) == 7002 && !strcmp(host, "10.0.0.3"),
       "a master without an address: the node asked");
    ok(!mql_rc_slot_master(rc, 16384, &host), "no slot 16384");

    mql_rc_moved(rc, 100, "10.0.0.2", 7001);
    ok(mql_rc_slot_master(rc, 100, &host) == 7001 && mql_rc_slot_master(rc, 99, &host) == 7000,
       "MOVED: that slot alone to the node named");
    mql_rc_moved(rc, 200, "10.0.0.4", 7003);
    ok(mql_rc_slot_master(rc, 200, &host) == 7003 && !strcmp(host, "10.0.0.4"),
       "MOVED to a node not known before");

    /* a failover: the next map has another master for the first range */
    r = r_arr(p, 3, range(p, 0, 5460, "10.0.0.5", 7004), range(p, 5461, 10922, "10.0.0.2", 7001),
              range(p, 10923, 16383, "10.0.0.3", 7002));
    ok(mql_rc_take_slots(rc, r, "10.0.0.2"), "a new map taken");
    ok(mql_rc_slot_master(rc, 100, &host) == 7004 && mql_rc_slot_master(rc, 200, &host) == 7004,
       "it replaces the old one, MOVED included");
    is_int(mql_rc_masters(rc), 3, "three masters still");

    /* a reply that holds nothing keeps the map */
    ok(!mql_rc_take_slots(rc, r_arr(p, 0), "x"), "an empty reply is no map");
    ok(!mql_rc_take_slots(rc, r_str(p, "ERR This instance has cluster support disabled"), "x"),
       "an error is no map");
    ok(!mql_rc_take_slots(rc, r_arr(p, 1, r_arr(p, 2, r_int(p, 0), r_int(p, 5))), "x"),
       "a range without a master is no map");
    ok(mql_rc_slot_master(rc, 0, &host) == 7004, "... and the map stays");
    is_int(mql_rc_masters(rc), 3, "... with its masters");
}

int main(void)
{
    apr_pool_t *pool;
    mql_redis_url_t u;
    char host[64], key[MQL_REDIS_KEY_LEN], v0[MQL_REDIS_KEY_LEN];
    unsigned sl, i;
    int port;
    /* CLUSTER KEYSLOT mql:{mqlN}:seq on Redis 7.0, N = 0 .. 15 */
    static const unsigned shard_slots[16] = {
        14200,10073,5946,1819,14332,10205,6078,1951,13936,9809,8858,12987,728,4857,8734,12863
    };

    apr_initialize();
    apr_pool_create(&pool, NULL);

    is_int(mql_redis_crc16("123456789", 9), 0x31C3, "CRC16 (XModem) check value");
    is_int(slot("somekey"), 11058, "CLUSTER KEYSLOT somekey");
    is_int(slot("foo{hash_tag}"), 2515, "a hash tag: its content alone counts");
    is_int(slot("{hash_tag}bar"), 2515, "... wherever it is in the key");
    is_int(slot("foo"), 12182, "CLUSTER KEYSLOT foo");
    is_int(slot("foo{}{bar}"), slot("foo{}{bar}"), "stable");
    is_int(slot("foo{}{bar}"), mql_redis_crc16("foo{}{bar}", 10) & 16383,
           "an empty tag: the whole key");
    is_int(slot("foo{{bar}}zap"), slot("{bar"), "the first { and the first } after it");
    is_int(slot("foo{bar"), mql_redis_crc16("foo{bar", 7) & 16383, "no closing brace: no tag");
    for (i = 0; i < 16; i++) {
        char v[MQL_REDIS_KEY_LEN], st[MQL_REDIS_KEY_LEN];
        uint8_t id[MQL_ID_BYTES];
        unsigned j;

        mql_redis_key_seq(key, i);
        mql_redis_key_stream(st, i);
        is_int(slot(key), shard_slots[i], "shard %u: the slot Redis computes", i);
        ok(slot(st) == slot(key), "shard %u: the stream in the same slot", i);
        mql_redis_key_totals(st, i);
        ok(slot(st) == slot(key), "shard %u: the totals in the same slot", i);
        /* a visitor of this shard: its key too */
        for (j = 0; j < 100000; j++) {
            memset(id, 0, sizeof id);
            memcpy(id, &j, sizeof j);
            if (mql_redis_shard(id) == i)
                break;
        }
        mql_redis_key_visitor(v, id);
        ok(slot(v) == slot(key), "shard %u: a visitor's key in the same slot", i);
    }

    mql_redis_key_servers(key);
    mql_redis_key_seq(v0, 0);
    ok(slot(key) == slot(v0), "the fleet's servers in shard 0's slot");

    is_int(mql_redis_redirect("MOVED 3999 127.0.0.1:6381", &sl, host, sizeof host, &port),
           MQL_RC_MOVED, "MOVED read");
    ok(sl == 3999 && !strcmp(host, "127.0.0.1") && port == 6381, "... slot, host, port");
    is_int(mql_redis_redirect("ASK 12 ::1:7000", &sl, host, sizeof host, &port), MQL_RC_ASK,
           "ASK read, IPv6 host");
    ok(sl == 12 && !strcmp(host, "::1") && port == 7000, "... slot, host, port");
    ok(!mql_redis_redirect("TRYAGAIN Multiple keys request during rehashing of slot",
                           &sl, host, sizeof host, &port), "TRYAGAIN is no redirection");
    ok(!mql_redis_redirect("MOVED 16384 h:1", &sl, host, sizeof host, &port), "slot out of range");
    ok(!mql_redis_redirect("MOVED 1 h:", &sl, host, sizeof host, &port), "no port");
    ok(!mql_redis_redirect("MOVED 1 h:99999", &sl, host, sizeof host, &port), "bad port");
    ok(!mql_redis_redirect("ASK 1 averyveryveryveryveryveryveryveryveryveryveryveryveryveryverylonghost:1",
                           &sl, host, sizeof host, &port), "a host too long for the buffer");
    ok(!mql_redis_redirect(NULL, &sl, host, sizeof host, &port), "no text");

    slot_map(pool);

    ok(!mql_redis_url_parse(pool, "redis-cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]:7002", &u)
       && u.kind == MQL_REDIS_CLUSTER && u.nnodes == 3 && !strcmp(u.nodes[2].host, "::1")
       && u.nodes[1].port == 7001, "redis-cluster:// with three seeds");
    ok(!mql_redis_url_parse(pool, "redis-cluster://app:s3:cr@t@h1:7000,h2:7001", &u)
       && !strcmp(u.user, "app") && !strcmp(u.password, "s3:cr@t") && u.nnodes == 2
       && !strcmp(u.nodes[0].host, "h1") && u.nodes[1].port == 7001,
       "user and password (with a colon and an @) before the nodes");
    ok(!mql_redis_url_parse(pool, "redis-cluster://pw@h1:7000", &u) && !u.user
       && !strcmp(u.password, "pw"), "a password alone");
    ok(!mql_redis_url_parse(pool, "redis-cluster://:pw@h1:7000", &u) && !u.user
       && !strcmp(u.password, "pw"), "an empty user: the password alone");
    ok(mql_redis_url_parse(pool, "redis-cluster://app:@h1:7000", &u) != NULL, "an empty password");
    ok(mql_redis_url_parse(pool, "redis-cluster://pw@", &u) != NULL, "credentials and no node");
    ok(mql_redis_url_parse(pool, "redis-cluster://10.0.0.1:7000,", &u) != NULL, "a trailing comma");
    ok(mql_redis_url_parse(pool, "redis-cluster://a:1,,b:2", &u) != NULL, "an empty node");
    ok(mql_redis_url_parse(pool, "redis-cluster://", &u) != NULL, "no node");
    ok(mql_redis_url_parse(pool, "redis-cluster://a:0", &u) != NULL, "port 0");
    ok(mql_redis_url_parse(pool, "redis-cluster://a", &u) != NULL, "no port");

    apr_terminate();
    return done_testing();
}
