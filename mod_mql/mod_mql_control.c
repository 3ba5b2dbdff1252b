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
 * The writer's control job: the requests mqlctl leaves in
 * MQLStateDir/control/ ("set ID STAGE", "forget ID", "adjust ID POINTS
 * REASON": mql_control.c), read
 * in name order (the name starts with the time) and applied to the store,
 * the leads files (at the next publication) and the journal; and, with
 * MQLStore redis://, the visitors forgotten on another server of the fleet.
 * The round removes a request's file once the DBM files and the snapshot
 * reflect it (mql_round_controls_done).
 */
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_file_io.h"

#include "mod_mql_jobs.h"
#include "mod_mql_journal.h"
#include "mod_mql_runtime.h"
#include "mod_mql_webhook.h"
#include "mql_cookie.h"
#include "mql_control.h"
#include "mql_manual.h"

APLOG_USE_MODULE(mql);

#define MAX_CONTROL     256        /* requests per round */

static uint32_t now_secs(void)
{
    return (uint32_t)apr_time_sec(apr_time_now());
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A store shared by a fleet (MQLStore redis://): visitors forgotten on
 * another server (the store let them go already). */
int mql_fleet_forgets(server_rec *s)
{
    uint8_t ids[64][MQL_ID_BYTES];
    char text[MQL_ID_TEXT_LEN + 1];
    unsigned n, i, any = 0;

    while ((n = mql_visitors_foreign_forgets(mql_g->store, ids, 64)) > 0) {
        for (i = 0; i < n; i++) {
            mql_id_to_text(ids[i], text);
            mql_publish_forget(text);
            mql_journal_forget_id(s, text);
            mql_webhook_forget_id(s, text);
        }
        any += n;
    }
    if (any)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03034: %u visitors forgotten on "
                     "another server of the fleet", any);
    return any > 0;
}

/* The scoring of the site whose leads file holds the visitor (the main
 * server's when that site is gone from the configuration). */
static const mql_scoring_t *site_scoring(server_rec *s, int site)
{
    const mql_site_t *sites = (const mql_site_t *)mql_g->sites->elts;
    server_rec *vs = site >= 0 && site < mql_g->sites->nelts && sites[site].server
                     ? sites[site].server : s;

    return &((mql_srv_conf_t *)ap_get_module_config(vs->module_config,
                                                    &mql_module))->scoring;
}

/* mqlctl adjust: sales' own points, applied by the store as a hit is
 * (the delta of mql_manual.h), so that the threshold promotes as ever
 * and the stage change is notified once; only to a visitor the store
 * knows (or a lead back from its file), never creating one. */
static void apply_adjust(server_rec *s, apr_pool_t *p, mql_writer_stats_t *st,
                         const mql_control_t *req)
{
    uint32_t now = now_secs();
    mql_visitor_ref_t ref;
    mql_hit_result_t res;
    mql_visitor_t v;
    mql_delta_t d;
    apr_status_t rv;

    if (!mql_visitors_get_id(mql_g->store, req->id, now, &v, NULL)
        && (mql_restore_lead(p, req->id, now) != APR_SUCCESS
            || !mql_visitors_get_id(mql_g->store, req->id, now, &v, NULL))) {
        MQL_STAT_ADD(st, control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "MQL09502: manual points for %s not "
                     "applied: no such visitor in the store", req->id_text);
        return;
    }
    mql_manual_delta(site_scoring(s, v.site), req->points, v.site, &d);
    mql_visitors_ref(mql_g->store, req->id, &ref);
    rv = mql_visitors_hit(mql_g->store, &ref, &d, now, &res);
    if (rv != APR_SUCCESS) {
        MQL_STAT_ADD(st, control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "MQL09504: manual points for %s not "
                     "applied: the visitor store refused them", req->id_text);
        return;
    }
    mql_journal_manual(s, req->id_text, now, req->points, req->reason, res.after.score);
    MQL_STAT_ADD(st, control_applied, 1);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL09505: %+d manual points for %s; score "
                 "now %.1f, stage %s", req->points, req->id_text, res.after.score,
                 mql_stage_name((mql_stage_t)res.after.stage));
}

/* Apply one request; 1 when done (the file may go), 0 to retry later. */
static int apply_control(server_rec *s, apr_pool_t *p, mql_writer_stats_t *st,
                         const char *file, const char *text, int *forget)
{
    mql_control_t req;
    const char *verb;
    apr_status_t rv;

    *forget = 0;
    switch (mql_control_parse(p, text, &req, &verb)) {
    case MQL_CONTROL_MALFORMED:
        MQL_STAT_ADD(st, control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MQL03030: control request %s is malformed; removed", file);
        return 1;
    case MQL_CONTROL_UNKNOWN:
        MQL_STAT_ADD(st, control_errors, 1);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "MQL03033: control request %s: unknown command '%s'; removed", file,
                     verb);
        return 1;
    default:
        break;
    }
    if (req.verb == MQL_CONTROL_ADJUST) {
        apply_adjust(s, p, st, &req);
        return 1;
    }
    if (req.verb == MQL_CONTROL_FORGET) {
        rv = mql_visitors_forget(mql_g->store, req.id);
        mql_publish_forget(req.id_text);
        mql_journal_forget_id(s, req.id_text);
        mql_webhook_forget_id(s, req.id_text);
        *forget = 1;
        MQL_STAT_ADD(st, control_applied, 1);
        /* no ID in the log: the visitor asked to be forgotten */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03031: forgot a visitor on request "
                     "(%s)", rv == APR_SUCCESS ? "was in the table" : "not in the table");
        return 1;
    }
    rv = mql_visitors_set_stage(mql_g->store, req.id, req.stage, now_secs());
    /* a lead that made room: back from its file, then decided */
    if (rv == APR_ENOENT && mql_restore_lead(p, req.id, now_secs()) == APR_SUCCESS) {
        MQL_STAT_ADD(st, leads_restored, 1);
        rv = mql_visitors_set_stage(mql_g->store, req.id, req.stage, now_secs());
    }
    if (req.reason)
        mql_journal_verdict_reason(s, req.id_text, now_secs(), req.reason);
    MQL_STAT_ADD(st, control_applied, 1);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "MQL03032: lead %s set to %s%s", req.id_text,
                 mql_stage_name(req.stage),
                 rv == APR_ENOENT ? " (not in the table: DBM file only)" : "");
    return 1;
}

