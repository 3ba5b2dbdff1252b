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
 * GET never changes anything.  A POST needs the form's token (a SipHash
 * MAC of the hour, the virtual host and the action under a key drawn at
 * each start, so a token lives one to two hours, works for one site's
 * stage changes only and dies with a restart), a Content-Type of
 * application/x-www-form-urlencoded and, when the browser names them, an
 * Origin or Referer of this host; anything else is 403 (415 for the type).
 * Who may see the page at all is the admin's `Require`.
 *
 * The figures are copied out of the shared table first (stats under one
 * lock; the visitors through the store's walk, which copies chunk by
 * chunk under the lock), into a status_t; the renderers only read that
 * copy.  Every string a visitor or an application chose (trigger paths,
 * contacts) is escaped for HTML or JSON where it is written.
 */
#include <math.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"
#include "util_script.h"

#include "mod_mql_private.h"
#include "mql_cookie.h"
#include "mql_json.h"
#include <apr_siphash.h>
#include "mql_version.h"

APLOG_USE_MODULE(mql);

#define TOP_N 20
#define RECENT_N 20
#define HIST_BINS 10            /* below 0, up to 8 bins to the threshold, at or above it */
#define REFRESH_MIN 5
#define REFRESH_MAX 3600
#define TOKEN_BUCKET 3600       /* seconds; the previous bucket is accepted too */

/* ------------------------------------------------------------ the data */

typedef struct row {
    mql_visitor_t v;
    long score;
    char id[MQL_ID_TEXT_LEN + 1];
    char contact[MQL_CONTACT_LEN];      /* "" = none */
} row_t;

typedef struct bin {
    long from, to;                      /* inclusive; from > to: open ended */
    uint32_t count;
    int lead;                           /* at or above the threshold */
} bin_t;

typedef struct status {
    uint32_t now;
    long threshold;
    mql_visitors_stats_t st;
    double used_pct;
    uint64_t events_total;
    long snapshot_age;                  /* seconds, -1 = no snapshot */
    mql_writer_stats_t writer;
    mql_flood_status_t flood;           /* limits per client network */
    const char *geoip_db;               /* NULL = off */
    int scope;                          /* the site shown, or SCOPE_ALL */
    int want_top;                       /* the walk also fills bins and top */
    uint32_t mine_used;                 /* the scope's figures, from the walk */
    uint32_t mine_stages[MQL_STAGE_COUNT];
    uint64_t mine_events[MQL_EV_COUNT];
    int validated;                      /* ?validate: the check below ran */
    const char *problem;                /* its finding, NULL = consistent */
    /* only for the full page and ?json */
    int nbins;
    bin_t bins[HIST_BINS];
    int ntop;
    row_t top[TOP_N];
    unsigned nchanges;
    mql_change_t changes[RECENT_N];     /* newest first */
} status_t;

typedef struct detail {
    row_t row;
    unsigned nchanges;
    mql_change_t *changes;              /* this visitor's, newest first */
} detail_t;

static uint8_t csrf_key[MQL_KEY_BYTES];

static long current_score(const mql_visitor_t *v, uint32_t now)
{
    return lround(mql_current_score(v, now, (uint32_t)mql_g->half_life));
}

static void fill_row(row_t *row, const mql_visitor_t *v, const char *contact, uint32_t now)
{
    row->v = *v;
    row->score = current_score(v, now);
    mql_id_to_text(v->id, row->id);
    apr_cpystrn(row->contact, contact ? contact : "", sizeof row->contact);
}

/* "XX" from the record, "" when unknown (not looked up or "--") */
static const char *country_of(apr_pool_t *p, const mql_visitor_t *v)
{
    if (!apr_isalpha(v->country[0]) || !apr_isalpha(v->country[1]))
        return "";
    return apr_pstrmemdup(p, v->country, 2);
}

/* "download:/whitepapers/guide.pdf", "" when the visitor has no trigger */
static const char *trigger_of(apr_pool_t *p, const mql_visitor_t *v)
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
#define SCOPE_ALL (-1)
#define SCOPE_UNKNOWN (-2)

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

static int sites_mode(request_rec *r)
{
    mql_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &mql_module);

    return dc->status_sites == MQL_UNSET ? MQL_SITES_OWN : dc->status_sites;
}

static int own_site(request_rec *r)
{
    mql_srv_conf_t *sc = ap_get_module_config(r->server->module_config, &mql_module);

    return sc->site;
}

static const char *site_name(int site)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;

    if (site == SCOPE_ALL)
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
        return SCOPE_ALL;
    for (i = 0; i < mql_g->sites->nelts; i++)
        if (!strcasecmp(site_name(i), name))
            return i;
    return SCOPE_UNKNOWN;
}

/* The visitors the lists show (?site=), or an HTTP error. */
static int view_scope(request_rec *r, const char *asked, int *scope)
{
    int mode = sites_mode(r), own = own_site(r), want;

    *scope = mode == MQL_SITES_ALL ? SCOPE_ALL : own;
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
        *scope = SCOPE_ALL;
    return rc;
}

/* Whether this page may show or change one visitor. */
static int may_touch(request_rec *r, const mql_visitor_t *v)
{
    return sites_mode(r) != MQL_SITES_OWN || v->site == own_site(r);
}

static void count_mine(status_t *d, const mql_visitor_t *v)
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
static void apply_scope(status_t *d)
{
    int ev;

    if (d->scope == SCOPE_ALL)
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
    status_t *d;
} walk_t;

static int walk_visitor(const mql_visitor_t *v, const char *contact, void *baton);

/* Totals: one lock for the table's header, a stat() for the snapshot. */
static void gather_totals(request_rec *r, status_t *d)
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
    d->geoip_db = mql_g->geoip_db;
    if (d->scope != SCOPE_ALL && !d->want_top) {
        walk_t w = { d };

        mql_visitors_walk(mql_g->store, MQL_WALK_ALL, walk_visitor, &w);
        apply_scope(d);
    }
}

/* Bins of the score histogram: integer edges from 0 to the threshold. */
static void make_bins(status_t *d)
{
    long t = d->threshold > 0 ? d->threshold : 1;
    int n = t >= 8 ? 8 : (int)t, i;

    d->nbins = 0;
    d->bins[d->nbins++] = (bin_t){ .from = LONG_MIN, .to = -1 };
    for (i = 0; i < n; i++) {
        long from = (long)floor((double)i * t / n + 0.5);
        long to = (long)floor((double)(i + 1) * t / n + 0.5) - 1;
        d->bins[d->nbins++] = (bin_t){ .from = from, .to = to };
    }
    d->bins[d->nbins++] = (bin_t){ .from = t, .to = LONG_MAX, .lead = 1 };
}

static void count_in_bin(status_t *d, long score)
{
    int i;

    for (i = 0; i < d->nbins; i++)
        if (score >= d->bins[i].from && score <= d->bins[i].to) {
            d->bins[i].count++;
            return;
        }
}

/* Called with copies, outside the lock. */
static int walk_visitor(const mql_visitor_t *v, const char *contact, void *baton)
{
    status_t *d = ((walk_t *)baton)->d;
    long score;
    int at;

    if (d->scope != SCOPE_ALL && v->site != d->scope)
        return 0;
    count_mine(d, v);
    if (!d->want_top)
        return 0;
    score = current_score(v, d->now);

    count_in_bin(d, score);
    if (d->ntop == TOP_N && score <= d->top[TOP_N - 1].score)
        return 0;
    at = d->ntop < TOP_N ? d->ntop++ : TOP_N - 1;
    /* keep the list sorted, highest first */
    while (at > 0 && d->top[at - 1].score < score) {
        d->top[at] = d->top[at - 1];
        at--;
    }
    fill_row(&d->top[at], v, contact, d->now);
    return 0;
}

