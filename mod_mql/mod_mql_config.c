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
 * Directives of mod_mql.  Every value is checked here, so a bad one stops
 * `apachectl configtest` with httpd's "Syntax error on line N of FILE"
 * followed by the directive's name and what it expects.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <maxminddb.h>

#include "apr_dbm.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "http_core.h"

#include "mod_mql_private.h"
#include "mod_mql_config.h"
#include "mod_mql_flood.h"
#include "mod_mql_knockout.h"
#include "mod_mql_runtime.h"
#include "mod_mql_store.h"
#include "mod_mql_status.h"
#include "mod_mql_accounts.h"
#include "mod_mql_webhook.h"
#include "mql_dbmpub.h"
#include "mql_journal.h"

mql_global_t *mql_g;

/* mql_g lives in the configuration pool of one generation. */
static apr_status_t forget_global(void *unused)
{
    mql_g = NULL;
    return APR_SUCCESS;
}

static const char *const default_download_exts[] = {
    "pdf", "doc", "docx", "ppt", "pptx", "xls", "xlsx", "zip", "epub", NULL
};

/* ---------------------------------------------------------------- records */

void *mql_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    mql_srv_conf_t *sc = apr_pcalloc(p, sizeof *sc);
    int i;

    sc->engine = MQL_UNSET;
    sc->cookie_max_age = MQL_UNSET;
    sc->cookie_secure = MQL_UNSET;
    sc->cookie_httponly = MQL_UNSET;
    for (i = 0; i < MQL_EV_COUNT; i++)
        sc->points[i] = INT_MIN;
    sc->threshold = MQL_UNSET;
    sc->require = MQL_UNSET;
    sc->respect_dnt = MQL_UNSET;
    sc->bot_filter = MQL_UNSET;
    sc->rules = apr_array_make(p, 4, sizeof(mql_rule_t));
    sc->fit_rules = apr_array_make(p, 2, sizeof(mql_fit_rule_t));
    sc->exclude_ua = apr_array_make(p, 2, sizeof(ap_regex_t *));
    sc->exclude_ip = apr_array_make(p, 2, sizeof(mql_cidr_t));

    if (!s->is_virtual && !mql_g) {
        /* Server-wide settings hang off the main server's pool; the table
         * itself is shared by all virtual hosts. */
        mql_g = apr_pcalloc(p, sizeof *mql_g);
        mql_g->max_visitors = 100000;
        mql_g->half_life = 30 * 86400;
        mql_g->expire = 90 * 86400;
        mql_g->journal = 1;
        mql_g->journal_max = MQL_JOURNAL_DEFAULT_MAX;
        mql_g->journal_events = MQL_JOURNAL_DEFAULT_EVENTS;
        mql_g->journal_rate = 2000;
        mql_g->state_dir = MQL_DEFAULT_STATE_DIR;
        mql_flood_defaults(&mql_g->flood);
        apr_pool_cleanup_register(p, NULL, forget_global, apr_pool_cleanup_null);
        mql_g->conf_servers = apr_array_make(p, 4, sizeof(mql_srv_conf_t *));
    }
    if (mql_g)
        *(mql_srv_conf_t **)apr_array_push(mql_g->conf_servers) = sc;
    return sc;
}

#define MERGE(field, unset) (add->field != (unset) ? add->field : base->field)

static apr_array_header_t *append_arrays(apr_pool_t *p, apr_array_header_t *base,
                                         apr_array_header_t *add)
{
    return add->nelts == 0 ? base : base->nelts == 0 ? add : apr_array_append(p, base, add);
}

void *mql_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    mql_srv_conf_t *base = basev, *add = addv;
    mql_srv_conf_t *sc = apr_pcalloc(p, sizeof *sc);
    int i;

    sc->engine = MERGE(engine, MQL_UNSET);
    sc->cookie_name = MERGE(cookie_name, NULL);
    sc->cookie_domain = MERGE(cookie_domain, NULL);
    sc->cookie_max_age = MERGE(cookie_max_age, MQL_UNSET);
    sc->cookie_samesite = MERGE(cookie_samesite, NULL);
    sc->cookie_secure = MERGE(cookie_secure, MQL_UNSET);
    sc->cookie_httponly = MERGE(cookie_httponly, MQL_UNSET);
    for (i = 0; i < MQL_EV_COUNT; i++)
        sc->points[i] = MERGE(points[i], INT_MIN);
    /* A virtual host with rules of its own replaces the main server's. */
    sc->rules = add->rules->nelts ? add->rules : base->rules;
    sc->ncapped = add->rules->nelts ? add->ncapped : base->ncapped;
    sc->fit_rules = add->fit_rules->nelts ? add->fit_rules : base->fit_rules;
    sc->disqualify_domains = MERGE(disqualify_domains, NULL);
    sc->threshold = MERGE(threshold, MQL_UNSET);
    sc->require = MERGE(require, MQL_UNSET);
    sc->require_countries = MERGE(require_countries, NULL);
    sc->download_exts = MERGE(download_exts, NULL);
    sc->dbm_file = MERGE(dbm_file, NULL);
    sc->dbm_type = MERGE(dbm_type, NULL);
    sc->respect_dnt = MERGE(respect_dnt, MQL_UNSET);
    sc->bot_filter = MERGE(bot_filter, MQL_UNSET);
    sc->consent = MERGE(consent, NULL);
    sc->optout_cookie = MERGE(optout_cookie, NULL);
    sc->exclude_ua = append_arrays(p, base->exclude_ua, add->exclude_ua);
    sc->exclude_ip = append_arrays(p, base->exclude_ip, add->exclude_ip);
    sc->contact_from = MERGE(contact_from, NULL);
    return sc;
}

void *mql_create_dir_conf(apr_pool_t *p, char *dir)
{
    mql_dir_conf_t *dc = apr_pcalloc(p, sizeof *dc);

    dc->engine = MQL_UNSET;
    dc->status_sites = MQL_UNSET;
    return dc;
}

