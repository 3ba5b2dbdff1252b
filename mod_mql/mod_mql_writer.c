/*
 * The background writer: everything that touches the disk or a pipe on
 * behalf of the visitor table, kept out of the request path.
 *
 * It runs as a mod_watchdog callback in one child (a singleton instance,
 * every WRITER_TICK) and on each round:
 *   1. applies control requests that mqlctl left in MQLStateDir/control/
 *      ("set ID STAGE", "forget ID"),
 *   2. drains the table's change ring into MQLNotify, one JSON line per
 *      stage change, without ever blocking on the pipe (the program runs
 *      as the server's user, started by the writer: mod_mql_notify.c),
 *   3. when a publication is due (mql_dbm_next_publish), collects the
 *      dirty leads (urgent ones all, the rest when last written
 *      MIN_INTERVAL seconds ago or more) and publishes them to the DBM
 *      file of their site by copy and rename (mql_dbmpub.c), so that
 *      readers never see a half-written file,
 *   4. every SNAPSHOT_EVERY seconds (and right after a forget) saves the
 *      snapshot and reclaims expired visitors.
 * Between 1 and 2 it puts back leads that came back after they made room
 * in a full table: the request path notes a signed visitor the table did
 * not know (mql_returns.h), and the writer looks for it in the records it
 * still has to publish and then in the DBM files; a lead found is merged
 * with what its return earned (the store's restore).  Once a round has
 * published everything, it tells the store so (published): only leads
 * whose record is in their file may make room.
 * A leads file deleted by hand is written again from the table; one that
 * cannot be read any more (damaged by hand or by a disk) is moved aside to
 * PATH.damaged-TIME and rebuilt from the table the same way.
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
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_dbm.h"
#include "apr_hash.h"
#include "apr_portable.h"
#include "apr_optional.h"
#include "ap_mpm.h"
#include "http_core.h"
#include "http_main.h"
#include "mod_watchdog.h"
#include "unixd.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_writer.h"
#include "mod_mql_journal.h"
#include "mod_mql_notify.h"
#include "mql_cookie.h"
#include "mql_dbmopen.h"
#include "mql_dbmpub.h"
#include "mql_json.h"
#include "mql_record.h"
#include "mql_control.h"
#include "mql_returns.h"

APLOG_USE_MODULE(mql);

#define WRITER_NAME     "mql-writer"
/* a stage change reaches MQLNotify within a tick: 100 ms keeps it well
 * under 200 ms with the way through Redis added; an idle round is a few
 * system calls */
#define WRITER_TICK     apr_time_from_msec(100)
#define MIN_INTERVAL    2          /* seconds between routine rewrites of a lead */
#define SNAPSHOT_EVERY  60
#define PERSIST_KEY     "writer"       /* its mql_kept_shm name */
#define CHANGES_BATCH   64
#define NOTIFY_LINE_MAX 4000       /* below PIPE_BUF: one atomic write */
#define NOTIFY_STORY    10         /* events of the lead's story in its line */
#define MAX_CONTROL     256        /* requests per round */
#define RETURNS_BATCH   256        /* returning strangers looked up per round */

/* In an anonymous shared segment made once by the parent: survives
 * graceful restarts, seen by every child. */
typedef struct writer_shared {
    mql_writer_stats_t st;
    uint64_t notify_seq;           /* next change to notify */
    pid_t owner;                   /* the process working right now */
    pid_t last_owner;              /* the process that did the last round */
    uint64_t returns_cursor;       /* next entry of returns to look at */
    mql_returns_t returns;         /* signed visitors the table did not know */
} writer_shared_t;

static writer_shared_t *wsh;
static pid_t parent_pid;           /* httpd's parent: alive while the server runs */

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

#define ADD(field, n) __atomic_add_fetch(&wsh->st.field, (n), __ATOMIC_RELAXED)
#define SET(field, v) __atomic_store_n(&wsh->st.field, (v), __ATOMIC_RELAXED)

