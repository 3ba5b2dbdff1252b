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
 * What the status page's files share (the rest of the module sees only
 * mod_mql_status.h).
 *
 * mod_mql_status.c gathers the figures once per request into a
 * mql_status_data_t, copied out of the shared table; the renderers only
 * read that copy.  The figures' names and formats in every output are
 * tables (mql_status_table.h) in mod_mql_status_text.c, walked by the
 * core's emitters for ?auto, ?json and the HTML page's health table (the
 * store's own section is its backend's, through mql_store_status);
 * mod_mql_status_html.c writes the rest of the page (its SVG charts and
 * CSS, and the mod_status section), mod_mql_status_journal.c the
 * journal's parts, and mod_mql_status_post.c takes the POSTed stage
 * changes with their token and origin checks.
 */
#ifndef MOD_MQL_STATUS_INT_H
#define MOD_MQL_STATUS_INT_H

#include "mod_mql_private.h"
#include "mod_mql_flood.h"
#include "mod_mql_writer.h"
#include "mod_mql_journal.h"
#include "mod_mql_status.h"
#include "mod_mql_store.h"
#include "mql_cookie.h"
#include "mql_status_table.h"

/* ------------------------------------------------ between the status files */

#define MQL_STATUS_TOP_N 20
#define MQL_STATUS_RECENT_N 20
#define MQL_STATUS_HIST_BINS 10 /* below 0, up to 8 bins to the threshold, at or above it */

/* The scope of a page: a site (an index in mql_g->sites), or every site. */
#define MQL_SCOPE_ALL (-1)

typedef struct mql_status_row {
    mql_visitor_t v;
    long score;
    char id[MQL_ID_TEXT_LEN + 1];
    char contact[MQL_CONTACT_LEN];      /* "" = none */
} mql_status_row_t;

typedef struct mql_status_bin {
    long from, to;                      /* inclusive; from > to: open ended */
    uint32_t count;
    int lead;                           /* at or above the threshold */
} mql_status_bin_t;

/* The journal's part of a page (mod_mql_status_journal.c): the funnel,
 * the criteria against sales' verdicts, and a visitor's story.  Read from
 * MQLStateDir/journal.sqlite (every site's: the journal is one for the
 * server). */
typedef struct mql_status_journal {
    int enabled;                        /* MQLJournal On */
    int readable;                       /* the database was read */
    mql_journal_stats_t st;
    int days;                           /* the chart's period: 30, 90 or 400 */
    mql_funnel_t funnel;
    mql_criteria_t crit;
    apr_array_header_t *story;          /* ?visitor=: mql_story_event_t, oldest first */
    int64_t past_sla;                   /* MQLs waiting past MQLDecisionSLA, -1 = not known */
} mql_status_journal_t;

/* The figures of one request, gathered before anything is written. */
typedef struct mql_status_data {
    uint32_t now;
    long threshold;
    mql_visitors_stats_t st;
    double used_pct;
    uint64_t events_total;
    long snapshot_age;                  /* seconds, -1 = no snapshot */
    mql_writer_stats_t writer;
    mql_flood_status_t flood;           /* limits per client network */
    int geoip;                          /* MQLGeoIPDatabase set */
    int scope;                          /* the site shown, or MQL_SCOPE_ALL */
    int want_top;                       /* the walk also fills bins and top */
    uint32_t mine_used;                 /* the scope's figures, from the walk */
    uint32_t mine_stages[MQL_STAGE_COUNT];
    uint64_t mine_events[MQL_EV_COUNT];
    int validated;                      /* ?validate: the check below ran */
    const char *problem;                /* its finding, NULL = consistent */
    /* only for the full page and ?json */
    int nbins;
    mql_status_bin_t bins[MQL_STATUS_HIST_BINS];
    int ntop;
    mql_status_row_t top[MQL_STATUS_TOP_N];
    unsigned nchanges;
    mql_change_t changes[MQL_STATUS_RECENT_N];     /* newest first */
    mql_status_journal_t journal;
} mql_status_data_t;

/* One visitor's page (?visitor=ID). */
typedef struct mql_status_detail {
    mql_status_row_t row;
    unsigned nchanges;
    mql_change_t *changes;              /* this visitor's, newest first */
    const mql_status_journal_t *story;  /* its story, when the journal has one */
} mql_status_detail_t;

/* mod_mql_status.c: sites, the data's pieces, the request */
int mql_status_sites_mode(request_rec *r);
/* ServerName of a site's first virtual host, "all" for MQL_SCOPE_ALL */
const char *mql_status_site_name(int site);
/* Whether this page may show or change one visitor. */
int mql_status_may_touch(request_rec *r, const mql_visitor_t *v);
const char *mql_status_country_of(apr_pool_t *p, const mql_visitor_t *v);
const char *mql_status_trigger_of(apr_pool_t *p, const mql_visitor_t *v);
const char *mql_status_bin_label(apr_pool_t *p, const mql_status_bin_t *b);
int mql_status_parse_id(const char *text, uint8_t id[MQL_ID_BYTES]);

/* mod_mql_status_html.c */
void mql_status_render_html(request_rec *r, const mql_status_data_t *d);
void mql_status_render_detail_html(request_rec *r, const mql_status_data_t *d,
                                   const mql_status_detail_t *dt, const char *flash);
void mql_status_render_server_status(request_rec *r, const mql_status_data_t *d);

/* mod_mql_status_text.c: the tables, and ?auto and ?json */
extern const mql_stat_row_t mql_status_store_rows[];   /* base: mql_status_data_t */
extern const mql_stat_row_t mql_status_flood_rows[];   /* base: mql_status_data_t */
void mql_status_env(request_rec *r, mql_stat_env_t *env, uint32_t now);
void mql_status_render_auto(request_rec *r, const mql_status_data_t *d);
void mql_status_render_json(request_rec *r, const mql_status_data_t *d);
void mql_status_render_detail_json(request_rec *r, const mql_status_detail_t *dt);

/* mod_mql_status_journal.c: gather (visitor NULL: the funnel and the
 * criteria; else that visitor's story) and render */
void mql_status_gather_journal(request_rec *r, mql_status_journal_t *j, int days,
                               const char *visitor);
void mql_status_journal_html(request_rec *r, const mql_status_journal_t *j);
void mql_status_story_html(request_rec *r, const mql_status_journal_t *j);
void mql_status_journal_json(request_rec *r, const mql_status_journal_t *j);
void mql_status_story_json(request_rec *r, const mql_status_journal_t *j);
void mql_status_journal_auto(request_rec *r, const mql_status_journal_t *j);
extern const mql_stat_row_t mql_status_journal_rows[]; /* base: mql_status_journal_t */

/* mod_mql_status_post.c: the form's token and the POSTed stage changes */
const char *mql_status_current_token(request_rec *r);
int mql_status_post(request_rec *r);

/* mod_mql_status_accounts.c: the Accounts section, the scope's accounts */
void mql_status_accounts_auto(request_rec *r, int scope, uint32_t now);
void mql_status_accounts_json(request_rec *r, int scope, uint32_t now);
void mql_status_accounts_html(request_rec *r, int scope, uint32_t now);

#endif
