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
 * The admin page: `SetHandler mql-status`, and a section of mod_status's
 * /server-status.
 *
 *   GET  .../            HTML for people (self-contained: inline CSS and SVG)
 *   GET  ...?json        the same figures for programs (application/json)
 *   GET  ...?auto        mod_status's plain "Key: value" lines
 *   GET  ...?refresh=N   adds a Refresh header (5..3600 seconds)
 *   GET  ...?visitor=ID  one visitor (also with &json)
 *   GET  ...?json&validate  adds "store_valid" (and "store_problem"): a full
 *                        consistency check of the shared table, under its
 *                        lock -- for monitoring and the fault tests, never
 *                        done unasked
 *   GET  ...?site=all|NAME  other sites' visitors (MQLStatusSites choose)
 *   POST visitor=ID&stage=sql|rejected|mql&token=T
 *                        sales' decision; 303 back to the visitor
 *
 * A page in a virtual host shows and changes its own site's visitors only
 * (MQLStatusSites own, the default); choose lets ?site= show others, all
 * shows every site.
 *
 * This file holds the handler, the hooks and the gathering: the figures
 * are copied out of the shared table first (stats under one lock; the
 * visitors through the store's walk, which copies chunk by chunk under the
 * lock), into a mql_status_data_t, once per request; the renderers only
 * read that copy.  The figures are named once, in the tables of
 * mod_mql_status_text.c, which the core's emitters walk for ?auto, ?json
 * and the page's health table; the rest of the HTML page is
 * mod_mql_status_html.c's.  A
 * POST, the one request that changes anything, is taken by
 * mod_mql_status_post.c with its token and origin checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_status_int.h"
#include "mql_cookie.h"

APLOG_USE_MODULE(mql);

#define REFRESH_MIN 5
#define REFRESH_MAX 3600

/* ------------------------------------------------------------ the data */

static long current_score(const mql_visitor_t *v, uint32_t now)
{
    return lround(mql_current_score(v, now, (uint32_t)mql_g->half_life));
}

static void fill_row(mql_status_row_t *row, const mql_visitor_t *v, const char *contact,
                     uint32_t now)
{
    row->v = *v;
    row->score = current_score(v, now);
    mql_id_to_text(v->id, row->id);
    apr_cpystrn(row->contact, contact ? contact : "", sizeof row->contact);
}

/* "XX" from the record, "" when unknown (not looked up or "--") */
const char *mql_status_country_of(apr_pool_t *p, const mql_visitor_t *v)
{
    if (!apr_isalpha(v->country[0]) || !apr_isalpha(v->country[1]))
        return "";
    return apr_pstrmemdup(p, v->country, 2);
}

/* "download:/whitepapers/guide.pdf", "" when the visitor has no trigger */
const char *mql_status_trigger_of(apr_pool_t *p, const mql_visitor_t *v)
{
    char path[MQL_TRIGGER_LEN + 1];

    if (!MQL_STAGE_IS_LEAD(v->stage) && !v->trigger[0])
        return "";
    memcpy(path, v->trigger, MQL_TRIGGER_LEN);
    path[MQL_TRIGGER_LEN] = '\0';
    if (!path[0])
        return mql_event_name((mql_event_t)v->trigger_event);
    return apr_pstrcat(p, mql_event_name((mql_event_t)v->trigger_event), ":", path, NULL);
}

/* ------------------------------------------------------------ sites */

/*
 * One table holds every virtual host's visitors; a visitor belongs to the
 * site (the DBM file) of the host it was last seen on, a lead to the one
 * that made it.  A status page in a virtual host shows and changes its own
 * site's visitors unless MQLStatusSites lets it see more, so that one
 * hosting customer's page never shows another customer's leads.
 */
#define SCOPE_UNKNOWN (-2)     /* ?site= names no site (MQL_SCOPE_ALL: every site) */

