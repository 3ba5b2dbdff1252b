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
 * The sync engine of MQLStore redis:// (what a round does: mql_redis_sync.h).
 *
 * One connection, used by one thread.  A failure of any call (refused,
 * timed out, closed) drops the connection and the round; the queue still
 * holds every entry not confirmed, and the next connection sends them
 * again, which Redis recognises by their sequence numbers.  The error log
 * hears of an outage once when it starts and once when it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include "apr_strings.h"
#include "apr_time.h"
#include "mql_cookie.h"
#include "mql_log.h"
#include "mql_redis_sync.h"
#include "mql_redis_cluster.h"
#include "mql_redis_io.h"
#include "mql_touch.h"

/* The Function library, made from mql_redis.lua at build time: the
 * module carries the code it loads, so Redis always runs the version
 * that matches the module, and nothing is installed beside it. */
#include "mql_redis_lua.h"

/* entries per batch: one call on a single Redis (mql_apply_batch), one
 * per shard on a Cluster, some 10 ms of Redis when full, well within
 * MQLRedisTimeout; larger batches drain a backlog with fewer round trips */
#define BATCH_MAX      512
#define STREAM_COUNT   256        /* stream entries per read */
#define STREAM_EVERY   apr_time_from_msec(5)
#define STOP_LEASE_STALE 3        /* as the thread's own (mod_mql_store_redis.c) */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000       /* Redis back: replaying within a second */
#define TOTALS_EVERY   apr_time_from_sec(1)  /* the fleet's totals read, at most */
/* The fleet's dictionary of touches (docs/attribution.md): a hash by
 * touch ID, with shard 0 on a Cluster; at most TOUCH_FLEET_MAX entries,
 * past which only touches a lead holds are added */
#define TOUCH_KEY       "mql:{mql0}:touches"
#define TOUCH_FLEET_MAX 65536
#define TOUCH_PUSH      64        /* entries per HSET */
#define TOUCH_DEFER     32        /* records held back a round for their touches */

typedef struct touch_deferred {
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];
} touch_deferred_t;

struct mql_redis_sync {
    apr_pool_t *pool;
    const char *library;      /* the Function library as loaded */
    const mql_redis_url_t *url;
    uint32_t timeout_ms;
    uint32_t expire;
    mql_rq_t *q;
    mql_rq_stats_t *st;
    mql_visitors_t *local;
    redisContext *c;              /* on a cluster: the connection in use, owned by rc */
    mql_redis_wait_t wait;        /* MQLRedisTimeout, the stop's limit, the cancel flag */
    apr_time_t deadline;          /* of the replies pending */
    unsigned pending;             /* commands sent whose replies are not read yet */
    apr_time_t timeout_said;      /* when a timeout was last logged */
    mql_rc_t *rc;                 /* MQLStore redis-cluster://: the masters, NULL otherwise */
    unsigned shard_slot[MQL_RQ_SHARDS];
    int asking;                   /* the last command followed ASK: its key is on s->c only
                                   * for commands sent after ASKING */
    char consumer[24];
    apr_time_t next_attempt;
    uint32_t backoff_ms;
    int outage_logged;
    apr_time_t outage_since;
    int sent_before;              /* the last batch failed: this one is a retry */
    int notifies;                 /* reads the consumer group (MQLNotify is set) */
    apr_time_t next_claim;        /* next look for notifications left pending */
    apr_time_t next_streams;      /* next read of the streams while busy */
    apr_time_t next_totals;       /* next read of the fleet's totals */
    const char *where;            /* the server, for messages */
    const char *spill_path;
    int spill;                    /* its descriptor, -1 until needed */
    apr_off_t spill_off;          /* bytes of it sent (a crash replays it all) */
    apr_off_t spill_size;
    apr_off_t spill_max;          /* MQLRedisSpillMax: the file's size at most */
    int spill_logged;
    uint64_t drops_said;          /* spill_dropped when last logged */
    apr_time_t drops_said_at;
    int touches_full;             /* the fleet's dictionary had TOUCH_FLEET_MAX */
    unsigned ndeferred, nwant;
    touch_deferred_t deferred[TOUCH_DEFER];
    char want[2 * TOUCH_DEFER][MQL_TOUCH_ID_LEN];
    mql_rq_entry_t batch[BATCH_MAX];
};

/* The spill file: this header, then entries as the queue holds them.  A
 * file of another build (another magic or entry size) is moved aside, not
 * read.  MQLSPIL2: a hit held as its delta. */
typedef struct spill_header {
    char magic[8];
    uint32_t entry_size;
    uint32_t reserved;
} spill_header_t;
#define SPILL_MAGIC "MQLSPIL2"
#define SPILL_START ((apr_off_t)sizeof(spill_header_t))

static uint32_t now_secs(void)
{
    return (uint32_t)apr_time_sec(apr_time_now());
}

mql_redis_sync_t *mql_redis_sync_make(apr_pool_t *p, const mql_redis_url_t *url,
                                      uint32_t timeout_ms, uint32_t expire, mql_rq_t *q,
                                      mql_visitors_t *local, const char *spill_path,
                                      apr_off_t spill_max, int notifies,
                                      const volatile int *cancel)
{
    mql_redis_sync_t *s = apr_pcalloc(p, sizeof *s);

    s->pool = p;
    s->library = mql_redis_library(p, mql_redis_lua);
    s->url = url;
    s->timeout_ms = timeout_ms;
    s->wait.timeout_ms = timeout_ms;
    s->wait.cancel = cancel;
    s->expire = expire;
    s->q = q;
    s->st = mql_rq_stats(q);
    s->local = local;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->spill_path = spill_path;
    s->spill_max = spill_max;
    s->spill = -1;
    /* what an earlier generation dropped, it said */
    s->drops_said = s->st->spill_dropped;
    s->notifies = notifies;
    s->where = url->kind == MQL_REDIS_UNIX ? url->path
               : apr_psprintf(p, "%s%s:%d%s", url->kind == MQL_REDIS_CLUSTER ? "the cluster of " : "",
                              url->host, url->port, url->nnodes > 1 ? ",..." : "");
    if (url->kind == MQL_REDIS_CLUSTER) {
        unsigned i;

        s->rc = mql_rc_make(p, url, timeout_ms);
        mql_rc_set_wait(s->rc, &s->wait);
        /* all of a shard's keys share its hash tag, hence one slot */
        for (i = 0; i < MQL_RQ_SHARDS; i++) {
            char key[MQL_REDIS_KEY_LEN];

            mql_redis_key_seq(key, i);
            s->shard_slot[i] = mql_redis_keyslot(key, strlen(key));
        }
    }
    apr_snprintf(s->consumer, sizeof s->consumer, "%016" APR_UINT64_T_HEX_FMT,
                 mql_rq_origin(q));
    return s;
}

static const char *where(mql_redis_sync_t *s)
{
    return s->where;
}

static void set_error(mql_redis_sync_t *s, const char *what)
{
    apr_cpystrn(s->st->last_error, what, sizeof s->st->last_error);
    s->st->last_error_time = now_secs();
}

