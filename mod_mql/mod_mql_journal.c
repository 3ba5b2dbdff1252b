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
 * The journal's glue: the request path copies each scored request into a
 * ring in anonymous shared memory (mql_jring.c); the background writer
 * drains it every round into MQLStateDir/journal.sqlite (mql_journal.c)
 * in one transaction, adds the funnel's day counters and the leads'
 * verdicts from the stage-change feed, and trims it with the snapshot.
 * The request path never touches the database, a lock or the disk.
 */
#include <string.h>
#include <sys/stat.h>

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_shm.h"
#include "http_core.h"

#include "mod_mql_jobs.h"
#include "mod_mql_journal.h"
#include "mod_mql_runtime.h"
#include "mql_cookie.h"
#include "mql_jring.h"
#include "mql_knockout.h"
#include "mql_manual.h"
#include "mql_jtouch.h"
#include "mql_touch.h"
#include "mql_moments.h"

APLOG_USE_MODULE(mql);

#define RING_SIZE   8192             /* events: 1.5 MB, some seconds at full load */
#define RING_NAME   "journal-ring"
#define DRAIN_BATCH 256
#define DRAIN_MAX   (4 * RING_SIZE)  /* per round, so a round stays short */

/* Beside the ring in its segment: what the writer did, for every child. */
typedef struct journal_shared {
    uint64_t written;
    uint64_t shed;                   /* over MQLJournal rate=: counted, not kept */
    uint64_t errors;
    int64_t bytes;
} journal_shared_t;

static mql_jring_t ring;              /* ring.h NULL: no journal */
static journal_shared_t *jsh;
static mql_journal_t *jdb;            /* the writer's open database */
static apr_pool_t *jpool;

apr_status_t mql_journal_setup(server_rec *s)
{
    size_t bytes = mql_jring_bytes(RING_SIZE) + sizeof(journal_shared_t);
    mql_kept_t *kept;
    void *mem;
    apr_status_t rv;
    int fresh;

    ring.h = NULL;
    jsh = NULL;
    if (!mql_g->journal)
        return APR_SUCCESS;
    if (!(kept = mql_kept_shm(s, RING_NAME, bytes, 0, &fresh, &rv))) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "MQL03101: cannot create the journal's "
                     "shared memory: leads' stories are not kept");
        return rv;
    }
    mem = kept->base;
    if (fresh)
        mql_jring_init(&ring, mem, RING_SIZE);
    /* the parent never reads the ring: only children write and the
     * writer, a child, reads it */
    mql_jring_attach(&ring, mem, RING_SIZE);
    jsh = (journal_shared_t *)((char *)mem + mql_jring_bytes(RING_SIZE));
    return APR_SUCCESS;
}

static void copy_bounded(char *dst, const char *src, size_t size)
{
    size_t i = 0;

    if (src)
        for (; i < size - 1 && src[i]; i++)
            dst[i] = src[i];
    dst[i] = '\0';
}

static void capture(const mql_hit_t *hit, const mql_hit_result_t *res, uint32_t now,
                    uint32_t prev_seen, int nrules, unsigned knockout, unsigned index);

void mql_journal_capture(const mql_hit_t *hit, const mql_hit_result_t *res, uint32_t now,
                         uint32_t prev_seen, int nrules)
{
    capture(hit, res, now, prev_seen, nrules, 0, 0);
}

void mql_journal_capture_knockout(const mql_hit_t *hit, const mql_hit_result_t *res,
                                  uint32_t now, uint32_t prev_seen, int nrules, unsigned flag,
                                  unsigned index)
{
    capture(hit, res, now, prev_seen, nrules,
            flag & (MQL_JF_KNOCKOUT_RULE | MQL_JF_KNOCKOUT_DOMAIN), index);
}

