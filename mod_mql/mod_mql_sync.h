/*
 * The Redis sync thread (mod_mql_sync.c), for MQLStore redis://: the
 * runtime wraps the shared table in the Redis store at post_config, the
 * status page reads the thread's counters.
 */
#ifndef MOD_MQL_SYNC_H
#define MOD_MQL_SYNC_H

#include "httpd.h"
#include "mql_redis_queue.h"

/* After the shared table exists: for MQLStore redis://, the queue's
 * segment (made once, kept across generations) and mql_g->store wrapped
 * in the Redis store.  OK, or an error status. */
int mql_sync_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void mql_register_sync(apr_pool_t *p);

/* The counters of the sync thread; 0 when the store is not Redis. */
int mql_sync_stats(mql_rq_stats_t *out, uint32_t *queued);

#endif
