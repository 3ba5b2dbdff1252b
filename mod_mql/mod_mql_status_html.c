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
 * The status page as HTML (mod_mql_status.c gathers the figures): one
 * self-contained page -- inline CSS, the charts as inline SVG, no script
 * and nothing fetched, so the page's Content-Security-Policy can forbid
 * everything else -- and the section in mod_status's /server-status.
 *
 * It is apart from the gathering and from the other formats because it
 * is most of the code and changes for looks alone; the health table's
 * rows are the figures' tables (mod_mql_status_text.c), which the core
 * writes as HTML too.  Every string a visitor or an application chose
 * (trigger paths, contacts) is escaped for HTML where it is written.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_core.h"
#include "http_protocol.h"

#include "mod_mql_private.h"
#include "mod_mql_status_int.h"
#include "mod_mql_webhook.h"
#include "mod_mql_touch.h"
#include "mql_cookie.h"
#include "mql_version.h"

/* ---------------------------------------------------------- formatting */

static const char *esc(apr_pool_t *p, const char *s)
{
    return ap_escape_html2(p, s ? s : "", 1);
}

static const char *utc(apr_pool_t *p, uint32_t t)
{
    return t ? ap_ht_time(p, apr_time_from_sec(t), "%Y-%m-%d %H:%M:%S UTC", 1) : "never";
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
    ".kv td:first-child{color:var(--muted)}.kv td{padding:5px 8px;white-space:normal}"
    "#visitor td:first-child{width:180px}"
    ".warn{color:#b42318;font-weight:600}.ok{color:#1b7340}"
    ".flash{background:#e1f5e8;border:1px solid #b7e4c7;color:#1b7340;padding:8px 12px;"
    "border-radius:6px;margin-bottom:14px}"
    "footer{color:var(--muted);font-size:12px}svg text{font-family:inherit}";

static void html_head(request_rec *r, const char *title, const mql_status_data_t *d)
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
               d->scope == MQL_SCOPE_ALL ? "all sites"
                   : apr_pstrcat(r->pool, "site ", esc(r->pool, mql_status_site_name(d->scope)),
                                 mql_status_sites_mode(r) == MQL_SITES_OWN ? ""
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

static void html_cards(request_rec *r, const mql_status_data_t *d)
{
    apr_pool_t *p = r->pool;

    ap_rputs("<div class=\"cards\">\n", r);
    html_card(r, "Visitors tracked", "visitors", mql_stat_num(p, d->st.used),
              apr_psprintf(p, "of %s &middot; <span id=\"used-pct\">%.1f</span>%% used",
                           mql_stat_num(p, d->st.capacity), d->used_pct), d->used_pct);
    html_card(r, "MQLs", "stage-mql", mql_stat_num(p, d->st.stages[MQL_STAGE_MQL]),
              apr_psprintf(p, "score %ld or more", d->threshold), -1);
    html_card(r, "SQLs", "stage-sql", mql_stat_num(p, d->st.stages[MQL_STAGE_SQL]),
              "accepted by sales", -1);
    html_card(r, "Rejected", "stage-rejected", mql_stat_num(p, d->st.stages[MQL_STAGE_REJECTED]),
              "declined by sales", -1);
    html_card(r, "Events scored", "events-total", mql_stat_num(p, (apr_int64_t)d->events_total),
              apr_psprintf(p, "%s stage changes", mql_stat_num(p, (apr_int64_t)d->st.change_seq)),
              -1);
    ap_rputs("</div>\n", r);
}

/* Vertical bars: visitors per score range, leads in orange. */
static void svg_histogram(request_rec *r, const mql_status_data_t *d)
{
    const int w = 600, h = 200, left = 40, right = 10, top = 14, bottom = 34;
    const int pw = w - left - right, ph = h - top - bottom;
    uint64_t ticks[5], max = 0;
    double slot;
    int i, g, nticks;

    for (i = 0; i < d->nbins; i++)
        if (d->bins[i].count > max)
            max = d->bins[i].count;
    /* whole counts, each label once; the top tick is the chart's top */
    nticks = mql_stat_ticks(max, 5, ticks);
    max = ticks[nticks - 1];
    slot = (double)pw / d->nbins;
    ap_rprintf(r, "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
               "aria-label=\"Visitors by current score\">", w, h);
    for (g = 0; g < nticks; g++) {
        double y = top + ph - (double)ph * (double)ticks[g] / (double)max;
        ap_rprintf(r, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e7eb\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#677788\" "
                   "text-anchor=\"end\">%s</text>", left, w - right, y, y, left - 6, y + 3,
                   mql_stat_num(r->pool, (apr_int64_t)ticks[g]));
    }
    for (i = 0; i < d->nbins; i++) {
        const mql_status_bin_t *b = &d->bins[i];
        double bh = (double)ph * b->count / (double)max, x = left + slot * i + slot * 0.12;
        double bw = slot * 0.76;

        ap_rprintf(r, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
                   "fill=\"%s\"><title>%s: %u</title></rect>", x, top + ph - bh, bw,
                   bh < 1 && b->count ? 1.0 : bh, b->lead ? "#e8890c" : "#2f6fde",
                   mql_status_bin_label(r->pool, b), b->count);
        if (b->count)
            ap_rprintf(r, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#1f2933\" "
                       "text-anchor=\"middle\">%s</text>", x + bw / 2, top + ph - bh - 3,
                       mql_stat_num(r->pool, b->count));
        ap_rprintf(r, "<text x=\"%.1f\" y=\"%d\" font-size=\"10.5\" fill=\"#677788\" "
                   "text-anchor=\"middle\">%s</text>", x + bw / 2, h - bottom + 15,
                   mql_status_bin_label(r->pool, b));
    }
    ap_rprintf(r, "<text x=\"%d\" y=\"%d\" font-size=\"10.5\" fill=\"#677788\" "
               "text-anchor=\"middle\">current score (orange: at or above the threshold, "
               "%ld)</text></svg>", left + pw / 2, h - 4, d->threshold);
}

/* Horizontal bars: events scored since the table was created. */
static const char *const ev_labels[MQL_EV_COUNT] = {
    "Views", "Downloads", "Forms", "Form errors", "Pixels", "Email clicks", "App events"
};

static void svg_events(request_rec *r, const mql_status_data_t *d)
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
                   mql_event_name((mql_event_t)i),
                   mql_stat_num(r->pool, (apr_int64_t)d->st.events[i]));
    }
    ap_rputs("</svg>", r);
}

