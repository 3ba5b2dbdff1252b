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
 * The status page's figures, described once (mod_mql_status.c gathers
 * them): the tables below name each figure for ?auto, ?json and the HTML
 * page's health table, and the core's emitters (mql_status_table.c) write
 * them.  This file also writes `?json` (application/json, also one
 * visitor's with ?visitor=ID&json) and `?auto`, mod_status's plain
 * "Key: value" lines, which mod_status's own ?auto page shows too.
 *
 * These are interfaces: monitoring and scripts parse them, so their keys
 * and their order change only on purpose; where ?auto and ?json list a
 * figure at different places (as 1.0 did), a table has a row for each
 * place.  A new counter is a field in the gathered struct and one row in
 * its table.  Every string a visitor or an application chose is escaped
 * for JSON where it is written; ?auto has no such strings but the site's
 * name and Redis' last error, escaped as log items.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "mod_mql_private.h"
#include "mod_mql_status_int.h"
#include "mod_mql_webhook.h"
#include "mod_mql_touch.h"
#include "mql_cookie.h"
#include "mql_json.h"

/* JSON string, through the core's one writer: quotes, backslashes and
 * control characters escaped, '<' '>' '&' as \u escapes (safe inside
 * HTML too), and bytes that are not valid UTF-8 replaced by U+FFFD, so
 * every reader can parse it. */
static void json_str(request_rec *r, const char *s)
{
    ap_rputs(mql_json_str(r->pool, s ? s : "", MQL_JSON_HTML_SAFE), r);
}

static const char *esc_html(apr_pool_t *p, const char *s)
{
    return ap_escape_html(p, s);
}

static const char *esc_auto(apr_pool_t *p, const char *s)
{
    return ap_escape_logitem(p, s);
}

/* httpd's escapes for what the core's emitters write */
void mql_status_env(request_rec *r, mql_stat_env_t *env, uint32_t now)
{
    mql_stat_env_init(env, r->pool, now);
    env->esc_html = esc_html;
    env->esc_auto = esc_auto;
}

void mql_status_section(request_rec *r, int how, uint32_t now,
                        const mql_status_section_t *sec, const void *inst)
{
    void *data = apr_pcalloc(r->pool, sec->size);
    int shown = sec->gather(data, inst, r->pool, now);
    mql_stat_env_t env;

    mql_status_env(r, &env, now);
    switch (how) {
    case MQL_STORE_STATUS_HTML:
        if (shown)
            ap_rputs(mql_stat_html(&env, sec->rows, data), r);
        break;
    case MQL_STORE_STATUS_AUTO:
        if (shown)
            ap_rputs(mql_stat_auto(&env, sec->rows, data), r);
        break;
    case MQL_STORE_STATUS_JSON:
        /* a member of the page's object, after the store's: null when
         * there is nothing to show */
        ap_rprintf(r, ",\n\"%s\":", sec->name);
        if (shown)
            ap_rvputs(r, "{", mql_stat_json(&env, sec->rows, data, 1), "}", NULL);
        else
            ap_rputs("null", r);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------ cells and labels */

#define AT(type) MQL_STAT_AT(row, base, type)
#define MUTED(text) "<span class=\"muted\">" text "</span>"

static const char *event_elem(int i)
{
    return mql_event_name((mql_event_t)i);
}

static const char *const event_keys[MQL_EV_COUNT] = {
    "View", "Download", "Form", "FormError", "Pixel", "Campaign", "App"
};


/* ---------------------------------------------------- the store's section */

#define D mql_status_data_t

static const char *html_contacts(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                 const void *base)
{
    const D *d = base;

    return apr_psprintf(env->p, "%s of %s", mql_stat_num(env->p, d->st.contacts_used),
                        mql_stat_num(env->p, d->st.contacts_capacity));
}

static const char *html_snapshot_age(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    long age = *AT(long);

    return age < 0 ? MUTED("none yet")
                   : apr_psprintf(env->p, "<span title=\"%ld s\">%s</span>", age,
                                  mql_stat_ago(env->p, age));
}

static const char *html_geoip(const mql_stat_env_t *env, const mql_stat_row_t *row,
                              const void *base)
{
    return *AT(int) ? "on" : MUTED("off");
}

/* The DBM writer (mod_mql_writer.c): null-free, zero until it reports. */
#define W mql_writer_stats_t

static const char *html_writer(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base)
{
    const W *w = base;

    if (!w->writer_pid)
        return "<span class=\"warn\">not running</span>";
    return apr_psprintf(env->p, "<span class=\"ok\" title=\"last round %s\">running</span> "
                        MUTED("pid %u"), mql_stat_ago(env->p, (long)env->now - (long)w->last_tick),
                        w->writer_pid);
}

static const char *html_notify(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base)
{
    const W *w = base;

    return apr_psprintf(env->p, "%s / %s", mql_stat_num(env->p, (int64_t)w->notify_sent),
                        mql_stat_warn_num(env->p, w->notify_dropped));
}

static const mql_stat_row_t writer_rows[] = {
    { MQL_STAT_ROW("writer", "MQLWriterRunning", "running", "Background writer", MQL_STAT_U32,
                   W, writer_pid), .flags = MQL_STAT_BOOL, .html = html_writer },
    { MQL_STAT_ROW("dbm-writes", "MQLDBMRecordsWritten", "records_written",
                   "DBM records written", MQL_STAT_U64, W, records_written) },
    { MQL_STAT_ROW(NULL, "MQLDBMRecordsDeleted", "records_deleted", NULL, MQL_STAT_U64, W,
                   records_deleted) },
    { MQL_STAT_ROW(NULL, "MQLDBMPublishes", "dbm_publishes", NULL, MQL_STAT_U64, W,
                   dbm_publishes) },
    { MQL_STAT_ROW("dbm-errors", "MQLDBMWriteErrors", "dbm_errors", "DBM write errors",
                   MQL_STAT_U64, W, dbm_errors), .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("dbm-pending", "MQLDBMPending", "pending", "DBM records waiting (retry)",
                   MQL_STAT_U32, W, pending), .flags = MQL_STAT_WARN },
    /* ?auto lists these three here, ?json at its end */
    { MQL_STAT_ROW(NULL, "MQLLeadsRestored", NULL, NULL, MQL_STAT_U64, W, leads_restored) },
    { MQL_STAT_ROW(NULL, "MQLReturnsSeen", NULL, NULL, MQL_STAT_U64, W, returns_seen) },
    { MQL_STAT_ROW(NULL, "MQLReturnsLost", NULL, NULL, MQL_STAT_U64, W, returns_lost) },
    { MQL_STAT_ROW("notify", "MQLNotifySent", "notify_sent", "Notifications sent / dropped",
                   MQL_STAT_U64, W, notify_sent), .html = html_notify },
    { MQL_STAT_ROW(NULL, "MQLNotifyDropped", "notify_dropped", NULL, MQL_STAT_U64, W,
                   notify_dropped) },
    { MQL_STAT_ROW(NULL, "MQLSnapshots", "snapshots", NULL, MQL_STAT_U64, W, snapshots) },
    { MQL_STAT_ROW(NULL, "MQLSnapshotErrors", "snapshot_errors", NULL, MQL_STAT_U64, W,
                   snapshot_errors) },
    { MQL_STAT_ROW("dbm-last", NULL, "last_publish", "DBM last written", MQL_STAT_U32, W,
                   last_publish), .html = mql_stat_html_when },
    { MQL_STAT_ROW(NULL, NULL, "last_snapshot", NULL, MQL_STAT_U32, W, last_snapshot) },
    { MQL_STAT_ROW("leads-restored", NULL, "leads_restored", "Leads back from their DBM file",
                   MQL_STAT_U64, W, leads_restored) },
    { MQL_STAT_ROW(NULL, NULL, "returns_seen", NULL, MQL_STAT_U64, W, returns_seen) },
    { MQL_STAT_ROW(NULL, NULL, "returns_lost", NULL, MQL_STAT_U64, W, returns_lost) },
    { MQL_STAT_ROW(NULL, NULL, "published_before", NULL, MQL_STAT_U32, W, published_before) },
    { 0 }
};

/* The shared table's figures (for one site, its visitors'), the writer's
 * inside "health" as 1.0 had them.  The cards and charts of the HTML page
 * are drawn by mod_mql_status_html.c. */
const mql_stat_row_t mql_status_store_rows[] = {
    { .json_name = "visitors", .type = MQL_STAT_OPEN, .flags = MQL_STAT_NL },
    { MQL_STAT_ROW(NULL, "MQLVisitors", "tracked", NULL, MQL_STAT_U32, D, st.used) },
    { MQL_STAT_ROW(NULL, "MQLCapacity", "capacity", NULL, MQL_STAT_U32, D, st.capacity) },
    { MQL_STAT_ROW(NULL, "MQLCapacityUsedPercent", "used_percent", NULL, MQL_STAT_PCT, D,
                   used_pct) },
    { .type = MQL_STAT_CLOSE },
    { MQL_STAT_ROW(NULL, "MQLStage", "stages", NULL, MQL_STAT_U32, D, st.stages),
      .flags = MQL_STAT_NL, .count = MQL_STAGE_COUNT, .auto_suffix = mql_stat_stage_keys,
      .elem_name = mql_stat_stage_elem },
    { MQL_STAT_ROW(NULL, "MQLEvents", "events", NULL, MQL_STAT_U64, D, st.events),
      .flags = MQL_STAT_NL, .count = MQL_EV_COUNT, .auto_suffix = event_keys,
      .elem_name = event_elem },
    { MQL_STAT_ROW(NULL, "MQLEventsTotal", "events_total", NULL, MQL_STAT_U64, D,
                   events_total), .flags = MQL_STAT_NL },
    /* ?auto lists it here, ?json in "health" */
    { MQL_STAT_ROW(NULL, "MQLStageChanges", NULL, NULL, MQL_STAT_U64, D, st.change_seq) },
    { .json_name = "health", .type = MQL_STAT_OPEN, .flags = MQL_STAT_NL },
    { MQL_STAT_ROW("inserts", "MQLInserts", "inserts", "Visitors added", MQL_STAT_U64, D,
                   st.inserts) },
    { MQL_STAT_ROW("evictions", "MQLEvictions", "evictions", "Evicted (table full, low value)",
                   MQL_STAT_U64, D, st.evictions) },
    { MQL_STAT_ROW("lead-evictions", "MQLLeadEvictions", "lead_evictions",
                   "... of which leads already in their DBM file", MQL_STAT_U64, D,
                   st.lead_evictions) },
    { MQL_STAT_ROW("expired", "MQLExpired", "expired", "Expired (idle)", MQL_STAT_U64, D,
                   st.expired) },
    { MQL_STAT_ROW("full", "MQLTableFull", "full", "Refused: table full of leads",
                   MQL_STAT_U64, D, st.full), .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("contacts", "MQLContacts", "contacts", "Contacts stored", MQL_STAT_U32, D,
                   st.contacts_used), .html = html_contacts },
    { MQL_STAT_ROW(NULL, "MQLContactsCapacity", "contacts_capacity", NULL, MQL_STAT_U32, D,
                   st.contacts_capacity) },
    { MQL_STAT_ROW("contacts-dropped", "MQLContactsDropped", "contacts_dropped",
                   "Contacts dropped", MQL_STAT_U64, D, st.contacts_dropped),
      .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("restored", "MQLRestored", "restored", "Restored from snapshot",
                   MQL_STAT_U32, D, st.restored) },
    { MQL_STAT_ROW(NULL, NULL, "stage_changes", NULL, MQL_STAT_U64, D, st.change_seq) },
    { MQL_STAT_ROW("snapshot-age", "MQLSnapshotAge", "snapshot_age", "Snapshot age",
                   MQL_STAT_LONG, D, snapshot_age), .flags = MQL_STAT_NULL_NEG,
      .html = html_snapshot_age },
    { MQL_STAT_ROW(NULL, NULL, "writer", NULL, MQL_STAT_TABLE, D, writer), .sub = writer_rows },
    { MQL_STAT_ROW("geoip", NULL, "geoip", "GeoIP", MQL_STAT_INT, D, geoip),
      .flags = MQL_STAT_BOOL, .html = html_geoip },
    { .type = MQL_STAT_CLOSE },
    { 0 }
};

/* ------------------------------------------------- the flood limits' section */

static const char *flood_visitors_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                        const void *base)
{
    unsigned limit = ((const D *)base)->flood.visitor_limit;

    return limit ? apr_psprintf(env->p, "New visitors refused (over %u per client network and "
                                "minute)", limit)
                 : "New visitors refused (MQLNewVisitorLimit 0: no limit)";
}

static const char *flood_leads_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    unsigned limit = ((const D *)base)->flood.lead_limit;

    return limit ? apr_psprintf(env->p, "Leads held back (over %u new leads per client "
                                "network and minute)", limit)
                 : "Leads held back (MQLNewLeadLimit 0: no limit)";
}

static const char *flood_young_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    const mql_flood_status_t *f = &((const D *)base)->flood;

    return apr_psprintf(env->p, "Leads held back (younger than %u s or fewer than %u events)",
                        f->min_age, f->min_events);
}

