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
 * The background writer (mod_mql_writer.c and its jobs, mod_mql_jobs.h):
 * DBM files, notifications, control requests from mqlctl, periodic
 * snapshots and expiry.  Only the module record (to start it), the
 * status page (to show its counters) and its jobs reach it, so its
 * declarations are here rather than in mod_mql_private.h.
 */
#ifndef MOD_MQL_WRITER_H
#define MOD_MQL_WRITER_H

#include <stdint.h>

#include "httpd.h"

/* Its step of the module's start (mod_mql.c's subsystems): its shared
 * memory, MQLNotify, the journal, MQLStateDir's files, the watchdog. */
int mql_writer_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s);

/* What the background writer has done, for the status page: shared by
 * every child (the writer runs in one of them).  Times are Unix seconds,
 * 0 = never. */
typedef struct mql_writer_stats {
    uint64_t records_written;       /* lead records put into DBM files */
    uint64_t records_deleted;       /* records removed (forget, demotion) */
    uint64_t dbm_publishes;         /* batches published (copy and rename) */
    uint64_t dbm_errors;            /* batches that failed (kept for retry) */
    uint64_t notify_sent;           /* JSON lines written to MQLNotify */
    uint64_t notify_dropped;        /* lines dropped: pipe full or ring overrun */
    uint64_t control_applied;       /* mqlctl requests applied */
    uint64_t control_errors;        /* mqlctl requests refused */
    uint64_t snapshots;             /* periodic snapshots written */
    uint64_t snapshot_errors;
    uint32_t last_snapshot;         /* time of the last periodic snapshot */
    uint32_t last_snapshot_count;   /* visitors in it */
    uint32_t last_publish;          /* time of the last DBM publication */
    uint32_t last_publish_ms;       /* how long it took, by the clock */
    uint32_t last_publish_cpu_ms;   /* ... and in the writer's CPU time */
    uint32_t last_tick;             /* the writer's last round */
    uint32_t writer_pid;            /* the child running the writer, 0 = none */
    uint32_t pending;               /* records waiting for a retry */
    uint64_t returns_seen;          /* signed visitors the table did not know */
    uint64_t returns_lost;          /* ... noted faster than the writer looked */
    uint64_t leads_restored;        /* leads put back from their DBM files */
    uint32_t published_before;      /* leads taken before this time are in
                                       their files (the store was told) */
} mql_writer_stats_t;

/* A copy of the writer's counters (zeros before the writer started). */
void mql_writer_stats(mql_writer_stats_t *out);

#endif
