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
 * The journal: each lead's story, the daily funnel and the leads' fates,
 * in one SQLite database in MQLStateDir (journal.sqlite) that the sqlite3
 * shell and BI tools read.  Only the background writer writes it (and
 * mqlctl forget when no server runs); the status page and mqlctl read it.
 *
 * Tables (times are Unix seconds, days UTC day numbers, time / 86400):
 *   events(visitor, time, event, path, referer_host, points, rule, score)
 *       the last scored requests of each visitor, trimmed to the last
 *       MQLJournal events=N per visitor, MQLExpire and the size cap;
 *       the last minute's are in recent_events (same columns, no index),
 *       and the view story shows both
 *   days(day, new_visitors, scored, mqls, accepted, rejected)
 *       the funnel, one row per day that had any, the last 400 days
 *   leads(visitor, first_seen, mql_time, mql_score, peak_score, country,
 *         stage, decision_time)
 *       every lead: when it qualified, with what score, and sales' verdict
 *   lead_signals(visitor, signal)
 *       what a lead had when it qualified: "event:download",
 *       "rule:download ^/whitepapers/", "country:DE"
 *   lead_reasons(visitor, time, reason)
 *       why a lead has its verdict, when that was said: a knock-out's
 *       "disqualified (contact-domain competitor.example)"
 *   lead_sla(visitor, time)
 *       the MQLs whose wait past MQLDecisionSLA was announced, and when
 * No IP address is kept anywhere in it.
 */
#ifndef MQL_JOURNAL_H
#define MQL_JOURNAL_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_types.h"

#define MQL_JOURNAL_NAME "journal.sqlite"
#define MQL_JOURNAL_DAYS 400          /* days of the funnel kept */
#define MQL_JOURNAL_DEFAULT_EVENTS 50 /* per visitor */
#define MQL_JOURNAL_DEFAULT_MAX (256 * 1024 * 1024)

typedef struct mql_journal mql_journal_t;

/* Open (read-only: never creating it) or open and create the schema;
 * APR_EMISMATCH when the file is no database or a damaged one. */
apr_status_t mql_journal_open(mql_journal_t **j, const char *path, int readonly,
                              apr_pool_t *p, const char **err);
void mql_journal_close(mql_journal_t *j);
const char *mql_journal_error(mql_journal_t *j);

/* The writer's batches: everything between begin and commit in one
 * transaction. */
apr_status_t mql_journal_begin(mql_journal_t *j);
apr_status_t mql_journal_commit(mql_journal_t *j);

/* One scored request (strings may be NULL or ""). */
typedef struct mql_story_event {
    const char *visitor;            /* ID text */
    uint32_t time;
    const char *event;              /* "download", or "view,campaign" */
    const char *path;
    const char *referer_host;
    double points;
    const char *rule;               /* the MQLRule that matched, or NULL */
    double score;                   /* after the request */
} mql_story_event_t;

apr_status_t mql_journal_add_event(mql_journal_t *j, const mql_story_event_t *e);

/* The funnel's day counters, added to. */
typedef enum {
    MQL_DAY_NEW, MQL_DAY_SCORED, MQL_DAY_MQLS, MQL_DAY_ACCEPTED, MQL_DAY_REJECTED,
    MQL_DAY_FIELDS
} mql_day_field_t;
const char *mql_day_field_name(mql_day_field_t f);
apr_status_t mql_journal_count_day(mql_journal_t *j, uint32_t day,
                                   const uint32_t add[MQL_DAY_FIELDS]);

/* A stage change, inside mql_journal_begin/commit: a new MQL gets its row
 * in leads (and its signals, counts[ev] > 0 naming the events it had; the
 * rules its story matched are added by the commit, one pass for all the
 * transaction's leads); sql/rejected are sales' verdict.  The day's
 * counters are the caller's. */
apr_status_t mql_journal_stage(mql_journal_t *j, const char *visitor, uint32_t time,
                               int new_stage, double score, uint32_t first_seen,
                               const char *country, const uint16_t counts[MQL_EV_COUNT]);

/* Sales took back its verdict (stage mql again): waiting once more. */
apr_status_t mql_journal_reopen(mql_journal_t *j, const char *visitor);

/* The reason of a lead's verdict (lead_reasons), replacing any, or
 * removing it when reason is NULL: a knock-out's "disqualified (...)"
 * now, sales' reasons for a verdict there too. */
apr_status_t mql_journal_reason(mql_journal_t *j, const char *visitor, uint32_t time,
                                const char *reason);

/* The reason recorded for a lead's verdict, or NULL. */
const char *mql_journal_lead_reason(mql_journal_t *j, const char *visitor, apr_pool_t *p);

/* MQLs still waiting for a verdict that qualified at or before `before`
 * and were not handed to this yet: at most max, oldest first, each to fn
 * and then marked in lead_sla (time now), inside the caller's
 * transaction, so each is handed over once for good. */
