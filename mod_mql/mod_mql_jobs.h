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
 * The background writer's jobs.  mod_mql_writer.c owns the round and
 * runs them in its order; each job is one unit:
 *
 *   mod_mql_publish.c     leads into the DBM files of their sites, and
 *                         files deleted or damaged by hand written again
 *   mod_mql_restore.c     leads that made room, back from their files
 *                         when they return (mod_mql_returns.c: the ring)
 *   mod_mql_notify.c      stage changes to the MQLNotify program
 *   mod_mql_webhook.c     events to the MQLWebhook receivers, through the
 *                         outbox (mod_mql_webhook.h)
 *   mod_mql_moments.c     leads back after a silence, MQLs past the
 *                         decision SLA: to MQLNotify and the webhooks
 *   mod_mql_control.c     mqlctl's requests, and forgets from the fleet
 *   mod_mql_snapshot.c    the periodic snapshot and expiry
 *   mod_mql_statefiles.c  writer.status, sites and the control directory
 *
 * They run in the one writer process (never in the request path) and
 * count in the writer's counters, which every child shares (st).
 */
#ifndef MOD_MQL_JOBS_H
#define MOD_MQL_JOBS_H

#include "apr_atomic.h"
#include "mod_mql_private.h"
#include "mod_mql_writer.h"
#include "mql_jring.h"

/* Counters, each on its own (the status page reads them without a lock;
 * a torn pair is harmless): the counts 64 bits wide, the times 32. */
static APR_INLINE apr_uint64_t mql_stat_add(volatile apr_uint64_t *counter, apr_uint64_t n)
{
    return apr_atomic_add64(counter, n) + n;
}
#define MQL_STAT_ADD(st, field, n) mql_stat_add(&(st)->field, (n))
#define MQL_STAT_SET(st, field, v) apr_atomic_set32(&(st)->field, (v))

/* mod_mql_publish.c ------------------------------------------------- */

/* Every lead of every site queued again (another process did the last
 * round and took what it had collected with it). */
void mql_publish_requeue_all(apr_pool_t *p, uint32_t now);

/* A leads file found deleted: its site's leads queued for a new one. */
void mql_publish_check_missing(apr_pool_t *p, uint32_t now);

/* The store's changed leads queued (min_interval: mql_round_min_interval). */
void mql_publish_collect(apr_pool_t *p, uint32_t now, uint32_t min_interval);

/* Every site's queued records published; 1 when all went through (and
 * there was anything to try). */
int mql_publish_sites(mql_writer_stats_t *st, apr_pool_t *p, uint32_t now);

/* When the next publication is due (mql_dbm_next_publish). */
apr_time_t mql_publish_next(void);

/* The visitor's record goes from every leads file at the next publication. */
void mql_publish_forget(const char *id_text);

/* What this writer still has to publish for a lead of a site: 1 and
 * *value, 0 when nothing, -1 when a forget is on its way. */
int mql_publish_queued(int site, const char *id_text, const char **value);

/* mod_mql_restore.c ------------------------------------------------- */

/* Returning strangers the request path noted (mod_mql_returns.c), looked
 * up in the records to publish and the DBM files, put back when found. */
void mql_restore_returns(mql_writer_stats_t *st, apr_pool_t *p, uint32_t now);

/* One lead put back from its file (any site's); APR_ENOENT when none
 * holds it or a forget is on its way. */
apr_status_t mql_restore_lead(apr_pool_t *p, const uint8_t id[MQL_ID_BYTES], uint32_t now);

/* mod_mql_notify.c (the program itself: mod_mql_notify.h) ------------ */

/* The store's stage changes from *seq on: into the journal, and one line
 * each to MQLNotify; *seq advanced past them. */
void mql_notify_changes(server_rec *s, apr_pool_t *p, uint64_t *seq, mql_writer_stats_t *st);

/* mod_mql_moments.c ------------------------------------------------- */

/* Parent, check_config (configtest too): MQLActiveAfter and
 * MQLDecisionSLA need the journal; an error when it is off. */
apr_status_t mql_moments_check(server_rec *s);

/* The journal's drain: an event flagged MQL_JF_ACTIVE, kept for the
 * round. */
void mql_moments_note_active(const mql_jevent_t *ev);

/* The round's moments: the returns noted, and MQLs past MQLDecisionSLA
 * (looked for once a second), to MQLNotify and the webhooks' outbox. */
void mql_moments_round(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st);

/* mod_mql_control.c ------------------------------------------------- */

/* Read and apply the requests in MQLStateDir/control; the files to remove
 * once the DBM files and snapshot reflect them, and whether one was a
 * forget. */
apr_array_header_t *mql_controls_apply(server_rec *s, apr_pool_t *p, mql_writer_stats_t *st,
                                      int *any_forget);

/* MQLStore redis://: visitors forgotten on another server of the fleet;
 * 1 when any. */
int mql_fleet_forgets(server_rec *s);

/* mod_mql_snapshot.c ------------------------------------------------ */

/* Expired visitors reclaimed and the snapshot saved. */
void mql_snapshot_periodic(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st);

/* mod_mql_statefiles.c ---------------------------------------------- */

/* Parent, post_config, as the server's user: the control directory, a
 * first writer.status and the sites file. */
void mql_statefiles_prepare(server_rec *s, apr_pool_t *ptemp);

/* MQLStateDir/writer.status, every round. */
void mql_statefiles_status(apr_pool_t *p, uint32_t now);

#endif
