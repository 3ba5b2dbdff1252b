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
 * Flood limits: a client network (by default an IPv4 /24, or an IPv6 /64
 * and the /56 and /48 around it, each with a budget of its own) may make
 * only so many new visitors and so many new leads per minute,
 * and a visitor may have to be of a minimum age and activity before it
 * can become a lead.  Any client can send requests that score, so without
 * them one address could fill the table with fake leads, stop the
 * tracking of everyone else and bury the real leads.
 *
 * The counts live in a small shared table (mql_flood.c), never on disk;
 * networks are kept as keyed hashes.  A new visitor is counted when its
 * cookie is issued, in one atomic step with the check, so that cookies
 * cannot be gathered on requests that score nothing and spent later; the
 * lead limit is checked and charged inside the table's update of the
 * visitor, under the store's lock, so promotions are counted exactly.
 */
#include <string.h>

#include "apr_atomic.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"

#include "mod_mql_private.h"
#include "mod_mql_flood.h"
#include "mod_mql_runtime.h"
#include "mql_flood.h"

APLOG_USE_MODULE(mql);

#define FLOOD_SLOTS_MIN 64
#define FLOOD_SLOTS_MAX (1u << 22)  /* 32 MiB */
/* the layout's version is in the name: a graceful restart into a module
 * of another layout makes a segment of its own */
#define FLOOD_KEPT_NAME "flood/2"

/* The segment: the hashing key, then the table. */
typedef struct flood_shared {
    uint8_t key[MQL_KEY_BYTES];
    uint8_t pad[48];
    mql_flood_t table;
} flood_shared_t;

static flood_shared_t *fsh;

void mql_flood_defaults(mql_flood_conf_t *conf)
{
    static const mql_flood_nets_t nets = {
        .n4 = 1, .v4 = { { 24, 1 } },
        .n6 = 3, .v6 = { { 64, 1 }, { 56, 2 }, { 48, 4 } },
    };

    conf->visitor_limit = MQL_FLOOD_DEFAULT_VISITORS;
    conf->lead_limit = MQL_FLOOD_DEFAULT_LEADS;
    conf->nets = nets;
    conf->slots = MQL_FLOOD_DEFAULT_SLOTS;
    conf->min_age = 0;
    conf->min_events = 1;
}

/* ------------------------------------------------------------ directives */

static const char *bad(cmd_parms *cmd, const char *expects, const char *got)
{
    return apr_psprintf(cmd->pool, "%s: %s; got '%s'", cmd->cmd->name, expects, got);
}

static const char *set_limit(cmd_parms *cmd, const char *arg, unsigned *out)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t n;

    if (err)
        return err;
    if (mql_parse_int(cmd->pool, arg, 0, MQL_FLOOD_LIMIT_MAX, &n))
        return bad(cmd, apr_psprintf(cmd->pool, "expects a number per client network and "
                                     "minute from 0 (no limit) to %d", MQL_FLOOD_LIMIT_MAX),
                   arg);
    *out = (unsigned)n;
    return NULL;
}

const char *mql_set_new_visitor_limit(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_limit(cmd, arg, &mql_g->flood.visitor_limit);
}

const char *mql_set_new_lead_limit(cmd_parms *cmd, void *dconf, const char *arg)
{
    return set_limit(cmd, arg, &mql_g->flood.lead_limit);
}

/* MQLClientNetwork V4 [V6]: each a list of prefix lengths, narrowest
 * first, each optionally times a factor on the limits. */