static void gather_changes(status_t *d)
{
    mql_change_t buf[RECENT_N];
    uint64_t seq = d->st.change_seq > RECENT_N ? d->st.change_seq - RECENT_N : 0;
    unsigned n = mql_visitors_stage_changes(mql_g->store, &seq, buf, RECENT_N, NULL), i;

    d->nchanges = 0;
    for (i = 0; i < n; i++) {
        const mql_change_t *c = &buf[n - 1 - i];
        mql_visitor_t v;

        /* for one site, the changes of its visitors still in the table */
        if (d->scope != SCOPE_ALL
            && (!mql_visitors_get_id(mql_g->store, c->id, d->now, &v, NULL) || v.site != d->scope))
            continue;
        d->changes[d->nchanges++] = *c;
    }
}

static void gather_all(request_rec *r, status_t *d)
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
static int gather_detail(request_rec *r, const uint8_t id[MQL_ID_BYTES], detail_t *dt)
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

/* ---------------------------------------------------------- formatting */

static const char *esc(apr_pool_t *p, const char *s)
{
    return ap_escape_html2(p, s ? s : "", 1);
}

/* 1234567 -> "1,234,567" */
static const char *num(apr_pool_t *p, apr_int64_t n)
{
    char digits[32], out[48];
    int len, i, o = 0;

    if (n < 0) {
        out[o++] = '-';
        n = -n;
    }
    len = apr_snprintf(digits, sizeof digits, "%" APR_INT64_T_FMT, n);
    for (i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return apr_pstrdup(p, out);
}

static const char *utc(apr_pool_t *p, uint32_t t)
{
    apr_time_exp_t tm;

    if (!t)
        return "never";
    apr_time_exp_gmt(&tm, apr_time_from_sec(t));
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *ago(apr_pool_t *p, long secs)
{
    if (secs < 0)
        return "never";
    if (secs < 60)
        return apr_psprintf(p, "%lds ago", secs);
    if (secs < 3600)
        return apr_psprintf(p, "%ldm ago", secs / 60);
    if (secs < 172800)
        return apr_psprintf(p, "%ldh %ldm ago", secs / 3600, secs % 3600 / 60);
    return apr_psprintf(p, "%ldd ago", secs / 86400);
}

static const char *bin_label(apr_pool_t *p, const bin_t *b)
{
    if (b->from == LONG_MIN)
        return "< 0";
    if (b->to == LONG_MAX)
        return apr_psprintf(p, "%ld+", b->from);
    if (b->from >= b->to)
        return apr_psprintf(p, "%ld", b->from);
    return apr_psprintf(p, "%ld-%ld", b->from, b->to);
}

/* JSON string, through the core's one writer: quotes, backslashes and
 * control characters escaped, '<' '>' '&' as \u escapes (safe inside
 * HTML too), and bytes that are not valid UTF-8 replaced by U+FFFD, so
 * every reader can parse it. */
static void json_str(request_rec *r, const char *s)
{
    ap_rputs(mql_json_str(r->pool, s ? s : "", MQL_JSON_HTML_SAFE), r);
}

/* ------------------------------------------------------------ ?auto */

static void render_auto_lines(request_rec *r, const status_t *d)
{
    static const char *const ev_keys[MQL_EV_COUNT] = {
        "View", "Download", "Form", "FormError", "Pixel", "Campaign", "App"
    };
    static const char *const stage_keys[MQL_STAGE_COUNT] = {
        "Visitor", "MQL", "SQL", "Rejected"
    };
    int i;

    if (d->scope != SCOPE_ALL)
        ap_rprintf(r, "MQLSite: %s\n", ap_escape_logitem(r->pool, site_name(d->scope)));
    ap_rprintf(r, "MQLVisitors: %u\n", d->st.used);
    ap_rprintf(r, "MQLCapacity: %u\n", d->st.capacity);
    ap_rprintf(r, "MQLCapacityUsedPercent: %.1f\n", d->used_pct);
    for (i = 0; i < MQL_STAGE_COUNT; i++)
        ap_rprintf(r, "MQLStage%s: %u\n", stage_keys[i], d->st.stages[i]);
    for (i = 0; i < MQL_EV_COUNT; i++)
        ap_rprintf(r, "MQLEvents%s: %" APR_UINT64_T_FMT "\n", ev_keys[i], d->st.events[i]);
    ap_rprintf(r, "MQLEventsTotal: %" APR_UINT64_T_FMT "\n", d->events_total);
    ap_rprintf(r, "MQLStageChanges: %" APR_UINT64_T_FMT "\n", d->st.change_seq);
    ap_rprintf(r, "MQLInserts: %" APR_UINT64_T_FMT "\n", d->st.inserts);
    ap_rprintf(r, "MQLEvictions: %" APR_UINT64_T_FMT "\n", d->st.evictions);
    ap_rprintf(r, "MQLExpired: %" APR_UINT64_T_FMT "\n", d->st.expired);
    ap_rprintf(r, "MQLTableFull: %" APR_UINT64_T_FMT "\n", d->st.full);
    ap_rprintf(r, "MQLContacts: %u\n", d->st.contacts_used);
    ap_rprintf(r, "MQLContactsCapacity: %u\n", d->st.contacts_capacity);
    ap_rprintf(r, "MQLContactsDropped: %" APR_UINT64_T_FMT "\n", d->st.contacts_dropped);
    ap_rprintf(r, "MQLRestored: %u\n", d->st.restored);
    ap_rprintf(r, "MQLSnapshotAge: %ld\n", d->snapshot_age);
    /* --- DBM writer (mod_mql_writer.c) --- */
    {
        const mql_writer_stats_t *w = &d->writer;

        ap_rprintf(r, "MQLWriterRunning: %d\n", w->writer_pid ? 1 : 0);
        ap_rprintf(r, "MQLDBMRecordsWritten: %" APR_UINT64_T_FMT "\n", w->records_written);
        ap_rprintf(r, "MQLDBMRecordsDeleted: %" APR_UINT64_T_FMT "\n", w->records_deleted);
        ap_rprintf(r, "MQLDBMPublishes: %" APR_UINT64_T_FMT "\n", w->dbm_publishes);
        ap_rprintf(r, "MQLDBMWriteErrors: %" APR_UINT64_T_FMT "\n", w->dbm_errors);
        ap_rprintf(r, "MQLDBMPending: %u\n", w->pending);
        ap_rprintf(r, "MQLNotifySent: %" APR_UINT64_T_FMT "\n", w->notify_sent);
        ap_rprintf(r, "MQLNotifyDropped: %" APR_UINT64_T_FMT "\n", w->notify_dropped);
        ap_rprintf(r, "MQLSnapshots: %" APR_UINT64_T_FMT "\n", w->snapshots);
        ap_rprintf(r, "MQLSnapshotErrors: %" APR_UINT64_T_FMT "\n", w->snapshot_errors);
    }
    /* --- flood limits (mod_mql_flood.c) --- */
    {
        const mql_flood_status_t *f = &d->flood;

        ap_rprintf(r, "MQLFloodNewVisitorLimit: %u\n", f->visitor_limit);
        ap_rprintf(r, "MQLFloodNewLeadLimit: %u\n", f->lead_limit);
        ap_rprintf(r, "MQLFloodVisitorsRefused: %" APR_UINT64_T_FMT "\n",
                   f->stats.visitors_refused);
        ap_rprintf(r, "MQLFloodLeadsHeldRate: %" APR_UINT64_T_FMT "\n",
                   f->stats.leads_held_rate);
        ap_rprintf(r, "MQLFloodLeadsHeldYoung: %" APR_UINT64_T_FMT "\n",
                   f->stats.leads_held_young);
        ap_rprintf(r, "MQLFloodTableFull: %" APR_UINT64_T_FMT "\n", f->stats.table_full);
    }
}

/* ------------------------------------------------------------ ?json */

static void json_counts(request_rec *r, const uint16_t *counts)
{
    int ev;

    ap_rputs("{", r);
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        ap_rprintf(r, "%s\"%s\":%u", ev ? "," : "", mql_event_name((mql_event_t)ev),
                   counts[ev]);
    ap_rputs("}", r);
}

static void json_row(request_rec *r, const row_t *row, uint32_t now)
{
    const mql_visitor_t *v = &row->v;

    ap_rputs("{\"id\":", r);
    json_str(r, row->id);
    ap_rprintf(r, ",\"score\":%ld,\"stage\":\"%s\",\"counts\":", row->score,
               mql_stage_name((mql_stage_t)v->stage));
    json_counts(r, v->counts);
    ap_rputs(",\"country\":", r);
    json_str(r, country_of(r->pool, v));
    ap_rputs(",\"contact\":", r);
    json_str(r, row->contact);
    ap_rputs(",\"trigger\":", r);
    json_str(r, trigger_of(r->pool, v));
    ap_rprintf(r, ",\"first_seen\":%u,\"last_seen\":%u,\"stage_since\":%u}", v->first_seen,
               v->last_seen, v->stage_since);
}

static void json_change(request_rec *r, const mql_change_t *c)
{
    char id[MQL_ID_TEXT_LEN + 1];

    mql_id_to_text(c->id, id);
    ap_rprintf(r, "{\"time\":%u,\"id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"score\":%ld,"
               "\"event\":\"%s\"}", c->time, id, mql_stage_name((mql_stage_t)c->old_stage),
               mql_stage_name((mql_stage_t)c->new_stage), lround(c->score),
               mql_event_name((mql_event_t)c->trigger_event));
}

static void render_json(request_rec *r, const status_t *d)
{
    int i;

    ap_rprintf(r, "{\"time\":%u,\"since\":%u,\"threshold\":%ld,\"site\":", d->now,
               d->st.created, d->threshold);
    json_str(r, site_name(d->scope));
    ap_rputs(",\n", r);
    if (d->validated) {
        ap_rprintf(r, "\"store_valid\":%s,\"store_problem\":", d->problem ? "false" : "true");
        if (d->problem)
            json_str(r, d->problem);
        else
            ap_rputs("null", r);
        ap_rputs(",\n", r);
    }
    ap_rprintf(r, "\"visitors\":{\"tracked\":%u,\"capacity\":%u,\"used_percent\":%.1f},\n",
               d->st.used, d->st.capacity, d->used_pct);
    ap_rputs("\"stages\":{", r);
    for (i = 0; i < MQL_STAGE_COUNT; i++)
        ap_rprintf(r, "%s\"%s\":%u", i ? "," : "", mql_stage_name((mql_stage_t)i),
                   d->st.stages[i]);
    ap_rputs("},\n\"events\":{", r);
    for (i = 0; i < MQL_EV_COUNT; i++)
        ap_rprintf(r, "%s\"%s\":%" APR_UINT64_T_FMT, i ? "," : "",
                   mql_event_name((mql_event_t)i), d->st.events[i]);
    ap_rprintf(r, "},\n\"events_total\":%" APR_UINT64_T_FMT ",\n", d->events_total);
    ap_rprintf(r, "\"health\":{\"inserts\":%" APR_UINT64_T_FMT ",\"evictions\":%"
               APR_UINT64_T_FMT ",\"expired\":%" APR_UINT64_T_FMT ",\"full\":%"
               APR_UINT64_T_FMT ",\"contacts\":%u,\"contacts_capacity\":%u,"
               "\"contacts_dropped\":%" APR_UINT64_T_FMT ",\"restored\":%u,"
               "\"stage_changes\":%" APR_UINT64_T_FMT ",\"snapshot_age\":",
               d->st.inserts, d->st.evictions, d->st.expired, d->st.full,
               d->st.contacts_used, d->st.contacts_capacity, d->st.contacts_dropped,
               d->st.restored, d->st.change_seq);
    if (d->snapshot_age < 0)
        ap_rputs("null", r);
    else
        ap_rprintf(r, "%ld", d->snapshot_age);
    /* --- DBM writer (mod_mql_writer.c): null until it reports --- */
    ap_rputs(",\"writer\":", r);
    {
        const mql_writer_stats_t *w = &d->writer;

        ap_rprintf(r, "{\"running\":%s,\"records_written\":%" APR_UINT64_T_FMT ",\"records_deleted\":%"
                   APR_UINT64_T_FMT ",\"dbm_publishes\":%" APR_UINT64_T_FMT
                   ",\"dbm_errors\":%" APR_UINT64_T_FMT ",\"pending\":%u,\"notify_sent\":%"
                   APR_UINT64_T_FMT ",\"notify_dropped\":%" APR_UINT64_T_FMT
                   ",\"snapshots\":%" APR_UINT64_T_FMT ",\"snapshot_errors\":%"
                   APR_UINT64_T_FMT ",\"last_publish\":%u,\"last_snapshot\":%u}",
                   w->writer_pid ? "true" : "false",
                   w->records_written, w->records_deleted, w->dbm_publishes, w->dbm_errors,
                   w->pending, w->notify_sent, w->notify_dropped, w->snapshots,
                   w->snapshot_errors, w->last_publish, w->last_snapshot);
    }
    ap_rprintf(r, ",\"geoip\":%s},\n", d->geoip_db ? "true" : "false");
    /* --- flood limits (mod_mql_flood.c) --- */
    {
        const mql_flood_status_t *f = &d->flood;

        ap_rprintf(r, "\"flood\":{\"new_visitor_limit\":%u,\"new_lead_limit\":%u,"
                   "\"client_network\":[%u,%u],\"lead_min_age\":%u,\"lead_min_events\":%u,"
                   "\"visitors_refused\":%" APR_UINT64_T_FMT ",\"leads_held_rate\":%"
                   APR_UINT64_T_FMT ",\"leads_held_young\":%" APR_UINT64_T_FMT
                   ",\"table_full\":%" APR_UINT64_T_FMT "},\n",
                   f->visitor_limit, f->lead_limit, f->v4_prefix, f->v6_prefix, f->min_age,
                   f->min_events, f->stats.visitors_refused, f->stats.leads_held_rate,
                   f->stats.leads_held_young, f->stats.table_full);
    }
    ap_rputs("\"histogram\":[", r);
    for (i = 0; i < d->nbins; i++) {
        ap_rprintf(r, "%s{\"label\":\"%s\",", i ? "," : "", bin_label(r->pool, &d->bins[i]));
        if (d->bins[i].from == LONG_MIN)
            ap_rputs("\"from\":null,", r);
        else
            ap_rprintf(r, "\"from\":%ld,", d->bins[i].from);
        if (d->bins[i].to == LONG_MAX)
            ap_rputs("\"to\":null,", r);
        else
            ap_rprintf(r, "\"to\":%ld,", d->bins[i].to);
        ap_rprintf(r, "\"count\":%u}", d->bins[i].count);
    }
    ap_rputs("],\n\"top\":[", r);
    for (i = 0; i < d->ntop; i++) {
        ap_rputs(i ? ",\n" : "\n", r);
        json_row(r, &d->top[i], d->now);
    }
    ap_rputs("],\n\"changes\":[", r);
    for (i = 0; i < (int)d->nchanges; i++) {
        ap_rputs(i ? ",\n" : "\n", r);
        json_change(r, &d->changes[i]);
    }
    ap_rputs("]}\n", r);
}

static void render_detail_json(request_rec *r, const detail_t *dt)
{
    unsigned i;

    ap_rputs("{\"visitor\":", r);
    json_row(r, &dt->row, (uint32_t)apr_time_sec(apr_time_now()));
    ap_rputs(",\n\"changes\":[", r);
    for (i = 0; i < dt->nchanges; i++) {
        ap_rputs(i ? ",\n" : "\n", r);
        json_change(r, &dt->changes[i]);
    }
    ap_rputs("]}\n", r);
}

/* ------------------------------------------------------------ CSRF */

/* The token of one hour, bound to the virtual host serving the page and
 * to the action (a stage change posted to this page's path): a token
 * taken from one site's status page is refused by another's, and by any
 * other action this page may gain. */
static void token_for(request_rec *r, uint64_t bucket, char out[33])
{
    const char *parts[] = {
        "mql-csrf", apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, (apr_uint64_t)bucket),
        "set-stage", r->server->server_hostname ? r->server->server_hostname : "",
        apr_itoa(r->pool, r->server->port), r->uri ? r->uri : ""
    };
    size_t len = 0, i;
    char *m;
    uint64_t a, b;

    for (i = 0; i < sizeof parts / sizeof parts[0]; i++)
        len += strlen(parts[i]) + 1;
    m = apr_palloc(r->pool, len + 1);
    /* fields ended by NUL bytes, so that no host and path pass for another pair */
    for (len = 0, i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]) + 1;

        memcpy(m + len, parts[i], n);
        len += n;
    }
    m[len] = '1';
    a = apr_siphash24(m, len + 1, csrf_key);
    m[len] = '2';
    b = apr_siphash24(m, len + 1, csrf_key);
    apr_snprintf(out, 33, "%016" APR_UINT64_T_HEX_FMT "%016" APR_UINT64_T_HEX_FMT,
                 (apr_uint64_t)a, (apr_uint64_t)b);
}

