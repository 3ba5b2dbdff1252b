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
 * The Redis store's table of functions (mql_redis_store.h): reads go to
 * the local cache, changes go to the cache and to the queue.  Nothing
 * here touches the network: the sync thread does.
 */
#include <string.h>
#include "apr_strings.h"
#include "mql_redis_store.h"
#include "mql_redis_proto.h"

typedef struct redis_store {
    mql_visitors_t *local;
    mql_rq_t *q;
} redis_store_t;

static void rs_ref(void *be, const uint8_t id[MQL_ID_BYTES], mql_visitor_ref_t *ref)
{
    mql_visitors_ref(((redis_store_t *)be)->local, id, ref);
}

static void rs_prefetch(void *be, const mql_visitor_ref_t *ref)
{
    mql_visitors_prefetch(((redis_store_t *)be)->local, ref);
}

static int rs_get(void *be, const mql_visitor_ref_t *ref, uint32_t now, mql_visitor_t *out,
                  char *contact)
{
    return mql_visitors_get(((redis_store_t *)be)->local, ref, now, out, contact);
}

/* Scored here at once (the visitor's next request on this server sees
 * it) and queued for Redis, which decides for the fleet.  A full queue
 * loses the event for the fleet, never the request: it is counted.
 * The flood limits on new leads (the delta's flood) are this server's:
 * a promotion they held here, the visitor qualifying in this table but
 * left a visitor, is held in Redis too, so a network over MQLNewLeadLimit
 * makes no lead through any server whose table has its visitor's score. */
static apr_status_t rs_hit(void *be, const mql_visitor_ref_t *ref, const mql_delta_t *d,
                           uint32_t now, mql_hit_result_t *res)
{
    redis_store_t *rs = be;
    mql_rq_entry_t e;
    mql_hit_result_t own;
    apr_status_t rv;

    if (!res)
        res = &own;
    rv = mql_visitors_hit(rs->local, ref, d, now, res);
    memset(&e, 0, sizeof e);
    memcpy(e.id, ref->id, MQL_ID_BYTES);
    e.kind = MQL_RQ_HIT;
    e.time = now;
    e.hit = *d;
    e.hit.flood = NULL;
    if (d->flood && rv == APR_SUCCESS && mql_delta_qualifies(&res->after, d))
        e.hit.hold = 1;
    mql_rq_append(rs->q, &e);
    return rv;
}

static apr_status_t rs_set_contact(void *be, const uint8_t id[MQL_ID_BYTES],
                                   const char *contact, uint32_t now)
{
    redis_store_t *rs = be;
    mql_rq_entry_t e;
    apr_status_t rv = mql_visitors_set_contact(rs->local, id, contact, now);

    memset(&e, 0, sizeof e);
    memcpy(e.id, id, MQL_ID_BYTES);
    e.kind = MQL_RQ_CONTACT;
    e.time = now;
    apr_cpystrn(e.contact, contact ? contact : "", sizeof e.contact);
    mql_rq_append(rs->q, &e);
    return rv;
}

/* mqlctl set: Redis may know the visitor even when this table does not. */
static apr_status_t rs_set_stage(void *be, const uint8_t id[MQL_ID_BYTES], mql_stage_t stage,
                                 uint32_t now)
{
    redis_store_t *rs = be;
    mql_rq_entry_t e;

    apr_status_t rv;

    if (((unsigned)stage & ~MQL_STAGE_IF_VISITOR) >= MQL_STAGE_COUNT)
        return APR_EINVAL;
    /* MQL_STAGE_IF_VISITOR travels with the stage: Redis decides it for
     * the fleet, whatever this table holds */
    rv = mql_visitors_set_stage(rs->local, id, stage, now);
    memset(&e, 0, sizeof e);
    memcpy(e.id, id, MQL_ID_BYTES);
    e.kind = MQL_RQ_STAGE;
    e.stage = (uint8_t)stage;
    e.time = now;
    /* queued whatever this table knows: the answer (ENOENT) is this
     * server's, the change is the fleet's */
    mql_rq_append(rs->q, &e);
    return rv;
}