static void disconnect(mql_redis_sync_t *s, const char *reason)
{
    /* the reason may be the context's own text, which goes with it */
    char why[sizeof s->st->last_error];

    apr_cpystrn(why, reason && *reason ? reason : "no reply", sizeof why);
    /* on a cluster every connection goes and comes back with a fresh map:
     * the node that failed may have been replaced by its replica */
    mql_redis_sync_close(s);
    if (s->wait.cancel && *s->wait.cancel)
        /* the thread stops: no outage, whatever the wait was cut short in */
        return;
    set_error(s, why);
    if (s->st->connected) {
        s->st->connected = 0;
        s->st->since = now_secs();
    }
    if (!s->outage_logged) {
        s->outage_logged = 1;
        s->outage_since = apr_time_now();
        s->st->outages++;
        mql_log(MQL_LOG_ERR, "MQL07001: Redis at %s unreachable (%s): scoring goes on in "
                "this server's table and is queued until Redis is back", where(s), why);
    }
    s->next_attempt = apr_time_now() + apr_time_from_msec(s->backoff_ms);
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* The connection failed under a command: closed, with hiredis's reason. */
static void connection_lost(mql_redis_sync_t *s)
{
    disconnect(s, s->c ? s->c->errstr : NULL);
}

/* Commands appended to s->c's pipeline.  The first of a pipeline sets
 * the deadline of them all: MQLRedisTimeout for every reply, so a server
 * that trickles them cannot stretch it. */
static void sent(mql_redis_sync_t *s)
{
    if (!s->pending++)
        s->deadline = mql_redis_deadline(&s->wait);
}

static void append(mql_redis_sync_t *s, int argc, const char **argv, const size_t *lens)
{
    redisAppendCommandArgv(s->c, argc, argv, lens);
    sent(s);
}

static void append_asking(mql_redis_sync_t *s)
{
    redisAppendCommand(s->c, "ASKING");
    sent(s);
}

/* A timeout said at most once a minute: a server that trickles would
 * otherwise fill the log, one line per reconnection. */
static void timed_out(mql_redis_sync_t *s)
{
    apr_time_t now = apr_time_now();

    if (s->timeout_said && now - s->timeout_said < apr_time_from_sec(60))
        return;
    s->timeout_said = now;
    mql_log(MQL_LOG_WARNING, "MQL07201: Redis at %s sent no whole reply within %u ms "
            "(MQLRedisTimeout); the connection is dropped and the changes stay queued",
            where(s), s->timeout_ms);
}

/* The next reply of a pipeline, or NULL with the connection closed. */
static redisReply *next_reply(mql_redis_sync_t *s)
{
    redisReply *r = NULL;
    int rv = mql_redis_get_reply(s->c, &s->wait, s->deadline, &r);

    if (rv != MQL_REDIS_IO_OK) {
        if (rv == MQL_REDIS_IO_TIMEOUT)
            timed_out(s);
        connection_lost(s);
        return NULL;
    }
    if (s->pending)
        s->pending--;
    return r;
}

static int prepare(mql_redis_sync_t *s);

/* MOVED: the slot has another master (a resharding, a failover) from now
 * on.  Said once per slot and change, so an operator sees the fleet follow. */
static void moved(mql_redis_sync_t *s, unsigned slot, const char *host, int port)
{
    mql_rc_moved(s->rc, slot, host, port);
    mql_log(MQL_LOG_NOTICE, "MQL07101: Redis Cluster slot %u is served by %s:%d now; "
            "this server's calls for it go there", slot, host, port);
}

/* A command's reply, or NULL after dropping the connection.  On a cluster
 * a MOVED reply (the slot has a new master: resharding, failover) updates
 * the map and an ASK reply (the slot is moving) is followed with ASKING,
 * each time on the node named; the command goes there again. */
#define REDIRECT_HOPS 5
static redisReply *command(mql_redis_sync_t *s, int argc, const char **argv,
                           const size_t *lens)
{
    redisReply *r;
    int hops;

    s->asking = 0;
    append(s, argc, argv, lens);
    if (!(r = next_reply(s)))
        return NULL;
    for (hops = 0; s->rc && r->type == REDIS_REPLY_ERROR && hops < REDIRECT_HOPS; hops++) {
        char host[256], err[160];
        unsigned slot;
        int port, fresh, kind = mql_redis_redirect(r->str, &slot, host, sizeof host, &port);

        if (!kind)
            break;
        freeReplyObject(r);
        r = NULL;
        if (kind == MQL_RC_MOVED)
            moved(s, slot, host, port);
        if (!(s->c = mql_rc_for_node(s->rc, host, port, &fresh, err, sizeof err))) {
            disconnect(s, err);
            return NULL;
        }
        if (fresh && !prepare(s))
            return NULL;
        if (kind == MQL_RC_ASK) {
            redisReply *a;

            append_asking(s);
            if (!(a = next_reply(s)))
                return NULL;
            freeReplyObject(a);
        }
        s->asking = kind == MQL_RC_ASK;
        append(s, argc, argv, lens);
        if (!(r = next_reply(s)))
            return NULL;
    }
    return r;
}

static int simple(mql_redis_sync_t *s, const char *what, int argc, const char **argv,
                  const size_t *lens, const char *tolerated)
{
    redisReply *r = command(s, argc, argv, lens);
    int ok;

    if (!r)
        return 0;
    ok = r->type != REDIS_REPLY_ERROR || (tolerated && r->str && strstr(r->str, tolerated));
    if (!ok) {
        char msg[160];

        apr_snprintf(msg, sizeof msg, "%s: %s", what, r->str ? r->str : "error");
        freeReplyObject(r);
        disconnect(s, msg);
        return 0;
    }
    freeReplyObject(r);
    return 1;
}

#define READ_FLEET   0            /* XREAD: every entry, from this server's positions */
#define READ_NEW     1            /* XREADGROUP >: notifications, each to one server */
#define READ_MINE    2            /* XREADGROUP 0: this server's, delivered, not acked */
static int read_streams(mql_redis_sync_t *s, int how);

/* s->c made ready for mod_mql: AUTH (a cluster's connections have had it),
 * SELECT, the Function library; 0 after dropping the connection. */
static int prepare(mql_redis_sync_t *s)
{
    const char *argv[4];
    size_t lens[4];
    unsigned i;

    if (s->url->password && !s->rc) {
        int n = 0;
        argv[n] = "AUTH";
        lens[n++] = 4;
        if (s->url->user) {
            argv[n] = s->url->user;
            lens[n] = strlen(argv[n]);
            n++;
        }
        argv[n] = s->url->password;
        lens[n] = strlen(argv[n]);
        n++;
        if (!simple(s, "AUTH", n, argv, lens, NULL))
            return 0;
    }
    if (s->url->db) {
        char db[16];

        apr_snprintf(db, sizeof db, "%d", s->url->db);
        argv[0] = "SELECT";
        argv[1] = db;
        lens[0] = 6;
        lens[1] = strlen(db);
        if (!simple(s, "SELECT", 2, argv, lens, NULL))
            return 0;
    }
    argv[0] = "FUNCTION";
    argv[1] = "LOAD";
    argv[2] = "REPLACE";
    argv[3] = s->library;
    for (i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    return simple(s, "FUNCTION LOAD", 4, argv, lens, NULL);
}

/* On a cluster: s->c is the connection to the master of the shard's slot
 * (opened and prepared when new); 0 after dropping the connections. */
static int use_shard(mql_redis_sync_t *s, unsigned shard)
{
    char err[160];
    int fresh;
    redisContext *c;

    if (!s->rc || !s->c)
        return s->c != NULL;
    if (!(c = mql_rc_for_slot(s->rc, s->shard_slot[shard], &fresh, err, sizeof err))) {
        disconnect(s, err);
        return 0;
    }
    s->c = c;
    return !fresh || prepare(s);
}

static int connect_redis(mql_redis_sync_t *s)
{
    unsigned i;

    if (s->rc) {
        char err[160];
        int m, n, fresh;

        /* the map from any node that answers, then the Function on every
         * master: each runs the calls of its own slots */
        if (!mql_rc_refresh(s->rc, err, sizeof err)) {
            disconnect(s, err);
            return 0;
        }
        n = mql_rc_masters(s->rc);
        for (m = 0; m < n; m++) {
            if (!(s->c = mql_rc_master(s->rc, m, &fresh, err, sizeof err))) {
                disconnect(s, err);
                return 0;
            }
            if (!prepare(s))
                return 0;
        }
    }
    else {
        s->c = mql_redis_connect(s->url->host, s->url->port,
                                 s->url->kind == MQL_REDIS_UNIX ? s->url->path : NULL, &s->wait);
        if (!s->c || s->c->err) {
            disconnect(s, s->c ? s->c->errstr : "out of memory");
            return 0;
        }
        if (!prepare(s))
            return 0;
    }
    /* the group every server of the fleet reads notifications through;
     * made by whichever server comes first, from the stream's end */
    for (i = 0; i < MQL_RQ_SHARDS; i++) {
        char key[MQL_REDIS_KEY_LEN];
        const char *xargv[6] = { "XGROUP", "CREATE", key, MQL_REDIS_GROUP, "$", "MKSTREAM" };
        size_t xlens[6];
        int j;

        mql_redis_key_stream(key, i);
        for (j = 0; j < 6; j++)
            xlens[j] = strlen(xargv[j]);
        if (!use_shard(s, i) || !simple(s, "XGROUP CREATE", 6, xargv, xlens, "BUSYGROUP"))
            return 0;
    }
    s->st->connected = 1;
    s->st->since = now_secs();
    s->backoff_ms = BACKOFF_MIN_MS;
    /* notifications this server had taken when the last connection
     * went, without its acknowledgement reaching Redis: again */
    while (s->c && s->notifies && read_streams(s, READ_MINE))
        ;
    if (!s->c)
        return 0;
    if (s->outage_logged) {
        mql_log(MQL_LOG_NOTICE, "MQL07002: Redis at %s is back after %" APR_TIME_T_FMT
                " s; sending the %u queued changes", where(s),
                apr_time_sec(apr_time_now() - s->outage_since), mql_rq_length(s->q));
        s->outage_logged = 0;
    }
    return 1;
}

/* ---- the queue: pipelined FCALLs ------------------------------------------ */

static const char *reply_text(const redisReply *r, size_t *len)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        *len = r->len;
        return r->str;
    }
    *len = 0;
    return "";
}

