/*
 * MQLStore redis-cluster://: the key slot (CRC16 of the hash tag, as
 * Redis computes it: the values below are CLUSTER KEYSLOT's), the shards'
 * slots, the MOVED and ASK replies read, the URL.  A real cluster is in
 * t/redis_cluster.t.
 */
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

int main(void)
{
    apr_pool_t *pool;
    mql_redis_url_t u;
    char host[64], key[MQL_REDIS_KEY_LEN];
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