void *mql_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    mql_dir_conf_t *base = basev, *add = addv;
    mql_dir_conf_t *dc = apr_pcalloc(p, sizeof *dc);

    dc->engine = MERGE(engine, MQL_UNSET);
    dc->status_sites = MERGE(status_sites, MQL_UNSET);
    return dc;
}

/* A rule's regex and the literal text its matches must begin with. */
typedef struct mql_pattern {
    ap_regex_t *re;
    const char *prefix;
    size_t plen;            /* 0: no prefix known, ask the regex engine */
    int exact;              /* the prefix test is the whole match */
} mql_pattern_t;

/* Most requests are for URLs that no rule names ("^/pricing" on a blog
 * post): a string compare turns them away before the regex engine runs. */
static int mql_regex_match(const void *pattern, const char *subject)
{
    const mql_pattern_t *pt = pattern;

    if (pt->plen) {
        if (strncmp(subject, pt->prefix, pt->plen) != 0)
            return 0;
        if (pt->exact)
            return 1;
    }
    return ap_regexec(pt->re, subject, 0, NULL, 0) == 0;
}

/*
 * Resolve defaults once, after the configuration is read, so the request
 * path reads plain values.
 */
const char *mql_finish_srv_conf(apr_pool_t *p, server_rec *s, mql_srv_conf_t *sc)
{
    mql_scoring_t *scoring = &sc->scoring;
    int i;

    if (sc->engine == MQL_UNSET) sc->engine = 0;
    if (!sc->cookie_name) sc->cookie_name = "mql_vid";
    if (sc->cookie_max_age == MQL_UNSET) sc->cookie_max_age = 365 * 86400;
    if (!sc->cookie_samesite) sc->cookie_samesite = "Lax";
    if (sc->cookie_secure == MQL_UNSET) sc->cookie_secure = 2;
    if (sc->cookie_httponly == MQL_UNSET) sc->cookie_httponly = 1;
    if (sc->respect_dnt == MQL_UNSET) sc->respect_dnt = 1;
    if (sc->bot_filter == MQL_UNSET) sc->bot_filter = 1;
    if (!sc->optout_cookie) sc->optout_cookie = "mql_optout";
    if (!sc->dbm_type) sc->dbm_type = MQL_DBM_DEFAULT_TYPE;
    if (!sc->dbm_file) sc->dbm_file = mql_state_path(p, "leads");

    mql_scoring_defaults(scoring);
    for (i = 0; i < MQL_EV_COUNT; i++)
        if (sc->points[i] != INT_MIN)
            scoring->points[i] = sc->points[i];
    scoring->rules = (const mql_rule_t *)sc->rules->elts;
    scoring->nrules = sc->rules->nelts;
    scoring->fit_rules = (const mql_fit_rule_t *)sc->fit_rules->elts;
    scoring->nfit_rules = sc->fit_rules->nelts;
    scoring->match = mql_regex_match;
    if (sc->threshold != MQL_UNSET)
        scoring->threshold = (double)sc->threshold;
    scoring->half_life = (uint32_t)mql_g->half_life;
    scoring->require = sc->require == MQL_UNSET ? 0 : (unsigned)sc->require;
    scoring->require_countries = sc->require_countries;

    if (sc->download_exts) {
        apr_array_header_t *a = apr_array_copy(p, sc->download_exts);
        *(const char **)apr_array_push(a) = NULL;
        sc->download_ext_list = (const char *const *)a->elts;
    }
    else {
        sc->download_ext_list = default_download_exts;
    }

    if ((scoring->require & MQL_REQ_COUNTRY) && !mql_g->geoip_db)
        return "MQLRequire country needs MQLGeoIPDatabase";
    if (sc->fit_rules->nelts && !mql_g->geoip_db)
        return "MQLRule country needs MQLGeoIPDatabase";
    return NULL;
}

/* ------------------------------------------------------------- directives */

static mql_srv_conf_t *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &mql_module);
}

/* "MQLHalfLife: expects ..., got 'x'" */
static const char *bad(cmd_parms *cmd, const char *expects, const char *got)
{
    return apr_psprintf(cmd->pool, "%s: %s; got '%s'", cmd->cmd->name, expects, got);
}

static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

/*
 * The leads file while the configuration is read.
 *
 * mod_rewrite checks a `RewriteMap dbm:` file in its own directive, while
 * it reads the configuration, and refuses to start when the file is
 * missing: post_config, which runs after every directive is read, is too
 * late on a fresh install.  So each directive that says which file, of
 * which type, or whether it is used at all creates the file as the
 * directives read so far describe it.  A later directive may change that
 * (`MQLEngine On` first and `MQLDBMType gdbm` after, as in the README):
 * the files this read created for a description no server holds any more
 * are taken back, if they are still as created, so only the configured
 * type's files remain.  A read that fails takes back everything it
 * created.  A RewriteMap read before the directives naming the file cannot
 * be helped.  Failures to create are reported in post_config, where the
 * server's user is known.
 */
typedef struct early_file {
    const char *path;               /* as named to apr_dbm */
    const char *type;
    const char *names[2];           /* the files apr_dbm uses; [1] may be NULL */
    apr_finfo_t made[2];            /* each as created */
    int gone;
} early_file_t;

struct mql_early_dbm {
    apr_array_header_t *files;      /* of early_file_t */
    int settled;                    /* the read completed: keep what is left */
};

#define EARLY_FINFO (APR_FINFO_MIN | APR_FINFO_IDENT)

static int unchanged(const apr_finfo_t *now, const apr_finfo_t *made)
{
    return now->device == made->device && now->inode == made->inode
           && now->size == made->size && now->mtime == made->mtime;
}

/* Only a file nobody wrote to since is ours to remove. */
static void take_back(early_file_t *f, apr_pool_t *ptemp)
{
    apr_finfo_t now;
    int i;

    for (i = 0; i < 2 && f->names[i]; i++)
        if (apr_stat(&now, f->names[i], EARLY_FINFO, ptemp) != APR_SUCCESS
            || !unchanged(&now, &f->made[i]))
            return;
    for (i = 0; i < 2 && f->names[i]; i++)
        apr_file_remove(f->names[i], ptemp);
    f->gone = 1;
}