/* The record in reply elements from..n (field, value, ...) into the table. */
/* ---- touches ---------------------------------------------------------------- */

/* 1 when the record's touch ID (a field of the record, maybe unended)
 * needs nothing from the fleet: none, or this server knows it. */
static int touch_known(mql_redis_sync_t *s, const char *field, char id[MQL_TOUCH_ID_LEN])
{
    mql_touch_t t;

    memcpy(id, field, MQL_TOUCH_ID_LEN - 1);
    id[MQL_TOUCH_ID_LEN - 1] = '\0';
    return !id[0] || mql_touch_dict_get(mql_touch_dict_current(), id, &t);
}

static void want_touch(mql_redis_sync_t *s, const char *id)
{
    unsigned i;

    for (i = 0; i < s->nwant; i++)
        if (!strcmp(s->want[i], id))
            return;
    if (s->nwant < sizeof s->want / sizeof *s->want)
        memcpy(s->want[s->nwant++], id, MQL_TOUCH_ID_LEN);
}

/* A record of the fleet into the table; one whose touches another server
 * made waits for them until the round's end (resolve_touches), so that
 * this server never publishes its lead as "other" when the fleet knows
 * better.  Its own server sent them before the hits that use them. */
static void put_record(mql_redis_sync_t *s, const mql_visitor_t *v, const char *contact)
{
    char ft[MQL_TOUCH_ID_LEN], lt[MQL_TOUCH_ID_LEN];
    int kf, kl;

    if (mql_touch_dict_current() && s->ndeferred < TOUCH_DEFER) {
        kf = touch_known(s, v->first_touch, ft);
        kl = touch_known(s, v->last_touch, lt);
        if (!kf || !kl) {
            touch_deferred_t *d = &s->deferred[s->ndeferred++];

            d->v = *v;
            apr_cpystrn(d->contact, contact ? contact : "", sizeof d->contact);
            if (!kf)
                want_touch(s, ft);
            if (!kl)
                want_touch(s, lt);
            return;
        }
    }
    mql_visitors_put(s->local, v, contact, 1);
}

/* The touches this server made that the fleet lacks, into its
 * dictionary: before the hits that use them are sent. */
static void push_touches(mql_redis_sync_t *s)
{
    mql_touch_dict_t *d = mql_touch_dict_current();
    char ids[TOUCH_PUSH][MQL_TOUCH_ID_LEN];
    mql_touch_t ts[TOUCH_PUSH];
    const char *argv[2 + 2 * TOUCH_PUSH];
    size_t lens[2 + 2 * TOUCH_PUSH];
    char packed[TOUCH_PUSH][sizeof(mql_touch_t)];
    const char *hlen[2] = { "HLEN", TOUCH_KEY };
    size_t hlens[2] = { 4, sizeof TOUCH_KEY - 1 };
    unsigned n, i;
    redisReply *r;

    while (s->c && (n = mql_touch_dict_unshared(d, ids, ts, TOUCH_PUSH, s->touches_full)) > 0) {
        argv[0] = "HSET";
        lens[0] = 4;
        argv[1] = TOUCH_KEY;
        lens[1] = sizeof TOUCH_KEY - 1;
        for (i = 0; i < n; i++) {
            argv[2 + 2 * i] = ids[i];
            lens[2 + 2 * i] = MQL_TOUCH_ID_LEN - 1;
            argv[3 + 2 * i] = packed[i];
            lens[3 + 2 * i] = mql_touch_pack(&ts[i], packed[i]);
        }
        if (!use_shard(s, 0) || !simple(s, "HSET touches", 2 + 2 * (int)n, argv, lens, NULL))
            return;
        if (!(r = command(s, 2, hlen, hlens)))
            return;
        s->touches_full = r->type == REDIS_REPLY_INTEGER && r->integer >= TOUCH_FLEET_MAX;
        freeReplyObject(r);
    }
}

/* The touches the round's records lacked, from the fleet's dictionary,
 * then those records into the table (without them when Redis has none
 * or is away: their leads read "other" until a later record). */
static void resolve_touches(mql_redis_sync_t *s)
{
    const char *argv[2 + 2 * TOUCH_DEFER];
    size_t lens[2 + 2 * TOUCH_DEFER];
    redisReply *r = NULL;
    unsigned i;

    if (!s->ndeferred)
        return;
    if (s->c && s->nwant && use_shard(s, 0)) {
        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = TOUCH_KEY;
        lens[1] = sizeof TOUCH_KEY - 1;
        for (i = 0; i < s->nwant; i++) {
            argv[2 + i] = s->want[i];
            lens[2 + i] = strlen(s->want[i]);
        }
        r = command(s, 2 + (int)s->nwant, argv, lens);
    }
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == s->nwant)
        for (i = 0; i < s->nwant; i++) {
            mql_touch_t t;

            if (r->element[i]->type == REDIS_REPLY_STRING
                && mql_touch_unpack(r->element[i]->str, r->element[i]->len, &t))
                mql_touch_dict_learn(mql_touch_dict_current(), s->want[i], &t, now_secs(),
                                     s->expire ? s->expire : 86400);
        }
    if (r)
        freeReplyObject(r);
    for (i = 0; i < s->ndeferred; i++)
        mql_visitors_put(s->local, &s->deferred[i].v,
                         s->deferred[i].contact[0] ? s->deferred[i].contact : NULL, 1);
    s->ndeferred = s->nwant = 0;
}