void mql_writer_stats(mql_writer_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (wsh)
        memcpy(out, &wsh->st, sizeof *out);   /* counters: a torn pair is harmless */
}

static uint32_t now_secs(void)
{
    return (uint32_t)apr_time_sec(apr_time_now());
}

/* CPU time of the calling thread (the watchdog's), for the DBM pace. */
static apr_time_t thread_cpu_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
        return 0;
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/* Ownership of a round                                                */

static int take_ownership(void)
{
    pid_t me = getpid(), cur = 0;

    if (__atomic_compare_exchange_n(&wsh->owner, &cur, me, 0, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return 1;
    if (cur == me)
        return 1;
    /* an owner that died mid-round gives way */
    if (kill(cur, 0) != 0 && errno == ESRCH)
        return __atomic_compare_exchange_n(&wsh->owner, &cur, me, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED);
    return 0;
}

static void give_up_ownership(void)
{
    pid_t me = getpid();

    __atomic_compare_exchange_n(&wsh->owner, &me, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
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
static void check_missing(server_rec *s, apr_pool_t *p, uint32_t now)
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
static int recover_damaged(server_rec *s, int site, apr_pool_t *p, uint32_t now)
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
static int publish_sites(server_rec *s, apr_pool_t *p, uint32_t now)
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
        if (rv != APR_SUCCESS && recover_damaged(s, i, p, now)) {
            /* the pending records now hold every lead: a fresh file */
            changes = pending_changes(sp, p);
            rv = mql_dbm_publish(sites[i].dbm_file, sites[i].dbm_type, changes, sp->compact,
                                 -1, -1, &st, &why, p);
        }
        if (rv != APR_SUCCESS) {
            uint64_t errs = ADD(dbm_errors, 1);
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
        ADD(records_written, st.written);
        ADD(records_deleted, st.deleted);
        if (st.written || st.deleted || st.rebuilt) {
            ADD(dbm_publishes, 1);
            SET(last_publish, now);
        }
        apr_pool_clear(sp->pool);
        sp->recs = apr_hash_make(sp->pool);
        sp->compact = 0;
    }
    SET(pending, left);
    if (!tried)
        return ok;
    end = apr_time_now();
    cpu = thread_cpu_now() - cpu_start;
    SET(last_publish_ms, (uint32_t)apr_time_as_msec(end - start));
    SET(last_publish_cpu_ms, (uint32_t)apr_time_as_msec(cpu));
    next_publish = mql_dbm_next_publish(end, cpu, end - start);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Leads that made room, back from their files                         */

void mql_writer_note_return(const uint8_t id[MQL_ID_BYTES], int site)
{
    if (wsh)
        mql_returns_push(&wsh->returns, id, (uint32_t)site);
}

/* The DBM files of one round, opened when first needed. */
typedef struct published_files {
    apr_pool_t *p;
    apr_dbm_t **db;                /* per site; NULL until opened */
    char *tried;
} published_files_t;

static void published_files_close(published_files_t *f)
{
    int i;

    for (i = 0; f->db && i < mql_g->sites->nelts; i++)
        if (f->db[i])
            apr_dbm_close(f->db[i]);
}

/* A lead's last published record: what this writer still has to publish
 * first, then the file.  1 and v filled when found, 0 when the site has
 * none, -1 when a forget is on its way (never brought back). */
static int find_published(published_files_t *f, int site, const uint8_t id[MQL_ID_BYTES],
                          const char *id_text, mql_visitor_t *v, const char **contact)
{
    const mql_site_t *st = &((const mql_site_t *)mql_g->sites->elts)[site];
    site_pending_t *sp = site_pending(site);
    const char *value = sp ? apr_hash_get(sp->recs, id_text, APR_HASH_KEY_STRING) : NULL;
    apr_size_t len = value ? strlen(value) : 0;
    mql_lead_t lead;
    apr_datum_t key, val;

    if (value == DELETE_MARK)
        return -1;
    if (!value) {
        if (!f->tried[site]) {
            f->tried[site] = 1;
            if (mql_dbm_open(&f->db[site], st->dbm_type, st->dbm_file, APR_DBM_READONLY, 0,
                             f->p) != APR_SUCCESS)
                f->db[site] = NULL;
        }
        if (!f->db[site])
            return 0;
        key.dptr = (char *)id_text;
        key.dsize = MQL_ID_TEXT_LEN;
        if (apr_dbm_fetch(f->db[site], key, &val) != APR_SUCCESS || !val.dptr)
            return 0;
        value = val.dptr;
        len = val.dsize;
    }
    if (!mql_record_decode(f->p, value, len, &lead) || !MQL_STAGE_IS_LEAD(lead.stage))
        return 0;
    mql_lead_to_visitor(&lead, id, v);
    v->site = (uint8_t)site;
    *contact = lead.contact;
    return 1;
}

/* Put the visitor back from the files, its site's first; APR_ENOENT when
 * none holds it (or a forget is on its way). */
static apr_status_t restore_published(published_files_t *f, const uint8_t id[MQL_ID_BYTES],
                                      int site, uint32_t now)
{
    char id_text[MQL_ID_TEXT_LEN + 1];
    const char *contact = NULL;
    mql_visitor_t v;
    int i, found = 0;

    mql_id_to_text(id, id_text);
    if (site < 0 || site >= mql_g->sites->nelts)
        site = 0;
    found = find_published(f, site, id, id_text, &v, &contact);
    for (i = 0; !found && i < mql_g->sites->nelts; i++)
        if (i != site)
            found = find_published(f, i, id, id_text, &v, &contact);
    if (found <= 0)
        return APR_ENOENT;
    return mql_visitors_restore(mql_g->store, &v, contact, (uint32_t)mql_g->half_life, now);
}

static void restore_returns(apr_pool_t *p, uint32_t now)
{
    mql_return_t batch[RETURNS_BATCH];
    published_files_t f;
    uint64_t lost = 0;
    unsigned n, i;

    n = mql_returns_take(&wsh->returns, &wsh->returns_cursor, batch, RETURNS_BATCH, &lost);
    if (lost)
        ADD(returns_lost, lost);
    if (!n)
        return;
    ADD(returns_seen, n);
    f.p = p;
    f.db = apr_pcalloc(p, sizeof *f.db * (apr_size_t)mql_g->sites->nelts);
    f.tried = apr_pcalloc(p, (apr_size_t)mql_g->sites->nelts);
    for (i = 0; i < n; i++)
        if (restore_published(&f, batch[i].id, (int)batch[i].site, now) == APR_SUCCESS)
            ADD(leads_restored, 1);
    published_files_close(&f);
}

/* ------------------------------------------------------------------ */
/* Notifications                                                       */

/* Every JSON string goes through the core's one writer (mql_json.c):
 * control bytes escaped, so a contact can never start a new line, and
 * any invalid UTF-8 replaced, so each line parses. */
static const char *jstr(apr_pool_t *p, const char *s)
{
    return mql_json_str(p, s ? s : "", 0);
}

static char *change_json(apr_pool_t *p, const mql_change_t *c, uint64_t seq)
{
    char stream[MQL_SOURCE_LEN], stream_id[MQL_SOURCE_LEN];
    char id[MQL_ID_TEXT_LEN + 1], contact[MQL_CONTACT_LEN];
    mql_visitor_t v;
    mql_lead_t lead;
    const char *counts = "", *extra = "", *line;
    int ev, known, n;

    mql_id_to_text(c->id, id);
    known = mql_visitors_get_id(mql_g->store, c->id, now_secs(), &v, contact);
    if (known) {
        mql_lead_from_visitor(&lead, &v, contact, now_secs(), (uint32_t)mql_g->half_life, p);
        for (ev = 0; ev < MQL_EV_COUNT; ev++)
            counts = apr_psprintf(p, "%s%s\"%s\":%u", counts, ev ? "," : "",
                                  mql_record_count_name((mql_event_t)ev), lead.counts[ev]);
        extra = apr_psprintf(p, ",\"counts\":{%s},\"current_score\":%ld,\"trigger\":%s,"
                             "\"contact\":%s,\"country\":%s",
                             counts, lead.score,
                             lead.trigger ? jstr(p, lead.trigger) : "null",
                             lead.contact ? jstr(p, lead.contact) : "null",
                             lead.country[0] ? jstr(p, lead.country) : "null");
    }
    /* a store shared by a fleet (MQLStore redis://): its stream and entry,
     * so that a consumer can drop the duplicate a crash between delivery
     * and acknowledgement may cause (an entry ID is unique within its
     * stream) */
    if (mql_visitors_change_source(mql_g->store, seq, stream, stream_id))
        extra = apr_pstrcat(p, extra, ",\"stream\":", jstr(p, stream), ",\"stream_id\":",
                            jstr(p, stream_id), NULL);
    line = apr_psprintf(p, "{\"type\":\"stage\",\"time\":%u,\"visitor\":%s,"
                        "\"old_stage\":%s,\"stage\":%s,\"score\":%ld,"
                        "\"trigger_event\":%s%s",
                        c->time, jstr(p, id),
                        jstr(p, mql_stage_name((mql_stage_t)c->old_stage)),
                        jstr(p, mql_stage_name((mql_stage_t)c->new_stage)),
                        lround(c->score),
                        c->trigger_event < MQL_EV_COUNT && c->new_stage == MQL_STAGE_MQL
                            ? jstr(p, mql_event_name((mql_event_t)c->trigger_event)) : "null",
                        extra);
    /* the lead's last interactions, for whoever picks it up: as many of
     * the last NOTIFY_STORY as keep the line whole (one atomic write) */
    for (n = NOTIFY_STORY; mql_g->journal && n > 0; n /= 2) {
        const char *story = mql_journal_story_of(p, id, n);

        if (strlen(line) + strlen(story) + 12 <= NOTIFY_LINE_MAX)
            return apr_pstrcat(p, line, ",\"story\":", story, "}\n", NULL);
    }
    return apr_pstrcat(p, line, mql_g->journal ? ",\"story\":[]}\n" : "}\n", NULL);
}

static void drain_changes(server_rec *s, apr_pool_t *p)
{
    mql_change_t ch[CHANGES_BATCH];
    uint64_t seq = wsh->notify_seq, lost = 0, first;
    unsigned n, i;
    int notify = mql_notify_ready(s);

    while ((n = mql_visitors_stage_changes(mql_g->store, &seq, ch, CHANGES_BATCH, &lost)) > 0 || lost) {
        first = seq - n;
        if (lost) {
            ADD(notify_dropped, lost);
            if (notify)
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             "MQL03020: %" APR_UINT64_T_FMT " stage changes came faster "
                             "than the writer and were not notified", lost);
            lost = 0;
        }
        mql_journal_stage_changes(s, ch, n);
        for (i = 0; i < n && notify; i++) {
            apr_pool_t *lp;
            apr_pool_create(&lp, p);
            if (mql_notify_write(change_json(lp, &ch[i], first + i))) {
                ADD(notify_sent, 1);
            }
            else {
                uint64_t d = ADD(notify_dropped, 1);
                if (!(d & (d - 1)))
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 "MQL03021: MQLNotify program is not reading: "
                                 "notification dropped (%" APR_UINT64_T_FMT " so far)", d);
            }
            apr_pool_destroy(lp);
        }
        wsh->notify_seq = seq;
        if (n < CHANGES_BATCH)
            break;
    }
    wsh->notify_seq = seq;
}

/* ------------------------------------------------------------------ */
/* Control requests from mqlctl                                        */

typedef struct control_req {
    const char *file;
    int forget;
} control_req_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The visitor's record goes from every leads file at the next publication. */
static void forget_in_sites(const char *id_text)
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

/* A store shared by a fleet (MQLStore redis://): visitors forgotten on
 * another server (the store let them go already).  1 when any. */
static int fleet_forgets(server_rec *s)
{
    uint8_t ids[64][MQL_ID_BYTES];
    char text[MQL_ID_TEXT_LEN + 1];
    unsigned n, i, any = 0;

    while ((n = mql_visitors_foreign_forgets(mql_g->store, ids, 64)) > 0) {
        for (i = 0; i < n; i++) {
            mql_id_to_text(ids[i], text);
            forget_in_sites(text);
            mql_journal_forget_id(s, text);
        }
        any += n;
    }
    if (any)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03034: %u visitors forgotten on "
                     "another server of the fleet", any);
    return any > 0;
}

/* Apply one request; 1 when done (the file may go), 0 to retry later. */
static int apply_control(server_rec *s, apr_pool_t *p, const char *file, const char *text,
                         int *forget)
{
    mql_control_t req;
    const char *verb;
    apr_status_t rv;

    *forget = 0;
    switch (mql_control_parse(p, text, &req, &verb)) {
    case MQL_CONTROL_MALFORMED:
        ADD(control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MQL03030: control request %s is malformed; removed", file);
        return 1;
    case MQL_CONTROL_UNKNOWN:
        ADD(control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MQL03033: control request %s: unknown command '%s'; removed", file,
                     verb);
        return 1;
    default:
        break;
    }
    if (req.verb == MQL_CONTROL_FORGET) {
        rv = mql_visitors_forget(mql_g->store, req.id);
        forget_in_sites(req.id_text);
        mql_journal_forget_id(s, req.id_text);
        *forget = 1;
        ADD(control_applied, 1);
        /* no ID in the log: the visitor asked to be forgotten */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03031: forgot a visitor on request "
                     "(%s)", rv == APR_SUCCESS ? "was in the table" : "not in the table");
        return 1;
    }
    rv = mql_visitors_set_stage(mql_g->store, req.id, req.stage, now_secs());
    if (rv == APR_ENOENT) {
        /* a lead that made room: back from its file, then decided */
        published_files_t f = { p, apr_pcalloc(p, sizeof(apr_dbm_t *)
                                                  * (apr_size_t)mql_g->sites->nelts),
                                apr_pcalloc(p, (apr_size_t)mql_g->sites->nelts) };

        if (restore_published(&f, req.id, 0, now_secs()) == APR_SUCCESS) {
            ADD(leads_restored, 1);
            rv = mql_visitors_set_stage(mql_g->store, req.id, req.stage, now_secs());
        }
        published_files_close(&f);
    }
    ADD(control_applied, 1);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03032: lead %s set to %s%s", req.id_text,
                 mql_stage_name(req.stage),
                 rv == APR_ENOENT ? " (not in the table: DBM file only)" : "");
    return 1;
}