static apr_status_t take_back_unsettled(void *data)
{
    struct mql_early_dbm *e = data;
    apr_pool_t *tmp;
    int i;

    if (e->settled || apr_pool_create(&tmp, NULL) != APR_SUCCESS)
        return APR_SUCCESS;
    for (i = 0; i < e->files->nelts; i++)
        if (!APR_ARRAY_IDX(e->files, i, early_file_t).gone)
            take_back(&APR_ARRAY_IDX(e->files, i, early_file_t), tmp);
    apr_pool_destroy(tmp);
    return APR_SUCCESS;
}

static struct mql_early_dbm *early_dbm(apr_pool_t *pconf)
{
    if (!mql_g->early_dbm) {
        mql_g->early_dbm = apr_pcalloc(pconf, sizeof *mql_g->early_dbm);
        mql_g->early_dbm->files = apr_array_make(pconf, 2, sizeof(early_file_t));
        apr_pool_cleanup_register(pconf, mql_g->early_dbm, take_back_unsettled,
                                  apr_pool_cleanup_null);
    }
    return mql_g->early_dbm;
}

/* Create path as type, unless it is there; remember it when this read
 * made it. */
static void make_early(apr_pool_t *pconf, apr_pool_t *ptemp, const char *path, const char *type)
{
    early_file_t f;
    apr_finfo_t fi;
    int i;

    memset(&f, 0, sizeof f);
    if (apr_dbm_get_usednames_ex(pconf, type, path, &f.names[0], &f.names[1]) != APR_SUCCESS
        || apr_stat(&fi, f.names[0], APR_FINFO_TYPE, ptemp) == APR_SUCCESS
        || mql_ensure_dbm(ptemp, path, type) != APR_SUCCESS)
        return;
    for (i = 0; i < 2 && f.names[i]; i++)
        if (apr_stat(&f.made[i], f.names[i], EARLY_FINFO, ptemp) != APR_SUCCESS)
            return;
    f.path = path;
    f.type = type;
    *(early_file_t *)apr_array_push(early_dbm(pconf)->files) = f;
}

typedef struct dbm_target {
    const char *path, *type;
} dbm_target_t;

/*
 * The file a server's directives read so far point at, as merging will
 * resolve it; NULL when it needs none yet, or when its place is not known
 * yet (neither MQLDBMFile nor MQLStateDir: the default directory is made
 * in post_config).
 */
static const char *early_target(apr_pool_t *pconf, const mql_srv_conf_t *sc,
                                const mql_srv_conf_t *main_sc, const char **type)
{
    int engine = sc->engine != MQL_UNSET ? sc->engine : main_sc->engine;
    const char *file = sc->dbm_file ? sc->dbm_file : main_sc->dbm_file;

    *type = sc->dbm_type ? sc->dbm_type
          : main_sc->dbm_type ? main_sc->dbm_type : MQL_DBM_DEFAULT_TYPE;
    if (engine != 1 && !sc->dbm_file)
        return NULL;
    if (file)
        return file;
    return mql_g->state_dir_set ? mql_state_path(pconf, "leads") : NULL;
}

static int targeted(const apr_array_header_t *targets, const early_file_t *f)
{
    int i;

    for (i = 0; i < targets->nelts; i++) {
        const dbm_target_t *t = &APR_ARRAY_IDX(targets, i, dbm_target_t);

        if (!strcmp(t->path, f->path) && !strcmp(t->type, f->type))
            return 1;
    }
    return 0;
}

static void take_back_untargeted(const apr_array_header_t *targets, apr_pool_t *ptemp)
{
    struct mql_early_dbm *e = mql_g->early_dbm;
    int i;

    for (i = 0; e && i < e->files->nelts; i++) {
        early_file_t *f = &APR_ARRAY_IDX(e->files, i, early_file_t);

        if (!f->gone && !targeted(targets, f))
            take_back(f, ptemp);
    }
}

/* After each directive that bears on the leads file. */
static void settle_dbm_now(cmd_parms *cmd)
{
    apr_array_header_t *targets = apr_array_make(cmd->temp_pool, 4, sizeof(dbm_target_t));
    mql_srv_conf_t *const *servers = (mql_srv_conf_t *const *)mql_g->conf_servers->elts;
    char *ready = apr_pcalloc(cmd->temp_pool, (apr_size_t)mql_g->conf_servers->nelts + 1);
    int i;

    for (i = 0; i < mql_g->conf_servers->nelts; i++) {
        dbm_target_t *t = apr_array_push(targets);

        t->path = early_target(cmd->pool, servers[i], servers[0], &t->type);
        if (!t->path) {
            targets->nelts--;
            continue;
        }
        if (!servers[i]->dbm_file && !servers[0]->dbm_file) {
            /* the state directory is the server's user's before that user
             * makes the file in it */
            int fd = mql_prepare_state_dir(cmd->temp_pool, cmd->server);

            if (fd < 0)
                continue;
            close(fd);
        }
        ready[targets->nelts - 1] = 1;
    }
    /* Taken back before any is made: gdbm and db use the same name, and
     * the default's empty file would stand in the way of the other type's. */
    take_back_untargeted(targets, cmd->temp_pool);
    for (i = 0; i < targets->nelts; i++)
        if (ready[i])
            make_early(cmd->pool, cmd->temp_pool, APR_ARRAY_IDX(targets, i, dbm_target_t).path,
                       APR_ARRAY_IDX(targets, i, dbm_target_t).type);
}

/* Once every directive is read and merged: keep the files the servers
 * use, take back the rest this read made. */
void mql_settle_early_dbm(apr_pool_t *p, server_rec *s)
{
    apr_array_header_t *targets;

    if (!mql_g || !mql_g->early_dbm)
        return;
    targets = apr_array_make(p, 4, sizeof(dbm_target_t));
    for (; s; s = s->next) {
        mql_srv_conf_t *sc = ap_get_module_config(s->module_config, &mql_module);
        dbm_target_t *t = apr_array_push(targets);

        t->path = sc->dbm_file;
        t->type = sc->dbm_type;
    }
    take_back_untargeted(targets, p);
    mql_g->early_dbm->settled = 1;
}

