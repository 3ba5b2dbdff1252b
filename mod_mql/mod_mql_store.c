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
 * The visitor store's glue (mod_mql_store.h): MQLStore finds its
 * provider with ap_lookup_provider(), as mod_socache users do, and every
 * later step of the store goes through that provider's table.
 */
#include <unistd.h>

#include "apr_strings.h"
#include "ap_provider.h"
#include "http_core.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_store.h"

APLOG_USE_MODULE(mql);

static const mql_store_provider_t *lookup(const char *name)
{
    return ap_lookup_provider(MQL_STORE_PROVIDER_GROUP, name, MQL_STORE_PROVIDER_VERSION);
}

/* What MQLStore expects: every store registered, the default first. */
static const char *known_stores(apr_pool_t *p)
{
    apr_array_header_t *list = ap_list_provider_names(p, MQL_STORE_PROVIDER_GROUP,
                                                      MQL_STORE_PROVIDER_VERSION);
    const ap_list_provider_names_t *names;
    const mql_store_provider_t **provs;
    const char **n;
    int i;

    if (!list || !list->nelts)
        return "";
    names = (const ap_list_provider_names_t *)list->elts;
    n = apr_palloc(p, sizeof *n * (apr_size_t)list->nelts);
    provs = apr_palloc(p, sizeof *provs * (apr_size_t)list->nelts);
    for (i = 0; i < list->nelts; i++) {
        n[i] = names[i].provider_name;
        provs[i] = lookup(n[i]);
    }
    return mql_store_usages(p, n, provs, list->nelts);
}

const char *mql_set_store(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const mql_store_provider_t *prov = NULL;
    char name[32];
    void *inst = NULL;

    if (err)
        return err;
    if (mql_store_name_of(arg, name, sizeof name))
        prov = lookup(name);
    if (!prov)
        err = apr_psprintf(cmd->temp_pool, "expects %s; got '%s'",
                           known_stores(cmd->temp_pool), arg);
    else
        err = prov->create(&inst, arg, cmd->temp_pool, cmd->pool);
    if (err)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    mql_g->store_provider = prov;
    mql_g->store_inst = inst;
    return NULL;
}

int mql_store_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    const mql_store_provider_t *prov = mql_g->store_provider;
    const char *err;
    int dirfd;

    if (!prov) {
        if (!(prov = lookup(MQL_STORE_DEFAULT))
            || (err = prov->create(&mql_g->store_inst, MQL_STORE_DEFAULT, ptemp, pconf))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "MQL09080: the default store " MQL_STORE_DEFAULT " is missing");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        mql_g->store_provider = prov;
    }
    /* MQLStateDir/store tells mqlctl of a store outside this server: what
     * a previous configuration wrote goes, and such a store writes its
     * own again in its init */
    if ((dirfd = mql_prepare_state_dir(ptemp, s)) >= 0) {
        unlinkat(dirfd, MQL_STORE_FILE_NAME, 0);
        unlinkat(dirfd, MQL_STORE_AUTH_FILE_NAME, 0);
        close(dirfd);
    }
    if (prov->init(mql_g->store_inst, &mql_g->store, s, pconf, ptemp) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    mql_g->store_ready = 1;
    return OK;
}

void mql_store_child_init(apr_pool_t *pchild, server_rec *s)
{
    const mql_store_provider_t *prov = mql_g->store_provider;

    if (mql_g->store_ready && prov->child_init
        && prov->child_init(mql_g->store_inst, s, pchild) != APR_SUCCESS)
        mql_g->store_ready = 0;
}

void mql_store_status(request_rec *r, int how, uint32_t now)
{
    const mql_store_provider_t *prov = mql_g->store_provider;

    if (prov && prov->status)
        prov->status(mql_g->store_inst, r, how, now);
}

/* The stores built in: each mod_mql_store_NAME.c defines mql_store_NAME,
 * and the build lists them in mql_stores.h (Makefile), so that adding a
 * store is adding its file. */
#define MQL_STORE(name) extern const mql_store_provider_t mql_store_##name;
#include "mql_stores.h"
#undef MQL_STORE

void mql_register_stores(apr_pool_t *p)
{
#define MQL_STORE(name) \
    ap_register_provider(p, MQL_STORE_PROVIDER_GROUP, #name, MQL_STORE_PROVIDER_VERSION, \
                         &mql_store_##name);
#include "mql_stores.h"
#undef MQL_STORE
}