/* Read and apply the requests; returns the files to remove once the DBM
 * and snapshot reflect them, and whether one was a forget. */
static apr_array_header_t *read_controls(server_rec *s, apr_pool_t *p, int *any_forget)
{
    const char *dir = mql_state_path(p, MQL_CONTROL_DIR);
    apr_array_header_t *names = apr_array_make(p, 8, sizeof(char *));
    apr_array_header_t *done = apr_array_make(p, 8, sizeof(char *));
    apr_dir_t *d;
    apr_finfo_t fi;
    int i;

    *any_forget = 0;
    if (apr_dir_open(&d, dir, p) != APR_SUCCESS)
        return done;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS
           && names->nelts < MAX_CONTROL) {
        if (fi.filetype != APR_REG || !mql_control_is_request(fi.name))
            continue;
        *(const char **)apr_array_push(names) = apr_pstrdup(p, fi.name);
    }
    apr_dir_close(d);
    qsort(names->elts, (size_t)names->nelts, sizeof(char *), cmp_str);
    for (i = 0; i < names->nelts; i++) {
        const char *file = apr_pstrcat(p, dir, "/", ((const char **)names->elts)[i], NULL);
        char buf[256];
        apr_size_t len = sizeof buf - 1;
        apr_file_t *f;
        int forget;

        if (apr_file_open(&f, file, APR_FOPEN_READ, 0, p) != APR_SUCCESS)
            continue;
        apr_file_read_full(f, buf, len, &len);
        apr_file_close(f);
        buf[len] = '\0';
        if (apply_control(s, p, file, buf, &forget))
            *(const char **)apr_array_push(done) = file;
        *any_forget |= forget;
    }
    return done;
}