static int parse_onoff(const char *arg)
{
    if (!strcasecmp(arg, "on")) return 1;
    if (!strcasecmp(arg, "off")) return 0;
    return -1;
}

static const char *set_engine(cmd_parms *cmd, void *dconf, const char *arg)
{
    int on = parse_onoff(arg);

    if (on < 0)
        return bad(cmd, "expects On or Off", arg);
    if (cmd->path)
        ((mql_dir_conf_t *)dconf)->engine = on;
    else {
        srv_conf(cmd)->engine = on;
        settle_dbm_now(cmd);
    }
    return NULL;
}

/* On/Off directives of the server record, by offset */
static const char *set_srv_flag(cmd_parms *cmd, void *dconf, const char *arg)
{
    int on = parse_onoff(arg);

    if (on < 0)
        return bad(cmd, "expects On or Off", arg);
    *(int *)((char *)srv_conf(cmd) + (apr_size_t)cmd->info) = on;
    return NULL;
}

static const char *set_duration(cmd_parms *cmd, const char *arg, int64_t min,
                                apr_int64_t *out)
{
    int64_t secs;
    const char *err = mql_parse_duration(cmd->pool, arg, &secs);

    if (err)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    if (secs < min)
        return bad(cmd, apr_psprintf(cmd->pool, "expects at least %" APR_INT64_T_FMT "s",
                                     (apr_int64_t)min), arg);
    *out = secs;
    return NULL;
}

static const char *set_state_dir(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = global_only(cmd);

    if (err)
        return err;
    mql_g->state_dir = ap_server_root_relative(cmd->pool, arg);
    if (!mql_g->state_dir)
        return bad(cmd, "expects a directory path", arg);
    mql_g->state_dir_set = 1;
    settle_dbm_now(cmd);
    return NULL;
}

static const char *set_secret(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = global_only(cmd);
    apr_finfo_t fi;

    if (err)
        return err;
    mql_g->secret_file = ap_server_root_relative(cmd->pool, arg);
    if (!mql_g->secret_file
        || apr_stat(&fi, mql_g->secret_file, APR_FINFO_SIZE | APR_FINFO_TYPE, cmd->pool)
           != APR_SUCCESS
        || fi.filetype != APR_REG)
        return bad(cmd, "expects a readable file holding the secret key", arg);
    if (fi.size < MQL_KEY_BYTES)
        return bad(cmd, "expects a file of at least 16 bytes of secret", arg);
    return NULL;
}

static const char *set_cookie_name(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *c;

    /* RFC 6265 token: no separators, no controls */
    for (c = arg; *c; c++)
        if (!apr_isgraph(*c) || strchr("()<>@,;:\\\"/[]?={}", *c))
            break;
    if (!*arg || *c || strlen(arg) > 64)
        return bad(cmd, "expects a cookie name (letters, digits, - and _)", arg);
    srv_conf(cmd)->cookie_name = arg;
    return NULL;
}

static const char *set_cookie_domain(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *c;

    for (c = arg; *c; c++)
        if (!apr_isalnum(*c) && *c != '.' && *c != '-')
            break;
    if (!*arg || *c || strchr(arg, '.') == NULL)
        return bad(cmd, "expects a domain name such as .example.com", arg);
    srv_conf(cmd)->cookie_domain = arg;
    return NULL;
}

static const char *set_cookie_max_age(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_duration(cmd, arg, 60, &srv_conf(cmd)->cookie_max_age);
}

static const char *set_cookie_samesite(cmd_parms *cmd, void *dconf, const char *arg)
{
    static const char *const values[] = { "Lax", "Strict", "None", NULL };
    int i;

    for (i = 0; values[i]; i++) {
        if (!strcasecmp(arg, values[i])) {
            srv_conf(cmd)->cookie_samesite = values[i];
            return NULL;
        }
    }
    if (!strcasecmp(arg, "off")) {
        srv_conf(cmd)->cookie_samesite = "";
        return NULL;
    }
    return bad(cmd, "expects Lax, Strict, None or Off", arg);
}

static const char *set_cookie_secure(cmd_parms *cmd, void *dconf, const char *arg)
{
    int on = parse_onoff(arg);

    if (on < 0 && strcasecmp(arg, "auto"))
        return bad(cmd, "expects On, Off or Auto (Secure over HTTPS only)", arg);
    srv_conf(cmd)->cookie_secure = on < 0 ? 2 : on;
    return NULL;
}

static const char *set_max_visitors(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = global_only(cmd);
    int64_t n;

    if (err)
        return err;
    if (mql_parse_int(cmd->pool, arg, 16, 100000000, &n))
        return bad(cmd, "expects a number of visitors from 16 to 100000000", arg);
    mql_g->max_visitors = n;
    return NULL;
}

static const char *set_half_life(cmd_parms *cmd, void *dconf, const char *arg)
{
    return global_only(cmd) ? global_only(cmd) : set_duration(cmd, arg, 0, &mql_g->half_life);
}

static const char *set_expire(cmd_parms *cmd, void *dconf, const char *arg)
{
    return global_only(cmd) ? global_only(cmd) : set_duration(cmd, arg, 60, &mql_g->expire);
}

static const char *set_active_after(cmd_parms *cmd, void *dconf, const char *arg)
{
    return global_only(cmd) ? global_only(cmd)
                            : set_duration(cmd, arg, 1, &mql_g->active_after);
}

static const char *set_decision_sla(cmd_parms *cmd, void *dconf, const char *arg)
{
    return global_only(cmd) ? global_only(cmd)
                            : set_duration(cmd, arg, 1, &mql_g->decision_sla);
}

static const char *set_threshold(cmd_parms *cmd, void *dconf, const char *arg)
{
    int64_t n;

    if (mql_parse_int(cmd->pool, arg, 1, 1000000, &n))
        return bad(cmd, "expects a score from 1 to 1000000", arg);
    srv_conf(cmd)->threshold = n;
    return NULL;
}