static void put_pairs(mql_redis_sync_t *s, redisReply **el, size_t n, const uint8_t *id)
{
    const char *f[MQL_REDIS_PAIRS_MAX];
    size_t l[MQL_REDIS_PAIRS_MAX], i;
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];

    if (n > MQL_REDIS_PAIRS_MAX)
        n = MQL_REDIS_PAIRS_MAX;
    for (i = 0; i < n; i++)
        f[i] = reply_text(el[i], &l[i]);
    if (mql_redis_record_from_pairs(f, l, (int)n, id, &v, contact))
        put_record(s, &v, contact[0] ? contact : NULL);
}

/* A refused call: each of its entries counted and dropped, or it would
 * block the queue for ever; said at 1, 2, 4, 8... */
static void refused(mql_redis_sync_t *s, const redisReply *r, unsigned entries)
{
    while (entries--) {
        uint64_t n = ++s->st->errors;

        set_error(s, r->str ? r->str : "error");
        if (!(n & (n - 1)))
            mql_log(MQL_LOG_ERR, "MQL07003: Redis refused a queued change (%s); dropped "
                    "(%" APR_UINT64_T_FMT " so far)", r->str ? r->str : "error", n);
    }
}

/* Entries as one pipelined batch; how many Redis answered (all of them,
 * or the connection is gone). */
static unsigned send_entries_cluster(mql_redis_sync_t *s, const mql_rq_entry_t *e, unsigned n);


/* One entry's part of an mql_apply_many reply: 'a' or 'd', then for the
 * visitor's last entry in the call its record, put into the table. */
static void applied_packed(mql_redis_sync_t *s, const mql_rq_entry_t *e, const redisReply *r)
{
    mql_visitor_t v;
    char contact[MQL_CONTACT_LEN];

    if (r->type != REDIS_REPLY_STRING || r->len < 1)
        return;
    if (r->str[0] == 'd')
        s->st->duplicates++;
    if (e->kind != MQL_RQ_FORGET && r->len > 1
        && mql_redis_record_from_binary(r->str + 1, (size_t)r->len - 1, e->id, &v, contact))
        put_record(s, &v, contact[0] ? contact : NULL);
}

/* One Function call appended: FCALL fn, the nfixed keys first (declared,
 * as a Cluster requires of every key a Function touches), then each
 * entry's visitor key, then the entries e[idx[0..m-1]] (idx NULL: e[0..m-1])
 * in that order, each as one binary argument. */
static void append_call(mql_redis_sync_t *s, apr_pool_t *p, const char *fn,
                        char (*fixed)[MQL_REDIS_KEY_LEN], unsigned nfixed,
                        const mql_rq_entry_t *e, const unsigned *idx, unsigned m)
{
    const unsigned head = 3 + nfixed;
    const char **argv = apr_palloc(p, (head + 2 * m) * sizeof *argv);
    size_t *lens = apr_palloc(p, (head + 2 * m) * sizeof *lens);
    char *vkeys = apr_palloc(p, (apr_size_t)m * MQL_REDIS_KEY_LEN);
    char *bin = apr_palloc(p, (apr_size_t)m * MQL_REDIS_ENTRY_MAX);
    unsigned j;

    argv[0] = "FCALL";
    argv[1] = fn;
    argv[2] = apr_psprintf(p, "%u", nfixed + m);
    for (j = 0; j < nfixed; j++)
        argv[3 + j] = fixed[j];
    for (j = 0; j < head; j++)
        lens[j] = strlen(argv[j]);
    for (j = 0; j < m; j++) {
        const mql_rq_entry_t *x = &e[idx ? idx[j] : j];
        char *vkey = vkeys + j * MQL_REDIS_KEY_LEN, *b = bin + j * MQL_REDIS_ENTRY_MAX;

        mql_redis_key_visitor(vkey, x->id);
        argv[head + j] = vkey;
        lens[head + j] = strlen(vkey);
        argv[head + m + j] = b;
        lens[head + m + j] = mql_redis_entry_binary(x, s->expire, b);
    }
    append(s, (int)(head + 2 * m), argv, lens);
}

/* mql_apply_many for the entries e[idx[0..m-1]] of shard sh, in queue
 * order: the shard's sequences, stream and totals, then its visitors. */
static void append_shard_call(mql_redis_sync_t *s, apr_pool_t *p, const mql_rq_entry_t *e,
                              const unsigned *idx, unsigned m, unsigned sh)
{
    char (*fixed)[MQL_REDIS_KEY_LEN] = apr_palloc(p, 3 * sizeof *fixed);

    mql_redis_key_seq(fixed[0], sh);
    mql_redis_key_stream(fixed[1], sh);
    mql_redis_key_totals(fixed[2], sh);
    append_call(s, p, "mql_apply_many", fixed, 3, e, idx, m);
}

/* mql_apply_batch for the whole batch (a single Redis), in queue order:
 * the server's sequences and totals in shard 0's keys, then the visitors
 * of every shard (each change goes to its own shard's stream). */
static void append_batch_call(mql_redis_sync_t *s, apr_pool_t *p, const mql_rq_entry_t *e,
                              unsigned n)
{
    char (*fixed)[MQL_REDIS_KEY_LEN] = apr_palloc(p, 2 * sizeof *fixed);

    mql_redis_key_seq(fixed[0], 0);
    mql_redis_key_totals(fixed[1], 0);
    append_call(s, p, "mql_apply_batch", fixed, 2, e, NULL, n);
}

/* Entries as one call on a single Redis (append_batch_call): Redis reads
 * the server's sequence once per batch, and a visitor's record once.  How
 * many of the oldest entries are done: all of them, or none when the
 * connection went before the reply (they go again; Redis knows any it
 * already has by their sequence numbers). */
static unsigned send_entries(mql_redis_sync_t *s, const mql_rq_entry_t *e, unsigned n)
{
    unsigned i, got;
    redisReply *r = NULL;
    apr_pool_t *p;

    if (n > BATCH_MAX)
        n = BATCH_MAX;
    if (s->rc)
        return send_entries_cluster(s, e, n);
    got = n;
    apr_pool_create(&p, s->pool);
    append_batch_call(s, p, e, n);
    s->st->batches++;
    if (s->sent_before)
        s->st->retries++;
    s->sent_before = 1;
    if (!(r = next_reply(s)))
        got = 0;
    else if (r->type == REDIS_REPLY_ERROR && r->str && strstr(r->str, "Function not found")) {
        /* our library was replaced (FUNCTION LOAD REPLACE by a server of
         * another version, FUNCTION FLUSH): nothing of the call was
         * applied, so it is not dropped; the next connection loads the
         * library again and the entries go again */
        disconnect(s, r->str);
        got = 0;
    }
    else if (r->type == REDIS_REPLY_ERROR)
        refused(s, r, n);
    else if (r->type == REDIS_REPLY_ARRAY)
        for (i = 0; i < n && i < r->elements; i++)
            applied_packed(s, &e[i], r->element[i]);
    if (r)
        freeReplyObject(r);
    if (got == n)
        s->sent_before = 0;
    s->st->applied += got;
    apr_pool_destroy(p);
    return got;
}

/* On a cluster: each shard's entries of the batch go to the master of its
 * slot as one mql_apply_many call (append_shard_call), every call sent
 * before any reply is read.  All or nothing per shard, because while a
 * slot moves Redis may refuse one call whose keys are split between the
 * two nodes (TRYAGAIN) and apply the next: a later entry of a shard
 * applied before an earlier refused one would make that one a "duplicate"
 * when it is sent again, and lose it; one call per shard cannot be split.
 * MOVED updates the map and ASK sends the call again to the node named,
 * after ASKING; TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN and a missing
 * library leave the shard's entries for a later round; any other refusal
 * drops them, counted, as on a single Redis.  The entries leave the queue
 * up to the first whose shard did not go; those after it of shards that
 * went are sent again later and recognised by Redis as duplicates. */