static const char *current_token(request_rec *r)
{
    char t[33];

    token_for(r, (uint64_t)apr_time_sec(apr_time_now()) / TOKEN_BUCKET, t);
    return apr_pstrdup(r->pool, t);
}

static int token_ok(request_rec *r, const char *given)
{
    uint64_t bucket = (uint64_t)apr_time_sec(apr_time_now()) / TOKEN_BUCKET;
    int k, ok = 0;

    if (!given || strlen(given) != 32)
        return 0;
    for (k = 0; k < 2; k++) {
        char want[33];
        unsigned diff = 0;
        int i;

        token_for(r, bucket - (uint64_t)k, want);
        for (i = 0; i < 32; i++)         /* constant time */
            diff |= (unsigned char)(want[i] ^ given[i]);
        ok |= diff == 0;
    }
    return ok;
}

/* A key of this generation, drawn at start and mixed with the secret. */
static int status_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                              server_rec *s)
{
    uint8_t seed[32];
    uint64_t a, b;

    if (apr_generate_random_bytes(seed, 16) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL04020: no random bytes for the status page's form key");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memcpy(seed + 16, mql_g ? mql_g->key : seed, 16);
    a = apr_siphash24(seed + 16, 16, seed);
    b = apr_siphash24(seed, 16, seed + 16);
    memcpy(csrf_key, &a, 8);
    memcpy(csrf_key + 8, &b, 8);
    memset(seed, 0, sizeof seed);
    return OK;
}

/* ------------------------------------------------------------ HTML */

static const char page_css[] =
    ":root{--fg:#1f2933;--muted:#677788;--line:#e4e7eb;--bg:#f4f6f9;--card:#fff;"
    "--accent:#2f6fde;--lead:#e8890c}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',"
    "Arial,sans-serif;color:var(--fg);background:var(--bg)}"
    "a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}"
    "header{background:#1f2933;color:#fff;padding:14px 20px;display:flex;"
    "align-items:baseline;justify-content:space-between;gap:16px}"
    "header h1{font-size:18px;margin:0;font-weight:600}header h1 span{color:#9fb3c8;"
    "font-weight:400}header .meta{color:#bcccdc;font-size:12px}header .meta a{color:#d9e2ec}"
    "main{max-width:1240px;margin:0 auto;padding:18px 20px 28px}"
    ".cards{display:grid;grid-template-columns:repeat(5,1fr);gap:14px;margin-bottom:16px}"
    ".card,section{background:var(--card);border:1px solid var(--line);border-radius:8px}"
    ".card{padding:12px 16px}"
    ".card .k{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;"
    "font-weight:600}.card .v{font-size:26px;font-weight:650;margin-top:2px;"
    "font-variant-numeric:tabular-nums}.card .s{font-size:12px;color:var(--muted)}"
    ".meter{height:6px;background:var(--line);border-radius:3px;margin-top:8px;"
    "overflow:hidden}.meter span{display:block;height:100%;background:var(--accent)}"
    ".grid2{display:grid;grid-template-columns:3fr 2fr;gap:14px}"
    "section{padding:14px 16px;margin-bottom:16px;overflow-x:auto}"
    "h2{font-size:14px;margin:0 0 10px;font-weight:650}h2 small{color:var(--muted);"
    "font-weight:400;margin-left:6px}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:5px 6px;border-bottom:1px solid var(--line);"
    "white-space:nowrap;vertical-align:middle}tr:last-child td{border-bottom:0}"
    "th{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;"
    "font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px}"
    ".trunc{max-width:125px;overflow:hidden;text-overflow:ellipsis}"
    "#top td{font-size:13px}"
    ".muted{color:var(--muted)}"
    ".pill{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;"
    "font-weight:600}.st-visitor{background:#eef2f7;color:#52606d}"
    ".st-mql{background:#fdf0dc;color:#a85d06}.st-sql{background:#e1f5e8;color:#1b7340}"
    ".st-rejected{background:#f1f1f1;color:#7b8794}"
    "form{display:inline;margin:0}button{font:inherit;font-size:12px;padding:1px 7px;"
    "border:1px solid #cbd2d9;border-radius:4px;background:#fff;color:var(--fg);"
    "cursor:pointer}button:hover{background:#f0f4f8}button:disabled{opacity:.45;"
    "cursor:default}"
    ".kv td:first-child{color:var(--muted)}.kv td{padding:5px 8px;white-space:normal}#visitor td:first-child{width:180px}"
    ".warn{color:#b42318;font-weight:600}.ok{color:#1b7340}"
    ".flash{background:#e1f5e8;border:1px solid #b7e4c7;color:#1b7340;padding:8px 12px;"
    "border-radius:6px;margin-bottom:14px}"
    "footer{color:var(--muted);font-size:12px}svg text{font-family:inherit}";

static void html_head(request_rec *r, const char *title, const status_t *d)
{
    ap_rputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             "<meta name=\"robots\" content=\"noindex\">", r);
    ap_rprintf(r, "<title>%s</title><style>%s</style></head><body>\n", esc(r->pool, title),
               page_css);
    ap_rprintf(r, "<header><h1>mod_mql <span>lead scoring &middot; %s</span></h1>"
               "<div class=\"meta\">%s &middot; tracking since %s &middot; "
               "<a href=\"?\">overview</a> &middot; <a href=\"?json\">json</a> &middot; "
               "<a href=\"?auto\">auto</a> &middot; <span id=\"site\">%s</span></div>"
               "</header>\n<main>\n",
               esc(r->pool, ap_get_server_name(r)), utc(r->pool, d->now),
               utc(r->pool, d->st.created),
               d->scope == SCOPE_ALL ? "all sites"
                   : apr_pstrcat(r->pool, "site ", esc(r->pool, site_name(d->scope)),
                                 sites_mode(r) == MQL_SITES_OWN ? ""
                                     : " (<a href=\"?site=all\">all sites</a>)", NULL));
}

