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
 * The Redis store's shared memory (MQLStore redis://): the queue of what
 * this server scored and has not yet seen applied in Redis, the fleet's
 * stage changes waiting for MQLNotify, and the sync thread's counters.
 *
 * The request path appends to the queue under a lock held only for a
 * copy of one entry; the sync thread copies a batch out under the same
 * lock, releases it, talks to Redis, and only then removes what Redis
 * confirmed.  So no process ever waits on the network for this lock, and
 * an entry leaves the queue only once applied: a reply lost with the
 * connection means the same entries go again, and Redis drops the ones
 * it already applied by their sequence numbers (mql_redis.lua).
 *
 *   +---------------------------+
 *   | mql_rq_header_t           |  counters, positions, origin, lease
 *   +---------------------------+
 *   | mql_rq_entry_t [capacity] |  the queue, a ring: [tail, head)
 *   +---------------------------+
 *   | mql_rq_change_t [KEPT]    |  fleet stage changes for MQLNotify
 *   +---------------------------+
 *
 * Positions are 64-bit counters taken modulo the capacity, never
 * pointers, so the segment means the same in every process.
 */
#ifndef MQL_REDIS_QUEUE_H
#define MQL_REDIS_QUEUE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"
#include "mql_delta.h"
#include "mql_visitors.h"

#define MQL_RQ_HIT     'h'
#define MQL_RQ_STAGE   's'
#define MQL_RQ_CONTACT 'c'
#define MQL_RQ_FORGET  'f'

#define MQL_RQ_STREAM_ID 48      /* "1700000000000-12", NUL-terminated */

/* What one request (or mqlctl) asked of the store: a hit as the request
 * path resolved it (the delta every store applies, so Redis applies it
 * exactly as this server's table did), a stage, a contact or a forget. */
typedef struct mql_rq_entry {
    uint64_t origin;             /* the queue that numbered it (set by append) */
    uint64_t seq;                /* its number there, from 1 */
    uint64_t at_us;              /* when queued (apr_time_now), for the lag */
    uint8_t  id[MQL_ID_BYTES];
    uint32_t time;
    uint8_t  kind;               /* MQL_RQ_* */
    uint8_t  stage;              /* MQL_RQ_STAGE: the new stage (| MQL_STAGE_IF_VISITOR) */
    union {
        mql_delta_t hit;         /* MQL_RQ_HIT (its flood NULL: this process's) */
        char contact[MQL_CONTACT_LEN];   /* MQL_RQ_CONTACT */
    };
} mql_rq_entry_t;

/* A fleet stage change for MQLNotify, with its stream and entry ID (an
 * ID is unique within its stream only: each shard has one). */
typedef struct mql_rq_change {
    mql_change_t c;
    uint8_t shard;
    char stream_id[MQL_RQ_STREAM_ID];
} mql_rq_change_t;

/* The fleet's totals as the sync thread last read them from Redis: each
 * shard's counts (mql_redis.lua, the totals hash) summed, and the servers
 * heard from lately.  All zero until the first read. */
typedef struct mql_rq_fleet {
    uint64_t visitors;           /* records created (cumulative) */
    uint64_t hits;               /* hit entries applied (cumulative) */
    uint64_t forgotten;          /* records forgotten (cumulative) */
    uint64_t stages[MQL_STAGE_COUNT];  /* leads at each stage now; [0] unused */
    uint32_t servers;            /* servers heard from within 15 s */
    uint32_t read_at;            /* when read last, 0: never */
} mql_rq_fleet_t;

/* The sync thread's counters and state, for the status page. */
typedef struct mql_rq_stats {
    uint64_t queued;             /* entries appended */
    uint64_t applied;            /* entries confirmed by Redis */
    uint64_t dropped;            /* entries refused: queue and spill full */
    uint64_t spill_dropped;      /* ... of them, while the spill file was at its
                                  * limit (MQLRedisSpillMax) */
    uint64_t spill_bytes;        /* the spill file's size */
    uint32_t spill_full;         /* 1: it is at its limit, until it is sent */
    uint64_t batches;            /* pipelined batches sent */
    uint64_t retries;            /* batches sent again after a failure */
    uint64_t duplicates;         /* entries Redis had applied already */
    uint64_t errors;             /* entries Redis refused (script errors) */
    uint64_t fleet_records;      /* records taken from the fleet's stream */
    uint64_t spilled;            /* entries written to the spill file */
    uint64_t unspilled;          /* entries replayed from it */
    uint64_t spill_pending;      /* entries in the spill file still to send */
    uint32_t connected;          /* 1 while the sync thread has Redis */
    uint32_t since;              /* when connected last changed */
    uint32_t outages;
    uint32_t last_applied;       /* time of the last confirmed batch */
    uint32_t lag_ms;             /* oldest queued entry's age at the last round */
    uint32_t apply_ms_last;      /* request -> applied, the last batch's oldest */
    uint32_t sync_pid;
    char     last_error[128];
    uint32_t last_error_time;
    mql_rq_fleet_t fleet;
} mql_rq_stats_t;

