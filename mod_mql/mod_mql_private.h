/*
 * What the httpd glue files of mod_mql share: configuration records,
 * per-request state and the process-wide runtime (the shared table).
 * The logic itself lives in the mql_*.c core, which knows nothing of httpd.
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
#include "mql_control.h"

extern module AP_MODULE_DECLARE_DATA mql_module;

#define MQL_DEFAULT_STATE_DIR "/var/lib/apache2/mql"
#define MQL_MUTEX_TYPE "mql-store"
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
} mql_srv_conf_t;

/* Per directory: only what makes sense once the URL is mapped. */
typedef struct mql_dir_conf {
    int engine;
    int status_sites;           /* MQLStatusSites: MQL_SITES_*, MQL_UNSET = own */
} mql_dir_conf_t;

/* MQLStatusSites: whose visitors a status page shows and acts on */
#define MQL_SITES_OWN 0         /* its virtual host's site only (default) */
#define MQL_SITES_CHOOSE 1      /* its own; ?site=all or ?site=NAME for others */
#define MQL_SITES_ALL 2         /* every site */

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

/* Server-wide settings: one table for every virtual host. */
typedef struct mql_global {
    const char *state_dir;
    int state_dir_set;              /* MQLStateDir given (not the default) */
    const char *secret_file;
    const char *store_kind;         /* MQLStore */
    apr_int64_t max_visitors;
    apr_int64_t half_life;
    apr_int64_t expire;
    const char *geoip_db;
    const char *notify;
    apr_array_header_t *sites;      /* of mql_site_t: the distinct DBM files */
    /* while the configuration is read: every server record made so far
     * (the main server's first) and the DBM files this read created */
    apr_array_header_t *conf_servers;   /* of mql_srv_conf_t * */
    struct mql_early_dbm *early_dbm;
    /* runtime */
    uint8_t key[MQL_KEY_BYTES];     /* cookie signing key */
    apr_global_mutex_t *mutex;
    mql_visitors_t *store;          /* MQLStore: the visitors */
    int store_ready;
} mql_global_t;

extern mql_global_t *mql_g;

/* Per request */
typedef struct mql_req {
    mql_visitor_ref_t ref;        /* the visitor's ID and its place in the table */
    char id_text[24];
    int is_new;                 /* cookie issued on this request */
    int tracked;                /* 0 once excluded */
    int is_pixel;
    int scored;                 /* scored already (at the response's end) */
    int handler_ran;            /* a content handler answered (not httpd before it) */
    const char *app_event;      /* X-MQL-Event consumed from the response */
    const char *app_contact;    /* X-MQL-Contact */
    const char *set_cookie;     /* the header value we added, to withdraw it */
    int set_no_cache;           /* r->no_cache is ours, with that cookie */
    const char *country;
    const char *score_text;     /* as exported in MQL_SCORE */
    const char *stage;          /* as exported in MQL_STAGE */
} mql_req_t;

/* mod_mql_config.c */
extern const command_rec mql_cmds[];
void *mql_create_srv_conf(apr_pool_t *p, server_rec *s);
void *mql_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *mql_create_dir_conf(apr_pool_t *p, char *dir);
void *mql_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
const char *mql_finish_srv_conf(apr_pool_t *p, server_rec *s, mql_srv_conf_t *sc);
void mql_settle_early_dbm(apr_pool_t *p, server_rec *s);
int mql_regex_match(const void *pattern, const char *subject);

/* mod_mql_runtime.c: secret, shared table, mutex, snapshots */
int mql_runtime_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);
void mql_runtime_child_init(apr_pool_t *p, server_rec *s);
const char *mql_state_path(apr_pool_t *p, const char *name);
apr_status_t mql_ensure_dbm(apr_pool_t *p, const char *path, const char *type);
/* MQLStateDir made and given to the server's user, without following a
 * link that user could have planted; an open descriptor on it, or -1. */
int mql_prepare_state_dir(apr_pool_t *p, server_rec *s);

/* mod_mql_asuser.c: run fn in a process of the server's user (User and
 * Group) and wait for it at most limit; in place when not root.  fn's
 * status, or APR_TIMEUP / APR_EGENERAL when it could not finish. */