static void html_stage(request_rec *r, int stage)
{
    const char *name = mql_stage_name((mql_stage_t)stage);

    ap_rprintf(r, "<span class=\"pill st-%s\">%s</span>", name, name);
}

/* Buttons posting a stage change for one visitor. */
static void html_stage_form(request_rec *r, const char *token, const mql_status_row_t *row,
                            int all)
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

static void html_top(request_rec *r, const mql_status_data_t *d, const char *token)
{
    int i;

    ap_rprintf(r, "<section><h2>Top visitors by score<small>%d of %s</small></h2>\n",
               d->ntop, mql_stat_num(r->pool, d->st.used));
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
        const mql_status_row_t *row = &d->top[i];
        const mql_visitor_t *v = &row->v;
        const char *cc = mql_status_country_of(r->pool, v);
        const char *trig = mql_status_trigger_of(r->pool, v);
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
                   mql_stat_ago(r->pool, (long)d->now - (long)v->last_seen));
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
                   mql_stat_ago(r->pool, (long)now - (long)c[i].time), id, id);
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

/* The figures' table: the store's, the writer's, its backend's and the
 * flood limits' rows (mod_mql_status_text.c). */
static void html_health(request_rec *r, const mql_status_data_t *d)
{
    mql_stat_env_t env;

    mql_status_env(r, &env, d->now);
    ap_rputs("<section><h2>Store health</h2><table class=\"kv\">\n", r);
    ap_rputs(mql_stat_html(&env, mql_status_store_rows, d), r);
    mql_store_status(r, MQL_STORE_STATUS_HTML, d->now);
    mql_webhook_status(r, MQL_STORE_STATUS_HTML, d->now);
    ap_rputs(mql_stat_html(&env, mql_status_flood_rows, d), r);
    ap_rputs("</table></section>\n", r);
}