const char *mql_set_client_network(cmd_parms *cmd, void *dconf, const char *v4,
                                   const char *v6)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    mql_flood_nets_t nets = mql_g->flood.nets;

    if (err)
        return err;
    if ((err = mql_flood_parse_levels(cmd->pool, v4, 8, 32, nets.v4, &nets.n4)) != NULL)
        return bad(cmd, apr_psprintf(cmd->pool, "expects an IPv4 prefix length from 8 to 32, "
                                     "or a list of them such as '24,16*8' (then %s), and "
                                     "optionally IPv6 ones, as in 'MQLClientNetwork 24 "
                                     "64,56*2,48*4'", err), v4);
    if (v6 && (err = mql_flood_parse_levels(cmd->pool, v6, 16, 128, nets.v6, &nets.n6)) != NULL)
        return bad(cmd, apr_psprintf(cmd->pool, "expects an IPv6 prefix length from 16 to 128 "
                                     "after the IPv4 one, or a list of them such as "
                                     "'64,56*2,48*4' (then %s)", err), v6);
    mql_g->flood.nets = nets;
    return NULL;
}

const char *mql_set_flood_table_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t n;
    uint32_t slots = FLOOD_SLOTS_MIN;

    if (err)
        return err;
    if (mql_parse_int(cmd->pool, arg, FLOOD_SLOTS_MIN, FLOOD_SLOTS_MAX, &n))
        return bad(cmd, apr_psprintf(cmd->pool, "expects a number of client networks per "
                                     "minute from %u to %u", FLOOD_SLOTS_MIN,
                                     FLOOD_SLOTS_MAX), arg);
    while (slots < (uint64_t)n)
        slots <<= 1;
    mql_g->flood.slots = slots;
    return NULL;
}

const char *mql_set_lead_min_age(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t secs;

    if (err)
        return err;
    if ((err = mql_parse_duration(cmd->pool, arg, &secs)) != NULL)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    if (secs > 30 * 86400)
        return bad(cmd, "expects a duration from 0 to 30d", arg);
    mql_g->flood.min_age = (uint32_t)secs;
    return NULL;
}

const char *mql_set_lead_min_events(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t n;

    if (err)
        return err;
    if (mql_parse_int(cmd->pool, arg, 1, 1000, &n))
        return bad(cmd, "expects a number of scored events from 1 (no minimum) to 1000", arg);
    mql_g->flood.min_events = (unsigned)n;
    return NULL;
}

/* ----------------------------------------------------------------- hooks */

/* One segment for the life of the server: it outlives graceful restarts,
 * so a restart is no way around the limits. */
int mql_flood_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    const mql_flood_conf_t *conf = &mql_g->flood;
    mql_kept_t *kept;
    apr_status_t rv;
    int fresh;

    kept = mql_kept_shm(s, FLOOD_KEPT_NAME, offsetof(flood_shared_t, table)
                        + mql_flood_size(conf->slots), 0, &fresh, &rv);
    if (!kept) {
        /* never fail the server for bookkeeping: no limits, said loudly */
        fsh = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "MQL06001: cannot create the flood limits' shared memory; new "
                     "visitors and leads are not limited per client network");
        return OK;
    }
    fsh = kept->base;
    if (!fresh) {
        if (fsh->table.nslots != conf->slots)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "MQL05102: MQLFloodTableSize %u takes effect at the next full "
                         "restart; until then the flood limits' table keeps %u slots",
                         (unsigned)conf->slots, (unsigned)fsh->table.nslots);
        return OK;
    }
    mql_flood_format(&fsh->table, conf->slots);
    if (apr_generate_random_bytes(fsh->key, sizeof fsh->key) != APR_SUCCESS)
        memset(fsh->key, 0x5c, sizeof fsh->key);   /* limits still work, hashing is weaker */
    return OK;
}

/* ----------------------------------------------------------- the checks */

/* The networks the client belongs to, one per level (0 when unknown). */
static unsigned client_networks(request_rec *r, mql_flood_net_t nets[MQL_FLOOD_LEVELS])
{
    apr_sockaddr_t *sa = r->useragent_addr ? r->useragent_addr : r->connection->client_addr;

    if (!fsh || !sa || !sa->ipaddr_ptr)
        return 0;
    return mql_flood_networks(fsh->key, sa->ipaddr_ptr, (size_t)sa->ipaddr_len,
                              &mql_g->flood.nets, nets);
}

