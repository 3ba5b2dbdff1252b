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