static const char *parse_countries(cmd_parms *cmd, int argc, char *const argv[],
                                   const char **packed)
{
    char *out = apr_palloc(cmd->pool, (apr_size_t)argc * 2 + 1), *o = out;
    int i;

    for (i = 0; i < argc; i++) {
        const char *cc = argv[i];
        if (strlen(cc) != 2 || !apr_isalpha(cc[0]) || !apr_isalpha(cc[1]))
            return bad(cmd, "expects two-letter country codes such as DE FR US", cc);
        *o++ = (char)apr_toupper(cc[0]);
        *o++ = (char)apr_toupper(cc[1]);
    }
    *o = '\0';
    *packed = out;
    return NULL;
}

static const char *set_require(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    mql_srv_conf_t *sc = srv_conf(cmd);
    int mask = sc->require == MQL_UNSET ? 0 : sc->require;
    const char *err;

    if (argc < 1)
        return bad(cmd, "expects download, form or country CC...", "");
    if (!strcasecmp(argv[0], "download") && argc == 1)
        mask |= MQL_REQ_DOWNLOAD;
    else if (!strcasecmp(argv[0], "form") && argc == 1)
        mask |= MQL_REQ_FORM;
    else if (!strcasecmp(argv[0], "country") && argc > 1) {
        /* every hit carries the list to the store (mql_delta_t) */
        if (argc - 1 > MQL_DELTA_COUNTRIES)
            return apr_psprintf(cmd->pool, "%s: expects at most %d countries",
                                cmd->cmd->name, MQL_DELTA_COUNTRIES);
        if ((err = parse_countries(cmd, argc - 1, argv + 1, &sc->require_countries)))
            return err;
        mask |= MQL_REQ_COUNTRY;
    }
    else
        return bad(cmd, "expects download, form or country CC...", argv[0]);
    sc->require = mask;
    return NULL;
}

static const char *set_points(cmd_parms *cmd, void *dconf, const char *event, const char *pts)
{
    int ev = mql_event_from_name(event);
    int64_t n;

    if (ev < 0 || ev == MQL_EV_APP)
        return bad(cmd, "expects an event: view, download, form, form-error, pixel or "
                   "campaign", event);
    if (mql_parse_int(cmd->pool, pts, -1000, 1000, &n))
        return bad(cmd, "expects points from -1000 to 1000", pts);
    srv_conf(cmd)->points[ev] = (int)n;
    return NULL;
}

static const char *compile_regex(cmd_parms *cmd, const char *re, ap_regex_t **out)
{
    *out = ap_pregcomp(cmd->pool, re, AP_REG_EXTENDED);
    if (!*out)
        return bad(cmd, "expects a valid regular expression", re);
    return NULL;
}

static const char *compile_pattern(cmd_parms *cmd, const char *re, const void **out)
{
    mql_pattern_t *pt = apr_pcalloc(cmd->pool, sizeof *pt);
    char prefix[256];
    const char *err = compile_regex(cmd, re, &pt->re);

    if (err)
        return err;
    /* RegexDefaultOptions may make every regex caseless or multi-line;
     * then a literal prefix proves nothing. */
    if (!(ap_regcomp_get_default_cflags() & (AP_REG_ICASE | AP_REG_NEWLINE))) {
        pt->plen = mql_regex_literal_prefix(re, prefix, sizeof prefix, &pt->exact);
        pt->prefix = apr_pstrmemdup(cmd->pool, prefix, pt->plen);
    }
    *out = pt;
    return NULL;
}

/* MQLRule KIND [WORD] [REGEX] POINTS [options]: a kind of mql_score.c's
 * table; its arguments into rule, the index of its POINTS into *at. */
static const char *rule_of_kind(cmd_parms *cmd, const mql_rule_kind_t *kind, int argc,
                                char *const argv[], mql_rule_t *rule, int *at)
{
    int words = (kind->word ? 1 : 0) + (kind->regex ? 1 : 0);
    const char *err;

    if (argc < 2 + words)
        return bad(cmd, apr_pstrcat(cmd->pool, "expects ", kind->name, " ", kind->args,
                                    " POINTS [cap=N] [referer=REGEX] [query=NAME=VALUE]",
                                    NULL), argv[0]);
    if (kind->word)
        rule->arg = argv[1];
    if (kind->regex && (err = compile_pattern(cmd, argv[words], &rule->arg_re)))
        return err;
    /* the journal's label: the arguments as written */
    rule->pattern = words == 2 ? apr_pstrcat(cmd->pool, argv[1], " ", argv[2], NULL)
                    : words ? argv[1] : NULL;
    *at = 1 + words;
    return NULL;
}

/* MQLRule EVENT URL-REGEX POINTS [cap=N] [referer=REGEX] [query=NAME=VALUE]
 *         [disqualify]
 * MQLRule KIND ... (mql_rule_kind_named)
 * MQLRule country CC... POINTS */