apr_array_header_t *mql_controls_apply(server_rec *s, apr_pool_t *p, mql_writer_stats_t *st,
                                       int *any_forget)
{
    const char *dir = mql_state_path(p, MQL_CONTROL_DIR);
    apr_array_header_t *names = apr_array_make(p, 8, sizeof(char *));
    apr_array_header_t *done = apr_array_make(p, 8, sizeof(char *));
    apr_dir_t *d;
    apr_finfo_t fi;
    int i;

    *any_forget = 0;
    if (apr_dir_open(&d, dir, p) != APR_SUCCESS)
        return done;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS
           && names->nelts < MAX_CONTROL) {
        if (fi.filetype != APR_REG || !mql_control_is_request(fi.name))
            continue;
        *(const char **)apr_array_push(names) = apr_pstrdup(p, fi.name);
    }
    apr_dir_close(d);
    qsort(names->elts, (size_t)names->nelts, sizeof(char *), cmp_str);
    for (i = 0; i < names->nelts; i++) {
        const char *file = apr_pstrcat(p, dir, "/", ((const char **)names->elts)[i], NULL);
        char buf[1024];     /* an adjust's reason, percent-encoded, is the longest */
        apr_size_t len = sizeof buf - 1;
        apr_file_t *f;
        int forget;

        if (apr_file_open(&f, file, APR_FOPEN_READ, 0, p) != APR_SUCCESS)
            continue;
        apr_file_read_full(f, buf, len, &len);
        apr_file_close(f);
        buf[len] = '\0';
        if (apply_control(s, p, st, file, buf, &forget))
            *(const char **)apr_array_push(done) = file;
        *any_forget |= forget;
    }
    return done;
}

/* ------------------------------------------------------------------ */
/* Snapshot and status                                                 */

