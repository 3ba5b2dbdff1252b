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
 * The writer's publication job: leads into the DBM file of their site.
 *
 * When a publication is due (mql_round_publish_due) the round collects
 * the dirty leads (urgent ones all, the rest when last written
 * MQL_ROUND_MIN_INTERVAL seconds ago or more) and publishes them to the
 * DBM file of their site by copy and rename (mql_dbmpub.c), so that
 * readers never see a half-written file.  Records whose publication
 * failed wait here, per site, for the next one.
 *
 * A leads file deleted by hand is written again from the table; one that
 * cannot be read any more (damaged by hand or by a disk) is moved aside to
 * PATH.damaged-TIME and rebuilt from the table the same way.
 */
#include <string.h>
#include <time.h>

#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_dbm.h"
#include "apr_hash.h"

#include "mod_mql_jobs.h"
#include "mql_cookie.h"
#include "mql_dbmopen.h"
#include "mql_dbmpub.h"
#include "mql_record.h"

APLOG_USE_MODULE(mql);

/* Per writer process: records whose publication failed, per site. */
typedef struct site_pending {
    apr_pool_t *pool;
    apr_hash_t *recs;              /* ID text -> record, or DELETE_MARK */
    int compact;                   /* a forget: rebuild without traces */
    int missing;                   /* the live file was found deleted */
} site_pending_t;

static const char DELETE_MARK[] = "";
static site_pending_t *pending;    /* mql_g->sites->nelts entries */
static int npending;
static apr_time_t next_publish;    /* mql_dbm_next_publish, for this process */

/* CPU time of the calling thread (the watchdog's), for the DBM pace. */
static apr_time_t thread_cpu_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
        return 0;
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Pending DBM records                                                 */

static site_pending_t *site_pending(int site)
{
    int n = mql_g->sites->nelts, i;

    if (!pending || npending != n) {
        pending = calloc((size_t)n, sizeof *pending);
        if (!pending)
            return NULL;
        npending = n;
        for (i = 0; i < n; i++) {
            apr_pool_create(&pending[i].pool, NULL);
            pending[i].recs = apr_hash_make(pending[i].pool);
        }
    }
    return (site >= 0 && site < n) ? &pending[site] : &pending[0];
}

static void queue_record(int site, const char *id, const char *value)
{
    site_pending_t *sp = site_pending(site);
    const char *was;

    if (!sp)
        return;
    /* a record still waiting may hold what the table let go of since */
    was = apr_hash_get(sp->recs, id, APR_HASH_KEY_STRING);
    if (value && was && was != DELETE_MARK)
        value = mql_record_keep(sp->pool, value, was, strlen(was));
    apr_hash_set(sp->recs, apr_pstrdup(sp->pool, id), APR_HASH_KEY_STRING,
                 value ? apr_pstrdup(sp->pool, value) : DELETE_MARK);
}

/*
 * A lead's record replaces the one its file holds: what that one has and
 * the new one lacks is kept (mql_record_keep).  The table gives a lead's
 * contact up when its small contact area is needed for another lead's
 * and the file holds it; a lead brought back from its file may find no
 * room for its contact at all.  Either way the file's copy is the only
 * one, and writing the record without it would erase the address.
 */
static void keep_file_fields(const mql_site_t *site, site_pending_t *sp, apr_pool_t *p)
{
    apr_hash_index_t *hi;
    apr_dbm_t *db = NULL;
    apr_datum_t key, val;

    for (hi = apr_hash_first(p, sp->recs); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;
        const char *kept;

        apr_hash_this(hi, &k, NULL, &v);
        if (v == DELETE_MARK || mql_record_whole(v))
            continue;
        if (!db && apr_dbm_open_ex(&db, site->dbm_type, site->dbm_file, APR_DBM_READONLY, 0,
                                   p) != APR_SUCCESS)
            return;                 /* none yet (or damaged: rebuilt from the table) */
        key.dptr = (char *)k;
        key.dsize = strlen(k);
        if (apr_dbm_fetch(db, key, &val) != APR_SUCCESS || !val.dptr)
            continue;
        kept = mql_record_keep(p, v, val.dptr, val.dsize);
        if (kept != v)
            apr_hash_set(sp->recs, k, APR_HASH_KEY_STRING, apr_pstrdup(sp->pool, kept));
    }
    if (db)
        apr_dbm_close(db);
}

typedef struct collect_baton {
    apr_pool_t *p;
    uint32_t now;
} collect_baton_t;

static int collect_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    collect_baton_t *b = baton;
    char id[MQL_ID_TEXT_LEN + 1];
    mql_lead_t lead;

    mql_id_to_text(v->id, id);
    if (!MQL_STAGE_IS_LEAD(v->stage)) {
        queue_record(v->site, id, NULL);     /* dropped cheaply when absent */
        return 0;
    }
    mql_lead_from_visitor(&lead, v, contact, b->now, (uint32_t)mql_g->half_life, b->p);
    queue_record(v->site, id, mql_record_encode(b->p, &lead));
    return 0;
}

