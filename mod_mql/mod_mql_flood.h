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
 * Flood limits per client network on new visitors and leads
 * (mod_mql_flood.c): their directives, the checks the request path makes
 * and the figures the status page shows.  Only those three places use
 * them, hence a header of their own.
 */
#ifndef MOD_MQL_FLOOD_H
#define MOD_MQL_FLOOD_H

#include "httpd.h"
#include "http_config.h"

#include "mod_mql_private.h"
#include "mql_flood.h"

#define MQL_FLOOD_DEFAULT_VISITORS 60   /* MQLNewVisitorLimit */
#define MQL_FLOOD_DEFAULT_LEADS 2       /* MQLNewLeadLimit */
#define MQL_FLOOD_DEFAULT_SLOTS 65536   /* MQLFloodTableSize */
/* The defaults, when the configuration is read; the segment, made once
 * in the parent and kept across restarts. */
void mql_flood_defaults(mql_flood_conf_t *conf);
int mql_flood_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);
const char *mql_set_new_visitor_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_new_lead_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_client_network(cmd_parms *cmd, void *dconf, const char *v4,
                                   const char *v6);
const char *mql_set_flood_table_size(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_lead_min_age(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_lead_min_events(cmd_parms *cmd, void *dconf, const char *arg);
/* 0 when a new visitor from this client's network is not to be tracked;
 * else it is counted against MQLNewVisitorLimit. */
int mql_flood_admit(request_rec *r);
/* The lead limits and the age gate for a hit of request r, filled into
 * g (NULL: no limits). */
const mql_lead_gate_t *mql_flood_gate(request_rec *r, mql_lead_gate_t *g);
typedef struct mql_flood_status {
    unsigned visitor_limit, lead_limit, min_events;
    unsigned v4_prefix, v6_prefix;      /* the narrowest levels */
    mql_flood_nets_t nets;              /* MQLClientNetwork */
    char v4_text[32], v6_text[32];      /* ... as written: "64,56*2,48*4" */
    uint32_t min_age;
    uint32_t slots, slots_used;         /* the table, and this minute's networks */
    mql_flood_stats_t stats;
} mql_flood_status_t;
/* Settings and counters; 0 when the limits' memory is missing. */
int mql_flood_status(mql_flood_status_t *out);

#endif
