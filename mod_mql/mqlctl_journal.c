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
 * mqlctl's commands over the journal (see mqlctl_journal.h).  Every value
 * that came from a visitor (paths, referring hosts) goes through
 * mql_text_safe for the terminal and mql_json_str for JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_file_info.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "mql_cookie.h"
#include "mql_control.h"
#include "mql_json.h"
#include "mql_score.h"
#include "mql_visitors.h"
#include "mqlctl_journal.h"
#include "mqlctl_out.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

mql_journal_t *mqlctl_journal(apr_pool_t *p, const char *state_dir, int readwrite, int quiet)
{
    const char *path = apr_pstrcat(p, state_dir, "/" MQL_JOURNAL_NAME, NULL);
    mql_journal_t *j = NULL;
    apr_finfo_t fi;
    const char *err = NULL;

    /* never create it: only the server's writer does */
    if (apr_stat(&fi, path, APR_FINFO_LINK | APR_FINFO_TYPE, p) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        if (!quiet)
            fprintf(stderr, "mqlctl: no journal %s (MQLJournal Off, or no server has "
                    "written it yet)\n", path);
        return NULL;
    }
    if (mql_journal_open(&j, path, !readwrite, p, &err) != APR_SUCCESS) {
        if (!quiet)
            fprintf(stderr, "mqlctl: cannot open the journal %s: %s\n", path, err);
        return NULL;
    }
    return j;
}

static const char *pts(apr_pool_t *p, double d)
{
    return apr_psprintf(p, "%+.10g", (double)(long long)(d * 100 + (d < 0 ? -0.5 : 0.5)) / 100);
}

typedef struct story_baton {
    apr_pool_t *p;
    int n;
} story_baton_t;

static int print_one(const mql_story_event_t *e, void *baton)
{
    story_baton_t *b = baton;
    apr_pool_t *p = b->p;

    printf("  %s  %-9s %s%s%s  %s%s%s  score %s\n", mqlctl_iso_time(p, e->time, NULL), mql_text_safe(p, e->event),
           mql_text_safe(p, e->path ? e->path : "-"),
           e->referer_host ? "  from " : "",
           e->referer_host ? mql_text_safe(p, e->referer_host) : "",
           pts(p, e->points), e->rule ? "  rule: " : "",
           e->rule ? mql_text_safe(p, e->rule) : "",
           apr_psprintf(p, "%.10g", (double)(long long)(e->score * 100 + 0.5) / 100));
    b->n++;
    return 0;
}

int mqlctl_print_story(apr_pool_t *p, mql_journal_t *j, const char *id, int max)
{
    story_baton_t b = { p, 0 };

    if (!j)
        return 0;
    printf("story:\n");
    mql_journal_story(j, id, max, print_one, &b);
    if (!b.n)
        printf("  (no events recorded)\n");
    return b.n;
}

/* ---- funnel ------------------------------------------------------------ */

static const char *rate(apr_pool_t *p, double r)
{
    return r < 0 ? "-" : apr_psprintf(p, "%.1f%%", r * 100);
}

static const char *rate_json(apr_pool_t *p, double r)
{
    return r < 0 ? "null" : apr_psprintf(p, "%.4f", r);
}

static const char *duration(apr_pool_t *p, double s)
{
    long v = (long)(s + 0.5);

    if (s < 0)
        return "-";
    if (v >= 86400)
        return apr_psprintf(p, "%ldd %ldh (%ld s)", v / 86400, v % 86400 / 3600, v);
    if (v >= 3600)
        return apr_psprintf(p, "%ldh %ldm (%ld s)", v / 3600, v % 3600 / 60, v);
    return apr_psprintf(p, "%ld s", v);
}

static const char *secs_json(apr_pool_t *p, double s)
{
    return s < 0 ? "null" : apr_psprintf(p, "%.0f", s);
}

