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
 * Knock-outs: MQLDisqualify and the request path's part (see
 * mod_mql_knockout.h; the pure parts are mql_knockout.c).
 */
#include "mod_mql_knockout.h"
#include "mod_mql_runtime.h"
#include "apr_strings.h"
#include "http_log.h"
#include "mql_jring.h"
#include "mql_knockout.h"

APLOG_USE_MODULE(mql);

const char *mql_set_disqualify(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    mql_srv_conf_t *sc = ap_get_module_config(cmd->server->module_config, &mql_module);
    const char *err, *domain;
    int i;

    if (argc < 2 || strcasecmp(argv[0], "contact-domain"))
        return apr_psprintf(cmd->pool, "%s: expects contact-domain DOMAIN...; got '%s'",
                            cmd->cmd->name, argc ? argv[0] : "");
    if (!sc->disqualify_domains)
        sc->disqualify_domains = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (i = 1; i < argc; i++) {
        if ((err = mql_domain_parse(cmd->pool, argv[i], &domain)))
            return apr_psprintf(cmd->pool, "%s: %s; got '%s'", cmd->cmd->name, err, argv[i]);
        *(const char **)apr_array_push(sc->disqualify_domains) = domain;
    }
    return NULL;
}

int mql_knockout_find(const mql_srv_conf_t *sc, const mql_hit_t *hit, const char *contact,
                      mql_knockout_t *ko)
{
    char domain[MQL_DOMAIN_MAX + 1];
    int i;

    ko->flag = 0;
    ko->index = 0;
    if (hit->rule_matched)
        for (i = 0; i < sc->scoring.nrules; i++)
            if (hit->rule_matched[i] && sc->scoring.rules[i].disqualify) {
                ko->flag = MQL_JF_KNOCKOUT_RULE;
                ko->index = (unsigned)i;
                return 1;
            }
    if (contact && sc->disqualify_domains && sc->disqualify_domains->nelts
        && mql_knockout_domain(contact, domain)
        && (i = mql_domain_listed(domain, (const char *const *)sc->disqualify_domains->elts,
                                  sc->disqualify_domains->nelts)) >= 0) {
        ko->flag = MQL_JF_KNOCKOUT_DOMAIN;
        ko->index = (unsigned)i;
        return 1;
    }
    return 0;
}

int mql_knockout_reject(request_rec *r, const mql_knockout_t *ko, mql_hit_result_t *res,
                        uint32_t now)
{
    apr_status_t rv;

    if (!ko->flag)
        return 0;
    /* asked even of a lead here: a fleet's Redis, not this server's copy,
     * knows whether the visitor is still a plain one */
    rv = mql_visitors_set_stage(mql_g->store, res->after.id,
                                (mql_stage_t)(MQL_STAGE_REJECTED | MQL_STAGE_IF_VISITOR), now);
    if (rv != APR_SUCCESS) {
        if (rv != APR_EEXIST)
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "MQL09500: a disqualified visitor "
                          "could not be rejected (no longer in the store)");
        return 0;
    }
    res->after.stage = MQL_STAGE_REJECTED;
    res->after.stage_since = now;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "MQL09501: visitor rejected: "
                  MQL_KNOCKOUT_REASON " (%s)",
                  ko->flag == MQL_JF_KNOCKOUT_RULE ? "an MQLRule flagged disqualify"
                                                   : "MQLDisqualify contact-domain");
    return 1;
}
