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
 * The writer's moments job (mod_mql_jobs.h): leads back after a silence
 * (MQLActiveAfter) and MQLs past the decision SLA (MQLDecisionSLA),
 * announced on the notification line and in the webhooks' outbox as the
 * stage changes are (mod_mql_notify.c).
 *
 * A return is decided in the request path, which alone knows when the
 * visitor was seen before, and travels in the journal's ring as a flag:
 * the request path pays one comparison.  The SLA is read from the
 * journal's leads, and each MQL announced is marked there (lead_sla) in
 * the same transaction, so a restart does not announce it again.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"

#include "mod_mql_jobs.h"
#include "mod_mql_journal.h"
#include "mod_mql_notify.h"
#include "mod_mql_webhook.h"
#include "mql_cookie.h"
#include "mql_moments.h"
#include "mql_record.h"

APLOG_USE_MODULE(mql);

/* returns noted in one drain; more are counted and said, not kept (the
 * drain takes at most a few thousand events a round) */
#define ACTIVE_KEPT  256
#define SLA_BATCH    64

typedef struct pending_active {
    uint8_t id[MQL_ID_BYTES];
    uint32_t time;
    uint8_t stage;
    float score;
    char path[MQL_JPATH_LEN];
} pending_active_t;

static pending_active_t pending[ACTIVE_KEPT];
static unsigned npending, nlost;
static uint32_t sla_checked;

apr_status_t mql_moments_check(server_rec *s)
{
    if ((mql_g->active_after || mql_g->decision_sla) && !mql_g->journal) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL09900: %s expects the journal, "
                     "which MQLJournal Off turns off: remove one of them",
                     mql_g->active_after ? "MQLActiveAfter" : "MQLDecisionSLA");
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

void mql_moments_note_active(const mql_jevent_t *ev)
{
    pending_active_t *a;

    if (npending >= ACTIVE_KEPT) {
        nlost++;
        return;
    }
    a = &pending[npending++];
    memcpy(a->id, ev->id, MQL_ID_BYTES);
    a->time = ev->time;
    a->stage = ev->stage;
    a->score = ev->score;
    /* the copy's string ends in the copy, whatever a child wrote */
    memcpy(a->path, ev->path, sizeof a->path);
    a->path[sizeof a->path - 1] = '\0';
}

/* What the store knows of the lead now: its contact and trigger. */
static void lead_of(apr_pool_t *p, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                    mql_moment_t *m)
{
    char contact[MQL_CONTACT_LEN];
    mql_visitor_t v;
    mql_lead_t lead;

    if (!mql_visitors_get_id(mql_g->store, id, now, &v, contact))
        return;
    mql_lead_from_visitor(&lead, &v, contact, now, (uint32_t)mql_g->half_life, p);
    m->contact = lead.contact;
    m->trigger = lead.trigger;
    m->stage = mql_stage_name((mql_stage_t)v.stage);
    m->score = lead.score;
}

static void announce(server_rec *s, mql_writer_stats_t *st, int notify, const char *type,
                     const char *key, const mql_moment_t *m, const char *line,
                     const char *detail)
{
    mql_notification_t ev;

    if (mql_g->webhooks) {
        memset(&ev, 0, sizeof ev);
        ev.type = ev.event = type;
        ev.key = key;
        ev.lead = m->visitor;
        ev.json = line;
        ev.contact = m->contact;
        ev.stage = m->stage;
        ev.score = m->score;
        ev.trigger = m->trigger;
        ev.detail = detail;
        mql_webhook_enqueue(s, &ev);
    }
    if (!notify)
        return;
    if (mql_notify_write(line))
        MQL_STAT_ADD(st, notify_sent, 1);
    else {
        uint64_t d = MQL_STAT_ADD(st, notify_dropped, 1);
        if (!(d & (d - 1)))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09901: MQLNotify program is "
                         "not reading: %s notification dropped (%" APR_UINT64_T_FMT
                         " so far)", type, d);
    }
}

static void active_round(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st,
                         int notify)
{
    char id[MQL_ID_TEXT_LEN + 1];
    unsigned i;

    if (nlost) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09902: %u leads came back faster "
                     "than the writer announces them and were not announced", nlost);
        nlost = 0;
    }
    if (!npending)
        return;
    if (mql_g->webhooks)
        mql_webhook_batch(s, 1);
    for (i = 0; i < npending; i++) {
        pending_active_t *a = &pending[i];
        mql_moment_t m;
        apr_pool_t *lp;

        apr_pool_create(&lp, p);
        mql_id_to_text(a->id, id);
        memset(&m, 0, sizeof m);
        m.visitor = id;
        m.time = a->time;
        m.stage = mql_stage_name((mql_stage_t)a->stage);
        m.score = lround(a->score);
        m.path = a->path;
        lead_of(lp, a->id, now, &m);
        announce(s, st, notify, "active", apr_psprintf(lp, "active:%s:%u", id, a->time), &m,
                 mql_moments_active_json(lp, &m),
                 apr_pstrcat(lp, "back on ", a->path, NULL));
        apr_pool_destroy(lp);
    }
    if (mql_g->webhooks)
        mql_webhook_batch(s, 0);
    npending = 0;
}

typedef struct sla_baton {
    server_rec *s;
    apr_pool_t *p;
    mql_writer_stats_t *st;
    uint32_t now;
    int notify;
} sla_baton_t;

static void sla_one(const char *visitor, uint32_t mql_time, void *baton)
{
    sla_baton_t *b = baton;
    uint8_t id[MQL_ID_BYTES];
    mql_moment_t m;
    apr_pool_t *lp;

    apr_pool_create(&lp, b->p);
    memset(&m, 0, sizeof m);
    m.visitor = visitor;
    m.time = b->now;
    m.stage = "mql";
    m.mql_time = mql_time;
    m.sla = mql_g->decision_sla;
    if (mql_id_from_text(visitor, strlen(visitor), id))
        lead_of(lp, id, b->now, &m);
    announce(b->s, b->st, b->notify, "sla", apr_psprintf(lp, "sla:%s:%u", visitor, mql_time),
             &m, mql_moments_sla_json(lp, &m),
             apr_psprintf(lp, "waiting for a verdict for %ld s",
                          (long)(b->now - mql_time)));
    apr_pool_destroy(lp);
}

static void sla_round(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st,
                      int notify)
{
    sla_baton_t b = { s, p, st, now, notify };
    mql_journal_t *db;

    if (!mql_g->decision_sla || now == sla_checked || !(db = mql_journal_writer(s)))
        return;
    sla_checked = now;
    if (mql_journal_begin(db) != APR_SUCCESS)
        return;                     /* a reader holds it: next second */
    if (mql_g->webhooks)
        mql_webhook_batch(s, 1);
    if (mql_journal_sla_due(db, now - (uint32_t)mql_g->decision_sla, now, SLA_BATCH, sla_one,
                            &b) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09903: cannot read the MQLs past "
                     "MQLDecisionSLA from the journal (%s)", mql_journal_error(db));
    /* in the outbox before the journal says they were announced */
    if (mql_g->webhooks)
        mql_webhook_batch(s, 0);
    mql_journal_commit(db);
}

void mql_moments_round(server_rec *s, apr_pool_t *p, uint32_t now, mql_writer_stats_t *st)
{
    int notify;

    if (!mql_g->active_after && !mql_g->decision_sla)
        return;
    notify = mql_notify_ready(s);
    active_round(s, p, now, st, notify);
    sla_round(s, p, now, st, notify);
}