int mqlctl_funnel(apr_pool_t *p, const char *state_dir, int days, const char *format)
{
    mql_journal_t *j;
    mql_funnel_t f;
    int i, k;

    if (!format)
        format = "text";
    if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "json")) {
        fprintf(stderr, "mqlctl: funnel --format expects text, csv or json, got '%s'\n",
                format);
        return EXIT_USAGE;
    }
    if (days < 1 || days > MQL_JOURNAL_DAYS) {
        fprintf(stderr, "mqlctl: funnel --days expects 1 to %d\n", MQL_JOURNAL_DAYS);
        return EXIT_USAGE;
    }
    if (!(j = mqlctl_journal(p, state_dir, 0, 0)))
        return EXIT_FAIL;
    if (mql_journal_funnel(j, p, (uint32_t)apr_time_sec(apr_time_now()), days, &f)
        != APR_SUCCESS) {
        fprintf(stderr, "mqlctl: cannot read the journal: %s\n", mql_journal_error(j));
        return EXIT_FAIL;
    }
    if (!strcmp(format, "csv")) {
        printf("day");
        for (k = 0; k < MQL_DAY_FIELDS; k++)
            printf(",%s", mql_day_field_name((mql_day_field_t)k));
        printf("\r\n");
        for (i = 0; i < f.ndays; i++) {
            printf("%s", mql_day_text(p, f.days[i].day));
            for (k = 0; k < MQL_DAY_FIELDS; k++)
                printf(",%u", f.days[i].n[k]);
            printf("\r\n");
        }
        return 0;
    }
    if (!strcmp(format, "json")) {
        printf("{\"from\":\"%s\",\"to\":\"%s\",\"days\":[", mql_day_text(p, f.from_day),
               mql_day_text(p, f.to_day));
        for (i = 0; i < f.ndays; i++) {
            printf("%s{\"day\":\"%s\"", i ? "," : "", mql_day_text(p, f.days[i].day));
            for (k = 0; k < MQL_DAY_FIELDS; k++)
                printf(",\"%s\":%u", mql_day_field_name((mql_day_field_t)k), f.days[i].n[k]);
            printf("}");
        }
        printf("],\"totals\":{");
        for (k = 0; k < MQL_DAY_FIELDS; k++)
            printf("%s\"%s\":%llu", k ? "," : "", mql_day_field_name((mql_day_field_t)k),
                   (unsigned long long)f.total[k]);
        printf("},\"visitor_to_mql\":%s,\"acceptance\":%s,\"median_first_visit_to_mql\":%s,"
               "\"median_mql_to_decision\":%s,\"waiting\":{\"under_1d\":%u,\"1d_to_7d\":%u,"
               "\"older\":%u}}\n", rate_json(p, f.visitor_to_mql), rate_json(p, f.acceptance),
               secs_json(p, f.median_to_mql), secs_json(p, f.median_to_decision),
               f.waiting[0], f.waiting[1], f.waiting[2]);
        return 0;
    }
    printf("period: %s to %s (%d days)\n", mql_day_text(p, f.from_day),
           mql_day_text(p, f.to_day), f.ndays);
    printf("new visitors: %llu\nvisitors scored: %llu\nnew MQLs: %llu\naccepted: %llu\n"
           "rejected: %llu\n", (unsigned long long)f.total[MQL_DAY_NEW],
           (unsigned long long)f.total[MQL_DAY_SCORED], (unsigned long long)f.total[MQL_DAY_MQLS],
           (unsigned long long)f.total[MQL_DAY_ACCEPTED],
           (unsigned long long)f.total[MQL_DAY_REJECTED]);
    printf("visitor to MQL: %s\nacceptance: %s\n", rate(p, f.visitor_to_mql),
           rate(p, f.acceptance));
    printf("median first visit to MQL: %s\nmedian MQL to decision: %s\n",
           duration(p, f.median_to_mql), duration(p, f.median_to_decision));
    printf("waiting for a decision: %u under 1 day, %u 1-7 days, %u older\n", f.waiting[0],
           f.waiting[1], f.waiting[2]);
    printf("\n%-10s  %8s  %8s  %6s  %8s  %8s\n", "DAY", "NEW", "SCORED", "MQLS", "ACCEPTED",
           "REJECTED");
    for (i = 0; i < f.ndays; i++) {
        const mql_funnel_day_t *d = &f.days[i];
        if (!(d->n[0] | d->n[1] | d->n[2] | d->n[3] | d->n[4]))
            continue;
        printf("%-10s  %8u  %8u  %6u  %8u  %8u\n", mql_day_text(p, d->day), d->n[0], d->n[1],
               d->n[2], d->n[3], d->n[4]);
    }
    return 0;
}

/* ---- criteria ---------------------------------------------------------- */

typedef struct reasons_out {
    apr_pool_t *p;
    int json, n;
} reasons_out_t;

static void print_reason(const char *reason, uint32_t n, void *baton)
{
    reasons_out_t *o = baton;

    if (o->json)
        printf("%s{\"reason\":%s,\"rejected\":%u}", o->n ? "," : "",
               mql_json_str(o->p, reason, 0), n);
    else
        printf("%-40s  %8u\n", mql_text_safe(o->p, reason), n);
    o->n++;
}