#define SHARD_IDLE  0
#define SHARD_SEND  1
#define SHARD_DONE  2
#define SHARD_LATER 3
static unsigned send_entries_cluster(mql_redis_sync_t *s, const mql_rq_entry_t *e, unsigned n)
{
    unsigned shard[BATCH_MAX], i, k, got = 0, applied_n = 0;
    int state[MQL_RQ_SHARDS], attempt;
    redisContext *conn[MQL_RQ_SHARDS];
    char ask_host[MQL_RQ_SHARDS][256];
    int ask_port[MQL_RQ_SHARDS];
    char err[160];
    apr_pool_t *p;

    if (n > BATCH_MAX)
        n = BATCH_MAX;
    memset(state, 0, sizeof state);
    memset(ask_port, 0, sizeof ask_port);
    for (i = 0; i < n; i++) {
        shard[i] = mql_redis_shard(e[i].id);
        state[shard[i]] = SHARD_SEND;
    }
    apr_pool_create(&p, s->pool);
    s->st->batches++;
    if (s->sent_before)
        s->st->retries++;
    s->sent_before = 1;
    for (attempt = 0; attempt < REDIRECT_HOPS && s->c; attempt++) {
        int sent_any = 0;

        /* every reply of the last attempt is read: its nodes may go */
        mql_rc_new_round(s->rc);

        for (k = 0; k < MQL_RQ_SHARDS && s->c; k++) {
            unsigned idx[BATCH_MAX], m = 0;
            int fresh;

            if (state[k] != SHARD_SEND)
                continue;
            conn[k] = ask_port[k] ? mql_rc_for_node(s->rc, ask_host[k], ask_port[k], &fresh,
                                                    err, sizeof err)
                      : mql_rc_for_slot(s->rc, s->shard_slot[k], &fresh, err, sizeof err);
            if (!conn[k]) {
                disconnect(s, err);
                break;
            }
            s->c = conn[k];
            if (fresh && !prepare(s))
                break;
            if (ask_port[k])
                append_asking(s);
            for (i = 0; i < n; i++)
                if (shard[i] == k)
                    idx[m++] = i;
            append_shard_call(s, p, e, idx, m, k);
            sent_any = 1;
        }
        if (!s->c || !sent_any)
            break;
        for (k = 0; k < MQL_RQ_SHARDS; k++) {
            redisReply *r = NULL;
            char host[256] = "";
            unsigned slot, m = 0;
            int port = 0, kind = 0, was_ask = ask_port[k] != 0;

            if (state[k] != SHARD_SEND)
                continue;
            s->c = conn[k];
            ask_port[k] = 0;
            for (i = 0; i < n; i++)
                m += shard[i] == k;
            /* ASKING's answer, then the call's */
            if (was_ask) {
                if (!(r = next_reply(s)))
                    goto out;
                freeReplyObject(r);
            }
            if (!(r = next_reply(s)))
                goto out;
            if (r->type == REDIS_REPLY_ARRAY) {
                unsigned j = 0;

                for (i = 0; i < n && j < r->elements; i++)
                    if (shard[i] == k) {
                        applied_packed(s, &e[i], r->element[j++]);
                        applied_n++;
                    }
                state[k] = SHARD_DONE;
            }
            else if (r->type == REDIS_REPLY_ERROR) {
                /* one call is atomic: a refused one applied nothing */
                kind = mql_redis_redirect(r->str, &slot, host, sizeof host, &port);
                if (kind == MQL_RC_MOVED)
                    moved(s, slot, host, port);
                else if (kind == MQL_RC_ASK) {
                    apr_cpystrn(ask_host[k], host, sizeof ask_host[k]);
                    ask_port[k] = port;
                }
                else if (r->str && (strstr(r->str, "Function not found")
                                    || !strncmp(r->str, "TRYAGAIN", 8)
                                    || !strncmp(r->str, "CLUSTERDOWN", 11)
                                    || !strncmp(r->str, "LOADING", 7)
                                    || !strncmp(r->str, "MASTERDOWN", 10))) {
                    /* for a later round (a library reloaded on the next
                     * connection, a slot settled, a node back) */
                    set_error(s, r->str);
                    state[k] = SHARD_LATER;
                    if (strstr(r->str, "Function not found")) {
                        freeReplyObject(r);
                        disconnect(s, "Function not found");
                        goto out;
                    }
                }
                else {
                    refused(s, r, m);
                    state[k] = SHARD_DONE;
                }
            }
            else
                state[k] = SHARD_DONE;
            freeReplyObject(r);
        }
    }
out:
    for (got = 0; got < n && state[shard[got]] == SHARD_DONE; got++)
        ;
    if (got == n)
        s->sent_before = 0;
    s->st->applied += got;
    apr_pool_destroy(p);
    return got;
}

static int send_batch(mql_redis_sync_t *s)
{
    unsigned n = mql_rq_peek(s->q, s->batch, BATCH_MAX), got;
    apr_time_t now;

    if (!n) {
        s->st->lag_ms = 0;
        return 0;
    }
    got = send_entries(s, s->batch, n);
    mql_rq_consume(s->q, got);
    if (got < n)
        return 0;
    now = apr_time_now();
    s->st->last_applied = (uint32_t)apr_time_sec(now);
    s->st->apply_ms_last = (uint32_t)((uint64_t)(now - (apr_time_t)s->batch[0].at_us) / 1000);
    return 1;
}

/* ---- the spill file ------------------------------------------------------------ */

static void spill_error(mql_redis_sync_t *s, const char *what, int err)
{
    if (!s->spill_logged)
        mql_log(MQL_LOG_ERR, "MQL07004: Redis spill file %s: %s (%s); the queue stays in "
                "shared memory only", s->spill_path, what, strerror(err));
    s->spill_logged = 1;
}

/* The file open, checked, positioned; 0 when it cannot be used. */
static int spill_open(mql_redis_sync_t *s)
{
    spill_header_t h;
    struct stat st;

    if (s->spill >= 0)
        return 1;
    if (!s->spill_path)
        return 0;
    s->spill = open(s->spill_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->spill < 0) {
        spill_error(s, "cannot open it", errno);
        return 0;
    }
    if (fstat(s->spill, &st) != 0 || !S_ISREG(st.st_mode)) {
        spill_error(s, "not a regular file", EINVAL);
        close(s->spill);
        s->spill = -1;
        return 0;
    }
    if (st.st_size >= SPILL_START && pread(s->spill, &h, sizeof h, 0) == (ssize_t)sizeof h
        && !memcmp(h.magic, SPILL_MAGIC, 8) && h.entry_size == sizeof(mql_rq_entry_t)) {
        /* whole entries only: a torn last write is left out */
        s->spill_size = SPILL_START + (st.st_size - SPILL_START)
                        / (apr_off_t)sizeof(mql_rq_entry_t) * (apr_off_t)sizeof(mql_rq_entry_t);
    }
    else {
        if (st.st_size > 0) {
            char *aside = apr_psprintf(s->pool, "%s.unreadable-%" APR_TIME_T_FMT,
                                       s->spill_path, apr_time_sec(apr_time_now()));
            mql_log(MQL_LOG_ERR, "MQL07005: Redis spill file %s is not this build's; moved "
                    "to %s", s->spill_path, aside);
            if (rename(s->spill_path, aside) != 0) {
                close(s->spill);
                s->spill = -1;
                return 0;
            }
            close(s->spill);
            s->spill = -1;
            return spill_open(s);
        }
        memset(&h, 0, sizeof h);
        memcpy(h.magic, SPILL_MAGIC, 8);
        h.entry_size = sizeof(mql_rq_entry_t);
        if (pwrite(s->spill, &h, sizeof h, 0) != (ssize_t)sizeof h) {
            spill_error(s, "cannot write it", errno);
            close(s->spill);
            s->spill = -1;
            return 0;
        }
        s->spill_size = SPILL_START;
    }
    s->spill_off = SPILL_START;
    s->st->spill_pending = (uint64_t)(s->spill_size - s->spill_off) / sizeof(mql_rq_entry_t);
    return 1;
}