static void capture(const mql_hit_t *hit, const mql_hit_result_t *res, uint32_t now,
                    uint32_t prev_seen, int nrules, unsigned knockout, unsigned index)
{
    mql_jevent_t ev;
    int i;

    if (!ring.h)
        return;
    ev.time = now;
    memcpy(ev.id, res->after.id, MQL_ID_BYTES);
    ev.events = (uint16_t)hit->events;
    ev.rule = MQL_JRULE_NONE;
    ev.rules = 0;
    /* the first rule that matched names the event's rule; the first 32
     * are kept as a mask too */
    if (hit->rule_matched)
        for (i = 0; i < nrules && i < MQL_JRULE_NONE; i++)
            if (hit->rule_matched[i]) {
                if (ev.rule == MQL_JRULE_NONE)
                    ev.rule = (uint16_t)i;
                if (i < 32)
                    ev.rules |= 1u << i;
                else
                    break;
            }
    ev.site = (uint8_t)hit->site;
    ev.flags = (uint8_t)((res->found ? 0 : MQL_JF_NEW)
                         | (!res->found || prev_seen / 86400 != now / 86400 ? MQL_JF_FIRST_DAY
                                                                            : 0)
                         | (mql_moments_is_active(res, prev_seen, now, mql_g->active_after)
                            ? MQL_JF_ACTIVE : 0)
                         | knockout);
    /* the story names what rejected the visitor, not the first rule */
    if (knockout)
        ev.rule = (uint16_t)(index < MQL_JRULE_NONE ? index : MQL_JRULE_NONE);
    ev.stage = res->after.stage;
    ev.reserved = 0;
    ev.points = (float)res->points;
    ev.score = (float)res->after.score;
    ev.country[0] = res->after.country[0];
    ev.country[1] = res->after.country[1];
    memcpy(ev.touch, res->after.first_touch, sizeof ev.touch);
    copy_bounded(ev.path, hit->path, sizeof ev.path);
    mql_jring_referer_host(hit->referer, ev.host);
    mql_jring_put(&ring, &ev);
}

/* ------------------------------------------------------------------ */
/* The writer's side                                                   */

static const char *journal_path(apr_pool_t *p)
{
    return mql_state_path(p, MQL_JOURNAL_NAME);
}

/* Open on first use in the writer's process, kept open across rounds. */
static mql_journal_t *writer_db(server_rec *s)
{
    const char *err = NULL, *path;
    static apr_time_t retry_at;
    apr_status_t rv;

    if (jdb)
        return jdb;
    if (!ring.h || apr_time_now() < retry_at)
        return NULL;
    if (!jpool)
        apr_pool_create(&jpool, NULL);
    path = journal_path(jpool);
    rv = mql_journal_open(&jdb, path, 0, jpool, &err);
    if (rv == APR_EMISMATCH) {
        /* damaged (by hand, by a disk): kept aside for a look, and a new
         * journal started, as a damaged leads file is */
        const char *aside = apr_psprintf(jpool, "%s.damaged-%" APR_TIME_T_FMT, path,
                                         apr_time_sec(apr_time_now()));

        if (apr_file_rename(path, aside, jpool) == APR_SUCCESS) {
            apr_file_remove(apr_pstrcat(jpool, path, "-wal", NULL), jpool);
            apr_file_remove(apr_pstrcat(jpool, path, "-shm", NULL), jpool);
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL03107: the journal %s is damaged "
                         "(%s); moved aside to %s and started again", path, err, aside);
            rv = mql_journal_open(&jdb, path, 0, jpool, &err);
        }
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL03102: cannot open the journal %s: %s; "
                     "stories and the funnel wait", path, err);
        retry_at = apr_time_now() + apr_time_from_sec(60);
        jdb = NULL;
        return NULL;
    }
    return jdb;
}

void mql_journal_release(void)
{
    if (jdb)
        mql_journal_close(jdb);
    jdb = NULL;
}

static mql_srv_conf_t *site_conf(int site)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;

    if (site < 0 || site >= mql_g->sites->nelts || !sites[site].server)
        return NULL;
    return ap_get_module_config(sites[site].server->module_config, &mql_module);
}

/* "download ^/whitepapers/ +40": what sales reads as the rule */
static const char *rule_label(apr_pool_t *p, int site, unsigned rule)
{
    mql_srv_conf_t *sc = site_conf(site);
    const mql_rule_t *r;

    if (rule == MQL_JRULE_NONE || !sc || (int)rule >= sc->scoring.nrules)
        return NULL;
    r = &sc->scoring.rules[rule];
    return mql_rule_label(p, r);
}

/* "disqualified (contact-domain competitor.example)": what rejected the
 * visitor, by the configuration this process runs */
static const char *knockout_label(apr_pool_t *p, int site, unsigned flags, unsigned index)
{
    mql_srv_conf_t *sc = site_conf(site);
    const mql_rule_t *r;

    if ((flags & MQL_JF_KNOCKOUT_DOMAIN) && sc && sc->disqualify_domains
        && (int)index < sc->disqualify_domains->nelts)
        return mql_knockout_reason(p, "contact-domain",
                                   ((const char **)sc->disqualify_domains->elts)[index]);
    if ((flags & MQL_JF_KNOCKOUT_RULE) && sc && (int)index < sc->scoring.nrules) {
        r = &sc->scoring.rules[index];
        return mql_knockout_reason(p, "rule",
                                   apr_psprintf(p, "%s %s", mql_event_name((mql_event_t)r->event),
                                                r->pattern ? r->pattern : "*"));
    }
    /* the configuration changed since: the reason stays, its detail not */
    return MQL_KNOCKOUT_REASON;
}