/* ------------------------------------------------------------------ */
/* A leads file deleted or damaged by hand                             */

typedef struct requeue_baton {
    apr_pool_t *p;
    uint32_t now;
    int site;
    unsigned n;
} requeue_baton_t;

/* Every lead of one site, from the table, into its pending records. */
static int requeue_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    requeue_baton_t *b = baton;
    char id[MQL_ID_TEXT_LEN + 1];
    mql_lead_t lead;
    apr_pool_t *lp;

    if (!MQL_STAGE_IS_LEAD(v->stage)
        || (v->site < mql_g->sites->nelts ? v->site : 0) != b->site)
        return 0;
    apr_pool_create(&lp, b->p);
    mql_id_to_text(v->id, id);
    mql_lead_from_visitor(&lead, v, contact, b->now, (uint32_t)mql_g->half_life, lp);
    queue_record(b->site, id, mql_record_encode(lp, &lead));
    apr_pool_destroy(lp);
    b->n++;
    return 0;
}

static unsigned requeue_site(int site, apr_pool_t *p, uint32_t now)
{
    requeue_baton_t b = { p, now, site, 0 };

    mql_visitors_walk(mql_g->store, MQL_WALK_ALL, requeue_one, &b);
    return b.n;
}

/* The live file's first name (PATH.dir for sdbm, PATH itself for gdbm). */
static const char *live_name(const mql_site_t *site, apr_pool_t *p, const char **second)
{
    const char *f1 = NULL, *f2 = NULL;

    if (apr_dbm_get_usednames_ex(p, site->dbm_type, site->dbm_file, &f1, &f2) != APR_SUCCESS)
        return NULL;
    if (second)
        *second = f2;
    return f1;
}

/* A file deleted while the server runs: every lead goes into it again. */
static void check_missing(apr_pool_t *p, uint32_t now)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    apr_finfo_t fi;
    int i;

    for (i = 0; i < mql_g->sites->nelts; i++) {
        const char *f1 = live_name(&sites[i], p, NULL);
        site_pending_t *sp = site_pending(i);
        apr_status_t rv;

        if (!f1 || !sp)
            continue;
        rv = apr_stat(&fi, f1, APR_FINFO_TYPE, p);
        /* present, or an unreadable directory (the publication's own
         * error says so); once per disappearance */
        if (rv == APR_SUCCESS || !APR_STATUS_IS_ENOENT(rv)) {
            sp->missing = 0;
            continue;
        }
        if (sp->missing)
            continue;
        sp->missing = 1;
        sp->compact = 1;        /* published even when there is no lead */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sites[i].server,
                     "MQL05010: the leads file %s is missing (deleted while the server "
                     "runs?); writing it again with the %u leads of the table",
                     sites[i].dbm_file, requeue_site(i, p, now));
    }
}

/* Whether the live file can be read through and every record decodes. */
static const char *damage_of(const mql_site_t *site, apr_pool_t *p)
{
    apr_dbm_t *db;
    apr_datum_t key, val;
    apr_status_t rv;
    mql_lead_t lead;
    char err[120];

    rv = mql_dbm_open(&db, site->dbm_type, site->dbm_file, APR_DBM_READONLY, 0, p);
    if (rv != APR_SUCCESS)
        return APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_EACCES(rv) ? NULL
               : apr_pstrcat(p, "cannot open it: ", apr_strerror(rv, err, sizeof err), NULL);
    for (rv = apr_dbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
         rv = apr_dbm_nextkey(db, &key)) {
        if (apr_dbm_fetch(db, key, &val) != APR_SUCCESS || !val.dptr
            || !mql_record_decode(p, val.dptr, val.dsize, &lead)) {
            apr_dbm_close(db);
            return "a record does not decode";
        }
    }
    apr_dbm_close(db);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return apr_pstrcat(p, "cannot walk its records: ", apr_strerror(rv, err, sizeof err),
                           NULL);
    return NULL;
}

/* After a failed publication: a damaged file is moved aside (kept for
 * the admin) and the site's leads are queued for a fresh one.  1 when
 * that was the cause. */
static int recover_damaged(int site, apr_pool_t *p, uint32_t now)
{
    const mql_site_t *st = &((const mql_site_t *)mql_g->sites->elts)[site];
    const char *why = damage_of(st, p), *f1, *f2 = NULL, *aside;

    if (!why || !(f1 = live_name(st, p, &f2)))
        return 0;
    aside = apr_psprintf(p, "%s.damaged-%u", st->dbm_file, now);
    if (apr_file_rename(f1, apr_pstrcat(p, aside, f1 + strlen(st->dbm_file), NULL), p)
        != APR_SUCCESS)
        return 0;
    if (f2)
        apr_file_rename(f2, apr_pstrcat(p, aside, f2 + strlen(st->dbm_file), NULL), p);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, st->server,
                 "MQL05011: the leads file %s is damaged (%s); moved aside to %s and "
                 "rebuilt with the %u leads of the table", st->dbm_file, why, aside,
                 requeue_site(site, p, now));
    return 1;
}

