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
 * The background writer: everything that touches the disk or a pipe on
 * behalf of the visitor table, kept out of the request path.  This file
 * is its scheduler; the jobs are units of their own (mod_mql_jobs.h) and
 * their decisions are in the core (mql_round.c, mql_notify.c, ...).
 *
 * It runs as a mod_watchdog callback in one child (a singleton instance,
 * every WRITER_TICK) and on each round:
 *   1. drains the journal's ring (mod_mql_journal.c),
 *   2. applies control requests that mqlctl left in MQLStateDir/control/
 *      ("set ID STAGE", "forget ID": mod_mql_control.c),
 *   3. puts back leads that came back after they made room in a full
 *      table (mod_mql_restore.c),
 *   4. takes the forgets of the fleet's other servers (MQLStore redis://),
 *   5. drains the table's change ring into MQLNotify, one JSON line per
 *      stage change, without ever blocking on the pipe (the program runs
 *      as the server's user, started by the writer: mod_mql_notify.c),
 *      and every few seconds counts the accounts behind people, announcing
 *      the newly qualified ones there too (mod_mql_accounts.c),
 *      and into the webhooks' outbox, whose attempts it then moves on
 *      without waiting for a receiver (mod_mql_webhook.c),
 *   6. when a publication is due (mql_round_publish_due), collects the
 *      dirty leads and publishes them to the DBM file of their site
 *      (mod_mql_publish.c); once a round has published everything, it
 *      tells the store so (published): only leads whose record is in
 *      their file may make room,
 *   7. every MQL_ROUND_SNAPSHOT_EVERY seconds (and right after a forget)
 *      saves the snapshot and reclaims expired visitors
 *      (mod_mql_snapshot.c),
 *   8. removes the control requests it applied, and rewrites
 *      writer.status (mod_mql_statefiles.c).
 *
 * mod_watchdog's singleton lock belongs to a configuration generation, so
 * during a graceful restart an old and a new child may both run the
 * callback; an owner field in the writer's shared segment lets only one
 * of them work at a time, and the position in the change ring lives there
 * too, so no notification is sent twice.
 *
 * The request path never waits on any of this: it only marks records
 * dirty in the table.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "apr_file_io.h"
#include "apr_optional.h"
#include "http_core.h"
#include "mod_watchdog.h"

#include "mod_mql_accounts.h"
#include "mod_mql_jobs.h"
#include "mod_mql_journal.h"
#include "mod_mql_notify.h"
#include "mod_mql_runtime.h"
#include "mod_mql_webhook.h"
#include "mql_round.h"

APLOG_USE_MODULE(mql);

#define WRITER_NAME     "mql-writer"
/* a stage change reaches MQLNotify within a tick: 100 ms keeps it well
 * under 200 ms with the way through Redis added; an idle round is a few
 * system calls */
#define WRITER_TICK     apr_time_from_msec(100)
#define PERSIST_KEY     "writer"       /* its mql_kept_shm name */
#define FINAL_TRIES     60         /* 3 s for the last round of a stopping child */

/* In shared memory kept across restarts (mql_kept_shm): survives
 * graceful restarts, seen by every child. */
typedef struct writer_shared {
    mql_writer_stats_t st;
    uint64_t notify_seq;           /* next change to notify */
    apr_uint32_t owner;            /* the process working right now (a pid) */
    pid_t last_owner;              /* the process that did the last round */
} writer_shared_t;

static writer_shared_t *wsh;

void mql_writer_stats(mql_writer_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (wsh)
        memcpy(out, &wsh->st, sizeof *out);   /* counters: a torn pair is harmless */
}

/* ------------------------------------------------------------------ */
/* Ownership of a round                                                */

static int take_ownership(void)
{
    apr_uint32_t me = (apr_uint32_t)getpid(), cur;

    cur = apr_atomic_cas32(&wsh->owner, me, 0);
    if (cur == 0 || cur == me)
        return 1;
    /* an owner that died mid-round gives way */
    if (kill((pid_t)cur, 0) != 0 && errno == ESRCH)
        return apr_atomic_cas32(&wsh->owner, me, cur) == cur;
    return 0;
}

static void give_up_ownership(void)
{
    apr_atomic_cas32(&wsh->owner, 0, (apr_uint32_t)getpid());
}

/* ------------------------------------------------------------------ */
/* The round                                                           */

static void writer_round(server_rec *s, apr_pool_t *p, int final)
{
    mql_writer_stats_t *st = &wsh->st;
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    apr_array_header_t *done;
    int forget = 0, due, published, i;

    if (!take_ownership()) {
        int tries = 0;

        /* A child that stops (graceful restart) may hold records it
         * collected but has not written: it waits its turn rather than
         * take them away with it. */
        while (final && tries++ < FINAL_TRIES && !take_ownership())
            apr_sleep(apr_time_from_msec(50));
        if (!final || tries > FINAL_TRIES)
            return;
    }
    MQL_STAT_SET(st, writer_pid, (uint32_t)getpid());
    MQL_STAT_SET(st, last_tick, now);
    /* Another process did the last round (a graceful restart hands the
     * writer from an old child to a new one): records it had collected
     * but not written went with it, so every lead is written again. */
    if (wsh->last_owner && wsh->last_owner != getpid())
        mql_publish_requeue_all(p, now);
    wsh->last_owner = getpid();

    /* the ring first: a forget applied next erases what it brought */
    mql_journal_drain(s, p, now);
    done = mql_controls_apply(s, p, st, &forget);
    mql_restore_returns(st, p, now);
    forget |= mql_fleet_forgets(s);
    mql_notify_changes(s, p, &wsh->notify_seq, st);
    mql_moments_round(s, p, now, st);
    mql_accounts_round(s, p, now, final);
    mql_webhook_round(s, final);

    /* Leads are collected when a publication is due, not before, so a
     * lead that keeps changing while the writer keeps its pace is taken
     * once.  A stopping child and a forget request do not wait. */
    due = mql_round_publish_due(final, forget, apr_time_now(), mql_publish_next());
    mql_publish_check_missing(p, now);
    if (due)
        mql_publish_collect(p, now, mql_round_min_interval(final));
    published = due ? mql_publish_sites(st, p, now) : 0;
    /* everything taken before this round's collection is in its file */
    if (published) {
        mql_visitors_published(mql_g->store, now);
        MQL_STAT_SET(st, published_before, now);
    }

    if (mql_round_snapshot_due(final, forget, now, st->last_snapshot)) {
        mql_snapshot_periodic(s, p, now, st);
        mql_journal_trim(s, now);
    }
    /* a forget request goes once the DBM files and the snapshot lost the ID */
    if (mql_round_controls_done(forget, published))
        for (i = 0; i < done->nelts; i++)
            apr_file_remove(((const char **)done->elts)[i], p);
    /* every round: mqlctl takes a fresh file for a running server */
    mql_statefiles_status(p, now);
    if (final) {
        MQL_STAT_SET(st, writer_pid, 0);
        mql_journal_release();
        mql_notify_release();
    }
    give_up_ownership();
}

static apr_status_t writer_callback(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;

    if (!mql_g || !mql_g->store_ready || !wsh)
        return APR_SUCCESS;
    switch (state) {
    case AP_WATCHDOG_STATE_RUNNING:
        writer_round(s, pool, 0);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        /* the child is going away: everything dirty goes out now */
        writer_round(s, pool, 1);
        break;
    default:
        break;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Set-up in the parent                                                */

static apr_status_t make_shared(server_rec *s)
{
    mql_kept_t *kept;
    apr_status_t rv;
    int fresh;

    if (!(kept = mql_kept_shm(s, PERSIST_KEY, sizeof(writer_shared_t), 0, &fresh, &rv))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL03051: cannot create the writer's shared memory");
        return rv;
    }
    wsh = kept->base;
    return APR_SUCCESS;
}

int mql_writer_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd;
    apr_status_t rv;

    if (make_shared(s) != APR_SUCCESS || mql_notify_setup(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    mql_journal_setup(s);
    mql_webhook_setup(s);
    mql_statefiles_prepare(s, ptemp);

    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "MQL03054: mod_watchdog is not loaded: leads will not reach the DBM "
                     "file and MQLNotify gets nothing");
        return OK;
    }
    rv = get_instance(&wd, WRITER_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS)
        rv = register_callback(wd, WRITER_TICK, s, writer_callback);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL03055: cannot start the background writer");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