static apr_status_t rs_forget(void *be, const uint8_t id[MQL_ID_BYTES])
{
    redis_store_t *rs = be;
    mql_rq_entry_t e;
    apr_status_t rv = mql_visitors_forget(rs->local, id);

    memset(&e, 0, sizeof e);
    memcpy(e.id, id, MQL_ID_BYTES);
    e.kind = MQL_RQ_FORGET;
    e.time = (uint32_t)apr_time_sec(apr_time_now());
    mql_rq_append(rs->q, &e);
    return rv;
}

static void rs_walk(void *be, int which, mql_visit_fn *fn, void *baton)
{
    mql_visitors_walk(((redis_store_t *)be)->local, which, fn, baton);
}

static void rs_lead_changes(void *be, uint32_t now, uint32_t min_interval, mql_visit_fn *fn,
                            void *baton)
{
    mql_visitors_lead_changes(((redis_store_t *)be)->local, now, min_interval, fn, baton);
}

/* The fleet's changes (from Redis' streams), not this table's: a
 * promotion scored here first is announced when Redis decides it. */
static unsigned rs_stage_changes(void *be, uint64_t *seq, mql_change_t *out, unsigned max,
                                 uint64_t *lost)
{
    return mql_rq_changes(((redis_store_t *)be)->q, seq, out, max, lost);
}

static void rs_stats(void *be, mql_visitors_stats_t *out)
{
    redis_store_t *rs = be;

    mql_visitors_stats(rs->local, out);
    /* the number of stage changes is the fleet's, as the feed is */
    out->change_seq = mql_rq_change_total(rs->q);
}

static uint32_t rs_capacity(void *be)
{
    return mql_visitors_capacity(((redis_store_t *)be)->local);
}

static uint32_t rs_expire(void *be, uint32_t now)
{
    return mql_visitors_expire(((redis_store_t *)be)->local, now);
}

static apr_status_t rs_put(void *be, const mql_visitor_t *v, const char *contact, int may_evict)
{
    return mql_visitors_put(((redis_store_t *)be)->local, v, contact, may_evict);
}

static const char *rs_validate(void *be, apr_pool_t *p)
{
    return mql_visitors_validate(((redis_store_t *)be)->local, p);
}

static int rs_change_source(void *be, uint64_t seq, char *stream, char *entry)
{
    unsigned shard;

    if (!mql_rq_change_stream_id(((redis_store_t *)be)->q, seq, entry, MQL_SOURCE_LEN, &shard))
        return 0;
    mql_redis_key_stream(stream, shard);
    return 1;
}

static unsigned rs_foreign_forgets(void *be, uint8_t (*ids)[MQL_ID_BYTES], unsigned max)
{
    return mql_rq_pop_forgets(((redis_store_t *)be)->q, ids, max);
}

_Static_assert(MQL_REDIS_KEY_LEN <= MQL_SOURCE_LEN && MQL_RQ_STREAM_ID <= MQL_SOURCE_LEN,
               "a stream's key or entry ID does not fit MQL_SOURCE_LEN");

static const mql_visitors_ops_t redis_ops = {
    .name = "redis",
    .ref = rs_ref,
    .prefetch = rs_prefetch,
    .get = rs_get,
    .hit = rs_hit,
    .set_contact = rs_set_contact,
    .set_stage = rs_set_stage,
    .forget = rs_forget,
    .walk = rs_walk,
    .lead_changes = rs_lead_changes,
    .stage_changes = rs_stage_changes,
    .stats = rs_stats,
    .capacity = rs_capacity,
    .expire = rs_expire,
    .put = rs_put,
    .validate = rs_validate,
    .change_source = rs_change_source,
    .foreign_forgets = rs_foreign_forgets,
};

mql_visitors_t *mql_redis_store_make(apr_pool_t *p, mql_visitors_t *local, mql_rq_t *q)
{
    redis_store_t *rs = apr_pcalloc(p, sizeof *rs);

    rs->local = local;
    rs->q = q;
    return mql_visitors_make(p, &redis_ops, rs);
}

mql_visitors_t *mql_redis_store_local(mql_visitors_t *vs)
{
    return vs && vs->ops == &redis_ops ? ((redis_store_t *)vs->be)->local : NULL;
}

mql_rq_t *mql_redis_store_queue(mql_visitors_t *vs)
{
    return vs && vs->ops == &redis_ops ? ((redis_store_t *)vs->be)->q : NULL;
}