static void html_foot(request_rec *r)
{
    ap_rprintf(r, "<footer>mod_mql %s &middot; %s &middot; figures copied from the shared "
               "table when this page was made</footer>\n</main></body></html>\n",
               esc(r->pool, MQL_VERSION), esc(r->pool, ap_get_server_description()));
}

static void html_card(request_rec *r, const char *key, const char *id, const char *value,
                      const char *sub, double meter)
{
    ap_rprintf(r, "<div class=\"card\"><div class=\"k\">%s</div><div class=\"v\" id=\"%s\">"
               "%s</div><div class=\"s\">%s</div>", key, id, value, sub);
    if (meter >= 0)
        ap_rprintf(r, "<div class=\"meter\"><span style=\"width:%.1f%%\"></span></div>",
                   meter > 100 ? 100.0 : meter);
    ap_rputs("</div>\n", r);
}

static void html_cards(request_rec *r, const status_t *d)
{
    apr_pool_t *p = r->pool;

    ap_rputs("<div class=\"cards\">\n", r);
    html_card(r, "Visitors tracked", "visitors", num(p, d->st.used),
              apr_psprintf(p, "of %s &middot; <span id=\"used-pct\">%.1f</span>%% used",
                           num(p, d->st.capacity), d->used_pct), d->used_pct);
    html_card(r, "MQLs", "stage-mql", num(p, d->st.stages[MQL_STAGE_MQL]),
              apr_psprintf(p, "score %ld or more", d->threshold), -1);
    html_card(r, "SQLs", "stage-sql", num(p, d->st.stages[MQL_STAGE_SQL]),
              "accepted by sales", -1);
    html_card(r, "Rejected", "stage-rejected", num(p, d->st.stages[MQL_STAGE_REJECTED]),
              "declined by sales", -1);
    html_card(r, "Events scored", "events-total", num(p, (apr_int64_t)d->events_total),
              apr_psprintf(p, "%s stage changes", num(p, (apr_int64_t)d->st.change_seq)), -1);
    ap_rputs("</div>\n", r);
}