const char *mql_set_status_sites(cmd_parms *cmd, void *dconf, const char *arg)
{
    mql_dir_conf_t *dc = dconf;

    if (!strcasecmp(arg, "own"))
        dc->status_sites = MQL_SITES_OWN;
    else if (!strcasecmp(arg, "choose"))
        dc->status_sites = MQL_SITES_CHOOSE;
    else if (!strcasecmp(arg, "all"))
        dc->status_sites = MQL_SITES_ALL;
    else
        return apr_psprintf(cmd->pool, "%s: expects own (this virtual host's site), choose "
                            "(own, others with ?site=) or all; got '%s'", cmd->cmd->name, arg);
    return NULL;
}

int mql_status_sites_mode(request_rec *r)
{
    mql_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &mql_module);

    return dc->status_sites == MQL_UNSET ? MQL_SITES_OWN : dc->status_sites;
}

static int own_site(request_rec *r)
{
    mql_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &mql_module);

    return sc->site;
}

const char *mql_status_site_name(int site)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;

    if (site == MQL_SCOPE_ALL)
        return "all";
    if (site < 0 || site >= mql_g->sites->nelts)
        return "";
    return mql_site_name(&sites[site]);
}

/* A site by the ServerName of its first virtual host. */
static int site_named(const char *name)
{
    int i;

    if (!strcmp(name, "all"))
        return MQL_SCOPE_ALL;
    for (i = 0; i < mql_g->sites->nelts; i++)
        if (!strcasecmp(mql_status_site_name(i), name))
            return i;
    return SCOPE_UNKNOWN;
}

/* The visitors the lists show (?site=), or an HTTP error. */
static int view_scope(request_rec *r, const char *asked, int *scope)
{
    int mode = mql_status_sites_mode(r), own = own_site(r), want;

    *scope = mode == MQL_SITES_ALL ? MQL_SCOPE_ALL : own;
    if (!asked)
        return OK;
    want = site_named(asked);
    if (mode == MQL_SITES_OWN && want != own) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "MQL04023: status page: ?site=%s refused: "
                      "MQLStatusSites own shows this virtual host's site only", asked);
        return HTTP_FORBIDDEN;
    }
    if (want == SCOPE_UNKNOWN)
        return HTTP_NOT_FOUND;
    *scope = want;
    return OK;
}

/* With one site, its visitors are all of them: no walk to count them. */
static int view_scope_of(request_rec *r, const char *asked, int *scope)
{
    int rc = view_scope(r, asked, scope);

    if (rc == OK && mql_g->sites->nelts <= 1)
        *scope = MQL_SCOPE_ALL;
    return rc;
}

/* Whether this page may show or change one visitor (mod_mql_status.h). */
int mql_status_may_touch(request_rec *r, const mql_visitor_t *v)
{
    return mql_status_sites_mode(r) != MQL_SITES_OWN || v->site == own_site(r);
}

static void count_mine(mql_status_data_t *d, const mql_visitor_t *v)
{
    int ev;

    d->mine_used++;
    if (v->stage < MQL_STAGE_COUNT)
        d->mine_stages[v->stage]++;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        d->mine_events[ev] += v->counts[ev];
}

/* For one site the totals are its visitors' own: how many are in the
 * table, their stages and the events they carry. */
static void apply_scope(mql_status_data_t *d)
{
    int ev;

    if (d->scope == MQL_SCOPE_ALL)
        return;
    d->st.used = d->mine_used;
    memcpy(d->st.stages, d->mine_stages, sizeof d->st.stages);
    memcpy(d->st.events, d->mine_events, sizeof d->st.events);
    d->events_total = 0;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        d->events_total += d->st.events[ev];
    d->used_pct = d->st.capacity ? 100.0 * d->st.used / d->st.capacity : 0.0;
}

typedef struct walk {
    mql_status_data_t *d;
} walk_t;

static int walk_visitor(const mql_visitor_t *v, const char *contact, void *baton);