/* Up to max of the oldest queued entries moved to the file, in order, as
 * many as MQLRedisSpillMax leaves room for; how many.  A full file takes
 * no more until it has all been sent: the queue then fills, and what
 * comes after is refused (counted as spill_dropped), so the changes kept
 * are the oldest, in order, and the disk holds no more than the limit. */
static unsigned spill_out(mql_redis_sync_t *s, unsigned max)
{
    unsigned moved = 0;
    apr_off_t room;

    if (!spill_open(s))
        return 0;
    room = s->spill_max > s->spill_size
           ? (s->spill_max - s->spill_size) / (apr_off_t)sizeof(mql_rq_entry_t) : 0;
    if ((apr_off_t)max > room) {
        max = (unsigned)room;
        s->st->spill_full = 1;
    }
    while (moved < max) {
        unsigned n = mql_rq_peek(s->q, s->batch, max - moved < BATCH_MAX ? max - moved : BATCH_MAX);
        size_t len = n * sizeof(mql_rq_entry_t);

        if (!n)
            break;
        if (pwrite(s->spill, s->batch, len, s->spill_size) != (ssize_t)len
            || fdatasync(s->spill) != 0) {
            spill_error(s, "cannot write it", errno);
            break;
        }
        s->spill_size += (apr_off_t)len;
        mql_rq_consume(s->q, n);
        moved += n;
        s->st->spilled += n;
    }
    s->st->spill_pending = (uint64_t)(s->spill_size - s->spill_off) / sizeof(mql_rq_entry_t);
    s->st->spill_bytes = (uint64_t)s->spill_size;
    if (moved && !s->spill_logged) {
        mql_log(MQL_LOG_WARNING, "MQL07006: Redis is away or slower than the requests and "
                "the queue is filling: %u changes moved to %s, to be sent first", moved,
                s->spill_path);
        s->spill_logged = 1;
    }
    return moved;
}

/* Changes refused since the spill file reached MQLRedisSpillMax: said at
 * most once a minute, with how many since the last time, however many
 * requests find the queue full meanwhile. */
static void spill_drops(mql_redis_sync_t *s)
{
    uint64_t n = s->st->spill_dropped;
    apr_time_t now = apr_time_now();

    if (n == s->drops_said
        || (s->drops_said_at && now - s->drops_said_at < apr_time_from_sec(60)))
        return;
    mql_log(MQL_LOG_ERR, "MQL07202: Redis spill file %s is at MQLRedisSpillMax (%"
            APR_OFF_T_FMT " bytes) and the queue is full: %" APR_UINT64_T_FMT " changes "
            "dropped since %s (%" APR_UINT64_T_FMT " in all)",
            s->spill_path ? s->spill_path : "(none)", s->spill_max, n - s->drops_said,
            s->drops_said_at ? "the last report, a minute ago or more" : "it filled", n);
    s->drops_said = n;
    s->drops_said_at = now;
}

/* The spilled entries go before anything queued: 1 when some went. */
static int send_spilled(mql_redis_sync_t *s)
{
    unsigned n, i, got;
    ssize_t r;

    if (!spill_open(s) || s->spill_off >= s->spill_size)
        return 0;
    n = (unsigned)((s->spill_size - s->spill_off) / (apr_off_t)sizeof(mql_rq_entry_t));
    if (n > BATCH_MAX)
        n = BATCH_MAX;
    r = pread(s->spill, s->batch, n * sizeof(mql_rq_entry_t), s->spill_off);
    if (r != (ssize_t)(n * sizeof(mql_rq_entry_t))) {
        spill_error(s, "cannot read it", r < 0 ? errno : EIO);
        s->spill_off = s->spill_size;
        return 0;
    }
    /* the file is the server's user's: an entry of no known kind is
     * skipped rather than sent */
    for (i = 0; i < n; i++)
        if (!strchr("hscf", s->batch[i].kind) || !s->batch[i].kind)
            s->batch[i].kind = MQL_RQ_FORGET, memset(s->batch[i].id, 0, MQL_ID_BYTES);
    got = send_entries(s, s->batch, n);
    s->spill_off += (apr_off_t)got * (apr_off_t)sizeof(mql_rq_entry_t);
    s->st->unspilled += got;
    if (s->spill_off >= s->spill_size) {
        /* all sent: the file starts again empty */
        if (ftruncate(s->spill, SPILL_START) == 0) {
            s->spill_size = s->spill_off = SPILL_START;
            s->spill_logged = 0;
            s->st->spill_full = 0;
            s->st->spill_bytes = (uint64_t)s->spill_size;
        }
    }
    s->st->spill_pending = (uint64_t)(s->spill_size - s->spill_off) / sizeof(mql_rq_entry_t);
    return got > 0;
}

/* While Redis is away or falls behind: past half the queue, the oldest
 * go to the file until a quarter is left, so requests always find room. */
static void maybe_spill(mql_redis_sync_t *s)
{
    uint32_t len = mql_rq_length(s->q), cap = mql_rq_capacity(s->q);

    if (len > cap / 2)
        spill_out(s, len - cap / 4);
}

/* ---- the fleet's streams ------------------------------------------------------ */

static redisReply *field(redisReply *fv, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && !strcmp(fv->element[i]->str, name))
            return fv->element[i + 1];
    return NULL;
}

/* One stream entry (ID, [field, value, ...]); 's' changes pushed to the
 * notification feed when notify. */
static void take_entry(mql_redis_sync_t *s, redisReply *entry, int notify, unsigned shard)
{
    redisReply *fv, *type, *idf, *old, *t;
    uint8_t id[MQL_ID_BYTES];

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    fv = entry->element[1];
    type = field(fv, "type");
    idf = field(fv, "id");
    if (!type || !idf || type->type != REDIS_REPLY_STRING || idf->type != REDIS_REPLY_STRING
        || !mql_id_from_text(idf->str, idf->len, id))
        return;
    if (type->str[0] == 'f') {
        if (!notify) {
            mql_visitors_forget(s->local, id);
            mql_rq_push_forget(s->q, id);
        }
        return;
    }
    put_pairs(s, fv->element, fv->elements, id);
    if (!notify)
        s->st->fleet_records++;
    if (notify && type->str[0] == 's') {
        mql_change_t c;
        mql_visitor_t v;
        const char *f[MQL_REDIS_PAIRS_MAX];
        size_t l[MQL_REDIS_PAIRS_MAX], i;
        size_t n = fv->elements > MQL_REDIS_PAIRS_MAX ? MQL_REDIS_PAIRS_MAX : fv->elements;

        for (i = 0; i < n; i++)
            f[i] = reply_text(fv->element[i], &l[i]);
        mql_redis_record_from_pairs(f, l, (int)n, id, &v, NULL);
        memset(&c, 0, sizeof c);
        memcpy(c.id, id, MQL_ID_BYTES);
        old = field(fv, "old");
        t = field(fv, "time");
        c.time = t && t->type == REDIS_REPLY_STRING ? (uint32_t)strtoul(t->str, NULL, 10)
                                                     : v.stage_since;
        c.old_stage = old && old->type == REDIS_REPLY_STRING
                      ? (uint8_t)strtoul(old->str, NULL, 10) : 0;
        if (c.old_stage >= MQL_STAGE_COUNT)
            c.old_stage = 0;
        c.new_stage = v.stage;
        c.trigger_event = v.trigger_event;
        c.score = v.score;
        mql_rq_push_change(s->q, &c, shard, entry->element[0]->str);
    }
}