/* "view,campaign": made once per combination, for the writer's life */
static const char *event_names(unsigned events)
{
    static const char *made[1u << MQL_EV_COUNT];
    const char *out = NULL;
    int ev;

    events &= (1u << MQL_EV_COUNT) - 1;
    if (made[events])
        return made[events];
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        if (events & MQL_EV_BIT(ev))
            out = out ? apr_pstrcat(jpool, out, ",", mql_event_name((mql_event_t)ev), NULL)
                      : mql_event_name((mql_event_t)ev);
    return made[events] = out ? out : "";
}

/* The same label for the same rule, made once (a rule is a rule of the
 * configuration this process runs) */
static const char *rule_label_cached(int site, unsigned rule)
{
    static apr_hash_t *labels;
    unsigned key = (unsigned)site << 16 | rule;
    const char *label;

    if (rule == MQL_JRULE_NONE)
        return NULL;
    if (!labels)
        labels = apr_hash_make(jpool);
    label = apr_hash_get(labels, &key, sizeof key);
    if (!label) {
        unsigned *k = apr_pmemdup(jpool, &key, sizeof key);
        /* a rule gone from the configuration since (a graceful restart
         * between the request and the drain) has no label */
        if (!(label = rule_label(jpool, site, rule)))
            label = "";
        apr_hash_set(labels, k, sizeof *k, label);
    }
    return *label ? label : NULL;
}

/* The writer's budget of events a second (MQLJournal rate=N): beyond it,
 * a plain visitor's event is counted in the funnel but not kept, so a
 * flood of requests costs the writer no more than that; a lead's events
 * are always kept. */
static int within_budget(void)
{
    static double tokens;
    static apr_time_t last;
    apr_time_t now = apr_time_now();
    double rate = (double)mql_g->journal_rate;

    if (!rate)
        return 1;
    tokens = last ? tokens + rate * (double)(now - last) / APR_USEC_PER_SEC : rate;
    last = now;
    if (tokens > rate)
        tokens = rate;          /* at most a second's worth at once */
    if (tokens < 1)
        return 0;
    tokens -= 1;
    return 1;
}

static void flush_days(mql_journal_t *db, uint32_t day, uint32_t add[MQL_DAY_FIELDS])
{
    int f, any = 0;

    for (f = 0; f < MQL_DAY_FIELDS; f++)
        any |= add[f] != 0;
    if (any)
        mql_journal_count_day(db, day, add);
    memset(add, 0, sizeof(uint32_t) * MQL_DAY_FIELDS);
}

/* The strings of a first touch ID (MQL_TOUCH_ID_LEN - 1 bytes, maybe
 * without NUL) into t; NULL when the dictionary has none of it (or it is
 * empty: a visitor of a build before attribution): "other". */
static const mql_touch_t *first_touch_of(const char *id7, mql_touch_t *t)
{
    char id[MQL_TOUCH_ID_LEN];

    memcpy(id, id7, MQL_TOUCH_ID_LEN - 1);
    id[MQL_TOUCH_ID_LEN - 1] = '\0';
    return id[0] && mql_touch_dict_get(mql_touch_dict_current(), id, t) ? t : NULL;
}

mql_journal_t *mql_journal_writer(server_rec *s)
{
    return ring.h ? writer_db(s) : NULL;
}

