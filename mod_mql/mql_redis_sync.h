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
 * The sync engine of MQLStore redis:// (mql_redis_sync.c): one per
 * server, run by one thread (mod_mql_store_redis.c), never in the request path.
 * Each round it
 *   1. connects when it has no connection (at most once per backoff step),
 *      loading the Function library (mql_redis.lua) and the consumer group,
 *   2. sends the oldest queued entries (those spilled to MQLStateDir
 *      first) as one pipelined batch of FCALLs
 *      and writes each authoritative record it gets back into the local
 *      table; the entries leave the queue only once Redis answered,
 *   3. reads the fleet's streams from this server's positions (leads and
 *      forgets from every server, into the local table: the DBM file
 *      follows the fleet),
 *   4. reads the stage changes for MQLNotify through the consumer group,
 *      pushes them to the queue segment's change feed and acknowledges.
 * Every command's whole reply (a pipeline's every reply) is bounded by
 * MQLRedisTimeout, however slowly its bytes come (mql_redis_io.h).  While Redis is away
 * and the queue passes half its size, its oldest entries go to the spill
 * file, in order, so they are sent before anything queued after them; a
 * spill file at MQLRedisSpillMax takes no more, and once the queue is full
 * too the newest changes are refused, counted and logged once a minute.
 */
#ifndef MQL_REDIS_SYNC_H
#define MQL_REDIS_SYNC_H

#include "mql_redis_proto.h"
#include "mql_redis_queue.h"
#include "mql_visitors.h"

typedef struct mql_redis_sync mql_redis_sync_t;

/* MQLRedisSpillMax's default: some 240 000 changes, minutes of a busy
 * site's outage, on any disk */
#define MQL_REDIS_SPILL_DEFAULT ((apr_int64_t)64 << 20)

/* expire: MQLExpire (seconds) for plain visitors in Redis; spill_max:
 * MQLRedisSpillMax, the spill file's size at most; cancel: the
 * thread's stop flag, which ends any wait on Redis within 50 ms, so that
 * a stopping child never waits on the network (NULL: none); spill_path:
 * the file in MQLStateDir the queue overflows to while Redis is away;
 * notifies: this server has MQLNotify, so it takes its share of the
 * fleet's notifications (a server without one leaves them to the others
 * rather than take them and have nowhere to put them). */
mql_redis_sync_t *mql_redis_sync_make(apr_pool_t *p, const mql_redis_url_t *url,
                                      uint32_t timeout_ms, uint32_t expire, mql_rq_t *q,
                                      mql_visitors_t *local, const char *spill_path,
                                      apr_off_t spill_max, int notifies,
                                      const volatile int *cancel);

/* One round; 1 when it did something (another round may follow at once). */
int mql_redis_sync_round(mql_redis_sync_t *s);

/* The connection closed (another generation's thread takes over). */
void mql_redis_sync_close(mql_redis_sync_t *s);

/* The thread stops: what is queued goes to Redis when it can within
 * limit (no wait on Redis goes past it), the rest to the spill file,
 * which the next thread replays. */
void mql_redis_sync_stop(mql_redis_sync_t *s, apr_interval_time_t limit);

/* The spill file's name in MQLStateDir. */
#define MQL_REDIS_SPILL_NAME "redis-spill"

/* mqlctl forget on a stopped server: the entries of visitor id taken out
 * of the spill file at path, which the next start would otherwise send
 * to Redis first and so make the visitor again.  The file is the server's
 * user's: read without following a link or waiting on a FIFO, written
 * anew and renamed.  APR_SUCCESS (no file, or a file of another build,
 * which the server does not replay, is no error) with *removed; why says
 * what failed. */
apr_status_t mql_redis_spill_forget(const char *path, const uint8_t id[MQL_ID_BYTES],
                                    apr_pool_t *p, unsigned *removed, const char **why);

/* The Function library's source; mql_redis_library makes what is loaded
 * into Redis of it. */
extern const char mql_redis_lua[];

#endif
