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
 * Publishing the leads DBM file so that readers in other processes
 * (mod_rewrite's RewriteMap, Perl SDBM_File/GDBM_File, Python dbm.gnu,
 * PHP dba, apr_dbm) never see a half-written file and never fail to open
 * it: the live file is never written in place.  Each batch of changes is
 * applied to a fresh copy (PATH.mqlnew...), made durable, and renamed over
 * the live name.  A reader keeps the inode it opened, so it sees either
 * the old file or the new one, whole.
 *
 * SDBM keeps two files (PATH.dir, PATH.pag).  Their renames are two steps,
 * so the copy is built with a pre-split directory (.dir) that stays the
 * same from one batch to the next: a reader that opens one file of the
 * old pair and one of the new pair still finds every key.  Only when a
 * page overflows is the directory doubled (a full rebuild); the .pag is
 * renamed first and the .dir last, so mod_rewrite, which watches the
 * .dir's mtime, never caches an old value under a new mtime.
 *
 * Writers (the server's background writer and mqlctl) serialise on
 * PATH.mqllock (an exclusive flock), held only while a batch is applied.
 */
#ifndef MQL_DBMPUB_H
#define MQL_DBMPUB_H

/*
 * gdbm, not APR's own sdbm: a single file goes live in one rename, so a
 * reader always opens one whole generation.  An sdbm file is two names
 * (.dir, .pag) that a reader opens one after the other, and when the
 * directory deepens no layout serves both generations: a reader that
 * opens the old .dir and the new .pag misses leads (docs/leads.md).
 */
#define MQL_DBM_DEFAULT_TYPE "gdbm"

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_errno.h>
#include <apr_time.h>

typedef struct mql_dbm_change {
    const char *key;
    const char *value;          /* NULL: delete the key */
} mql_dbm_change_t;

typedef struct mql_dbm_pub_stats {
    unsigned written;           /* puts applied */
    unsigned deleted;           /* deletes applied (of keys present) */
    int rebuilt;                /* the file was rebuilt from scratch */
} mql_dbm_pub_stats_t;

/*
 * Apply changes (an array of mql_dbm_change_t; later entries win) to the
 * DBM file at path of APR type (sdbm, gdbm, db, ...) and publish the
 * result.  compact = 1 rebuilds the file from its records, so that no byte
 * of a deleted record stays in it (mqlctl forget).  A missing live file is
 * created.  The new files get the live files' mode and owner (or owner_uid
 * / owner_gid when >= 0 and the caller may chown).  On failure the live
 * file is untouched and *why (may be NULL) says what went wrong.
 */
apr_status_t mql_dbm_publish(const char *path, const char *type,
                             const apr_array_header_t *changes, int compact,
                             long owner_uid, long owner_gid,
                             mql_dbm_pub_stats_t *stats, const char **why, apr_pool_t *p);

/*
 * A publication copies the whole file, so its cost grows with the number
 * of leads.  After one that ended at end, having used cpu of the writer's
 * CPU time and wall of the clock's, the next is due when both
 * MQL_DBM_PUBLISH_CPU_PACE times cpu and MQL_DBM_PUBLISH_WALL_PACE times
 * wall have passed (never more than MQL_DBM_PUBLISH_MAX_WAIT): the writer
 * takes at most a twentieth of a CPU from the requests and keeps the disk
 * busy at most a quarter of the time, however many leads the file holds.
 * CPU time, not the clock, measures the cost to the requests: on a busy
 * machine the clock also counts the time spent waiting for a CPU, and a
 * pace set by it alone would leave new leads out of the file for long.
 */
#define MQL_DBM_PUBLISH_CPU_PACE 19
#define MQL_DBM_PUBLISH_WALL_PACE 3
#define MQL_DBM_PUBLISH_MAX_WAIT apr_time_from_sec(30)

apr_time_t mql_dbm_next_publish(apr_time_t end, apr_time_t cpu, apr_time_t wall);

/*
 * A file of a single-file type at path that holds no record (or is
 * missing) takes the records of an sdbm pair (PATH.dir, PATH.pag, regular
 * files) at the same path: the one an earlier default (sdbm) wrote.
 * APR_ENOENT when there is no such pair or the file holds records; else
 * the records are published into it (*imported: how many) and the pair
 * is left as it is.
 */
apr_status_t mql_dbm_import_sdbm(const char *path, const char *type, unsigned *imported,
                                 const char **why, apr_pool_t *p);

/* Remove leftovers of an interrupted publication (PATH.mqlnew*). */
void mql_dbm_cleanup(const char *path, const char *type, apr_pool_t *p);

#endif