static const char *flood_slots_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    return apr_psprintf(env->p, "Flood limits' slots used this minute (of %u)",
                        (unsigned)((const D *)base)->flood.slots);
}

/* a warning from 90% of the slots on */
static const char *html_flood_slots(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                    const void *base)
{
    const mql_flood_status_t *f = &((const D *)base)->flood;

    return (uint64_t)f->slots_used * 10 >= (uint64_t)f->slots * 9
           ? mql_stat_warn_num(env->p, f->slots_used) : mql_stat_num(env->p, f->slots_used);
}

static const char *html_flood_networks(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                       const void *base)
{
    const mql_flood_status_t *f = &((const D *)base)->flood;

    return ap_escape_html(env->p, apr_pstrcat(env->p, f->v4_text, " ", f->v6_text, NULL));
}

static const char *json_flood_networks(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                       const void *base)
{
    const mql_flood_status_t *f = &((const D *)base)->flood;

    return apr_psprintf(env->p, "[%u,%u]", f->v4_prefix, f->v6_prefix);
}

/* each level's budgets as the limits apply them */
static const char *json_flood_levels(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    const mql_flood_status_t *f = &((const D *)base)->flood;
    const char *s = "[";
    unsigned fam, k;

    for (fam = 0; fam < 2; fam++) {
        const mql_flood_level_t *l = fam ? f->nets.v6 : f->nets.v4;
        unsigned n = fam ? f->nets.n6 : f->nets.n4;

        for (k = 0; k < n; k++) {
            unsigned long v = (unsigned long)f->visitor_limit * l[k].times;
            unsigned long ld = (unsigned long)f->lead_limit * l[k].times;

            s = apr_psprintf(env->p, "%s%s{\"family\":\"%s\",\"prefix\":%u,\"times\":%u,"
                             "\"new_visitors\":%lu,\"new_leads\":%lu}", s,
                             fam || k ? "," : "", fam ? "ipv6" : "ipv4", l[k].prefix,
                             l[k].times, v > MQL_FLOOD_LIMIT_MAX ? MQL_FLOOD_LIMIT_MAX : v,
                             ld > MQL_FLOOD_LIMIT_MAX ? MQL_FLOOD_LIMIT_MAX : ld);
        }
    }
    return apr_pstrcat(env->p, s, "]", NULL);
}