/* ------------------------------------------------------------------ */
/* Snapshot and status                                                 */

static void save_snapshot(server_rec *s, apr_pool_t *p, uint32_t now)
{
    uint32_t count = 0;
    apr_status_t rv;

    mql_visitors_expire(mql_g->store, now);
    rv = mql_snapshot_save(mql_g->store, mql_state_path(p, MQL_SNAPSHOT_NAME), p, &count);
    if (rv != APR_SUCCESS) {
        ADD(snapshot_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "MQL03040: periodic snapshot %s failed",
                     mql_state_path(p, MQL_SNAPSHOT_NAME));
    }
    else {
        ADD(snapshots, 1);
        SET(last_snapshot_count, count);
    }
    /* also after a failure: retry at the next period, not every round */
    SET(last_snapshot, now);
}

/* MQLStateDir/writer.status: what mqlctl reads to know that a server is
 * applying its requests. */
static void write_status(apr_pool_t *p, uint32_t now, int running)
{
    const char *path = mql_state_path(p, MQL_STATUS_NAME);
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    mql_writer_stats_t st;
    apr_file_t *f;
    const char *text;

    mql_writer_stats(&st);
    {
        const mql_status_counter_t counters[] = {
            { "records_written", st.records_written },
            { "records_deleted", st.records_deleted },
            { "dbm_publishes", st.dbm_publishes },
            { "dbm_errors", st.dbm_errors },
            { "notify_sent", st.notify_sent },
            { "notify_dropped", st.notify_dropped },
            { "control_applied", st.control_applied },
            { "snapshots", st.snapshots },
            { "last_snapshot", st.last_snapshot },
            { "last_publish", st.last_publish },
            { "last_publish_ms", st.last_publish_ms },
            { "last_publish_cpu_ms", st.last_publish_cpu_ms },
            { "pending", st.pending },
            { "leads_restored", st.leads_restored },
            { NULL, 0 }
        };
        text = mql_status_format(p, running, (long)(parent_pid ? parent_pid : getpid()),
                                 (long)getpid(), now, counters);
    }
    apr_file_remove(tmp, p);        /* a new file, never one put in its place */
    if (apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p)
        != APR_SUCCESS)
        return;
    apr_file_puts(text, f);
    apr_file_close(f);
    apr_file_rename(tmp, path, p);
}