int mqlctl_criteria(apr_pool_t *p, const char *state_dir, const char *format)
{
    mql_journal_t *j;
    mql_criteria_t c;
    reasons_out_t ro = { p, 0, 0 };
    int i;

    if (!format)
        format = "text";
    ro.json = !strcmp(format, "json");
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "mqlctl: criteria --format expects text or json, got '%s'\n", format);
        return EXIT_USAGE;
    }
    if (!(j = mqlctl_journal(p, state_dir, 0, 0)))
        return EXIT_FAIL;
    if (mql_journal_criteria(j, p, &c) != APR_SUCCESS) {
        fprintf(stderr, "mqlctl: cannot read the journal: %s\n", mql_journal_error(j));
        return EXIT_FAIL;
    }
    if (!strcmp(format, "json")) {
        printf("{\"accepted\":%u,\"rejected\":%u,\"waiting\":%u,\"signals\":[", c.accepted,
               c.rejected, c.waiting);
        for (i = 0; i < c.nsignals; i++) {
            const mql_signal_row_t *r = &c.signals[i];
            printf("%s{\"signal\":%s,\"accepted\":%u,\"rejected\":%u,\"acceptance\":%s}",
                   i ? "," : "", mql_json_str(p, r->signal, 0), r->accepted, r->rejected,
                   rate_json(p, (double)r->accepted / (double)(r->accepted + r->rejected)));
        }
        printf("],\"score_bins\":[");
        for (i = 0; i < MQL_SCORE_BINS; i++)
            printf("%s{\"from\":%g,\"to\":%g,\"accepted\":%u,\"rejected\":%u}", i ? "," : "",
                   c.bin_from + i * c.bin_width, c.bin_from + (i + 1) * c.bin_width,
                   c.acc_bins[i], c.rej_bins[i]);
        printf("],\"reasons\":[");
        mql_journal_reasons(j, print_reason, &ro);
        printf("]}\n");
        return 0;
    }
    printf("decided leads: %u accepted, %u rejected (%u waiting)\n\n", c.accepted, c.rejected,
           c.waiting);
    printf("%-40s  %8s  %8s  %10s\n", "SIGNAL", "ACCEPTED", "REJECTED", "ACCEPTANCE");
    for (i = 0; i < c.nsignals; i++) {
        const mql_signal_row_t *r = &c.signals[i];
        printf("%-40s  %8u  %8u  %10s\n", mql_text_safe(p, r->signal), r->accepted,
               r->rejected, rate(p, (double)r->accepted / (double)(r->accepted + r->rejected)));
    }
    printf("\nscore at qualification  %8s  %8s\n", "ACCEPTED", "REJECTED");
    for (i = 0; i < MQL_SCORE_BINS; i++)
        printf("%10g - %-10g  %8u  %8u\n", c.bin_from + i * c.bin_width,
               c.bin_from + (i + 1) * c.bin_width, c.acc_bins[i], c.rej_bins[i]);
    printf("\n%-40s  %8s\n", "REJECTION REASON", "REJECTED");
    mql_journal_reasons(j, print_reason, &ro);
    return 0;
}

/* ---- whatif ------------------------------------------------------------ */

typedef struct whatif_baton {
    const mql_whatif_t *w;
    apr_hash_t *leads;                  /* visitors the journal knows as leads */
    apr_pool_t *p;
    uint32_t visitors, would, now_leads;
    uint32_t acc, acc_would, rej, rej_would;
} whatif_baton_t;

static int count_lead(const mql_jlead_t *l, void *baton)
{
    whatif_baton_t *b = baton;
    int q = mql_whatif_qualifies(b->w, l->peak_score > l->mql_score ? l->peak_score
                                                                     : l->mql_score,
                                 l->had_download, l->had_form, l->country);

    apr_hash_set(b->leads, apr_pstrdup(b->p, l->visitor), APR_HASH_KEY_STRING, "");
    b->visitors++;
    b->now_leads++;
    b->would += q;
    if (l->stage && !strcmp(l->stage, "sql")) {
        b->acc++;
        b->acc_would += q;
    }
    else if (l->stage && !strcmp(l->stage, "rejected")) {
        b->rej++;
        b->rej_would += q;
    }
    return 0;
}

/* The plain visitors of the snapshot (the leads came from the journal). */
static int count_visitor(const mql_visitor_t *v, const char *contact, void *baton)
{
    whatif_baton_t *b = baton;
    char id[MQL_ID_TEXT_LEN + 1], cc[3];

    mql_id_to_text(v->id, id);
    if (apr_hash_get(b->leads, id, APR_HASH_KEY_STRING))
        return 0;
    cc[0] = v->country[0];
    cc[1] = v->country[1];
    cc[2] = '\0';
    b->visitors++;
    if (v->stage != MQL_STAGE_VISITOR)
        b->now_leads++;
    /* the score as of its last visit, before decay: the highest it
     * reached for all we know */
    b->would += mql_whatif_qualifies(b->w, v->score, v->counts[MQL_EV_DOWNLOAD] > 0,
                                     v->counts[MQL_EV_FORM] > 0, cc);
    return 0;
}