void mql_journal_drain(server_rec *s, apr_pool_t *p, uint32_t now)
{
    mql_jtouch_batch_t *touches = mql_jtouch_batch_make(p);
    mql_touch_t t;
    static mql_jevent_t batch[DRAIN_BATCH];
    mql_journal_t *db;
    uint32_t add[MQL_DAY_FIELDS] = { 0 }, day = 0;
    unsigned n, i, total = 0;

    if (!ring.h || !(db = writer_db(s)))
        return;
    if (ring.h->head == ring.h->tail)
        return;
    if (mql_journal_begin(db) != APR_SUCCESS) {
        /* a reader holds it (rare, short): next round */
        return;
    }
    while (total < DRAIN_MAX && (n = mql_jring_take(&ring, batch, DRAIN_BATCH,
                                                     (uint64_t)(apr_time_now() / 1000))) > 0) {
        for (i = 0; i < n; i++) {
            mql_jevent_t *ev = &batch[i];
            char id[MQL_ID_TEXT_LEN + 1];
            mql_story_event_t e;
            int lead = ev->stage != MQL_STAGE_VISITOR;

            if (ev->flags & MQL_JF_ACTIVE)
                mql_moments_note_active(ev);

            if (lead || within_budget()) {
                /* the copy's strings end in the copy, whatever a child wrote */
                ev->path[sizeof ev->path - 1] = '\0';
                ev->host[sizeof ev->host - 1] = '\0';
                mql_id_to_text(ev->id, id);
                e.visitor = id;
                e.time = ev->time;
                e.event = event_names(ev->events);
                e.path = ev->path;
                e.referer_host = ev->host;
                e.points = ev->points;
                e.score = ev->score;
                if (!(ev->flags & (MQL_JF_KNOCKOUT_RULE | MQL_JF_KNOCKOUT_DOMAIN)))
                    e.rule = rule_label_cached(ev->site, ev->rule);
                else {
                    /* rule names a knock-out's rule or domain here */
                    e.rule = knockout_label(p, ev->site, ev->flags, ev->rule);
                    if (!ev->events)
                        e.event = "contact";    /* the contact alone rejected it */
                    mql_journal_reason(db, id, ev->time, e.rule);
                }
                if (mql_journal_add_event(db, &e) == APR_SUCCESS)
                    apr_atomic_inc64(&jsh->written);
                else
                    apr_atomic_inc64(&jsh->errors);
            }
            else
                apr_atomic_inc64(&jsh->shed);
            if (ev->time / 86400 != day) {
                flush_days(db, day, add);
                day = ev->time / 86400;
            }
            if (ev->flags & MQL_JF_NEW) {
                add[MQL_DAY_NEW]++;
                mql_jtouch_count(touches, ev->time / 86400, first_touch_of(ev->touch, &t),
                                 MQL_DAY_NEW);
            }
            if (ev->flags & MQL_JF_FIRST_DAY)
                add[MQL_DAY_SCORED]++;
        }
        total += n;
        if (n < DRAIN_BATCH)
            break;
    }
    flush_days(db, day, add);
    mql_jtouch_flush(db, touches, now);
    if (mql_journal_commit(db) != APR_SUCCESS) {
        uint64_t e = apr_atomic_add64(&jsh->errors, total) + total;
        if (!(e & (e - 1)))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL03103: journal write failed "
                         "(%s): %u events lost", mql_journal_error(db), total);
    }
}

/* One change's rows, inside the caller's transaction. */
static void record_stage_change(mql_journal_t *db, const mql_change_t *c,
                                mql_jtouch_batch_t *touches)
{
    uint32_t add[MQL_DAY_FIELDS] = { 0 };
    char id[MQL_ID_TEXT_LEN + 1], contact[MQL_CONTACT_LEN];
    mql_visitor_t v;
    mql_touch_t t;
    int known, f;

    /* a plain visitor rejected (a knock-out) was never an MQL: no verdict
     * of sales for the funnel and the criteria to count */
    if (c->old_stage == MQL_STAGE_VISITOR && c->new_stage == MQL_STAGE_REJECTED)
        return;
    mql_id_to_text(c->id, id);
    known = mql_visitors_get_id(mql_g->store, c->id, c->time, &v, contact);
    if (c->new_stage == MQL_STAGE_MQL && c->old_stage == MQL_STAGE_VISITOR)
        add[MQL_DAY_MQLS] = 1;
    else if (c->new_stage == MQL_STAGE_SQL)
        add[MQL_DAY_ACCEPTED] = 1;
    else if (c->new_stage == MQL_STAGE_REJECTED)
        add[MQL_DAY_REJECTED] = 1;
    if (c->new_stage != MQL_STAGE_MQL || c->old_stage == MQL_STAGE_VISITOR)
        mql_journal_stage(db, id, c->time, c->new_stage, c->score,
                          known ? v.first_seen : 0, known ? v.country : NULL,
                          known ? v.counts : NULL);
    else
        mql_journal_reopen(db, id);
    /* sales overruled a rejection: its reason is no longer the verdict's */
    if (c->old_stage == MQL_STAGE_REJECTED && c->new_stage != MQL_STAGE_REJECTED)
        mql_journal_reason(db, id, c->time, NULL);
    mql_journal_count_day(db, c->time / 86400, add);
    for (f = MQL_DAY_MQLS; f <= MQL_DAY_REJECTED; f++)
        if (add[f])
            mql_jtouch_count(touches, c->time / 86400,
                             known ? first_touch_of(v.first_touch, &t) : NULL,
                             (mql_day_field_t)f);
}

