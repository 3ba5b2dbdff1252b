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
 * What every httpd glue file of mod_mql shares: the configuration
 * records, the server-wide settings and runtime (mql_g), and the
 * per-request state.  What only one or two glue files use is declared in
 * a header next to them (mod_mql_config.h, mod_mql_runtime.h,
 * mod_mql_request.h, mod_mql_handlers.h, mod_mql_writer.h, mod_mql_jobs.h,
 * mod_mql_returns.h, mod_mql_flood.h, mod_mql_geoip.h, mod_mql_status.h,
 * mod_mql_store.h), so that each file includes what it uses.  The logic
 * itself lives in the mql_*.c core, which knows nothing of httpd.
 */
#ifndef MOD_MQL_PRIVATE_H
#define MOD_MQL_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_regex.h"
#include "apr_global_mutex.h"
#include "apr_shm.h"

#include "mql_types.h"
#include "mql_parse.h"
#include "mql_score.h"
#include "mql_visitors.h"
#include "mql_flood.h"

extern module AP_MODULE_DECLARE_DATA mql_module;

/* The handlers' names: the request path knows them too (it does not
 * track the status page). */
#define MQL_PIXEL_HANDLER "mql-pixel"
#define MQL_STATUS_HANDLER "mql-status"

/* Tri-state flags: unset fields are -1 so nested sections inherit. */
#define MQL_UNSET (-1)

typedef struct mql_consent {
    const char *name;
    ap_regex_t *value_re;       /* NULL = any value */
} mql_consent_t;

/* Per server (and virtual host) */
typedef struct mql_srv_conf {
    int engine;
    /* cookie */
    const char *cookie_name;
    const char *cookie_domain;
    apr_int64_t cookie_max_age;
    const char *cookie_samesite;    /* "Lax", "Strict", "None" or "" = omit */
    int cookie_secure;              /* 0 off, 1 on, 2 auto (HTTPS) */
    int cookie_httponly;
    /* scoring: points and rules are copied into scoring at post_config */
    int points[MQL_EV_COUNT];       /* MQL_UNSET = inherit / default */
    apr_array_header_t *rules;      /* of mql_rule_t */
    apr_array_header_t *fit_rules;  /* of mql_fit_rule_t */
    int ncapped;
    apr_int64_t threshold;
    int require;                    /* MQL_UNSET or MQL_REQ_* mask */
    const char *require_countries;
    apr_array_header_t *download_exts;  /* of const char *, NULL = inherit */
    mql_scoring_t scoring;          /* the merged result, ready to use */
    const char *const *download_ext_list;
    /* DBM */
    const char *dbm_file;
    const char *dbm_type;
    int site;                       /* index in mql_g->sites of this DBM file */
    /* privacy and exclusions */
    int respect_dnt;
    int bot_filter;
    mql_consent_t *consent;
    const char *optout_cookie;
    apr_array_header_t *exclude_ua;  /* of ap_regex_t * */
    apr_array_header_t *exclude_ip;  /* of mql_cidr_t */
    apr_array_header_t *contact_from;   /* MQLContactFrom: mql_contact_src_t, NULL = inherit */
    /* knock-outs: MQLDisqualify contact-domain, lower case; NULL = inherit */
    apr_array_header_t *disqualify_domains;     /* of const char * */
} mql_srv_conf_t;

/* Per directory: only what makes sense once the URL is mapped. */
typedef struct mql_dir_conf {
    int engine;
    int status_sites;           /* MQLStatusSites: MQL_SITES_* (mod_mql_status.h),
                                 * MQL_UNSET = own */
} mql_dir_conf_t;

/* One DBM file of leads; virtual hosts naming the same file share it. */
typedef struct mql_site {
    const char *dbm_file;
    const char *dbm_type;
    server_rec *server;             /* the first virtual host using it */
} mql_site_t;

#define MQL_MAX_SITES 255

/* mod_mql.c: a site's name, the ServerName of its first virtual host ("" when
 * it has none): the status page's ?site= and mqlctl --site (through
 * MQLStateDir/sites) know a site by it. */
const char *mql_site_name(const mql_site_t *site);

