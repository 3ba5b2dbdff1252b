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
 * mod_mql: marketing-qualified-lead scoring inside Apache httpd.
 *
 * This file holds the module record and the server lifecycle: one table
 * of subsystems, started in its order by one post_config and one
 * child_init.  Directives are in mod_mql_config.c, the visitor store's
 * providers in mod_mql_store*.c, the request path in mod_mql_request.c,
 * handlers in mod_mql_handlers.c, the status page in mod_mql_status*.c,
 * and every piece of logic in the mql_*.c core.
 */
#include <math.h>
#include <string.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"
#include "http_request.h"
#include "util_mutex.h"

#include "mod_mql_private.h"
#include "mod_mql_config.h"
#include "mod_mql_jobs.h"
#include "mod_mql_flood.h"
#include "mod_mql_geoip.h"
#include "mod_mql_handlers.h"
#include "mod_mql_request.h"
#include "mod_mql_returns.h"
#include "mod_mql_touch.h"
#include "mod_mql_runtime.h"
#include "mod_mql_status.h"
#include "mod_mql_store.h"
#include "mod_mql_writer.h"
#include "mod_mql.h"
#include "mql_cookie.h"
#include "mql_version.h"

static int mql_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    /* Admins may choose the mechanism with `Mutex sysvsem mql-store`. */
    return ap_mutex_register(pconf, MQL_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

/* Virtual hosts naming the same DBM file write to one site. */
static int site_of(apr_pool_t *p, server_rec *s, mql_srv_conf_t *sc)
{
    mql_site_t *sites = (mql_site_t *)mql_g->sites->elts, *site;
    int i;

    for (i = 0; i < mql_g->sites->nelts; i++)
        if (!strcmp(sites[i].dbm_file, sc->dbm_file))
            return i;
    if (mql_g->sites->nelts >= MQL_MAX_SITES)
        return -1;
    site = apr_array_push(mql_g->sites);
    site->dbm_file = sc->dbm_file;
    site->dbm_type = sc->dbm_type;
    site->server = s;
    return mql_g->sites->nelts - 1;
}

const char *mql_site_name(const mql_site_t *site)
{
    return site->server->server_hostname ? site->server->server_hostname : "";
}

/* Defaults resolved and cross-directive checks, for every virtual host. */
static int finish_servers(apr_pool_t *p, server_rec *s)
{
    int engine = 0;

    mql_g->sites = apr_array_make(p, 4, sizeof(mql_site_t));
    for (; s; s = s->next) {
        mql_srv_conf_t *sc = ap_get_module_config(s->module_config, &mql_module);
        const char *err = mql_finish_srv_conf(p, s, sc);
        if (!err && (sc->site = site_of(p, s, sc)) < 0)
            err = "at most 255 different MQLDBMFile files";
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL00001: %s", err);
            return -1;
        }
        engine |= sc->engine;
    }
    return engine;
}

/* Runs for `apachectl configtest` too, so these errors stop it. */
static int mql_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    if (mql_g && finish_servers(pconf, s) < 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (mql_g && mql_moments_check(s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    /* Every directive is known now: only the configured DBM files stay. */
    mql_settle_early_dbm(ptemp, s);
    return OK;
}

/* The leads files exist from the start, for RewriteMap and readers. */
static int dbm_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    server_rec *vs;

    for (vs = s; vs; vs = vs->next) {
        mql_srv_conf_t *sc = ap_get_module_config(vs->module_config, &mql_module);
        apr_status_t rv = mql_ensure_dbm(pconf, sc->dbm_file, sc->dbm_type);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, vs,
                         "MQL00002: cannot create the DBM file %s (type %s)", sc->dbm_file,
                         sc->dbm_type);
        else
            mql_adopt_old_sdbm(ptemp, sc->dbm_file, sc->dbm_type);
    }
    return OK;
}