typedef void mql_sla_fn(const char *visitor, uint32_t mql_time, void *baton);
apr_status_t mql_journal_sla_due(mql_journal_t *j, uint32_t before, uint32_t now, int max,
                                 mql_sla_fn *fn, void *baton);

/* MQLs still waiting that qualified at or before `before`; -1 when the
 * journal cannot say. */
int64_t mql_journal_sla_count(mql_journal_t *j, uint32_t before);

/* Sales' rejections of MQLs by the reason given (a knock-out's too), the
 * most frequent first: each reason and how many leads it rejected. */
typedef void mql_reason_fn(const char *reason, uint32_t n, void *baton);
apr_status_t mql_journal_reasons(mql_journal_t *j, mql_reason_fn *fn, void *baton);

/* Everything about one visitor, gone. */
apr_status_t mql_journal_forget(mql_journal_t *j, const char *visitor);

/* Trim: per_visitor events each, none older than now - retention
 * (0: no age limit), days older than MQL_JOURNAL_DAYS, leads not seen
 * for retention, then the oldest events while the file is larger than
 * max_bytes.  Rows removed. */
long mql_journal_maintain(mql_journal_t *j, uint32_t now, uint32_t retention,
                          int64_t max_bytes, int per_visitor);

/* Size of the database in bytes (pages in use times page size). */
int64_t mql_journal_bytes(mql_journal_t *j);

/* The last max events of visitor, oldest first, to fn (non-zero stops). */
typedef int mql_story_fn(const mql_story_event_t *e, void *baton);
apr_status_t mql_journal_story(mql_journal_t *j, const char *visitor, int max,
                               mql_story_fn *fn, void *baton);

/* The story as a JSON array (mql_json.c's strings), "[]" when empty. */
const char *mql_journal_story_json(mql_journal_t *j, apr_pool_t *p, const char *visitor,
                                   int max);

/* ---- the funnel ---------------------------------------------------- */

typedef struct mql_funnel_day {
    uint32_t day;
    uint32_t n[MQL_DAY_FIELDS];
} mql_funnel_day_t;

typedef struct mql_funnel {
    uint32_t from_day, to_day;          /* the period, both included */
    int ndays;
    mql_funnel_day_t *days;             /* every day of the period, oldest first */
    uint64_t total[MQL_DAY_FIELDS];
    double visitor_to_mql;              /* mqls / new visitors, -1 when none */
    double acceptance;                  /* accepted / (accepted + rejected), -1 */
    double median_to_mql;               /* seconds, first visit -> MQL, -1 when none */
    double median_to_decision;          /* seconds, MQL -> verdict, -1 */
    uint32_t waiting[3];                /* MQLs without a verdict: < 1 d, 1-7 d, older */
} mql_funnel_t;

/* The last ndays days up to now's day. */
apr_status_t mql_journal_funnel(mql_journal_t *j, apr_pool_t *p, uint32_t now, int ndays,
                                mql_funnel_t *out);

/* "2026-11-29" */
const char *mql_day_text(apr_pool_t *p, uint32_t day);

/* ---- criteria against verdicts ------------------------------------- */

typedef struct mql_signal_row {
    const char *signal;
    uint32_t accepted, rejected;
} mql_signal_row_t;

#define MQL_SCORE_BINS 8                /* score at qualification: 8 bins */
typedef struct mql_criteria {
    uint32_t accepted, rejected, waiting;
    int nsignals;
    mql_signal_row_t *signals;          /* most decided leads first */
    double bin_width;
    double bin_from;
    uint32_t acc_bins[MQL_SCORE_BINS], rej_bins[MQL_SCORE_BINS];
} mql_criteria_t;

apr_status_t mql_journal_criteria(mql_journal_t *j, apr_pool_t *p, mql_criteria_t *out);

/* A lead's fate as recorded: stage name, score at qualification and the
 * highest since; 0 when the journal has no row of it. */
int mql_journal_lead(mql_journal_t *j, const char *visitor, const char **stage,
                     double *mql_score, double *peak_score, apr_pool_t *p);

/* Every lead of the journal, with what whatif needs. */
typedef struct mql_jlead {
    const char *visitor;
    const char *stage;
    double mql_score, peak_score;
    char country[3];
    int had_download, had_form;
} mql_jlead_t;
typedef int mql_jlead_fn(const mql_jlead_t *l, void *baton);
apr_status_t mql_journal_leads(mql_journal_t *j, mql_jlead_fn *fn, void *baton);

/* Criteria for whatif: the threshold and MQLRequire's. */
typedef struct mql_whatif {
    double threshold;
    unsigned require;                   /* MQL_REQ_* (mql_score.h) */
    const char *countries;              /* packed alpha-2 codes */
} mql_whatif_t;

/* 1 when a visitor whose score reached peak, with these events and
 * country, qualifies under w. */
int mql_whatif_qualifies(const mql_whatif_t *w, double peak, int had_download, int had_form,
                         const char *country);

#endif