static const char *set_rule(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    mql_srv_conf_t *sc = srv_conf(cmd);
    const char *usage = "expects EVENT URL-REGEX POINTS [cap=N] [referer=REGEX] "
                        "[query=NAME=VALUE] [disqualify], or country CC... POINTS";
    const mql_rule_kind_t *kind;
    mql_rule_t rule;
    int64_t n;
    const char *err;
    int i, at = 2;

    if (argc < 3)
        return bad(cmd, usage, argc ? argv[0] : "");
    if (!strcasecmp(argv[0], "country")) {
        mql_fit_rule_t *fit = apr_array_push(sc->fit_rules);
        if ((err = parse_countries(cmd, argc - 2, argv + 1, &fit->countries)))
            return err;
        if (mql_parse_int(cmd->pool, argv[argc - 1], -1000, 1000, &n))
            return bad(cmd, "expects points from -1000 to 1000 after the countries",
                       argv[argc - 1]);
        fit->points = (int)n;
        return NULL;
    }

    memset(&rule, 0, sizeof rule);
    if ((kind = mql_rule_kind_named(argv[0], &rule.kind))) {
        if ((err = rule_of_kind(cmd, kind, argc, argv, &rule, &at)))
            return err;
    }
    else {
        rule.event = mql_event_from_name(argv[0]);
        if (rule.event < 0)
            return bad(cmd, "expects an event: view, download, form, form-error, pixel, "
                       "campaign or app", argv[0]);
        if ((err = compile_pattern(cmd, argv[1], &rule.url_re)))
            return err;
        rule.pattern = argv[1];
    }
    if (mql_parse_int(cmd->pool, argv[at], -1000, 1000, &n))
        return bad(cmd, "expects points from -1000 to 1000", argv[at]);
    rule.points = (int)n;
    for (i = at + 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strncasecmp(opt, "cap=", 4)) {
            if (mql_parse_int(cmd->pool, opt + 4, 1, 255, &n))
                return bad(cmd, "expects cap=N with N from 1 to 255", opt);
            if (sc->ncapped >= MQL_CAPPED_RULES)
                return apr_psprintf(cmd->pool, "%s: at most %d rules with cap= per server",
                                    cmd->cmd->name, MQL_CAPPED_RULES);
            rule.cap = (int)n;
            rule.cap_slot = sc->ncapped++;
        }
        else if (!strncasecmp(opt, "referer=", 8)) {
            if ((err = compile_pattern(cmd, opt + 8, &rule.referer_re)))
                return err;
        }
        else if (!strncasecmp(opt, "query=", 6) && strchr(opt + 6, '=')
                 && opt[6] != '=') {
            const char *eq = strchr(opt + 6, '=');
            rule.query_name = apr_pstrmemdup(cmd->pool, opt + 6, (apr_size_t)(eq - opt - 6));
            rule.query_value = eq + 1;
        }
        else if (!strcasecmp(opt, "disqualify"))
            rule.disqualify = 1;        /* a knock-out: mod_mql_knockout.c */
        else
            return bad(cmd, usage, opt);
    }
    rule.source = apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                               cmd->directive->line_num);
    *(mql_rule_t *)apr_array_push(sc->rules) = rule;
    return NULL;
}

static const char *set_download_exts(cmd_parms *cmd, void *dconf, const char *arg)
{
    mql_srv_conf_t *sc = srv_conf(cmd);
    const char *ext = arg[0] == '.' ? arg + 1 : arg, *c;

    for (c = ext; *c; c++)
        if (!apr_isalnum(*c))
            break;
    if (!*ext || *c || strlen(ext) > 16)
        return bad(cmd, "expects file extensions such as pdf docx zip", arg);
    if (!sc->download_exts)
        sc->download_exts = apr_array_make(cmd->pool, 8, sizeof(const char *));
    *(const char **)apr_array_push(sc->download_exts) = apr_pstrdup(cmd->pool, ext);
    return NULL;
}

static const char *set_dbm_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    mql_srv_conf_t *sc = srv_conf(cmd);

    sc->dbm_file = ap_server_root_relative(cmd->pool, arg);
    if (!sc->dbm_file)
        return bad(cmd, "expects a file path", arg);
    settle_dbm_now(cmd);
    return NULL;
}

static const char *set_dbm_type(cmd_parms *cmd, void *dconf, const char *arg)
{
    static const char *const types[] = { "sdbm", "gdbm", "db", "ndbm", "default", NULL };
    int i;

    for (i = 0; types[i]; i++) {
        if (!strcasecmp(arg, types[i])) {
            srv_conf(cmd)->dbm_type = types[i];
            settle_dbm_now(cmd);
            return NULL;
        }
    }
    return bad(cmd, "expects one of APR's DBM types: sdbm, gdbm, db, ndbm or default", arg);
}