/* Entries of one shard's stream (XREADGROUP, XAUTOCLAIM) taken for
 * MQLNotify, then acknowledged; 0 when the connection went. */
static int take_and_ack(mql_redis_sync_t *s, redisReply *entries, const char *key,
                        unsigned shard)
{
    size_t j, n = 0;

    for (j = 0; j < entries->elements; j++) {
        redisReply *e = entries->element[j];
        const char *ack[4];
        size_t al[4];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        take_entry(s, e, 1, shard);
        /* the stream read on the node a moving slot's key went to: the
         * acknowledgement goes there too, or it would be refused (MOVED)
         * and the notification delivered again after CLAIM_IDLE_MS */
        if (s->asking) {
            append_asking(s);
            n++;
        }
        ack[0] = "XACK";
        ack[1] = key;
        ack[2] = MQL_REDIS_GROUP;
        ack[3] = e->element[0]->str;
        al[0] = 4;
        al[1] = strlen(key);
        al[2] = strlen(MQL_REDIS_GROUP);
        al[3] = e->element[0]->len;
        append(s, 4, ack, al);
        n++;
    }
    for (j = 0; j < n; j++) {
        redisReply *a = next_reply(s);

        if (!a)
            return 0;
        freeReplyObject(a);
    }
    return 1;
}

/* Notifications delivered to a server that went away before it
 * acknowledged them (this one in an earlier life, or another): after
 * CLAIM_IDLE_MS they are taken over, so none is lost; one may be
 * delivered twice, which its stream entry ID lets a reader see. */
#define CLAIM_IDLE_MS "30000"
static void claim_stale(mql_redis_sync_t *s)
{
    unsigned i;

    for (i = 0; i < MQL_RQ_SHARDS && s->c; i++) {
        char key[MQL_REDIS_KEY_LEN];
        const char *argv[8] = { "XAUTOCLAIM", key, MQL_REDIS_GROUP, s->consumer,
                                CLAIM_IDLE_MS, "0-0", "COUNT", "64" };
        size_t lens[8];
        redisReply *r;
        int j;

        mql_redis_key_stream(key, i);
        for (j = 0; j < 8; j++)
            lens[j] = strlen(argv[j]);
        if (!use_shard(s, i) || !(r = command(s, 8, argv, lens)))
            return;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
            && r->element[1]->type == REDIS_REPLY_ARRAY)
            take_and_ack(s, r->element[1], key, i);
        freeReplyObject(r);
    }
}

/* XREAD or XREADGROUP (how: READ_*) of the streams of shards lo .. hi - 1.
 * 1 when it got any. */
static int read_streams_of(mql_redis_sync_t *s, int how, int lo, int hi)
{
    int notify = how != READ_FLEET;
    const char *argv[8 + 2 * MQL_RQ_SHARDS];
    size_t lens[8 + 2 * MQL_RQ_SHARDS];
    char keys[MQL_RQ_SHARDS][MQL_REDIS_KEY_LEN];
    int argc = 0, i, any = 0;
    redisReply *r;
    size_t k, j;

    if (notify) {
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = MQL_REDIS_GROUP;
        argv[argc++] = s->consumer;
    }
    else
        argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = notify ? "64" : "256";
    argv[argc++] = "STREAMS";
    for (i = lo; i < hi; i++) {
        mql_redis_key_stream(keys[i], (unsigned)i);
        argv[argc++] = keys[i];
    }
    for (i = lo; i < hi; i++)
        argv[argc++] = how == READ_NEW ? ">" : how == READ_MINE ? "0"
                       : mql_rq_stream_pos(s->q, (unsigned)i);
    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (!(r = command(s, argc, argv, lens)))
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        set_error(s, r->str);
        if (notify && strstr(r->str, "NOGROUP"))
            /* the streams were deleted (FLUSHALL): made again */
            disconnect(s, r->str);
        freeReplyObject(r);
        return 0;
    }
    for (k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
        redisReply *st = r->element[k], *entries;
        int shard = -1;

        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2)
            continue;
        for (i = lo; i < hi; i++)
            if (st->element[0]->type == REDIS_REPLY_STRING && !strcmp(st->element[0]->str, keys[i]))
                shard = i;
        entries = st->element[1];
        if (shard < 0 || entries->type != REDIS_REPLY_ARRAY)
            continue;
        if (notify) {
            any |= entries->elements > 0;
            if (!take_and_ack(s, entries, keys[shard], (unsigned)shard)) {
                freeReplyObject(r);
                return 0;
            }
            continue;
        }
        for (j = 0; j < entries->elements; j++) {
            redisReply *e = entries->element[j];

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
                || e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            take_entry(s, e, 0, (unsigned)shard);
            any = 1;
            apr_cpystrn(mql_rq_stream_pos(s->q, (unsigned)shard), e->element[0]->str,
                        MQL_RQ_STREAM_ID);
        }
    }
    freeReplyObject(r);
    return any;
}

/* Every shard's stream: on a cluster one read per shard, from the master
 * of its slot (a command's keys must share a slot there); otherwise one
 * read of them all. */
static int read_streams(mql_redis_sync_t *s, int how)
{
    int i, any = 0;

    if (!s->rc)
        return read_streams_of(s, how, 0, MQL_RQ_SHARDS);
    for (i = 0; i < MQL_RQ_SHARDS && use_shard(s, (unsigned)i); i++)
        any |= read_streams_of(s, how, i, i + 1);
    return any;
}

/* ---- the fleet's totals ------------------------------------------------------ */

/* One shard's totals hash (HGETALL's reply: field, value, ...) added to f.
 * A count below zero is taken as none: a lead that Redis held before it
 * kept totals leaves a stage it was never counted in. */
static void add_totals(mql_rq_fleet_t *f, const redisReply *r)
{
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        long long n;

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        n = strtoll(v->str, NULL, 10);
        if (n <= 0)
            continue;
        if (!strcmp(k->str, "visitors"))
            f->visitors += (uint64_t)n;
        else if (!strcmp(k->str, "hits"))
            f->hits += (uint64_t)n;
        else if (!strcmp(k->str, "forgotten"))
            f->forgotten += (uint64_t)n;
        else if (!strncmp(k->str, "stage", 5) && k->str[5] >= '1'
                 && k->str[5] < '0' + MQL_STAGE_COUNT && !k->str[6])
            f->stages[k->str[5] - '0'] += (uint64_t)n;
    }
}

/* Every shard's totals summed into f: one pipelined HGETALL per shard on a
 * single Redis, one HGETALL at the master of each shard's slot on a
 * cluster.  0 when the connection went. */
static int sum_totals(mql_redis_sync_t *s, mql_rq_fleet_t *f)
{
    char keys[MQL_RQ_SHARDS][MQL_REDIS_KEY_LEN];
    const char *argv[2];
    size_t lens[2];
    unsigned i;
    redisReply *r;

    argv[0] = "HGETALL";
    lens[0] = 7;
    for (i = 0; i < MQL_RQ_SHARDS; i++) {
        mql_redis_key_totals(keys[i], i);
        argv[1] = keys[i];
        lens[1] = strlen(keys[i]);
        if (!s->rc)
            append(s, 2, argv, lens);
        else if (!use_shard(s, i) || !(r = command(s, 2, argv, lens)))
            return 0;
        else {
            add_totals(f, r);
            freeReplyObject(r);
        }
    }
    for (i = 0; !s->rc && i < MQL_RQ_SHARDS; i++) {
        if (!(r = next_reply(s)))
            return 0;
        add_totals(f, r);
        freeReplyObject(r);
    }
    return 1;
}