/* Totals: one lock for the table's header, a stat() for the snapshot. */
static void gather_totals(request_rec *r, mql_status_data_t *d)
{
    mql_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &mql_module);
    apr_finfo_t fi;
    int ev;

    d->now = (uint32_t)apr_time_sec(apr_time_now());
    d->threshold = lround(sc->scoring.threshold);
    mql_visitors_stats(mql_g->store, &d->st);
    d->used_pct = d->st.capacity ? 100.0 * d->st.used / d->st.capacity : 0.0;
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        d->events_total += d->st.events[ev];
    d->snapshot_age = -1;
    if (apr_stat(&fi, mql_state_path(r->pool, MQL_SNAPSHOT_NAME), APR_FINFO_MTIME, r->pool)
        == APR_SUCCESS) {
        apr_int64_t age = (apr_int64_t)d->now - apr_time_sec(fi.mtime);
        d->snapshot_age = age < 0 ? 0 : (long)age;
    }
    mql_writer_stats(&d->writer);
    mql_flood_status(&d->flood);
    d->geoip = mql_g->geoip_db != NULL;
    if (d->scope != MQL_SCOPE_ALL && !d->want_top) {
        walk_t w = { d };

        mql_visitors_walk(mql_g->store, MQL_WALK_ALL, walk_visitor, &w);
        apply_scope(d);
    }
}

/* Bins of the score histogram: integer edges from 0 to the threshold. */
static void make_bins(mql_status_data_t *d)
{
    long t = d->threshold > 0 ? d->threshold : 1;
    int n = t >= 8 ? 8 : (int)t, i;

    d->nbins = 0;
    d->bins[d->nbins++] = (mql_status_bin_t){ .from = LONG_MIN, .to = -1 };
    for (i = 0; i < n; i++) {
        long from = (long)floor((double)i * t / n + 0.5);
        long to = (long)floor((double)(i + 1) * t / n + 0.5) - 1;
        d->bins[d->nbins++] = (mql_status_bin_t){ .from = from, .to = to };
    }
    d->bins[d->nbins++] = (mql_status_bin_t){ .from = t, .to = LONG_MAX, .lead = 1 };
}

static void count_in_bin(mql_status_data_t *d, long score)
{
    int i;

    for (i = 0; i < d->nbins; i++)
        if (score >= d->bins[i].from && score <= d->bins[i].to) {
            d->bins[i].count++;
            return;
        }
}

/* How a bin is named on the page and in ?json: "< 0", "3", "4-7", "20+". */
const char *mql_status_bin_label(apr_pool_t *p, const mql_status_bin_t *b)
{
    if (b->from == LONG_MIN)
        return "< 0";
    if (b->to == LONG_MAX)
        return apr_psprintf(p, "%ld+", b->from);
    if (b->from >= b->to)
        return apr_psprintf(p, "%ld", b->from);
    return apr_psprintf(p, "%ld-%ld", b->from, b->to);
}

/* Called with copies, outside the lock. */
static int walk_visitor(const mql_visitor_t *v, const char *contact, void *baton)
{
    mql_status_data_t *d = ((walk_t *)baton)->d;
    long score;
    int at;

    if (d->scope != MQL_SCOPE_ALL && v->site != d->scope)
        return 0;
    count_mine(d, v);
    if (!d->want_top)
        return 0;
    score = current_score(v, d->now);

    count_in_bin(d, score);
    if (d->ntop == MQL_STATUS_TOP_N && score <= d->top[MQL_STATUS_TOP_N - 1].score)
        return 0;
    at = d->ntop < MQL_STATUS_TOP_N ? d->ntop++ : MQL_STATUS_TOP_N - 1;
    /* keep the list sorted, highest first */
    while (at > 0 && d->top[at - 1].score < score) {
        d->top[at] = d->top[at - 1];
        at--;
    }
    fill_row(&d->top[at], v, contact, d->now);
    return 0;
}