typedef apr_status_t mql_as_user_fn(void *baton, apr_pool_t *p);
apr_status_t mql_as_server_user(server_rec *s, apr_pool_t *p, const char *what,
                                apr_interval_time_t limit, mql_as_user_fn *fn, void *baton);
#define MQL_AS_USER_LIMIT apr_time_from_sec(10)

/* mod_mql_request.c */
void mql_register_request_hooks(apr_pool_t *p);
/* this request's visitor state (of the request the client sent), or NULL */
mql_req_t *mql_req_state(request_rec *r);

/* mod_mql_handlers.c */
void mql_register_handlers(apr_pool_t *p);

/* mod_mql_writer.c: the background writer (DBM, notifications, control
 * requests from mqlctl, periodic snapshots and expiry) */
void mql_register_writer(apr_pool_t *p);

/* What the background writer has done, for the status page: shared by
 * every child (the writer runs in one of them).  Times are Unix seconds,
 * 0 = never. */
typedef struct mql_writer_stats {
    uint64_t records_written;       /* lead records put into DBM files */
    uint64_t records_deleted;       /* records removed (forget, demotion) */
    uint64_t dbm_publishes;         /* batches published (copy and rename) */
    uint64_t dbm_errors;            /* batches that failed (kept for retry) */
    uint64_t notify_sent;           /* JSON lines written to MQLNotify */
    uint64_t notify_dropped;        /* lines dropped: pipe full or ring overrun */
    uint64_t control_applied;       /* mqlctl requests applied */
    uint64_t control_errors;        /* mqlctl requests refused */
    uint64_t snapshots;             /* periodic snapshots written */
    uint64_t snapshot_errors;
    uint32_t last_snapshot;         /* time of the last periodic snapshot */
    uint32_t last_snapshot_count;   /* visitors in it */
    uint32_t last_publish;          /* time of the last DBM publication */
    uint32_t last_publish_ms;       /* how long it took, by the clock */
    uint32_t last_publish_cpu_ms;   /* ... and in the writer's CPU time */
    uint32_t last_tick;             /* the writer's last round */
    uint32_t writer_pid;            /* the child running the writer, 0 = none */
    uint32_t pending;               /* records waiting for a retry */
} mql_writer_stats_t;

/* A copy of the writer's counters (zeros before the writer started). */
void mql_writer_stats(mql_writer_stats_t *out);

/* mod_mql_status.c: the mql-status handler and mod_status section */
const char *mql_set_status_sites(cmd_parms *cmd, void *dconf, const char *arg);
void mql_register_status(apr_pool_t *p);

/* mod_mql_flood.c: limits per client network on new visitors and leads */
#include "mql_flood.h"
#define MQL_FLOOD_DEFAULT_VISITORS 60   /* MQLNewVisitorLimit */
#define MQL_FLOOD_DEFAULT_LEADS 2       /* MQLNewLeadLimit */
void mql_register_flood(apr_pool_t *p);
const char *mql_set_new_visitor_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_new_lead_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_client_network(cmd_parms *cmd, void *dconf, const char *v4,
                                   const char *v6);
const char *mql_set_lead_min_age(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_lead_min_events(cmd_parms *cmd, void *dconf, const char *arg);
/* 0 when a new visitor from this client's network is not to be tracked;
 * else it is counted against MQLNewVisitorLimit. */
int mql_flood_admit(request_rec *r);
/* The lead limits and the age gate for a hit of request r, filled into
 * g (NULL: no limits). */
const mql_lead_gate_t *mql_flood_gate(request_rec *r, mql_lead_gate_t *g);
typedef struct mql_flood_status {
    unsigned visitor_limit, lead_limit, v4_prefix, v6_prefix, min_events;
    uint32_t min_age;
    mql_flood_stats_t stats;
} mql_flood_status_t;
/* Settings and counters; 0 when the limits' memory is missing. */
int mql_flood_status(mql_flood_status_t *out);

/* mod_mql_geoip.c: country of the client address, or NULL */
apr_status_t mql_geoip_open(apr_pool_t *pconf, server_rec *s);
const char *mql_geoip_country(request_rec *r);

#endif