static const char *parse_require(apr_pool_t *p, const apr_array_header_t *req, mql_whatif_t *w)
{
    int i;

    for (i = 0; req && i < req->nelts; i++) {
        const char *r = ((const char **)req->elts)[i];
        if (!strcmp(r, "download"))
            w->require |= MQL_REQ_DOWNLOAD;
        else if (!strcmp(r, "form"))
            w->require |= MQL_REQ_FORM;
        else if (!strncmp(r, "country=", 8) && r[8]) {
            char *packed = apr_pstrdup(p, ""), *last, *cc;
            for (cc = apr_strtok(apr_pstrdup(p, r + 8), ",", &last); cc;
                 cc = apr_strtok(NULL, ",", &last)) {
                if (strlen(cc) != 2)
                    return r;
                packed = apr_pstrcat(p, packed, cc, NULL);
            }
            w->require |= MQL_REQ_COUNTRY;
            w->countries = w->countries ? apr_pstrcat(p, w->countries, packed, NULL) : packed;
        }
        else
            return r;
    }
    return NULL;
}

int mqlctl_whatif(apr_pool_t *p, const char *state_dir, const char *threshold,
                  const apr_array_header_t *require, const char *format)
{
    whatif_baton_t b;
    mql_whatif_t w;
    mql_journal_t *j;
    const char *bad, *why = NULL, *snap;
    char *end;
    apr_finfo_t fi;

    memset(&w, 0, sizeof w);
    memset(&b, 0, sizeof b);
    if (!format)
        format = "text";
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "mqlctl: whatif --format expects text or json, got '%s'\n", format);
        return EXIT_USAGE;
    }
    w.threshold = threshold ? strtod(threshold, &end) : -1;
    if (!threshold || end == threshold || *end || w.threshold < 0 || w.threshold > 1e6) {
        fprintf(stderr, "mqlctl: whatif needs --threshold N (a score from 0), got '%s'\n",
                threshold ? threshold : "");
        return EXIT_USAGE;
    }
    if ((bad = parse_require(p, require, &w))) {
        fprintf(stderr, "mqlctl: --require expects download, form or country=CC[,CC...], "
                "got '%s'\n", bad);
        return EXIT_USAGE;
    }
    if (!(j = mqlctl_journal(p, state_dir, 0, 0)))
        return EXIT_FAIL;
    b.w = &w;
    b.p = p;
    b.leads = apr_hash_make(p);
    mql_journal_leads(j, count_lead, &b);
    snap = apr_pstrcat(p, state_dir, "/" MQL_SNAPSHOT_NAME, NULL);
    if (apr_stat(&fi, snap, APR_FINFO_LINK | APR_FINFO_TYPE, p) == APR_SUCCESS
        && fi.filetype == APR_REG
        && mql_snapshot_read(snap, 0, p, count_visitor, &b, &why) != APR_SUCCESS)
        fprintf(stderr, "mqlctl: warning: the snapshot %s was not read (%s): leads only\n",
                snap, why ? why : "unreadable");
    if (!strcmp(format, "json")) {
        printf("{\"threshold\":%g,\"require\":%s,\"visitors\":%u,\"mqls_now\":%u,"
               "\"would_qualify\":%u,\"accepted\":%u,\"accepted_would_qualify\":%u,"
               "\"rejected\":%u,\"rejected_would_qualify\":%u}\n", w.threshold,
               mql_json_str(p, require && require->nelts
                                   ? apr_array_pstrcat(p, require, ' ') : "", 0),
               b.visitors, b.now_leads, b.would, b.acc, b.acc_would, b.rej, b.rej_would);
        return 0;
    }
    printf("criteria: threshold %g%s%s\n", w.threshold,
           require && require->nelts ? ", require " : "",
           require && require->nelts ? mql_text_safe(p, apr_array_pstrcat(p, require, ' ')) : "");
    printf("visitors recorded: %u (leads now: %u)\n", b.visitors, b.now_leads);
    printf("would be MQLs: %u\n", b.would);
    printf("accepted by sales: %u, of whom %u would qualify\n", b.acc, b.acc_would);
    printf("rejected by sales: %u, of whom %u would qualify\n", b.rej, b.rej_would);
    return 0;
}