static void gather_changes(mql_status_data_t *d)
{
    mql_change_t buf[MQL_STATUS_RECENT_N];
    uint64_t seq = d->st.change_seq > MQL_STATUS_RECENT_N
                   ? d->st.change_seq - MQL_STATUS_RECENT_N : 0;
    unsigned n = mql_visitors_stage_changes(mql_g->store, &seq, buf, MQL_STATUS_RECENT_N, NULL), i;

    d->nchanges = 0;
    for (i = 0; i < n; i++) {
        const mql_change_t *c = &buf[n - 1 - i];
        mql_visitor_t v;

        /* for one site, the changes of its visitors still in the table */
        if (d->scope != MQL_SCOPE_ALL
            && (!mql_visitors_get_id(mql_g->store, c->id, d->now, &v, NULL) || v.site != d->scope))
            continue;
        d->changes[d->nchanges++] = *c;
    }
}

static void gather_all(request_rec *r, mql_status_data_t *d)
{
    walk_t w = { d };

    d->want_top = 1;
    gather_totals(r, d);
    make_bins(d);
    mql_visitors_walk(mql_g->store, MQL_WALK_ALL, walk_visitor, &w);
    apply_scope(d);
    gather_changes(d);
}

/* One visitor and its changes still in the ring; 0 when unknown. */
static int gather_detail(request_rec *r, const uint8_t id[MQL_ID_BYTES],
                         mql_status_detail_t *dt)
{
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    char contact[MQL_CONTACT_LEN];
    mql_visitor_t v;
    mql_change_t *all;
    uint64_t seq = 0;
    unsigned n, i;

    contact[0] = '\0';
    if (!mql_visitors_get_id(mql_g->store, id, now, &v, contact))
        return 0;
    fill_row(&dt->row, &v, contact, now);
    all = apr_palloc(r->pool, MQL_CHANGES_KEPT * sizeof *all);
    n = mql_visitors_stage_changes(mql_g->store, &seq, all, MQL_CHANGES_KEPT, NULL);
    dt->changes = apr_palloc(r->pool, (n ? n : 1) * sizeof *all);
    dt->nchanges = 0;
    for (i = n; i-- > 0; )
        if (!memcmp(all[i].id, id, MQL_ID_BYTES))
            dt->changes[dt->nchanges++] = all[i];
    return 1;
}

/* ------------------------------------------------------------ requests */

typedef struct query {
    int json, autoview, validate;
    int refresh;                /* 0 = none */
    const char *visitor;        /* as given, NULL = overview */
    const char *done;           /* stage just set (after the POST's redirect) */
    const char *site;           /* ?site=all or ?site=NAME, NULL = the default */
    int days;                   /* ?days=30|90|400: the funnel chart's period */
} query_t;

static void parse_query(request_rec *r, query_t *q)
{
    const char *args = r->args ? r->args : "";

    memset(q, 0, sizeof *q);
    q->days = 30;
    while (*args) {
        char *pair = ap_getword(r->pool, &args, '&');
        char *key = ap_getword(r->pool, (const char **)&pair, '=');
        char *val = pair;

        if (ap_unescape_url(val) != OK)
            continue;
        if (!strcmp(key, "json"))
            q->json = 1;
        else if (!strcmp(key, "auto"))
            q->autoview = 1;
        else if (!strcmp(key, "validate"))
            q->validate = 1;
        else if (!strcmp(key, "visitor"))
            q->visitor = val;
        else if (!strcmp(key, "done"))
            q->done = val;
        else if (!strcmp(key, "site"))
            q->site = val;
        else if (!strcmp(key, "days"))
            q->days = atoi(val) >= 400 ? 400 : atoi(val) >= 90 ? 90 : 30;
        else if (!strcmp(key, "refresh")) {
            char *end;
            long n = strtol(val, &end, 10);

            if (end != val && !*end && n > 0)
                q->refresh = n < REFRESH_MIN ? REFRESH_MIN : n > REFRESH_MAX ? REFRESH_MAX
                                                                          : (int)n;
        }
    }
}