/* Vertical bars: visitors per score range, leads in orange. */
static void svg_histogram(request_rec *r, const status_t *d)
{
    const int w = 600, h = 200, left = 40, right = 10, top = 14, bottom = 34;
    const int pw = w - left - right, ph = h - top - bottom;
    uint32_t max = 1;
    double slot;
    int i, g;

    for (i = 0; i < d->nbins; i++)
        if (d->bins[i].count > max)
            max = d->bins[i].count;
    slot = (double)pw / d->nbins;
    ap_rprintf(r, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
               "aria-label=\"Visitors by current score\">", w, h);
    for (g = 0; g <= 4; g++) {
        double y = top + ph - (double)ph * g / 4;
        ap_rprintf(r, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e7eb\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#677788\" "
                   "text-anchor=\"end\">%s</text>", left, w - right, y, y, left - 6, y + 3,
                   num(r->pool, (apr_int64_t)llround((double)max * g / 4)));
    }
    for (i = 0; i < d->nbins; i++) {
        const bin_t *b = &d->bins[i];
        double bh = (double)ph * b->count / max, x = left + slot * i + slot * 0.12;
        double bw = slot * 0.76;

        ap_rprintf(r, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
                   "fill=\"%s\"><title>%s: %u</title></rect>", x, top + ph - bh, bw,
                   bh < 1 && b->count ? 1.0 : bh, b->lead ? "#e8890c" : "#2f6fde",
                   bin_label(r->pool, b), b->count);
        if (b->count)
            ap_rprintf(r, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#1f2933\" "
                       "text-anchor=\"middle\">%s</text>", x + bw / 2, top + ph - bh - 3,
                       num(r->pool, b->count));
        ap_rprintf(r, "<text x=\"%.1f\" y=\"%d\" font-size=\"10.5\" fill=\"#677788\" "
                   "text-anchor=\"middle\">%s</text>", x + bw / 2, h - bottom + 15,
                   bin_label(r->pool, b));
    }
    ap_rprintf(r, "<text x=\"%d\" y=\"%d\" font-size=\"10.5\" fill=\"#677788\" "
               "text-anchor=\"middle\">current score (orange: at or above the threshold, "
               "%ld)</text></svg>", left + pw / 2, h - 4, d->threshold);
}

/* Horizontal bars: events scored since the table was created. */
static const char *const ev_labels[MQL_EV_COUNT] = {
    "Views", "Downloads", "Forms", "Form errors", "Pixels", "Email clicks", "App events"
};

static void svg_events(request_rec *r, const status_t *d)
{
    static const char *const colours[MQL_EV_COUNT] = {
        "#2f6fde", "#7c5cd6", "#1f9d55", "#d64545", "#0f9bb0", "#e8890c", "#52606d"
    };
    const int w = 440, row = 26, left = 96, right = 56, top = 6;
    uint64_t max = 1;
    int i;

    for (i = 0; i < MQL_EV_COUNT; i++)
        if (d->st.events[i] > max)
            max = d->st.events[i];
    ap_rprintf(r, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
               "aria-label=\"Events by type\">", w, top * 2 + row * MQL_EV_COUNT);
    for (i = 0; i < MQL_EV_COUNT; i++) {
        double bw = (double)(w - left - right) * (double)d->st.events[i] / (double)max;
        int y = top + row * i;

        ap_rprintf(r, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#3e4c59\" "
                   "text-anchor=\"end\">%s</text><rect x=\"%d\" y=\"%d\" width=\"%d\" "
                   "height=\"16\" rx=\"3\" fill=\"#f0f2f5\"/><rect x=\"%d\" y=\"%d\" "
                   "width=\"%.1f\" height=\"16\" rx=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" "
                   "font-size=\"12\" fill=\"#1f2933\" id=\"ev-%s\">%s</text>",
                   left - 8, y + 12, ev_labels[i], left, y, w - left - right, left, y,
                   bw, colours[i], w - right + 6, y + 12,
                   mql_event_name((mql_event_t)i), num(r->pool, (apr_int64_t)d->st.events[i]));
    }
    ap_rputs("</svg>", r);
}