/* This server heard by the fleet (mql_heartbeat, by its queue's origin),
 * and the servers heard lately counted into *servers.  0 when the
 * connection went; a refusal (a library of an earlier version loaded
 * by another server) leaves the count at 0. */
static int heartbeat(mql_redis_sync_t *s, uint32_t *servers)
{
    char key[MQL_REDIS_KEY_LEN];
    const char *argv[5] = { "FCALL", "mql_heartbeat", "1", key, s->consumer };
    size_t lens[5];
    redisReply *r;
    int i;

    mql_redis_key_servers(key);
    for (i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (!use_shard(s, 0) || !(r = command(s, 5, argv, lens)))
        return 0;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        *servers = (uint32_t)r->integer;
    else if (r->type == REDIS_REPLY_ERROR)
        set_error(s, r->str);
    freeReplyObject(r);
    return 1;
}

/* The fleet's totals for the status page, at most every TOTALS_EVERY:
 * reading them is a few commands, and nobody needs them fresher. */
static int read_totals(mql_redis_sync_t *s)
{
    mql_rq_fleet_t f;

    if (apr_time_now() < s->next_totals)
        return 0;
    s->next_totals = apr_time_now() + TOTALS_EVERY;
    memset(&f, 0, sizeof f);
    if (!sum_totals(s, &f) || !heartbeat(s, &f.servers))
        return 0;
    f.read_at = now_secs();
    mql_rq_set_fleet(s->q, &f);
    return 1;
}

int mql_redis_sync_round(mql_redis_sync_t *s)
{
    int did = 0;
    uint32_t len;

    s->st->sync_pid = (uint32_t)getpid();
    spill_drops(s);
    if (s->rc)
        mql_rc_new_round(s->rc);
    if (!s->c) {
        if (apr_time_now() < s->next_attempt || !connect_redis(s)) {
            maybe_spill(s);
            return 0;
        }
    }
    /* the touches the queued hits use, before them */
    push_touches(s);
    if (!s->c) {
        maybe_spill(s);
        return 0;
    }
    /* what was spilled is older than anything queued: it goes first */
    if (s->spill_path && spill_open(s) && s->spill_off < s->spill_size)
        did |= send_spilled(s);
    else
        did |= send_batch(s);
    /* Redis away, or slower than the requests: the queue must keep room */
    maybe_spill(s);
    /* the streams at most every STREAM_EVERY, busy or idle: each read
     * is a command for Redis whether or not anything changed */
    if (s->c && apr_time_now() >= s->next_streams) {
        s->next_streams = apr_time_now() + STREAM_EVERY;
        did |= read_streams(s, READ_FLEET);
        if (s->c && s->notifies)
            did |= read_streams(s, READ_NEW);
    }
    if (s->c && s->notifies && apr_time_now() >= s->next_claim) {
        s->next_claim = apr_time_now() + apr_time_from_sec(10);
        claim_stale(s);
    }
    resolve_touches(s);
    if (s->c)
        read_totals(s);
    len = mql_rq_length(s->q);
    if (len) {
        mql_rq_entry_t first;
        if (mql_rq_peek(s->q, &first, 1))
            s->st->lag_ms = (uint32_t)((uint64_t)(apr_time_now() - (apr_time_t)first.at_us) / 1000);
    }
    return did;
}

void mql_redis_sync_close(mql_redis_sync_t *s)
{
    s->pending = 0;
    if (s->rc) {
        mql_rc_close(s->rc);
        s->c = NULL;
    }
    else if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
}

void mql_redis_sync_stop(mql_redis_sync_t *s, apr_interval_time_t limit)
{
    apr_time_t until = apr_time_now() + limit;
    uint32_t left;

    /* the flag that ended the rounds would cut every wait short now; the
     * limit bounds them instead */
    s->wait.cancel = NULL;
    s->wait.until = until;

    while (s->c && mql_rq_length(s->q) && apr_time_now() < until) {
        /* still this thread's turn: the next generation's waits for it */
        mql_rq_lease(s->q, (uint32_t)getpid(), now_secs(), STOP_LEASE_STALE);
        if (s->spill_path && spill_open(s) && s->spill_off < s->spill_size)
            send_spilled(s);
        else
            send_batch(s);
    }
    spill_drops(s);
    left = mql_rq_length(s->q);
    if (left) {
        unsigned kept;

        s->spill_logged = 1;        /* said below, not as a queue filling up */
        kept = spill_out(s, left);
        if (kept)
            mql_log(MQL_LOG_NOTICE, "MQL07007: %u changes not yet in Redis kept in %s for "
                    "the next start", kept, s->spill_path);
        if (kept < left)
            mql_log(MQL_LOG_WARNING, "MQL07203: %u changes not yet in Redis could not be "
                    "kept in %s (%s): they stay in shared memory only, which a graceful "
                    "restart keeps and a stop loses", left - kept,
                    s->spill_path ? s->spill_path : "no MQLStateDir",
                    s->st->spill_full ? "it is at MQLRedisSpillMax" : "it cannot be written");
    }
    mql_redis_sync_close(s);
    if (s->spill >= 0) {
        close(s->spill);
        s->spill = -1;
    }
}

/* ---- mqlctl forget: the spill file of a stopped server ------------------ */

apr_status_t mql_redis_spill_forget(const char *path, const uint8_t id[MQL_ID_BYTES],
                                    apr_pool_t *p, unsigned *removed, const char **why)
{
    const char *tmp = apr_pstrcat(p, path, ".forget", NULL);
    mql_rq_entry_t *buf = apr_palloc(p, BATCH_MAX * sizeof *buf);
    spill_header_t h;
    struct stat st;
    int in, out = -1;
    ssize_t got;

    *removed = 0;
    *why = NULL;
    in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT)
            return APR_SUCCESS;
        *why = apr_psprintf(p, "cannot open it: %s", strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        *why = "not a regular file";
        return APR_EGENERAL;
    }
    if (pread(in, &h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h.magic, SPILL_MAGIC, 8)
        || h.entry_size != sizeof(mql_rq_entry_t)) {
        close(in);
        return APR_SUCCESS;
    }
    unlink(tmp);
    out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0 || write(out, &h, sizeof h) != (ssize_t)sizeof h
        || lseek(in, SPILL_START, SEEK_SET) != SPILL_START)
        goto fail;
    /* whole entries only, as the sync thread reads them */
    while ((got = read(in, buf, BATCH_MAX * sizeof *buf)) > 0) {
        size_t n = (size_t)got / sizeof *buf, i, keep = 0;

        for (i = 0; i < n; i++) {
            if (!memcmp(buf[i].id, id, MQL_ID_BYTES)) {
                ++*removed;
                continue;
            }
            if (keep != i)
                buf[keep] = buf[i];
            keep++;
        }
        if (keep && write(out, buf, keep * sizeof *buf) != (ssize_t)(keep * sizeof *buf))
            goto fail;
        if ((size_t)got % sizeof *buf)
            break;
    }
    if (got < 0 || fsync(out) != 0)
        goto fail;
    close(in);
    in = -1;
    if (close(out) != 0) {
        out = -1;
        goto fail;
    }
    out = -1;
    if (!*removed) {
        unlink(tmp);
        return APR_SUCCESS;
    }
    if (rename(tmp, path) != 0)
        goto fail;
    return APR_SUCCESS;
fail:
    *why = apr_psprintf(p, "cannot write it anew: %s", strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    unlink(tmp);
    return APR_EGENERAL;
}