static void security_headers(request_rec *r)
{
    apr_table_t *h = r->headers_out;

    apr_table_setn(h, "Cache-Control", "no-store");
    apr_table_setn(h, "X-Content-Type-Options", "nosniff");
    apr_table_setn(h, "X-Frame-Options", "DENY");
    apr_table_setn(h, "Referrer-Policy", "same-origin");
    apr_table_setn(h, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'");
}

int mql_status_parse_id(const char *text, uint8_t id[MQL_ID_BYTES])
{
    return text && mql_id_from_text(text, strlen(text), id);
}

static int status_get(request_rec *r)
{
    mql_status_data_t *d = apr_pcalloc(r->pool, sizeof *d);
    query_t q;
    int rc;

    parse_query(r, &q);
    if ((rc = view_scope_of(r, q.site, &d->scope)) != OK)
        return rc;
    if (q.refresh)
        apr_table_setn(r->headers_out, "Refresh", apr_itoa(r->pool, q.refresh));

    if (q.visitor) {
        mql_status_detail_t *dt = apr_pcalloc(r->pool, sizeof *dt);
        uint8_t id[MQL_ID_BYTES];
        int stage = q.done ? mql_stage_from_name(q.done) : -1;

        if (!mql_status_parse_id(q.visitor, id))
            return HTTP_BAD_REQUEST;
        gather_totals(r, d);
        /* another site's visitor is as unknown here as an absent one */
        if (!gather_detail(r, id, dt) || !mql_status_may_touch(r, &dt->row.v))
            return HTTP_NOT_FOUND;
        mql_status_gather_journal(r, &d->journal, q.days, q.visitor);
        dt->story = &d->journal;
        if (q.json) {
            ap_set_content_type(r, "application/json");
            mql_status_render_detail_json(r, dt);
        }
        else {
            const char *flash = NULL;

            if (stage > 0)
                flash = apr_pstrcat(r->pool, "Stage set to ", mql_stage_name((mql_stage_t)stage),
                                    ".", NULL);
            ap_set_content_type(r, "text/html; charset=utf-8");
            mql_status_render_detail_html(r, d, dt, flash);
        }
        return OK;
    }
    mql_status_gather_journal(r, &d->journal, q.days, NULL);
    if (q.autoview) {
        gather_totals(r, d);
        ap_set_content_type(r, "text/plain; charset=utf-8");
        mql_status_render_auto(r, d);
        return OK;
    }
    gather_all(r, d);
    if (q.json) {
        if (q.validate) {
            d->validated = 1;
            d->problem = mql_visitors_validate(mql_g->store, r->pool);
            if (d->problem)
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              "MQL05001: the shared visitor table is inconsistent: %s",
                              d->problem);
        }
        ap_set_content_type(r, "application/json");
        mql_status_render_json(r, d);
    }
    else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        mql_status_render_html(r, d);
    }
    return OK;
}

static int status_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, MQL_STATUS_HANDLER))
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET && r->method_number != M_POST)
        return HTTP_METHOD_NOT_ALLOWED;
    if (!mql_g || !mql_g->store_ready) {
        ap_custom_response(r, HTTP_SERVICE_UNAVAILABLE,
                           "mod_mql is not tracking (MQLEngine Off everywhere).");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    security_headers(r);
    if (r->method_number == M_POST)
        return mql_status_post(r);
    return status_get(r);
}

/* ------------------------------------------------- /server-status */

static int server_status_section(request_rec *r, int flags)
{
    mql_status_data_t *d;

    if (!mql_g || !mql_g->store_ready)
        return OK;
    d = apr_pcalloc(r->pool, sizeof *d);
    d->scope = MQL_SCOPE_ALL;   /* totals only, no visitor: the server's */
    gather_totals(r, d);
    if (flags & AP_STATUS_SHORT) {
        mql_status_render_auto(r, d);
        return OK;
    }
    mql_status_render_server_status(r, d);
    return OK;
}

void mql_register_status(apr_pool_t *p)
{
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, server_status_section, NULL, NULL, APR_HOOK_MIDDLE);
}