static const char *set_geoip(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = global_only(cmd);
    apr_finfo_t fi;
    MMDB_s mmdb;
    int status;

    if (err)
        return err;
    mql_g->geoip_db = ap_server_root_relative(cmd->pool, arg);
    if (!mql_g->geoip_db
        || apr_stat(&fi, mql_g->geoip_db, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_REG)
        return bad(cmd, "expects a readable MaxMind DB file (.mmdb)", arg);
    /* A corrupt or truncated file stops `apachectl configtest` here,
     * with the file and line, rather than failing at the first visitor. */
    status = MMDB_open(mql_g->geoip_db, MMDB_MODE_MMAP, &mmdb);
    if (status != MMDB_SUCCESS)
        return apr_psprintf(cmd->pool, "%s: expects a MaxMind DB file (.mmdb); '%s' "
                            "cannot be opened as one: %s", cmd->cmd->name, arg,
                            MMDB_strerror(status));
    MMDB_close(&mmdb);
    return NULL;
}

static const char *set_consent(cmd_parms *cmd, void *dconf, const char *name,
                               const char *re)
{
    mql_consent_t *c = apr_pcalloc(cmd->pool, sizeof *c);
    const char *err;

    if (!*name || strpbrk(name, " \t;=,"))
        return bad(cmd, "expects a cookie name and optionally a value regex", name);
    c->name = name;
    if (re && (err = compile_regex(cmd, re, &c->value_re)))
        return err;
    srv_conf(cmd)->consent = c;
    return NULL;
}

static const char *set_optout(cmd_parms *cmd, void *dconf, const char *name)
{
    if (!*name || strpbrk(name, " \t;=,"))
        return bad(cmd, "expects a cookie name", name);
    srv_conf(cmd)->optout_cookie = name;
    return NULL;
}

static const char *add_exclude_ua(cmd_parms *cmd, void *dconf, const char *arg)
{
    ap_regex_t *re = ap_pregcomp(cmd->pool, arg, AP_REG_EXTENDED | AP_REG_ICASE);

    if (!re)
        return bad(cmd, "expects a valid regular expression", arg);
    *(ap_regex_t **)apr_array_push(srv_conf(cmd)->exclude_ua) = re;
    return NULL;
}

static const char *add_exclude_ip(cmd_parms *cmd, void *dconf, const char *arg)
{
    mql_cidr_t cidr;
    const char *err = mql_parse_cidr(cmd->pool, arg, &cidr);

    if (err)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    *(mql_cidr_t *)apr_array_push(srv_conf(cmd)->exclude_ip) = cidr;
    return NULL;
}

static const char *set_notify(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = global_only(cmd);

    if (err)
        return err;
    if (arg[0] != '|' || !arg[1])
        return bad(cmd, "expects a piped program, \"|/path/to/program args\"", arg);
    mql_g->notify = arg;
    return NULL;
}

/* MQLJournal On|Off [max=SIZE] [events=N]: one directive, as the options
 * mean nothing without the journal.  The file itself is always
 * MQLStateDir/journal.sqlite, beside the snapshot: the state directory is
 * the one place the server's user writes and mqlctl already knows how to
 * enter safely, so no second path needs its own ownership checks. */
static const char *set_journal(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    const char *usage = "expects On or Off, then optionally max=SIZE (1M to 64G), "
                        "events=N (10 to 1000) and rate=N (0 to 1000000)";
    const char *err = global_only(cmd);
    int64_t n;
    int i;

    if (err)
        return err;
    if (argc < 1)
        return bad(cmd, usage, "");
    if (!strcasecmp(argv[0], "on"))
        mql_g->journal = 1;
    else if (!strcasecmp(argv[0], "off"))
        mql_g->journal = 0;
    else
        return bad(cmd, usage, argv[0]);
    for (i = 1; i < argc; i++) {
        if (!strncasecmp(argv[i], "max=", 4)) {
            if ((err = mql_parse_size(cmd->pool, argv[i] + 4, (int64_t)1 << 20,
                                      (int64_t)64 << 30, &n)))
                return bad(cmd, apr_pstrcat(cmd->pool, "max= ", err, NULL), argv[i]);
            mql_g->journal_max = n;
        }
        else if (!strncasecmp(argv[i], "rate=", 5)) {
            if (mql_parse_int(cmd->pool, argv[i] + 5, 0, 1000000, &n))
                return bad(cmd, "expects rate=N with N from 0 (no limit) to 1000000 events "
                           "a second", argv[i]);
            mql_g->journal_rate = n;
        }
        else if (!strncasecmp(argv[i], "events=", 7)) {
            if (mql_parse_int(cmd->pool, argv[i] + 7, 10, 1000, &n))
                return bad(cmd, "expects events=N with N from 10 to 1000", argv[i]);
            mql_g->journal_events = (int)n;
        }
        else
            return bad(cmd, usage, argv[i]);
    }
    return NULL;
}

#define SRV_FLAG(name, field, help) \
    AP_INIT_TAKE1(name, set_srv_flag, (void *)APR_OFFSETOF(mql_srv_conf_t, field), \
                  RSRC_CONF, help)

const command_rec mql_cmds[] = {
    AP_INIT_TAKE1("MQLEngine", set_engine, NULL, RSRC_CONF | ACCESS_CONF,
                  "On to track visitors here (default Off)"),
    AP_INIT_TAKE1("MQLStateDir", set_state_dir, NULL, RSRC_CONF,
                  "directory for the key, snapshot and leads (default "
                  MQL_DEFAULT_STATE_DIR ")"),
    AP_INIT_TAKE1("MQLSecret", set_secret, NULL, RSRC_CONF,
                  "file holding the cookie signing key (default: generated in MQLStateDir)"),
    AP_INIT_TAKE1("MQLCookieName", set_cookie_name, NULL, RSRC_CONF,
                  "visitor cookie name (default mql_vid)"),
    AP_INIT_TAKE1("MQLCookieDomain", set_cookie_domain, NULL, RSRC_CONF,
                  "cookie Domain attribute (default none: this host only)"),
    AP_INIT_TAKE1("MQLCookieMaxAge", set_cookie_max_age, NULL, RSRC_CONF,
                  "cookie lifetime, e.g. 365d (default 365d)"),
    AP_INIT_TAKE1("MQLCookieSameSite", set_cookie_samesite, NULL, RSRC_CONF,
                  "Lax, Strict, None or Off (default Lax)"),
    AP_INIT_TAKE1("MQLCookieSecure", set_cookie_secure, NULL, RSRC_CONF,
                  "On, Off or Auto: Secure attribute over HTTPS (default Auto)"),
    SRV_FLAG("MQLCookieHTTPOnly", cookie_httponly, "On or Off (default On)"),
    AP_INIT_TAKE1("MQLStore", mql_set_store, NULL, RSRC_CONF,
                  "where visitors are kept: shm, this server's shared memory, or "
                  "redis://[USER:PASSWORD@]HOST:PORT[/DB] or redis+unix:///PATH, shared "
                  "by the servers that use it (default shm)"),
    AP_INIT_TAKE1("MQLRedisPasswordFile", mql_set_redis_password_file, NULL, RSRC_CONF,
                  "a file holding the Redis password (AUTH) of MQLStore, read by root "
                  "at start; keep it 0600 (default none: the URL's, if any)"),
    AP_INIT_TAKE1("MQLRedisTimeout", mql_set_redis_timeout, NULL, RSRC_CONF,
                  "connect and command timeout of the Redis sync thread (default 250ms)"),
    AP_INIT_TAKE1("MQLRedisSpillMax", mql_set_redis_spill_max, NULL, RSRC_CONF,
                  "size of the file the Redis queue overflows to while Redis is away, "
                  "at most: 64K to 64G (default 64M)"),
    AP_INIT_TAKE1("MQLMaxVisitors", set_max_visitors, NULL, RSRC_CONF,
                  "visitors kept in shared memory (default 100000)"),
    AP_INIT_TAKE1("MQLHalfLife", set_half_life, NULL, RSRC_CONF,
                  "time for a score to halve, 0 = no decay (default 30d)"),
    AP_INIT_TAKE1("MQLExpire", set_expire, NULL, RSRC_CONF,
                  "forget visitors idle this long (default 90d)"),
    AP_INIT_TAKE1("MQLThreshold", set_threshold, NULL, RSRC_CONF,
                  "score that makes a visitor an MQL (default 100)"),
    AP_INIT_TAKE_ARGV("MQLRequire", set_require, NULL, RSRC_CONF,
                      "download | form | country CC... (default none)"),
    AP_INIT_TAKE2("MQLPoints", set_points, NULL, RSRC_CONF,
                  "EVENT POINTS (defaults: view 1, download 10, form 20, form-error -5, "
                  "pixel 3, campaign 5)"),
    AP_INIT_TAKE_ARGV("MQLRule", set_rule, NULL, RSRC_CONF,
                      "EVENT URL-REGEX POINTS [cap=N] [referer=REGEX] [query=NAME=VALUE] "
                      "[disqualify]"),
    AP_INIT_TAKE_ARGV("MQLDisqualify", mql_set_disqualify, NULL, RSRC_CONF,
                      "contact-domain DOMAIN...: such visitors never become MQLs"),
    AP_INIT_ITERATE("MQLDownloadExtensions", set_download_exts, NULL, RSRC_CONF,
                    "extensions that count as downloads (default pdf doc docx ppt pptx "
                    "xls xlsx zip epub)"),
    AP_INIT_TAKE1("MQLDBMFile", set_dbm_file, NULL, RSRC_CONF,
                  "DBM file of leads (default MQLStateDir/leads)"),
    AP_INIT_TAKE1("MQLDBMType", set_dbm_type, NULL, RSRC_CONF,
                  "gdbm, sdbm, db or default (APR's own, sdbm) (default gdbm)"),
    AP_INIT_TAKE1("MQLGeoIPDatabase", set_geoip, NULL, RSRC_CONF,
                  "MaxMind DB file for visitor countries (default none)"),
    SRV_FLAG("MQLRespectDNT", respect_dnt, "skip DNT: 1 and Sec-GPC: 1 (default On)"),
    AP_INIT_TAKE12("MQLConsentCookie", set_consent, NULL, RSRC_CONF,
                   "NAME [VALUE-REGEX]: track only holders of this cookie (default none)"),
    SRV_FLAG("MQLBotFilter", bot_filter,
             "skip crawlers, monitors and HTTP libraries (default On)"),
    AP_INIT_ITERATE("MQLExcludeUserAgent", add_exclude_ua, NULL, RSRC_CONF,
                    "User-Agent regexes not to track"),
    AP_INIT_ITERATE("MQLExcludeIP", add_exclude_ip, NULL, RSRC_CONF,
                    "client networks not to track, CIDR (IPv4 or IPv6)"),
    AP_INIT_TAKE1("MQLOptOutCookie", set_optout, NULL, RSRC_CONF,
                  "cookie that opts a visitor out (default mql_optout)"),
    AP_INIT_TAKE1("MQLNotify", set_notify, NULL, RSRC_CONF,
                  "\"|program\" receiving one JSON line per stage change"),
    AP_INIT_TAKE_ARGV("MQLWebhook", mql_set_webhook, NULL, RSRC_CONF,
                      "URL [secret=SECRET] [format=json|slack] [events=LIST]: each event "
                      "POSTed to this receiver, through an outbox in MQLStateDir"),
    AP_INIT_TAKE1("MQLActiveAfter", set_active_after, NULL, RSRC_CONF,
                  "a lead back after idle longer than this is announced as \"active\" "
                  "(default: never)"),
    AP_INIT_TAKE1("MQLDecisionSLA", set_decision_sla, NULL, RSRC_CONF,
                  "an MQL waiting longer than this for a verdict is announced as \"sla\" "
                  "(default: never)"),
    AP_INIT_TAKE_ARGV("MQLJournal", set_journal, NULL, RSRC_CONF,
                      "On (default) or Off [max=SIZE (default 256M)] [events=N (default 50)] "
                      "[rate=N (default 2000)]: "
                      "each lead's story and the funnel in MQLStateDir/journal.sqlite"),
    AP_INIT_TAKE1("MQLStatusSites", mql_set_status_sites, NULL, RSRC_CONF | ACCESS_CONF,
                  "whose visitors a status page shows: own (default), choose (?site=) or all"),
    /* flood limits: mod_mql_flood.c */
    AP_INIT_TAKE1("MQLNewVisitorLimit", mql_set_new_visitor_limit, NULL, RSRC_CONF,
                  "visitor cookies issued per client network and minute (default 60, 0 = no limit)"),
    AP_INIT_TAKE1("MQLNewLeadLimit", mql_set_new_lead_limit, NULL, RSRC_CONF,
                  "new leads per client network and minute (default 2, 0 = no limit)"),
    AP_INIT_TAKE12("MQLClientNetwork", mql_set_client_network, NULL, RSRC_CONF,
                   "prefix lengths of a client network for the limits, IPv4 then IPv6, "
                   "each optionally a list with factors on the limits (default 24 "
                   "64,56*2,48*4)"),
    AP_INIT_TAKE1("MQLFloodTableSize", mql_set_flood_table_size, NULL, RSRC_CONF,
                  "client networks per minute the flood limits can count (default 65536)"),
    AP_INIT_TAKE1("MQLLeadMinAge", mql_set_lead_min_age, NULL, RSRC_CONF,
                  "how long after its first visit a visitor may become a lead (default 0)"),
    AP_INIT_TAKE1("MQLLeadMinEvents", mql_set_lead_min_events, NULL, RSRC_CONF,
                  "scored events a visitor needs before it may become a lead (default 1)"),
    /* contacts and accounts: mod_mql_accounts.c */
    AP_INIT_ITERATE("MQLContactFrom", mql_set_contact_from, NULL, RSRC_CONF,
                    "where a visitor's contact comes from besides X-MQL-Contact: "
                    "remote-user and/or env=NAME, the first present wins (default none)"),
    AP_INIT_ITERATE("MQLFreeMailDomains", mql_set_freemail, NULL, RSRC_CONF,
                    "e-mail domains (or NAME.* for any suffix) that are no company's, "
                    "besides the shipped list of free-mail providers"),
    AP_INIT_TAKE2("MQLAccountThreshold", mql_set_account_threshold, NULL, RSRC_CONF,
                  "PEOPLE SCORE: an account with PEOPLE engaged people whose scores add up "
                  "to SCORE is announced once (default none)"),
    { NULL }
};