static void html_stage(request_rec *r, int stage)
{
    const char *name = mql_stage_name((mql_stage_t)stage);

    ap_rprintf(r, "<span class=\"pill st-%s\">%s</span>", name, name);
}

/* Buttons posting a stage change for one visitor. */
static void html_stage_form(request_rec *r, const char *token, const row_t *row, int all)
{
    static const struct { int stage; const char *label; } choices[] = {
        { MQL_STAGE_SQL, "Accept (SQL)" },
        { MQL_STAGE_REJECTED, "Reject" },
        { MQL_STAGE_MQL, "Back to MQL" },
    };
    size_t i;

    ap_rprintf(r, "<form method=\"post\" action=\"%s\">"
               "<input type=\"hidden\" name=\"token\" value=\"%s\">"
               "<input type=\"hidden\" name=\"visitor\" value=\"%s\">",
               esc(r->pool, r->uri), token, esc(r->pool, row->id));
    for (i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        int here = row->v.stage == choices[i].stage;

        if (!all && (here || choices[i].stage == MQL_STAGE_MQL))
            continue;
        ap_rprintf(r, "<button name=\"stage\" value=\"%s\"%s>%s</button> ",
                   mql_stage_name((mql_stage_t)choices[i].stage), here ? " disabled" : "",
                   all ? choices[i].label : (choices[i].stage == MQL_STAGE_SQL ? "Accept"
                                                                               : "Reject"));
    }
    ap_rputs("</form>", r);
}

static void html_top(request_rec *r, const status_t *d, const char *token)
{
    int i;

    ap_rprintf(r, "<section><h2>Top visitors by score<small>%d of %s</small></h2>\n",
               d->ntop, num(r->pool, d->st.used));
    if (!d->ntop) {
        ap_rputs("<p class=\"muted\">No visitors yet.</p></section>\n", r);
        return;
    }
    ap_rputs("<table id=\"top\"><tr><th class=\"n\">#</th><th>Visitor</th>"
             "<th class=\"n\">Score</th><th>Stage</th><th class=\"n\">Views</th>"
             "<th class=\"n\">Downl.</th><th class=\"n\">Forms</th><th class=\"n\">Other</th>"
             "<th>Country</th><th>Contact</th><th>Trigger</th><th>Last seen</th>"
             "<th>Sales</th></tr>\n", r);
    for (i = 0; i < d->ntop; i++) {
        const row_t *row = &d->top[i];
        const mql_visitor_t *v = &row->v;
        const char *cc = country_of(r->pool, v), *trig = trigger_of(r->pool, v);
        unsigned other = (unsigned)v->counts[MQL_EV_PIXEL] + v->counts[MQL_EV_CAMPAIGN]
                         + v->counts[MQL_EV_APP] + v->counts[MQL_EV_FORM_ERROR];

        ap_rprintf(r, "<tr><td class=\"n muted\">%d</td><td class=\"id\"><a href=\"?visitor=%s\">"
                   "%s</a></td><td class=\"n\"><b>%ld</b></td><td>", i + 1,
                   esc(r->pool, row->id), esc(r->pool, row->id), row->score);
        html_stage(r, v->stage);
        ap_rprintf(r, "</td><td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%u"
                   "</td><td class=\"n\">%u</td><td>%s</td><td class=\"trunc\" title=\"%s\">%s"
                   "</td><td class=\"trunc\" title=\"%s\">%s</td><td title=\"%s\">%s</td><td>",
                   v->counts[MQL_EV_VIEW], v->counts[MQL_EV_DOWNLOAD], v->counts[MQL_EV_FORM],
                   other, *cc ? esc(r->pool, cc) : "<span class=\"muted\">&ndash;</span>",
                   esc(r->pool, row->contact), esc(r->pool, row->contact),
                   esc(r->pool, trig), esc(r->pool, trig), utc(r->pool, v->last_seen),
                   ago(r->pool, (long)d->now - (long)v->last_seen));
        if (v->stage == MQL_STAGE_MQL)
            html_stage_form(r, token, row, 0);
        ap_rputs("</td></tr>\n", r);
    }
    ap_rputs("</table></section>\n", r);
}

static void html_changes(request_rec *r, const mql_change_t *c, unsigned n, uint32_t now,
                         const char *title)
{
    unsigned i;

    ap_rprintf(r, "<section><h2>%s</h2>\n", title);
    if (!n) {
        ap_rputs("<p class=\"muted\">No stage changes yet.</p></section>\n", r);
        return;
    }
    ap_rputs("<table id=\"changes\"><tr><th>When</th><th>Visitor</th><th>Change</th>"
             "<th class=\"n\">Score</th><th>Event</th></tr>\n", r);
    for (i = 0; i < n; i++) {
        char id[MQL_ID_TEXT_LEN + 1];

        mql_id_to_text(c[i].id, id);
        ap_rprintf(r, "<tr><td title=\"%s\">%s</td><td class=\"id\"><a href=\"?visitor=%s\">%s"
                   "</a></td><td>", utc(r->pool, c[i].time),
                   ago(r->pool, (long)now - (long)c[i].time), id, id);
        html_stage(r, c[i].old_stage);
        ap_rputs(" &rarr; ", r);
        html_stage(r, c[i].new_stage);
        ap_rprintf(r, "</td><td class=\"n\">%ld</td><td>%s</td></tr>\n", lround(c[i].score),
                   MQL_STAGE_IS_LEAD(c[i].old_stage)
                   ? "<span class=\"muted\">sales</span>"
                   : mql_event_name((mql_event_t)c[i].trigger_event));
    }
    ap_rputs("</table></section>\n", r);
}

static void kv(request_rec *r, const char *key, const char *id, const char *value)
{
    ap_rprintf(r, "<tr><td>%s</td><td class=\"n\" id=\"%s\">%s</td></tr>\n", key, id, value);
}

static const char *bad_if(apr_pool_t *p, apr_uint64_t n)
{
    return n ? apr_psprintf(p, "<span class=\"warn\">%s</span>", num(p, (apr_int64_t)n))
             : "0";
}