/* Warnings at the 1st, 2nd, 4th, 8th ... occurrence: a flood must not
 * flood the error log too. */
static int worth_logging(uint64_t n)
{
    return n && !(n & (n - 1));
}

int mql_flood_admit(request_rec *r)
{
    mql_flood_net_t nets[MQL_FLOOD_LEVELS];
    unsigned levels;
    uint64_t n;

    if (!fsh || !mql_g->flood.visitor_limit)
        return 1;
    levels = client_networks(r, nets);
    switch (mql_flood_check_nets(&fsh->table, nets, levels,
                                 (uint32_t)apr_time_sec(r->request_time), MQL_FLOOD_VISITORS,
                                 mql_g->flood.visitor_limit, 0)) {
    case MQL_FLOOD_OVER:
        n = apr_atomic_inc64(&fsh->table.stats.visitors_refused) + 1;
        if (worth_logging(n))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "MQL06002: this client's network made more than MQLNewVisitorLimit "
                          "%u new visitors this minute (times its factor in "
                          "MQLClientNetwork): not tracked (%" APR_UINT64_T_FMT
                          " refused so far)", mql_g->flood.visitor_limit, n);
        return 0;
    case MQL_FLOOD_FULL:
        /* Tracking goes on (the levels that found a slot counted the
         * visitor); a promotion waits for a slot (mql_lead_gate_admit). */
        n = apr_atomic_read64(&fsh->table.stats.table_full);
        if (worth_logging(n))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "MQL05100: the flood limits' table is full (%u slots) for this "
                          "client's network: new visitors are let through, promotions held "
                          "back (%" APR_UINT64_T_FMT " lookups found no slot so far; "
                          "MQLFloodTableSize)", (unsigned)fsh->table.nslots, n);
        return 1;
    default:
        return 1;
    }
}

/*
 * The promotion gate this request's hit carries to the store (as data:
 * the store applies it with the hit, under its own lock).  The client's
 * network is only hashed there, on the rare hit that would promote.
 */
const mql_lead_gate_t *mql_flood_gate(request_rec *r, mql_lead_gate_t *g)
{
    apr_sockaddr_t *sa = r->useragent_addr ? r->useragent_addr : r->connection->client_addr;

    if (!fsh)
        return NULL;
    g->table = &fsh->table;
    g->key = fsh->key;
    g->addr = NULL;
    g->addr_len = 0;
    if (sa && sa->ipaddr_ptr && (sa->ipaddr_len == 4 || sa->ipaddr_len == 16)) {
        g->addr = sa->ipaddr_ptr;
        g->addr_len = (size_t)sa->ipaddr_len;
    }
    g->nets = &mql_g->flood.nets;
    g->lead_limit = mql_g->flood.lead_limit;
    g->min_age = mql_g->flood.min_age;
    g->min_events = mql_g->flood.min_events;
    return g;
}

int mql_flood_status(mql_flood_status_t *out)
{
    const mql_flood_conf_t *conf = &mql_g->flood;

    memset(out, 0, sizeof *out);
    out->visitor_limit = conf->visitor_limit;
    out->lead_limit = conf->lead_limit;
    out->nets = conf->nets;
    out->v4_prefix = conf->nets.v4[0].prefix;
    out->v6_prefix = conf->nets.v6[0].prefix;
    mql_flood_levels_text(conf->nets.v4, conf->nets.n4, out->v4_text, sizeof out->v4_text);
    mql_flood_levels_text(conf->nets.v6, conf->nets.n6, out->v6_text, sizeof out->v6_text);
    out->min_age = conf->min_age;
    out->min_events = conf->min_events;
    if (!fsh)
        return 0;
    mql_flood_stats(&fsh->table, &out->stats);
    out->slots = fsh->table.nslots;
    out->slots_used = mql_flood_used(&fsh->table, (uint32_t)apr_time_sec(apr_time_now()));
    return 1;
}
