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
 * The status page's journal parts: the funnel (tiles and a chart of the
 * daily series, 30, 90 or 400 days), the criteria against sales' verdicts
 * (each signal's acceptance, the two score distributions), and on a
 * visitor's page its story as a timeline.  Read from the journal the
 * writer keeps (MQLStateDir/journal.sqlite), read-only, for this request;
 * paths and referring hosts came from visitors and are escaped.
 */
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "mod_mql_private.h"
#include "mod_mql_status_int.h"
#include "mql_json.h"

static const char *esc(apr_pool_t *p, const char *s)
{
    return ap_escape_html2(p, s ? s : "", 1);
}

static int keep_event(const mql_story_event_t *e, void *baton)
{
    apr_array_header_t *a = baton;
    mql_story_event_t *c = apr_array_push(a);

    *c = *e;
    c->event = apr_pstrdup(a->pool, e->event);
    c->path = e->path ? apr_pstrdup(a->pool, e->path) : NULL;
    c->referer_host = e->referer_host ? apr_pstrdup(a->pool, e->referer_host) : NULL;
    c->rule = e->rule ? apr_pstrdup(a->pool, e->rule) : NULL;
    return 0;
}

void mql_status_gather_journal(request_rec *r, mql_status_journal_t *j, int days,
                               const char *visitor)
{
    mql_journal_t *db;

    memset(j, 0, sizeof *j);
    j->days = days;
    j->past_sla = -1;
    mql_journal_stats(&j->st);
    j->enabled = j->st.enabled;
    if (!j->enabled || !(db = mql_journal_reader(r->pool)))
        return;
    if (visitor) {
        j->story = apr_array_make(r->pool, 16, sizeof(mql_story_event_t));
        j->readable = mql_journal_story(db, visitor, mql_g->journal_events, keep_event,
                                        j->story) == APR_SUCCESS;
    }
    else
        j->readable = mql_journal_funnel(db, r->pool, (uint32_t)apr_time_sec(apr_time_now()),
                                         days, &j->funnel) == APR_SUCCESS
                      && mql_journal_criteria(db, r->pool, &j->crit) == APR_SUCCESS;
    if (!visitor && mql_g->decision_sla)
        j->past_sla = mql_journal_sla_count(db, (uint32_t)(apr_time_sec(apr_time_now())
                                                           - mql_g->decision_sla));
    mql_journal_close(db);
}

/* ---- HTML ------------------------------------------------------------- */

static const char *pct(apr_pool_t *p, double r)
{
    return r < 0 ? "&ndash;" : apr_psprintf(p, "%.1f%%", r * 100);
}

static const char *span(apr_pool_t *p, double s)
{
    long v = (long)(s + 0.5);

    if (s < 0)
        return "&ndash;";
    if (v >= 86400)
        return apr_psprintf(p, "%.1f d", s / 86400);
    if (v >= 3600)
        return apr_psprintf(p, "%.1f h", s / 3600);
    if (v >= 60)
        return apr_psprintf(p, "%ld min", v / 60);
    return apr_psprintf(p, "%ld s", v);
}

static void tile(request_rec *r, const char *key, const char *id, const char *value,
                 const char *sub)
{
    ap_rprintf(r, "<div class=\"card\"><div class=\"k\">%s</div><div class=\"v\" id=\"%s\">"
               "%s</div><div class=\"s\">%s</div></div>\n", key, id, value, sub);
}

/* One series per line, every day of the period, on one scale. */
static void svg_series(request_rec *r, const mql_funnel_t *f, const int *fields,
                       const char *const *colours, const char *const *labels, int n,
                       const char *label)
{
    const int w = 600, h = 170, left = 40, right = 10, top = 12, bottom = 30;
    const int pw = w - left - right, ph = h - top - bottom;
    uint64_t ticks[5], max = 0;
    int i, k, g, nticks;

    for (i = 0; i < f->ndays; i++)
        for (k = 0; k < n; k++)
            if (f->days[i].n[fields[k]] > max)
                max = f->days[i].n[fields[k]];
    /* whole counts, each label once; the top tick is the chart's top */
    nticks = mql_stat_ticks(max, 5, ticks);
    max = ticks[nticks - 1];
    ap_rprintf(r, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" aria-label=\"%s\">",
               w, h, label);
    for (g = 0; g < nticks; g++) {
        double y = top + ph - (double)ph * (double)ticks[g] / (double)max;
        ap_rprintf(r, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e7eb\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#677788\" "
                   "text-anchor=\"end\">%s</text>", left, w - right, y, y, left - 6, y + 3,
                   mql_stat_num(r->pool, (apr_int64_t)ticks[g]));
    }
    for (k = 0; k < n; k++) {
        ap_rprintf(r, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                   colours[k]);
        for (i = 0; i < f->ndays; i++) {
            double x = left + (f->ndays > 1 ? (double)pw * i / (f->ndays - 1) : pw / 2.0);
            double y = top + ph - (double)ph * f->days[i].n[fields[k]] / (double)max;
            ap_rprintf(r, "%s%.1f,%.1f", i ? " " : "", x, y);
        }
        ap_rputs("\"/>", r);
        ap_rprintf(r, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"%d\" font-size=\"10.5\" fill=\"#3e4c59\">%s</text>",
                   left + k * 120, h - 12, colours[k], left + k * 120 + 14, h - 3, labels[k]);
    }
    ap_rprintf(r, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#677788\" "
               "text-anchor=\"end\">%s &ndash; %s</text></svg>", w - right, h - 3,
               mql_day_text(r->pool, f->from_day), mql_day_text(r->pool, f->to_day));
}

/* Accepted (green) and rejected (red) leads by score at qualification. */
static void svg_scores(request_rec *r, const mql_criteria_t *c)
{
    const int w = 440, h = 170, left = 30, right = 10, top = 12, bottom = 30;
    const int pw = w - left - right, ph = h - top - bottom;
    double slot = (double)pw / MQL_SCORE_BINS;
    uint32_t max = 1;
    int i;

    for (i = 0; i < MQL_SCORE_BINS; i++) {
        if (c->acc_bins[i] > max)
            max = c->acc_bins[i];
        if (c->rej_bins[i] > max)
            max = c->rej_bins[i];
    }
    ap_rprintf(r, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
               "aria-label=\"Score at qualification, accepted and rejected\">", w, h);
    for (i = 0; i < MQL_SCORE_BINS; i++) {
        double x = left + slot * i, ha = (double)ph * c->acc_bins[i] / max;
        double hr = (double)ph * c->rej_bins[i] / max, bw = slot * 0.38;

        ap_rprintf(r, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"#1f9d55\"><title>accepted: %u</title></rect>"
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"#d64545\"><title>rejected: %u</title></rect>"
                   "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#677788\" "
                   "text-anchor=\"middle\">%g</text>",
                   x + slot * 0.1, top + ph - ha, bw, ha, c->acc_bins[i],
                   x + slot * 0.1 + bw, top + ph - hr, bw, hr, c->rej_bins[i],
                   x + slot * 0.5, h - bottom + 13, c->bin_from + i * c->bin_width);
    }
    ap_rprintf(r, "<text x=\"%d\" y=\"%d\" font-size=\"10.5\" fill=\"#677788\" "
               "text-anchor=\"middle\">score at qualification (green: accepted, red: "
               "rejected)</text></svg>", left + pw / 2, h - 3);
}

void mql_status_journal_html(request_rec *r, const mql_status_journal_t *j)
{
    static const int visitors[] = { MQL_DAY_NEW, MQL_DAY_SCORED };
    static const char *const vcol[] = { "#2f6fde", "#9fb8e8" };
    static const char *const vlab[] = { "new visitors", "visitors scored" };
    static const int leads[] = { MQL_DAY_MQLS, MQL_DAY_ACCEPTED, MQL_DAY_REJECTED };
    static const char *const lcol[] = { "#e8890c", "#1f9d55", "#d64545" };
    static const char *const llab[] = { "new MQLs", "accepted", "rejected" };
    const mql_funnel_t *f = &j->funnel;
    const mql_criteria_t *c = &j->crit;
    apr_pool_t *p = r->pool;
    int i;

    if (!j->enabled)
        return;
    ap_rprintf(r, "<section id=\"funnel\"><h2>Funnel<small>last %d days &middot; "
               "<a href=\"?days=30\">30</a> &middot; <a href=\"?days=90\">90</a> &middot; "
               "<a href=\"?days=400\">400</a></small></h2>\n", j->days);
    if (!j->readable) {
        ap_rputs("<p class=\"muted\">No journal yet: the background writer starts it with "
                 "the first scored request.</p></section>\n", r);
        return;
    }
    ap_rputs("<div class=\"cards\">\n", r);
    tile(r, "Visitor &rarr; MQL", "visitor-to-mql", pct(p, f->visitor_to_mql),
         apr_psprintf(p, "%" APR_UINT64_T_FMT " MQLs of %" APR_UINT64_T_FMT " new visitors",
                      f->total[MQL_DAY_MQLS], f->total[MQL_DAY_NEW]));
    tile(r, "Accepted by sales", "acceptance", pct(p, f->acceptance),
         apr_psprintf(p, "%" APR_UINT64_T_FMT " accepted, %" APR_UINT64_T_FMT " rejected",
                      f->total[MQL_DAY_ACCEPTED], f->total[MQL_DAY_REJECTED]));
    tile(r, "First visit &rarr; MQL", "median-to-mql", span(p, f->median_to_mql), "median");
    tile(r, "MQL &rarr; decision", "median-to-decision", span(p, f->median_to_decision),
         "median");
    tile(r, "Waiting for sales", "waiting",
         apr_psprintf(p, "%u", f->waiting[0] + f->waiting[1] + f->waiting[2]),
         apr_psprintf(p, "<span id=\"waiting-1d\">%u</span> under 1 day &middot; "
                      "<span id=\"waiting-7d\">%u</span> 1&ndash;7 days &middot; "
                      "<span id=\"waiting-older\">%u</span> older%s",
                      f->waiting[0], f->waiting[1], f->waiting[2],
                      j->past_sla < 0 ? ""
                      : apr_psprintf(p, " &middot; <span id=\"past-decision-sla\"%s>%"
                                     APR_INT64_T_FMT "</span> MQLs past the decision SLA",
                                     j->past_sla ? " class=\"warn\"" : "",
                                     (apr_int64_t)j->past_sla)));
    /* two charts of equal width (the page's grid2 is 3:2) */
    ap_rputs("</div>\n<div style=\"display:grid;grid-template-columns:1fr 1fr;gap:14px\">"
             "<div>", r);
    svg_series(r, f, visitors, vcol, vlab, 2, "Visitors per day");
    ap_rputs("</div><div>", r);
    svg_series(r, f, leads, lcol, llab, 3, "Leads per day");
    ap_rputs("</div></div></section>\n", r);

    ap_rprintf(r, "<div class=\"grid2\" id=\"criteria\"><section><h2>Criteria against "
               "sales' verdicts<small>%u accepted, %u rejected, %u waiting</small></h2>",
               c->accepted, c->rejected, c->waiting);
    if (!c->nsignals)
        ap_rputs("<p class=\"muted\">No lead decided by sales yet.</p>", r);
    else {
        ap_rputs("<table><thead><tr><th>Signal</th><th class=\"n\">Accepted</th>"
                 "<th class=\"n\">Rejected</th><th class=\"n\">Acceptance</th></tr></thead>"
                 "<tbody>", r);
        for (i = 0; i < c->nsignals; i++) {
            const mql_signal_row_t *s = &c->signals[i];
            ap_rprintf(r, "<tr><td>%s</td><td class=\"n\">%u</td><td class=\"n\">%u</td>"
                       "<td class=\"n\">%s</td></tr>", esc(p, s->signal), s->accepted,
                       s->rejected,
                       pct(p, (double)s->accepted / (double)(s->accepted + s->rejected)));
        }
        ap_rputs("</tbody></table>", r);
    }
    ap_rputs("</section><section><h2>Score at qualification<small>accepted and rejected"
             "</small></h2>", r);
    svg_scores(r, c);
    ap_rputs("</section></div>\n", r);
}

static const char *when(apr_pool_t *p, uint32_t t)
{
    return ap_ht_time(p, apr_time_from_sec(t), "%Y-%m-%d %H:%M:%S", 1);
}

static const char *points(apr_pool_t *p, double d)
{
    return apr_psprintf(p, "%+.10g", (double)(long long)(d * 100 + (d < 0 ? -0.5 : 0.5)) / 100);
}

void mql_status_story_html(request_rec *r, const mql_status_journal_t *j)
{
    apr_pool_t *p = r->pool;
    int i;

    if (!j->enabled)
        return;
    ap_rputs("<section id=\"story\"><h2>Story<small>its last scored requests, newest "
             "first</small></h2>", r);
    if (!j->story || !j->story->nelts) {
        ap_rputs("<p class=\"muted\">No event recorded yet.</p></section>\n", r);
        return;
    }
    ap_rputs("<table><thead><tr><th>Time (UTC)</th><th>Event</th><th>Path</th><th>From</th>"
             "<th class=\"n\">Points</th><th>Rule</th><th class=\"n\">Score</th></tr></thead>"
             "<tbody>", r);
    for (i = j->story->nelts; i-- > 0; ) {
        const mql_story_event_t *e = &((const mql_story_event_t *)j->story->elts)[i];
        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td class=\"path\">%s</td><td>%s</td>"
                   "<td class=\"n\">%s</td><td>%s</td><td class=\"n\">%s</td></tr>\n",
                   when(p, e->time), esc(p, e->event), esc(p, e->path),
                   esc(p, e->referer_host), points(p, e->points), esc(p, e->rule),
                   apr_psprintf(p, "%.10g", (double)(long long)(e->score * 100 + 0.5) / 100));
    }
    ap_rputs("</tbody></table></section>\n", r);
}