/* The limits per client network (mod_mql_flood.c). */
const mql_stat_row_t mql_status_flood_rows[] = {
    { .json_name = "flood", .type = MQL_STAT_OPEN, .flags = MQL_STAT_NL },
    { MQL_STAT_ROW(NULL, "MQLFloodNewVisitorLimit", "new_visitor_limit", NULL, MQL_STAT_U32, D,
                   flood.visitor_limit) },
    { MQL_STAT_ROW(NULL, "MQLFloodNewLeadLimit", "new_lead_limit", NULL, MQL_STAT_U32, D,
                   flood.lead_limit) },
    { MQL_STAT_ROW("flood-client-network", NULL, "client_network",
                   "Client networks (IPv4, IPv6; *N: N times the limits)", MQL_STAT_U32, D,
                   flood.v4_prefix), .json = json_flood_networks, .html = html_flood_networks },
    { MQL_STAT_ROW(NULL, NULL, "lead_min_age", NULL, MQL_STAT_U32, D, flood.min_age) },
    { MQL_STAT_ROW(NULL, NULL, "lead_min_events", NULL, MQL_STAT_U32, D, flood.min_events) },
    { MQL_STAT_ROW("flood-visitors-refused", "MQLFloodVisitorsRefused", "visitors_refused",
                   NULL, MQL_STAT_U64, D, flood.stats.visitors_refused),
      .flags = MQL_STAT_WARN, .label_fn = flood_visitors_label },
    { MQL_STAT_ROW("flood-leads-held-rate", "MQLFloodLeadsHeldRate", "leads_held_rate", NULL,
                   MQL_STAT_U64, D, flood.stats.leads_held_rate),
      .flags = MQL_STAT_WARN, .label_fn = flood_leads_label },
    { MQL_STAT_ROW("flood-leads-held-young", "MQLFloodLeadsHeldYoung", "leads_held_young",
                   NULL, MQL_STAT_U64, D, flood.stats.leads_held_young),
      .label_fn = flood_young_label },
    { MQL_STAT_ROW("flood-table-full", "MQLFloodTableFull", "table_full",
                   "Flood limits' table full (lookups that found no slot)", MQL_STAT_U64, D,
                   flood.stats.table_full), .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW("flood-leads-held-full", "MQLFloodLeadsHeldFull", "leads_held_full",
                   "Leads held back (flood limits' table full)", MQL_STAT_U64, D,
                   flood.stats.leads_held_full), .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW(NULL, "MQLFloodSlots", "slots", NULL, MQL_STAT_U32, D, flood.slots) },
    { MQL_STAT_ROW("flood-slots-used", "MQLFloodSlotsUsed", "slots_used", NULL, MQL_STAT_U32,
                   D, flood.slots_used), .label_fn = flood_slots_label,
      .html = html_flood_slots },
    { MQL_STAT_ROW(NULL, NULL, "levels", NULL, MQL_STAT_U32, D, flood.nets),
      .json = json_flood_levels },
    { .type = MQL_STAT_CLOSE },
    { 0 }
};