static int geoip_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    return mql_geoip_open(pconf, s) == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/*
 * The subsystems, started in this order in the parent (post_config's
 * second pass, when some virtual host has MQLEngine On) and then in each
 * child.  Each step may use what the steps before it made; an error stops
 * the start.
 */
typedef struct mql_subsystem {
    const char *name;
    int (*post_config)(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s);
    void (*child_init)(apr_pool_t *pchild, server_rec *s);
} mql_subsystem_t;

static const mql_subsystem_t subsystems[] = {
    /* MQLStateDir and the signing key */
    { "runtime", mql_runtime_post_config, NULL },
    /* MQLStore's provider: the visitors, the snapshot read back */
    { "store", mql_store_post_config, mql_store_child_init },
    /* the store lets leads go to make room: the ring of their returns */
    { "returns", mql_returns_post_config, NULL },
    /* where visitors came from: the dictionary of touches */
    { "touches", mql_touch_post_config, NULL },
    { "geoip", geoip_post_config, NULL },
    { "dbm", dbm_post_config, NULL },
    { "flood", mql_flood_post_config, NULL },
    /* the form key is mixed with the signing key */
    { "status", mql_status_form_key, NULL },
    { "request", mql_request_post_config, NULL },
    /* the background writer reads the store; registered with
     * mod_watchdog, whose own post_config runs after this module's */
    { "writer", mql_writer_post_config, NULL },
};

static int mql_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    apr_size_t i;
    int engine, rc;

    if (!mql_g)
        return OK;
    engine = finish_servers(pconf, s);
    /* The first pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    /* Notices are logged whatever LogLevel says: one line per generation. */
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "MQL00050: mod_mql %s started%s", MQL_VERSION,
                 engine ? "" : " (MQLEngine Off everywhere)");
    if (!engine)
        return OK;
    for (i = 0; i < sizeof subsystems / sizeof *subsystems; i++)
        if (subsystems[i].post_config
            && (rc = subsystems[i].post_config(pconf, plog, ptemp, s)) != OK) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "MQL09081: mod_mql not started: its %s failed", subsystems[i].name);
            return rc;
        }
    mql_g->started = 1;
    return OK;
}

static void mql_child_init(apr_pool_t *p, server_rec *s)
{
    apr_size_t i;

    if (!mql_g || !mql_g->started)
        return;
    for (i = 0; i < sizeof subsystems / sizeof *subsystems; i++)
        if (subsystems[i].child_init)
            subsystems[i].child_init(p, s);
}

static int mql_visitor_info(request_rec *r, long *score, const char **stage, const char **id)
{
    mql_req_t *rq = mql_req_state(r);
    mql_visitor_t v;
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());

    if (!rq || !rq->tracked)
        return DECLINED;
    *score = 0;
    *stage = "visitor";
    if (mql_visitors_get(mql_g->store, &rq->ref, now, &v, NULL)) {
        *score = lround(mql_current_score(&v, now, (uint32_t)mql_g->half_life));
        *stage = mql_stage_name((mql_stage_t)v.stage);
    }
    if (id)
        *id = apr_pstrdup(r->pool, rq->id_text);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    /* before mod_watchdog's post_config, which starts the watchdog
     * instances the writer and the Redis store register with */
    static const char *const before_watchdog[] = { "mod_watchdog.c", NULL };

    ap_hook_pre_config(mql_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(mql_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(mql_post_config, NULL, before_watchdog, APR_HOOK_MIDDLE);
    ap_hook_child_init(mql_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    mql_register_request_hooks(p);
    mql_register_handlers(p);
    mql_register_status(p);
    mql_register_stores(p);
    APR_REGISTER_OPTIONAL_FN(mql_visitor_info);
}

AP_DECLARE_MODULE(mql) = {
    STANDARD20_MODULE_STUFF,
    mql_create_dir_conf,
    mql_merge_dir_conf,
    mql_create_srv_conf,
    mql_merge_srv_conf,
    mql_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