/*
 * A batch in one transaction: a commit per change made the writer's round
 * wait on thousands of small WAL writes whenever many leads came at once
 * (12 000 in a burst held the DBM publication back for seconds).
 */
void mql_journal_stage_changes(server_rec *s, const mql_change_t *c, unsigned n)
{
    mql_jtouch_batch_t *touches;
    mql_journal_t *db;
    apr_pool_t *p;
    unsigned i;

    if (!n || !(db = writer_db(s)) || mql_journal_begin(db) != APR_SUCCESS)
        return;
    apr_pool_create(&p, NULL);
    touches = mql_jtouch_batch_make(p);
    for (i = 0; i < n; i++)
        record_stage_change(db, &c[i], touches);
    mql_jtouch_flush(db, touches, (uint32_t)apr_time_sec(apr_time_now()));
    apr_pool_destroy(p);
    if (mql_journal_commit(db) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL03104: journal: %u stage changes "
                     "not recorded (%s)", n, mql_journal_error(db));
}

void mql_journal_verdict_reason(server_rec *s, const char *id_text, uint32_t time,
                                const char *reason)
{
    mql_journal_t *db = writer_db(s);
    apr_status_t rv;

    if (!db)
        return;
    rv = mql_journal_begin(db);
    if (rv == APR_SUCCESS) {
        rv = mql_journal_reason(db, id_text, time, reason);
        if (mql_journal_commit(db) != APR_SUCCESS)
            rv = APR_EGENERAL;
    }
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09506: journal: the reason of %s's "
                     "rejection not recorded (%s)", id_text, mql_journal_error(db));
}

void mql_journal_manual(server_rec *s, const char *id_text, uint32_t time, double points,
                        const char *reason, double score)
{
    mql_journal_t *db = writer_db(s);
    mql_story_event_t e;
    apr_pool_t *p;
    apr_status_t rv;

    if (!db)
        return;
    apr_pool_create(&p, jpool);
    memset(&e, 0, sizeof e);
    e.visitor = id_text;
    e.time = time;
    e.event = MQL_MANUAL_NAME;
    e.points = points;
    e.rule = mql_manual_label(p, reason);
    e.score = score;
    rv = mql_journal_begin(db);
    if (rv == APR_SUCCESS) {
        rv = mql_journal_add_event(db, &e);
        /* committed or rolled back either way: no transaction left open */
        if (mql_journal_commit(db) != APR_SUCCESS)
            rv = APR_EGENERAL;
    }
    if (rv != APR_SUCCESS) {
        apr_atomic_inc64(&jsh->errors);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09503: journal: manual points of %s "
                     "not recorded (%s)", id_text, mql_journal_error(db));
    }
    else
        apr_atomic_inc64(&jsh->written);
    apr_pool_destroy(p);
}

const char *mql_journal_story_of(apr_pool_t *p, const char *id_text, int max)
{
    return jdb ? mql_journal_story_json(jdb, p, id_text, max) : "[]";
}

void mql_journal_forget_id(server_rec *s, const char *id_text)
{
    mql_journal_t *db = writer_db(s);

    if (db && mql_journal_forget(db, id_text) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "MQL03105: journal: a forgotten visitor's "
                     "story could not be erased (%s)", mql_journal_error(db));
}

void mql_journal_trim(server_rec *s, uint32_t now)
{
    mql_journal_t *db = writer_db(s);

    if (!db)
        return;
    if (mql_journal_maintain(db, now, (uint32_t)mql_g->expire, mql_g->journal_max,
                             mql_g->journal_events) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL03106: journal: trimming failed "
                     "(%s)", mql_journal_error(db));
    jsh->bytes = mql_journal_bytes(db);
}

void mql_journal_stats(mql_journal_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->enabled = ring.h != NULL;
    if (!ring.h)
        return;
    out->taken = apr_atomic_read64(&ring.h->taken);
    out->dropped = apr_atomic_read64(&ring.h->dropped);
    out->lost = apr_atomic_read64(&ring.h->lost);
    out->written = jsh->written;
    out->shed = jsh->shed;
    out->errors = jsh->errors;
    out->bytes = jsh->bytes;
}

mql_journal_t *mql_journal_reader(apr_pool_t *p)
{
    mql_journal_t *j = NULL;
    const char *err;

    if (!ring.h)
        return NULL;
    if (mql_journal_open(&j, journal_path(p), 1, p, &err) != APR_SUCCESS)
        return NULL;
    return j;
}