static void html_health(request_rec *r, const status_t *d)
{
    apr_pool_t *p = r->pool;

    ap_rputs("<section><h2>Store health</h2><table class=\"kv\">\n", r);
    kv(r, "Visitors added", "inserts", num(p, (apr_int64_t)d->st.inserts));
    kv(r, "Evicted (table full, low value)", "evictions",
       num(p, (apr_int64_t)d->st.evictions));
    kv(r, "Expired (idle)", "expired", num(p, (apr_int64_t)d->st.expired));
    kv(r, "Refused: table full of leads", "full", bad_if(p, d->st.full));
    kv(r, "Contacts stored", "contacts",
       apr_psprintf(p, "%s of %s", num(p, d->st.contacts_used),
                    num(p, d->st.contacts_capacity)));
    kv(r, "Contacts dropped", "contacts-dropped", bad_if(p, d->st.contacts_dropped));
    kv(r, "Restored from snapshot", "restored", num(p, d->st.restored));
    kv(r, "Snapshot age", "snapshot-age",
       d->snapshot_age < 0 ? "<span class=\"muted\">none yet</span>"
                           : apr_psprintf(p, "<span title=\"%ld s\">%s</span>",
                                          d->snapshot_age, ago(p, d->snapshot_age)));
    /* --- DBM writer (mod_mql_writer.c) --- */
    {
        const mql_writer_stats_t *w = &d->writer;

        kv(r, "Background writer", "writer",
           w->writer_pid ? apr_psprintf(p, "<span class=\"ok\" title=\"last round %s\">"
                                        "running</span> <span class=\"muted\">pid %u</span>",
                                        ago(p, (long)d->now - (long)w->last_tick),
                                        w->writer_pid)
                         : "<span class=\"warn\">not running</span>");
        kv(r, "DBM records written", "dbm-writes", num(p, (apr_int64_t)w->records_written));
        kv(r, "DBM records waiting (retry)", "dbm-pending", bad_if(p, w->pending));
        kv(r, "DBM write errors", "dbm-errors", bad_if(p, w->dbm_errors));
        kv(r, "DBM last written", "dbm-last",
           w->last_publish ? ago(p, (long)d->now - (long)w->last_publish)
                           : "<span class=\"muted\">never</span>");
        kv(r, "Notifications sent / dropped", "notify",
           apr_psprintf(p, "%s / %s", num(p, (apr_int64_t)w->notify_sent),
                        bad_if(p, w->notify_dropped)));
    }
    kv(r, "GeoIP", "geoip", d->geoip_db ? "on" : "<span class=\"muted\">off</span>");
    /* --- flood limits (mod_mql_flood.c) --- */
    {
        const mql_flood_status_t *f = &d->flood;
        const char *per_min = " per client network and minute";

        kv(r, f->visitor_limit ? apr_psprintf(p, "New visitors refused (over %u%s)",
                                              f->visitor_limit, per_min)
                               : "New visitors refused (MQLNewVisitorLimit 0: no limit)",
           "flood-visitors-refused", bad_if(p, f->stats.visitors_refused));
        kv(r, f->lead_limit ? apr_psprintf(p, "Leads held back (over %u new leads%s)",
                                           f->lead_limit, per_min)
                            : "Leads held back (MQLNewLeadLimit 0: no limit)",
           "flood-leads-held-rate", bad_if(p, f->stats.leads_held_rate));
        kv(r, apr_psprintf(p, "Leads held back (younger than %u s or fewer than %u events)",
                           f->min_age, f->min_events),
           "flood-leads-held-young", num(p, (apr_int64_t)f->stats.leads_held_young));
        kv(r, "Flood limits' table full (let through)", "flood-table-full",
           bad_if(p, f->stats.table_full));
    }
    ap_rputs("</table></section>\n", r);
}

static void render_html(request_rec *r, const status_t *d)
{
    const char *token = current_token(r);

    html_head(r, "mod_mql status", d);
    html_cards(r, d);
    ap_rputs("<div class=\"grid2\"><section><h2>Score distribution<small>visitors by current "
             "score</small></h2>", r);
    svg_histogram(r, d);
    ap_rputs("</section><section><h2>Events by type<small>since tracking began</small></h2>", r);
    svg_events(r, d);
    ap_rputs("</section></div>\n", r);
    html_top(r, d, token);
    ap_rputs("<div class=\"grid2\">", r);
    html_changes(r, d->changes, d->nchanges, d->now, "Recent stage changes");
    html_health(r, d);
    ap_rputs("</div>\n", r);
    html_foot(r);
}

static void render_detail_html(request_rec *r, const status_t *d, const detail_t *dt,
                               const char *flash)
{
    const row_t *row = &dt->row;
    const mql_visitor_t *v = &row->v;
    apr_pool_t *p = r->pool;
    const char *cc = country_of(p, v);
    int ev;

    html_head(r, apr_pstrcat(p, "Visitor ", row->id, NULL), d);
    if (flash)
        ap_rprintf(r, "<div class=\"flash\">%s</div>\n", flash);
    ap_rprintf(r, "<section><h2>Visitor <span class=\"id\">%s</span></h2>"
               "<table class=\"kv\" id=\"visitor\">\n", esc(p, row->id));
    ap_rprintf(r, "<tr><td>Stage</td><td>");
    html_stage(r, v->stage);
    ap_rprintf(r, " <span class=\"muted\">since %s</span></td></tr>\n",
               utc(p, v->stage_since ? v->stage_since : v->first_seen));
    ap_rprintf(r, "<tr><td>Score</td><td id=\"score\"><b>%ld</b> <span class=\"muted\">"
               "(threshold %ld)</span></td></tr>\n", row->score, d->threshold);
    ap_rprintf(r, "<tr><td>Country</td><td>%s</td></tr>\n",
               *cc ? esc(p, cc) : "<span class=\"muted\">unknown</span>");
    ap_rprintf(r, "<tr><td>Contact</td><td id=\"contact\">%s</td></tr>\n",
               *row->contact ? esc(p, row->contact) : "<span class=\"muted\">none</span>");
    ap_rprintf(r, "<tr><td>Trigger</td><td id=\"trigger\">%s</td></tr>\n",
               esc(p, trigger_of(p, v)));
    ap_rprintf(r, "<tr><td>First seen</td><td>%s</td></tr>\n", utc(p, v->first_seen));
    ap_rprintf(r, "<tr><td>Last seen</td><td>%s (%s)</td></tr>\n", utc(p, v->last_seen),
               ago(p, (long)d->now - (long)v->last_seen));
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        ap_rprintf(r, "<tr><td>%s</td><td class=\"n\" style=\"text-align:left\">%u</td></tr>\n",
                   ev_labels[ev], v->counts[ev]);
    ap_rputs("<tr><td>Sales decision</td><td>", r);
    html_stage_form(r, current_token(r), row, 1);
    ap_rputs("</td></tr></table></section>\n", r);
    html_changes(r, dt->changes, dt->nchanges, d->now, "Stage changes of this visitor");
    html_foot(r);
}

/* ------------------------------------------------------------ requests */

typedef struct query {
    int json, autoview, validate;
    int refresh;                /* 0 = none */
    const char *visitor;        /* as given, NULL = overview */
    const char *done;           /* stage just set (after the POST's redirect) */
    const char *site;           /* ?site=all or ?site=NAME, NULL = the default */
} query_t;

static void parse_query(request_rec *r, query_t *q)
{
    const char *args = r->args ? r->args : "";

    memset(q, 0, sizeof *q);
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

static int parse_id(const char *text, uint8_t id[MQL_ID_BYTES])
{
    return text && mql_id_from_text(text, strlen(text), id);
}

static int status_get(request_rec *r)
{
    status_t *d = apr_pcalloc(r->pool, sizeof *d);
    query_t q;
    int rc;

    parse_query(r, &q);
    if ((rc = view_scope_of(r, q.site, &d->scope)) != OK)
        return rc;
    if (q.refresh)
        apr_table_setn(r->headers_out, "Refresh", apr_itoa(r->pool, q.refresh));

    if (q.visitor) {
        detail_t *dt = apr_pcalloc(r->pool, sizeof *dt);
        uint8_t id[MQL_ID_BYTES];
        int stage = q.done ? mql_stage_from_name(q.done) : -1;

        if (!parse_id(q.visitor, id))
            return HTTP_BAD_REQUEST;
        gather_totals(r, d);
        /* another site's visitor is as unknown here as an absent one */
        if (!gather_detail(r, id, dt) || !may_touch(r, &dt->row.v))
            return HTTP_NOT_FOUND;
        if (q.json) {
            ap_set_content_type(r, "application/json");
            render_detail_json(r, dt);
        }
        else {
            ap_set_content_type(r, "text/html; charset=utf-8");
            render_detail_html(r, d, dt, stage > 0
                               ? apr_pstrcat(r->pool, "Stage set to ",
                                             mql_stage_name((mql_stage_t)stage), ".", NULL)
                               : NULL);
        }
        return OK;
    }
    if (q.autoview) {
        gather_totals(r, d);
        ap_set_content_type(r, "text/plain; charset=utf-8");
        render_auto_lines(r, d);
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
        render_json(r, d);
    }
    else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        render_html(r, d);
    }
    return OK;
}