/* ---- ?json and ?auto -------------------------------------------------- */

static const char *js(apr_pool_t *p, const char *s)
{
    return mql_json_str(p, s, MQL_JSON_HTML_SAFE);
}

/* The journal's counters (mod_mql_journal.c); ?auto has no more lines
 * while it is off. */
#define J mql_status_journal_t
const mql_stat_row_t mql_status_journal_rows[] = {
    { .json_name = "journal", .type = MQL_STAT_OPEN, .flags = MQL_STAT_NL },
    { MQL_STAT_ROW(NULL, "MQLJournal", "enabled", NULL, MQL_STAT_INT, J, enabled),
      .flags = MQL_STAT_BOOL | MQL_STAT_GATE },
    { MQL_STAT_ROW(NULL, "MQLJournalEventsWritten", "events_written", NULL, MQL_STAT_U64, J,
                   st.written) },
    { MQL_STAT_ROW(NULL, "MQLJournalEventsDropped", "events_dropped", NULL, MQL_STAT_U64, J,
                   st.dropped) },
    { MQL_STAT_ROW(NULL, NULL, "events_lost", NULL, MQL_STAT_U64, J, st.lost) },
    { MQL_STAT_ROW(NULL, "MQLJournalEventsShed", "events_shed", NULL, MQL_STAT_U64, J,
                   st.shed) },
    { MQL_STAT_ROW(NULL, NULL, "write_errors", NULL, MQL_STAT_U64, J, st.errors) },
    { MQL_STAT_ROW(NULL, "MQLJournalBytes", "bytes", NULL, MQL_STAT_I64, J, st.bytes) },
    /* with MQLDecisionSLA: the MQLs sales have let wait too long */
    { MQL_STAT_ROW(NULL, "MQLPastDecisionSLA", "past_decision_sla", NULL, MQL_STAT_I64, J,
                   past_sla), .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { .type = MQL_STAT_CLOSE },
    { 0 }
};
#undef J

/* The funnel's figures: ?auto has them while the journal is readable,
 * ?json has "funnel" (null when not). */
static const char *day_field(int i)
{
    return mql_day_field_name((mql_day_field_t)i);
}

static const char *const day_keys[MQL_DAY_FIELDS] = {
    "NewVisitors", "VisitorsScored", "NewMQLs", "Accepted", "Rejected"
};

static const char *const waiting_names[] = { "under_1d", "1d_to_7d", "older" };
static const char *const waiting_keys[] = { "Under1d", "1to7d", "Older" };

static const char *waiting_name(int i)
{
    return waiting_names[i];
}

static const char *json_day(const mql_stat_env_t *env, const mql_stat_row_t *row,
                            const void *base)
{
    return apr_pstrcat(env->p, "\"", mql_day_text(env->p, *MQL_STAT_AT(row, base, uint32_t)),
                       "\"", NULL);
}

/* every day of the period, each with its counts */
static const char *json_series(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base)
{
    const mql_funnel_t *f = base;
    apr_array_header_t *out = apr_array_make(env->p, f->ndays * 8 + 2, sizeof(const char *));
    int i, k;

    *(const char **)apr_array_push(out) = "[";
    for (i = 0; i < f->ndays; i++) {
        *(const char **)apr_array_push(out) =
            apr_psprintf(env->p, "%s{\"day\":\"%s\"", i ? "," : "",
                         mql_day_text(env->p, f->days[i].day));
        for (k = 0; k < MQL_DAY_FIELDS; k++)
            *(const char **)apr_array_push(out) =
                apr_psprintf(env->p, ",\"%s\":%u", mql_day_field_name((mql_day_field_t)k),
                             f->days[i].n[k]);
        *(const char **)apr_array_push(out) = "}";
    }
    *(const char **)apr_array_push(out) = "]";
    return apr_array_pstrcat(env->p, out, 0);
}

#define F mql_funnel_t
static const mql_stat_row_t funnel_rows[] = {
    { MQL_STAT_ROW(NULL, "MQLFunnelDays", "days", NULL, MQL_STAT_INT, F, ndays) },
    { MQL_STAT_ROW(NULL, NULL, "from", NULL, MQL_STAT_U32, F, from_day), .json = json_day },
    { MQL_STAT_ROW(NULL, NULL, "to", NULL, MQL_STAT_U32, F, to_day), .json = json_day },
    { MQL_STAT_ROW(NULL, NULL, "series", NULL, MQL_STAT_U32, F, days), .json = json_series },
    { MQL_STAT_ROW(NULL, "MQLFunnel", "totals", NULL, MQL_STAT_U64, F, total),
      .count = MQL_DAY_FIELDS, .auto_suffix = day_keys, .elem_name = day_field },
    { MQL_STAT_ROW(NULL, "MQLFunnelVisitorToMQL", "visitor_to_mql", NULL, MQL_STAT_RATE, F,
                   visitor_to_mql), .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW(NULL, "MQLFunnelAcceptance", "acceptance", NULL, MQL_STAT_RATE, F,
                   acceptance), .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW(NULL, "MQLFunnelMedianFirstVisitToMQL", "median_first_visit_to_mql", NULL,
                   MQL_STAT_SECS, F, median_to_mql),
      .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW(NULL, "MQLFunnelMedianMQLToDecision", "median_mql_to_decision", NULL,
                   MQL_STAT_SECS, F, median_to_decision),
      .flags = MQL_STAT_NULL_NEG | MQL_STAT_SKIP_NEG },
    { MQL_STAT_ROW(NULL, "MQLFunnelWaiting", "waiting", NULL, MQL_STAT_U32, F, waiting),
      .count = 3, .auto_suffix = waiting_keys, .elem_name = waiting_name },
    { 0 }
};
#undef F

void mql_status_journal_json(request_rec *r, const mql_status_journal_t *j)
{
    const mql_criteria_t *c = &j->crit;
    apr_pool_t *p = r->pool;
    mql_stat_env_t env;
    int i;

    mql_status_env(r, &env, (uint32_t)apr_time_sec(apr_time_now()));
    ap_rputs(mql_stat_json(&env, mql_status_journal_rows, j, 0), r);
    if (!j->readable) {
        ap_rputs(",\n\"funnel\":null,\n\"criteria\":null", r);
        return;
    }
    ap_rvputs(r, ",\n\"funnel\":{", mql_stat_json(&env, funnel_rows, &j->funnel, 1), "}",
              NULL);
    ap_rprintf(r, ",\n\"criteria\":{\"accepted\":%u,\"rejected\":%u,\"waiting\":%u,"
               "\"signals\":[", c->accepted, c->rejected, c->waiting);
    for (i = 0; i < c->nsignals; i++)
        ap_rprintf(r, "%s{\"signal\":%s,\"accepted\":%u,\"rejected\":%u}", i ? "," : "",
                   js(p, c->signals[i].signal), c->signals[i].accepted, c->signals[i].rejected);
    ap_rputs("],\"score_bins\":[", r);
    for (i = 0; i < MQL_SCORE_BINS; i++)
        ap_rprintf(r, "%s{\"from\":%g,\"to\":%g,\"accepted\":%u,\"rejected\":%u}",
                   i ? "," : "", c->bin_from + i * c->bin_width,
                   c->bin_from + (i + 1) * c->bin_width, c->acc_bins[i], c->rej_bins[i]);
    ap_rputs("]}", r);
}

void mql_status_story_json(request_rec *r, const mql_status_journal_t *j)
{
    apr_pool_t *p = r->pool;
    int i;

    ap_rputs(",\n\"story\":[", r);
    for (i = 0; j->story && i < j->story->nelts; i++) {
        const mql_story_event_t *e = &((const mql_story_event_t *)j->story->elts)[i];
        ap_rprintf(r, "%s{\"time\":%u,\"event\":%s,\"path\":%s,\"referer_host\":%s,"
                   "\"points\":%.10g,\"rule\":%s,\"score\":%.10g}", i ? ",\n" : "\n", e->time,
                   js(p, e->event), js(p, e->path), js(p, e->referer_host),
                   (double)(long long)(e->points * 100 + (e->points < 0 ? -0.5 : 0.5)) / 100,
                   js(p, e->rule), (double)(long long)(e->score * 100 + 0.5) / 100);
    }
    ap_rputs("]", r);
}

void mql_status_journal_auto(request_rec *r, const mql_status_journal_t *j)
{
    mql_stat_env_t env;

    mql_status_env(r, &env, (uint32_t)apr_time_sec(apr_time_now()));
    ap_rputs(mql_stat_auto(&env, mql_status_journal_rows, j), r);
    if (j->enabled && j->readable)
        ap_rputs(mql_stat_auto(&env, funnel_rows, &j->funnel), r);
}
