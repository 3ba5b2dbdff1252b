/*
 * The status page's figures for programs (mod_mql_status.c gathers
 * them): `?json` (application/json, also one visitor's with
 * ?visitor=ID&json) and `?auto`, mod_status's plain "Key: value" lines,
 * which mod_status's own ?auto page shows too.
 *
 * Apart from the HTML because these are interfaces: monitoring and
 * scripts parse them, so their keys change only on purpose.  Every string
 * a visitor or an application chose is escaped for JSON where it is
 * written; ?auto has no such strings but the site's name, escaped as a
 * log item.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "mod_mql_private.h"
#include "mod_mql_status.h"
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

/* ------------------------------------------------------------ ?auto */

void mql_status_render_auto(request_rec *r, const mql_status_data_t *d)
{
    static const char *const ev_keys[MQL_EV_COUNT] = {
        "View", "Download", "Form", "FormError", "Pixel", "Campaign", "App"
    };
    static const char *const stage_keys[MQL_STAGE_COUNT] = {
        "Visitor", "MQL", "SQL", "Rejected"
    };
    int i;

    if (d->scope != MQL_SCOPE_ALL)
        ap_rprintf(r, "MQLSite: %s\n", ap_escape_logitem(r->pool, mql_status_site_name(d->scope)));
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
    ap_rprintf(r, "MQLLeadEvictions: %" APR_UINT64_T_FMT "\n", d->st.lead_evictions);
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
        ap_rprintf(r, "MQLLeadsRestored: %" APR_UINT64_T_FMT "\n", w->leads_restored);
        ap_rprintf(r, "MQLReturnsSeen: %" APR_UINT64_T_FMT "\n", w->returns_seen);
        ap_rprintf(r, "MQLReturnsLost: %" APR_UINT64_T_FMT "\n", w->returns_lost);
        ap_rprintf(r, "MQLNotifySent: %" APR_UINT64_T_FMT "\n", w->notify_sent);
        ap_rprintf(r, "MQLNotifyDropped: %" APR_UINT64_T_FMT "\n", w->notify_dropped);
        ap_rprintf(r, "MQLSnapshots: %" APR_UINT64_T_FMT "\n", w->snapshots);
        ap_rprintf(r, "MQLSnapshotErrors: %" APR_UINT64_T_FMT "\n", w->snapshot_errors);
    }
    /* --- the store's own section (mod_mql_store.c) --- */
    mql_store_status(r, MQL_STORE_STATUS_AUTO);
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
        ap_rprintf(r, "MQLFloodLeadsHeldFull: %" APR_UINT64_T_FMT "\n",
                   f->stats.leads_held_full);
        ap_rprintf(r, "MQLFloodSlots: %u\n", (unsigned)f->slots);
        ap_rprintf(r, "MQLFloodSlotsUsed: %u\n", (unsigned)f->slots_used);
    }
    mql_status_journal_auto(r, &d->journal);
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
    int i;

    ap_rprintf(r, "{\"time\":%u,\"since\":%u,\"threshold\":%ld,\"site\":", d->now,
               d->st.created, d->threshold);
    json_str(r, mql_status_site_name(d->scope));
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
               APR_UINT64_T_FMT ",\"lead_evictions\":%" APR_UINT64_T_FMT
               ",\"expired\":%" APR_UINT64_T_FMT ",\"full\":%"
               APR_UINT64_T_FMT ",\"contacts\":%u,\"contacts_capacity\":%u,"
               "\"contacts_dropped\":%" APR_UINT64_T_FMT ",\"restored\":%u,"
               "\"stage_changes\":%" APR_UINT64_T_FMT ",\"snapshot_age\":",
               d->st.inserts, d->st.evictions, d->st.lead_evictions, d->st.expired,
               d->st.full,
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

        ap_rprintf(r, "{\"running\":%s,\"records_written\":%" APR_UINT64_T_FMT
                   ",\"records_deleted\":%" APR_UINT64_T_FMT ",\"dbm_publishes\":%" APR_UINT64_T_FMT
                   ",\"dbm_errors\":%" APR_UINT64_T_FMT ",\"pending\":%u,\"notify_sent\":%"
                   APR_UINT64_T_FMT ",\"notify_dropped\":%" APR_UINT64_T_FMT
                   ",\"snapshots\":%" APR_UINT64_T_FMT ",\"snapshot_errors\":%"
                   APR_UINT64_T_FMT ",\"last_publish\":%u,\"last_snapshot\":%u,"
                   "\"leads_restored\":%" APR_UINT64_T_FMT ",\"returns_seen\":%" APR_UINT64_T_FMT
                   ",\"returns_lost\":%" APR_UINT64_T_FMT ",\"published_before\":%u}",
                   w->writer_pid ? "true" : "false",
                   w->records_written, w->records_deleted, w->dbm_publishes, w->dbm_errors,
                   w->pending, w->notify_sent, w->notify_dropped, w->snapshots,
                   w->snapshot_errors, w->last_publish, w->last_snapshot, w->leads_restored,
                   w->returns_seen, w->returns_lost, w->published_before);
    }
    ap_rprintf(r, ",\"geoip\":%s},\n", d->geoip_db ? "true" : "false");
    /* --- the store's own section (mod_mql_store.c): "redis", null for
     * MQLStore shm --- */
    mql_store_status(r, MQL_STORE_STATUS_JSON);
    /* --- flood limits (mod_mql_flood.c) --- */
    {
        const mql_flood_status_t *f = &d->flood;
        unsigned fam, k;

        ap_rprintf(r, "\"flood\":{\"new_visitor_limit\":%u,\"new_lead_limit\":%u,"
                   "\"client_network\":[%u,%u],\"lead_min_age\":%u,\"lead_min_events\":%u,"
                   "\"visitors_refused\":%" APR_UINT64_T_FMT ",\"leads_held_rate\":%"
                   APR_UINT64_T_FMT ",\"leads_held_young\":%" APR_UINT64_T_FMT
                   ",\"table_full\":%" APR_UINT64_T_FMT ",\"leads_held_full\":%"
                   APR_UINT64_T_FMT ",\"slots\":%u,\"slots_used\":%u,\"levels\":[",
                   f->visitor_limit, f->lead_limit, f->v4_prefix, f->v6_prefix, f->min_age,
                   f->min_events, f->stats.visitors_refused, f->stats.leads_held_rate,
                   f->stats.leads_held_young, f->stats.table_full, f->stats.leads_held_full,
                   (unsigned)f->slots, (unsigned)f->slots_used);
        /* each level's budgets as the limits apply them */
        for (fam = 0; fam < 2; fam++) {
            const mql_flood_level_t *l = fam ? f->nets.v6 : f->nets.v4;
            unsigned n = fam ? f->nets.n6 : f->nets.n4;

            for (k = 0; k < n; k++) {
                unsigned long v = (unsigned long)f->visitor_limit * l[k].times;
                unsigned long ld = (unsigned long)f->lead_limit * l[k].times;

                ap_rprintf(r, "%s{\"family\":\"%s\",\"prefix\":%u,\"times\":%u,"
                           "\"new_visitors\":%lu,\"new_leads\":%lu}",
                           fam || k ? "," : "", fam ? "ipv6" : "ipv4", l[k].prefix,
                           l[k].times, v > MQL_FLOOD_LIMIT_MAX ? MQL_FLOOD_LIMIT_MAX : v,
                           ld > MQL_FLOOD_LIMIT_MAX ? MQL_FLOOD_LIMIT_MAX : ld);
            }
        }
        ap_rputs("]},\n", r);
    }
    ap_rputs("\"histogram\":[", r);
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