/* "scheme://host[:port]/..." names host (the request's Host header). */
static int url_names_host(const char *url, const char *host)
{
    const char *a = ap_strstr_c(url, "://"), *end;

    if (!a || !host)
        return 0;
    a += 3;
    end = a + strcspn(a, "/?#");
    return (size_t)(end - a) == strlen(host) && !strncasecmp(a, host, (size_t)(end - a));
}

/* Browsers name the page a POST came from; another site's is refused. */
static int same_origin(request_rec *r)
{
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *referer = apr_table_get(r->headers_in, "Referer");

    if (!host)
        host = r->hostname;
    if (origin)
        return url_names_host(origin, host);
    if (referer)
        return url_names_host(referer, host);
    return 1;
}

static const char *form_value(request_rec *r, apr_array_header_t *pairs, const char *name)
{
    ap_form_pair_t *fp = (ap_form_pair_t *)pairs->elts;
    int i;

    for (i = 0; i < pairs->nelts; i++) {
        if (!strcmp(fp[i].name, name)) {
            apr_off_t len;
            apr_size_t size;
            char *buf;

            apr_brigade_length(fp[i].value, 1, &len);
            if (len < 0 || len > 256)
                return NULL;
            size = (apr_size_t)len;
            buf = apr_palloc(r->pool, size + 1);
            apr_brigade_flatten(fp[i].value, buf, &size);
            buf[size] = '\0';
            return buf;
        }
    }
    return NULL;
}

static int refuse(request_rec *r, int status, const char *why, const char *message)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "MQL04021: status page: stage change refused (%s)", why);
    ap_custom_response(r, status, message);
    return status;
}

static int status_post(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_array_header_t *pairs = NULL;
    const char *vid, *stage_name, *token;
    uint8_t id[MQL_ID_BYTES];
    int stage;
    apr_status_t rv;

    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33)
        || (ct[33] && ct[33] != ';' && ct[33] != ' '))
        return refuse(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "not a form",
                      "The status page takes only its own form.");
    if (!same_origin(r))
        return refuse(r, HTTP_FORBIDDEN, "from another site",
                      "Stage changes are accepted only from this status page.");
    if (ap_parse_form_data(r, NULL, &pairs, 8, 4096) != OK || !pairs)
        return refuse(r, HTTP_BAD_REQUEST, "unreadable form", "Unreadable form.");
    vid = form_value(r, pairs, "visitor");
    stage_name = form_value(r, pairs, "stage");
    token = form_value(r, pairs, "token");
    if (!token_ok(r, token))
        return refuse(r, HTTP_FORBIDDEN, "missing or expired token",
                      "The form has expired or did not come from this status page: "
                      "reload the page and try again.");
    stage = stage_name ? mql_stage_from_name(stage_name) : -1;
    if (!parse_id(vid, id) || stage <= MQL_STAGE_VISITOR)
        return refuse(r, HTTP_BAD_REQUEST, "bad visitor or stage",
                      "Expects a visitor ID and a stage: sql, rejected or mql.");
    {
        mql_visitor_t v;

        /* another site's lead is as unknown here as an absent one */
        if (!mql_visitors_get_id(mql_g->store, id, (uint32_t)apr_time_sec(apr_time_now()), &v, NULL))
            return HTTP_NOT_FOUND;
        if (!may_touch(r, &v)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "MQL04024: status page: stage "
                          "change refused: visitor %s belongs to another site "
                          "(MQLStatusSites own)", vid);
            return HTTP_NOT_FOUND;
        }
    }
    rv = mql_visitors_set_stage(mql_g->store, id, (mql_stage_t)stage,
                             (uint32_t)apr_time_sec(apr_time_now()));
    if (rv == APR_ENOENT)
        return HTTP_NOT_FOUND;
    if (rv != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "MQL04022: visitor %s set to stage %s from the status page by %s%s%s",
                  vid, mql_stage_name((mql_stage_t)stage), r->useragent_ip,
                  r->user ? " user " : "", r->user ? ap_escape_logitem(r->pool, r->user) : "");
    /* Post/Redirect/Get: a reload does not post again. */
    apr_table_setn(r->headers_out, "Location",
                   ap_construct_url(r->pool, apr_pstrcat(r->pool, r->uri, "?visitor=", vid,
                                                         "&done=",
                                                         mql_stage_name((mql_stage_t)stage),
                                                         NULL), r));
    return HTTP_SEE_OTHER;
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
        return status_post(r);
    return status_get(r);
}

/* ------------------------------------------------- /server-status */

static int server_status_section(request_rec *r, int flags)
{
    status_t *d;
    apr_pool_t *p = r->pool;
    int i;

    if (!mql_g || !mql_g->store_ready)
        return OK;
    d = apr_pcalloc(p, sizeof *d);
    d->scope = SCOPE_ALL;       /* totals only, no visitor: the server's */
    gather_totals(r, d);
    if (flags & AP_STATUS_SHORT) {
        render_auto_lines(r, d);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_mql lead scoring</h2>\n<table border=\"0\">\n", r);
    ap_rprintf(r, "<tr><td>Visitors tracked</td><td>%u of %u (%.1f%%)</td></tr>\n",
               d->st.used, d->st.capacity, d->used_pct);
    ap_rputs("<tr><td>Leads</td><td>", r);
    for (i = MQL_STAGE_MQL; i < MQL_STAGE_COUNT; i++)
        ap_rprintf(r, "%s%s %u", i > MQL_STAGE_MQL ? ", " : "",
                   mql_stage_name((mql_stage_t)i), d->st.stages[i]);
    ap_rputs("</td></tr>\n<tr><td>Events scored</td><td>", r);
    for (i = 0; i < MQL_EV_COUNT; i++)
        ap_rprintf(r, "%s%s %" APR_UINT64_T_FMT, i ? ", " : "",
                   mql_event_name((mql_event_t)i), d->st.events[i]);
    ap_rprintf(r, "</td></tr>\n<tr><td>Evictions / expired / table full</td><td>%"
               APR_UINT64_T_FMT " / %" APR_UINT64_T_FMT " / %" APR_UINT64_T_FMT "</td></tr>\n",
               d->st.evictions, d->st.expired, d->st.full);
    ap_rprintf(r, "<tr><td>Contacts dropped</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
               d->st.contacts_dropped);
    ap_rprintf(r, "<tr><td>Snapshot age</td><td>%s</td></tr>\n", ago(p, d->snapshot_age));
    ap_rprintf(r, "<tr><td>DBM records waiting / write errors</td><td>%u / %"
                   APR_UINT64_T_FMT "</td></tr>\n", d->writer.pending, d->writer.dbm_errors);
    ap_rputs("</table>\n", r);
    return OK;
}

void mql_register_status(apr_pool_t *p)
{
    ap_hook_post_config(status_post_config, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, server_status_section, NULL, NULL, APR_HOOK_MIDDLE);
}