typedef struct mql_rq mql_rq_t;

/* Lock callbacks, as mql_shm_attach takes them. */
typedef void mql_rq_lock_fn(void *baton);

/* Bytes of a segment holding capacity entries. */
apr_size_t mql_rq_size(uint32_t capacity);
/* A new queue in base: empty, with a fresh random origin. */
void mql_rq_format(void *base, uint32_t capacity, uint64_t origin);
/* A view of a formatted segment; NULL when its header does not match. */
mql_rq_t *mql_rq_attach(apr_pool_t *p, void *base, uint32_t capacity, mql_rq_lock_fn *lock,
                        mql_rq_lock_fn *unlock, void *baton);

uint64_t mql_rq_origin(mql_rq_t *q);
uint32_t mql_rq_capacity(mql_rq_t *q);

/* Append e (its seq is set here); APR_ENOSPC when full (counted). */
apr_status_t mql_rq_append(mql_rq_t *q, mql_rq_entry_t *e);
/* Copy up to max of the oldest entries, leaving them queued; how many. */
unsigned mql_rq_peek(mql_rq_t *q, mql_rq_entry_t *out, unsigned max);
/* Remove the n oldest entries (after peek, once Redis has them). */
void mql_rq_consume(mql_rq_t *q, unsigned n);
/* Entries queued now. */
uint32_t mql_rq_length(mql_rq_t *q);

/* The fleet's stage changes: pushed by the sync thread, read as the
 * store's stage-change feed (mql_visitors_stage_changes' contract). */
void mql_rq_push_change(mql_rq_t *q, const mql_change_t *c, unsigned shard,
                        const char *stream_id);
unsigned mql_rq_changes(mql_rq_t *q, uint64_t *seq, mql_change_t *out, unsigned max,
                        uint64_t *lost);
/* Changes pushed so far (the feed's last number). */
uint64_t mql_rq_change_total(mql_rq_t *q);
/* The stream entry ID of change number seq and its shard, or 0 when it
 * is gone. */
int mql_rq_change_stream_id(mql_rq_t *q, uint64_t seq, char *buf, apr_size_t len,
                            unsigned *shard);

/* Visitors forgotten on another server (mqlctl forget there), for this
 * server's writer to take out of its leads files: pushed by the sync
 * thread, popped by the writer (up to max IDs; how many). */
#define MQL_RQ_FORGETS 256
void mql_rq_push_forget(mql_rq_t *q, const uint8_t id[MQL_ID_BYTES]);
unsigned mql_rq_pop_forgets(mql_rq_t *q, uint8_t (*out)[MQL_ID_BYTES], unsigned max);

/* The counters, shared; the sync thread writes them, readers copy. */
mql_rq_stats_t *mql_rq_stats(mql_rq_t *q);
void mql_rq_stats_copy(mql_rq_t *q, mql_rq_stats_t *out);
/* The fleet's totals replaced as one, under the lock: a reader sees one
 * reading's figures, never half of two. */
void mql_rq_set_fleet(mql_rq_t *q, const mql_rq_fleet_t *f);

/* One sync thread per server, across generations: the lease is taken
 * when free, stale (holder silent for stale seconds) or already ours. */
int mql_rq_lease(mql_rq_t *q, uint32_t pid, uint32_t now, uint32_t stale);
void mql_rq_release(mql_rq_t *q, uint32_t pid);

/* The fleet stream positions (one per shard) this server has read. */
char *mql_rq_stream_pos(mql_rq_t *q, unsigned shard);

#define MQL_RQ_SHARDS 16

#endif
