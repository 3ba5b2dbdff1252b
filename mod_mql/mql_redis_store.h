/*
 * MQLStore redis://: the visitor store of a fleet of servers sharing one
 * Redis (or Redis Cluster).  This server's shared-memory table stays, as
 * a cache the request path reads and scores into at once; every change is
 * also queued (mql_redis_queue.h) for the sync thread (mod_mql_store_redis.c),
 * which has Redis apply it atomically (mql_redis.lua) and writes the
 * authoritative record back into the table.  The stage-change feed is the
 * fleet's, read from Redis' streams, so MQLNotify hears of each change
 * once across the fleet.
 */
#ifndef MQL_REDIS_STORE_H
#define MQL_REDIS_STORE_H

#include "mql_visitors.h"
#include "mql_redis_queue.h"

/* The store over local (the cache) and q (the queue). */
mql_visitors_t *mql_redis_store_make(apr_pool_t *p, mql_visitors_t *local, mql_rq_t *q);

/* The cache and the queue of a store made above; NULL for another store. */
mql_visitors_t *mql_redis_store_local(mql_visitors_t *vs);
mql_rq_t *mql_redis_store_queue(mql_visitors_t *vs);

#endif