#undef D

/* ------------------------------------------------------------ ?auto */

void mql_status_render_auto(request_rec *r, const mql_status_data_t *d)
{
    mql_stat_env_t env;

    mql_status_env(r, &env, d->now);
    if (d->scope != MQL_SCOPE_ALL)
        ap_rprintf(r, "MQLSite: %s\n", ap_escape_logitem(r->pool, mql_status_site_name(d->scope)));
    ap_rputs(mql_stat_auto(&env, mql_status_store_rows, d), r);
    mql_store_status(r, MQL_STORE_STATUS_AUTO, d->now);
    mql_webhook_status(r, MQL_STORE_STATUS_AUTO, d->now);
    ap_rputs(mql_stat_auto(&env, mql_status_flood_rows, d), r);
    mql_status_journal_auto(r, &d->journal);
    mql_status_accounts_auto(r, d->scope, d->now);
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

static void json_row(request_rec *r, const mql_status_row_t *row, uint32_t now)
{
    const mql_visitor_t *v = &row->v;

    ap_rputs("{\"id\":", r);
    json_str(r, row->id);
    ap_rprintf(r, ",\"score\":%ld,\"stage\":\"%s\",\"counts\":", row->score,
               mql_stage_name((mql_stage_t)v->stage));
    json_counts(r, v->counts);
    ap_rputs(",\"country\":", r);
    json_str(r, mql_status_country_of(r->pool, v));
    ap_rputs(",\"contact\":", r);
    json_str(r, row->contact);
    ap_rputs(",\"trigger\":", r);
    json_str(r, mql_status_trigger_of(r->pool, v));
    ap_rputs(",\"first_touch\":", r);
    json_str(r, mql_touch_label(r->pool, v->first_touch));
    ap_rputs(",\"last_touch\":", r);
    json_str(r, mql_touch_label(r->pool, v->last_touch));
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

void mql_status_render_json(request_rec *r, const mql_status_data_t *d)
{
    mql_stat_env_t env;
    int i;

    mql_status_env(r, &env, d->now);
    ap_rprintf(r, "{\"time\":%u,\"since\":%u,\"threshold\":%ld,\"site\":", d->now,
               d->st.created, d->threshold);
    json_str(r, mql_status_site_name(d->scope));
    if (d->validated) {
        ap_rprintf(r, ",\n\"store_valid\":%s,\"store_problem\":", d->problem ? "false" : "true");
        if (d->problem)
            json_str(r, d->problem);
        else
            ap_rputs("null", r);
    }
    ap_rputs(mql_stat_json(&env, mql_status_store_rows, d, 0), r);
    /* the store's own section ("redis": null when it has none) */
    mql_store_status(r, MQL_STORE_STATUS_JSON, d->now);
    /* the webhooks' ("deliveries": null without MQLWebhook) */
    mql_webhook_status(r, MQL_STORE_STATUS_JSON, d->now);
    ap_rputs(mql_stat_json(&env, mql_status_flood_rows, d, 0), r);
    ap_rputs(",\n\"histogram\":[", r);
    for (i = 0; i < d->nbins; i++) {
        ap_rprintf(r, "%s{\"label\":\"%s\",", i ? "," : "",
                   mql_status_bin_label(r->pool, &d->bins[i]));
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
    ap_rputs("]", r);
    mql_status_journal_json(r, &d->journal);
    mql_status_accounts_json(r, d->scope, d->now);
    ap_rputs("}\n", r);
}

void mql_status_render_detail_json(request_rec *r, const mql_status_detail_t *dt)
{
    unsigned i;

    ap_rputs("{\"visitor\":", r);
    json_row(r, &dt->row, (uint32_t)apr_time_sec(apr_time_now()));
    ap_rputs(",\n\"changes\":[", r);
    for (i = 0; i < dt->nchanges; i++) {
        ap_rputs(i ? ",\n" : "\n", r);
        json_change(r, &dt->changes[i]);
    }
    ap_rputs("]", r);
    if (dt->story)
        mql_status_story_json(r, dt->story);
    ap_rputs("}\n", r);
}