/* ------------------------------------------------------------------ */
/* The round                                                           */

#define FINAL_TRIES 60          /* 3 s for the last round of a stopping child */

static void writer_round(server_rec *s, apr_pool_t *p, int final)
{
    uint32_t now = now_secs();
    collect_baton_t cb;
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
    SET(writer_pid, (uint32_t)getpid());
    SET(last_tick, now);
    /* Another process did the last round (a graceful restart hands the
     * writer from an old child to a new one): records it had collected
     * but not written went with it, so every lead is written again. */
    if (wsh->last_owner && wsh->last_owner != getpid()) {
        int site;

        for (site = 0; site < mql_g->sites->nelts; site++)
            requeue_site(site, p, now);
    }
    wsh->last_owner = getpid();

    /* the ring first: a forget applied next erases what it brought */
    mql_journal_drain(s, p, now);
    done = read_controls(s, p, &forget);
    restore_returns(p, now);
    forget |= fleet_forgets(s);
    drain_changes(s, p);

    cb.p = p;
    cb.now = now;
    /* Leads are collected when a publication is due, not before, so a
     * lead that keeps changing while the writer keeps its pace is taken
     * once.  A stopping child and a forget request do not wait. */
    due = final || forget || apr_time_now() >= next_publish;
    if (site_pending(0))
        check_missing(s, p, now);
    if (due && site_pending(0))
        mql_visitors_lead_changes(mql_g->store, now, final ? 0 : MIN_INTERVAL, collect_one, &cb);
    published = due && pending ? publish_sites(s, p, now) : 0;
    /* everything taken before this round's collection is in its file */
    if (published) {
        mql_visitors_published(mql_g->store, now);
        SET(published_before, now);
    }

    if (!final && (forget || now - wsh->st.last_snapshot >= SNAPSHOT_EVERY)) {
        save_snapshot(s, p, now);
        mql_journal_trim(s, now);
    }
    /* a forget request goes once the DBM files and the snapshot lost the ID */
    for (i = 0; i < done->nelts; i++)
        if (published || !forget)
            apr_file_remove(((const char **)done->elts)[i], p);
    /* every round: mqlctl takes a fresh file for a running server */
    write_status(p, now, 1);
    if (final) {
        SET(writer_pid, 0);
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

/* MQLStateDir/sites: each site's name, DBM type and file, so that mqlctl
 * --site NAME reads the file the status page of that name shows.  Written
 * at each start and graceful restart (sites come and go with the
 * configuration); 0640, as the leads files it names. */
static void write_sites(server_rec *s, apr_pool_t *p)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    mql_site_entry_t *e = apr_pcalloc(p, sizeof *e * (apr_size_t)(mql_g->sites->nelts + 1));
    const char *path = mql_state_path(p, MQL_SITES_NAME);
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    const char *text;
    apr_file_t *f;
    apr_status_t rv;
    int i;

    for (i = 0; i < mql_g->sites->nelts; i++) {
        e[i].name = mql_site_name(&sites[i]);
        e[i].type = sites[i].dbm_type;
        e[i].file = sites[i].dbm_file;
    }
    text = mql_sites_format(p, e, mql_g->sites->nelts);
    apr_file_remove(tmp, p);        /* a new file, never one put in its place */
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_puts(text, f);
        if (apr_file_close(f) != APR_SUCCESS && rv == APR_SUCCESS)
            rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, path, p);
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "MQL03056: cannot write %s: mqlctl --site will not find the sites", path);
    }
}

/* As the server's user (mql_as_server_user): the control directory that
 * mqlctl writes requests into, a first writer.status, which tells mqlctl
 * at once that a server runs (the writer's rounds keep it fresh), and the
 * list of sites. */
static apr_status_t prepare_state_files(void *baton, apr_pool_t *p)
{
    server_rec *s = baton;
    const char *control = mql_state_path(p, MQL_CONTROL_DIR);
    apr_status_t rv;

    int fd;
    struct stat st;

    rv = apr_dir_make(control, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE
                      | APR_FPROT_GREAD | APR_FPROT_GWRITE | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv))
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "MQL03053: cannot create %s: mqlctl set/forget will not reach the "
                     "server", control);
    /* the server's group writes requests here, nobody else looks in,
     * whatever the umask made of it */
    fd = open(control, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != 0770)
            (void)!fchmod(fd, 0770);
        close(fd);
    }
    write_status(p, now_secs(), 1);
    write_sites(s, p);
    return APR_SUCCESS;
}

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

    /* a new generation has a new parent only on a full restart */
    parent_pid = getpid();
    mql_as_server_user(s, ptemp, "preparing MQLStateDir/control", MQL_AS_USER_LIMIT,
                       prepare_state_files, s);

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