/* A site's pending records as a batch for mql_dbm_publish. */
static apr_array_header_t *pending_changes(site_pending_t *sp, apr_pool_t *p)
{
    apr_array_header_t *changes = apr_array_make(p, (int)apr_hash_count(sp->recs) + 1,
                                                 sizeof(mql_dbm_change_t));
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, sp->recs); hi; hi = apr_hash_next(hi)) {
        mql_dbm_change_t *c = apr_array_push(changes);
        const void *k;
        void *v;

        apr_hash_this(hi, &k, NULL, &v);
        c->key = k;
        c->value = v == DELETE_MARK ? NULL : v;
    }
    return changes;
}

/* Publish every site's pending records; 1 when all went through. */
static int publish_all(mql_writer_stats_t *wst, apr_pool_t *p, uint32_t now)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    apr_time_t start = apr_time_now(), cpu_start = thread_cpu_now(), end, cpu;
    int i, ok = 1, tried = 0;
    uint32_t left = 0;

    for (i = 0; i < npending; i++) {
        site_pending_t *sp = &pending[i];
        apr_array_header_t *changes;
        mql_dbm_pub_stats_t st;
        const char *why = NULL;
        apr_status_t rv;

        if (!apr_hash_count(sp->recs) && !sp->compact)
            continue;
        tried = 1;
        keep_file_fields(&sites[i], sp, p);
        changes = pending_changes(sp, p);
        rv = mql_dbm_publish(sites[i].dbm_file, sites[i].dbm_type, changes, sp->compact,
                             -1, -1, &st, &why, p);
        if (rv != APR_SUCCESS && recover_damaged(i, p, now)) {
            /* the pending records now hold every lead: a fresh file */
            changes = pending_changes(sp, p);
            rv = mql_dbm_publish(sites[i].dbm_file, sites[i].dbm_type, changes, sp->compact,
                                 -1, -1, &st, &why, p);
        }
        if (rv != APR_SUCCESS) {
            uint64_t errs = MQL_STAT_ADD(wst, dbm_errors, 1);
            /* the 1st, 2nd, 4th, 8th... failure: no flood while a disk is full */
            if (!(errs & (errs - 1)))
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, sites[i].server,
                             "MQL03010: cannot update the leads file %s (%s); %u records "
                             "kept for a retry (%" APR_UINT64_T_FMT " failures so far)",
                             sites[i].dbm_file, why ? why : "unknown error",
                             apr_hash_count(sp->recs), errs);
            left += apr_hash_count(sp->recs);
            ok = 0;
            continue;
        }
        MQL_STAT_ADD(wst, records_written, st.written);
        MQL_STAT_ADD(wst, records_deleted, st.deleted);
        if (st.written || st.deleted || st.rebuilt) {
            MQL_STAT_ADD(wst, dbm_publishes, 1);
            MQL_STAT_SET(wst, last_publish, now);
        }
        apr_pool_clear(sp->pool);
        sp->recs = apr_hash_make(sp->pool);
        sp->compact = 0;
    }
    MQL_STAT_SET(wst, pending, left);
    if (!tried)
        return ok;
    end = apr_time_now();
    cpu = thread_cpu_now() - cpu_start;
    MQL_STAT_SET(wst, last_publish_ms, (uint32_t)apr_time_as_msec(end - start));
    MQL_STAT_SET(wst, last_publish_cpu_ms, (uint32_t)apr_time_as_msec(cpu));
    next_publish = mql_dbm_next_publish(end, cpu, end - start);
    return ok;
}

void mql_publish_requeue_all(apr_pool_t *p, uint32_t now)
{
    int site;

    for (site = 0; site < mql_g->sites->nelts; site++)
        requeue_site(site, p, now);
}

void mql_publish_check_missing(apr_pool_t *p, uint32_t now)
{
    if (site_pending(0))
        check_missing(p, now);
}

void mql_publish_collect(apr_pool_t *p, uint32_t now, uint32_t min_interval)
{
    collect_baton_t cb = { p, now };

    if (site_pending(0))
        mql_visitors_lead_changes(mql_g->store, now, min_interval, collect_one, &cb);
}

int mql_publish_sites(mql_writer_stats_t *st, apr_pool_t *p, uint32_t now)
{
    return pending ? publish_all(st, p, now) : 0;
}

apr_time_t mql_publish_next(void)
{
    return next_publish;
}

void mql_publish_forget(const char *id_text)
{
    int i;

    for (i = 0; i < mql_g->sites->nelts; i++) {
        site_pending_t *sp = site_pending(i);
        if (sp) {
            apr_hash_set(sp->recs, apr_pstrdup(sp->pool, id_text), APR_HASH_KEY_STRING,
                         DELETE_MARK);
            sp->compact = 1;
        }
    }
}

int mql_publish_queued(int site, const char *id_text, const char **value)
{
    site_pending_t *sp = site_pending(site);
    const char *v = sp ? apr_hash_get(sp->recs, id_text, APR_HASH_KEY_STRING) : NULL;

    if (v == DELETE_MARK)
        return -1;
    *value = v;
    return v != NULL;
}