void mql_status_render_html(request_rec *r, const mql_status_data_t *d)
{
    const char *token = mql_status_current_token(r);

    html_head(r, "mod_mql status", d);
    html_cards(r, d);
    ap_rputs("<div class=\"grid2\"><section><h2>Score distribution<small>visitors by current "
             "score</small></h2>", r);
    svg_histogram(r, d);
    ap_rputs("</section><section><h2>Events by type<small>since tracking began</small></h2>", r);
    svg_events(r, d);
    ap_rputs("</section></div>\n", r);
    mql_status_journal_html(r, &d->journal);
    html_top(r, d, token);
    mql_status_accounts_html(r, d->scope, d->now);
    ap_rputs("<div class=\"grid2\">", r);
    html_changes(r, d->changes, d->nchanges, d->now, "Recent stage changes");
    html_health(r, d);
    ap_rputs("</div>\n", r);
    html_foot(r);
}

void mql_status_render_detail_html(request_rec *r, const mql_status_data_t *d,
                                   const mql_status_detail_t *dt, const char *flash)
{
    const mql_status_row_t *row = &dt->row;
    const mql_visitor_t *v = &row->v;
    apr_pool_t *p = r->pool;
    const char *cc = mql_status_country_of(p, v);
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
               esc(p, mql_status_trigger_of(p, v)));
    /* where it came from (docs/attribution.md): clients' strings, escaped */
    ap_rprintf(r, "<tr><td>First touch</td><td id=\"first_touch\">%s</td></tr>\n"
               "<tr><td>Last touch</td><td id=\"last_touch\">%s</td></tr>\n",
               esc(p, mql_touch_label(p, v->first_touch)),
               esc(p, mql_touch_label(p, v->last_touch)));
    ap_rprintf(r, "<tr><td>First seen</td><td>%s</td></tr>\n", utc(p, v->first_seen));
    ap_rprintf(r, "<tr><td>Last seen</td><td>%s (%s)</td></tr>\n", utc(p, v->last_seen),
               mql_stat_ago(p, (long)d->now - (long)v->last_seen));
    for (ev = 0; ev < MQL_EV_COUNT; ev++)
        ap_rprintf(r, "<tr><td>%s</td><td class=\"n\" style=\"text-align:left\">%u</td></tr>\n",
                   ev_labels[ev], v->counts[ev]);
    ap_rputs("<tr><td>Sales decision</td><td>", r);
    html_stage_form(r, mql_status_current_token(r), row, 1);
    ap_rputs("</td></tr></table></section>\n", r);
    if (dt->story)
        mql_status_story_html(r, dt->story);
    html_changes(r, dt->changes, dt->nchanges, d->now, "Stage changes of this visitor");
    html_foot(r);
}

/* ------------------------------------------------- /server-status */

/* The section in mod_status's page: totals only, the server's. */
void mql_status_render_server_status(request_rec *r, const mql_status_data_t *d)
{
    int i;

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
    ap_rprintf(r, "<tr><td>Snapshot age</td><td>%s</td></tr>\n",
               mql_stat_ago(r->pool, d->snapshot_age));
    ap_rprintf(r, "<tr><td>DBM records waiting / write errors</td><td>%u / %"
                   APR_UINT64_T_FMT "</td></tr>\n", d->writer.pending, d->writer.dbm_errors);
    ap_rputs("</table>\n", r);
}