/* The flood limits' settings (mod_mql_flood.c). */
typedef struct mql_flood_conf {
    unsigned visitor_limit;         /* MQLNewVisitorLimit, 0 = none */
    unsigned lead_limit;            /* MQLNewLeadLimit, 0 = none */
    mql_flood_nets_t nets;          /* MQLClientNetwork */
    uint32_t slots;                 /* MQLFloodTableSize, a power of two */
    uint32_t min_age;               /* MQLLeadMinAge, seconds */
    unsigned min_events;            /* MQLLeadMinEvents */
} mql_flood_conf_t;

/* Server-wide settings: one table for every virtual host. */
typedef struct mql_global {
    const char *state_dir;
    int state_dir_set;              /* MQLStateDir given (not the default) */
    const char *secret_file;
    const struct mql_store_provider *store_provider;   /* MQLStore's (mql_store.h) */
    void *store_inst;               /* ... its instance */
    /* MQLStore redis's settings (mod_mql_store_redis.c) */
    apr_int64_t redis_timeout_ms;   /* MQLRedisTimeout, 0 = default */
    const char *redis_password;     /* MQLRedisPasswordFile's contents, or NULL */
    apr_int64_t redis_spill_max;    /* MQLRedisSpillMax, bytes, 0 = default */
    apr_int64_t max_visitors;
    apr_int64_t half_life;
    apr_int64_t expire;
    const char *geoip_db;
    const char *notify;
    apr_array_header_t *webhooks;   /* MQLWebhook: of mql_webhook_t, NULL = none */
    apr_int64_t active_after;       /* MQLActiveAfter, seconds, 0 = off */
    apr_int64_t decision_sla;       /* MQLDecisionSLA, seconds, 0 = off */
    int journal;                    /* MQLJournal: each lead's story and the funnel */
    apr_int64_t journal_max;        /* bytes of journal.sqlite at most */
    int journal_events;             /* events kept per visitor */
    apr_int64_t journal_rate;       /* plain visitors' events kept a second, 0 = all */
    mql_flood_conf_t flood;         /* the flood limits (mod_mql_flood.c) */
    /* accounts (mod_mql_accounts.c) */
    apr_array_header_t *freemail;   /* MQLFreeMailDomains: const char *, lowercase */
    uint32_t account_people;        /* MQLAccountThreshold PEOPLE, 0 = none */
    double account_score;           /* ... SCORE */
    apr_array_header_t *sites;      /* of mql_site_t: the distinct DBM files */
    /* while the configuration is read: every server record made so far
     * (the main server's first) and the DBM files this read created */
    apr_array_header_t *conf_servers;   /* of mql_srv_conf_t * */
    struct mql_early_dbm *early_dbm;
    /* runtime */
    uint8_t key[MQL_KEY_BYTES];     /* cookie signing key */
    uint8_t form_key[MQL_KEY_BYTES];    /* the status page's form tokens (mod_mql_status_post.c) */
    int cache_loaded;               /* mod_cache is in this configuration */
    mql_visitors_t *store;          /* MQLStore: the visitors */
    int store_ready;                /* 0 also in a child that could not join it */
    int started;                    /* every subsystem started (mod_mql.c) */
} mql_global_t;

extern mql_global_t *mql_g;

/* Per request */
typedef struct mql_req {
    mql_visitor_ref_t ref;      /* the visitor's ID and the store's hint of its place */
    char id_text[24];
    int is_new;                 /* cookie issued on this request */
    int tracked;                /* 0 once excluded */
    int scored_before;          /* a proxy of ours scores it (X-MQL-Scored) */
    int is_pixel;
    int scored;                 /* scored already (at the response's end) */
    int handler_ran;            /* a content handler answered (not httpd before it) */
    const char *app_event;      /* X-MQL-Event consumed from the response */
    const char *app_contact;    /* X-MQL-Contact */
    const char *auth_contact;   /* MQLContactFrom's, normalised, once authenticated */
    const char *set_cookie;     /* the header value we added, to withdraw it */
    int set_no_cache;           /* r->no_cache is ours, with that cookie */
    const char *country;
    uint32_t prev_seen;         /* the visitor's last event before this request, 0 = new */
    const char *score_text;     /* as exported in MQL_SCORE */
    const char *stage;          /* as exported in MQL_STAGE */
    int no_event;               /* a file as it is, by GET: nothing to score */
} mql_req_t;

/* mod_mql_request.c: this request's visitor state (of the request the
 * client sent), or NULL */
mql_req_t *mql_req_state(request_rec *r);

#endif
