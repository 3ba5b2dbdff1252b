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
 * The visitor store as the rest of the module sees it (mod_mql_store.c):
 * MQLStore picks a provider of the group "mql-store" (mql_store.h) by
 * name, and the store's start, its part in each child and its section of
 * the status page go through that provider.  Nothing else names a
 * backend.
 */
#ifndef MOD_MQL_STORE_H
#define MOD_MQL_STORE_H

#include "httpd.h"
#include "http_config.h"

#include "mql_store.h"

/* MQLStore NAME[ARGUMENT]: the provider's create() parses it. */
const char *mql_set_store(cmd_parms *cmd, void *dconf, const char *arg);

/* The startup's "store" step: the store chosen (shm when MQLStore is not
 * given) made into mql_g->store, then its part in each child. */
int mql_store_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);
void mql_store_child_init(apr_pool_t *pchild, server_rec *s);

/* The store's own section of the status page, in format how
 * (MQL_STORE_STATUS_*) as of the page's time now; nothing when it has
 * none. */
void mql_store_status(request_rec *r, int how, uint32_t now);

/* Every store built in (each mod_mql_store_NAME.c, defining the provider
 * mql_store_NAME), registered under its name. */
void mql_register_stores(apr_pool_t *p);

/* The Redis store's directives (mod_mql_store_redis.c), for the module's
 * table of directives. */
const char *mql_set_redis_password_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_redis_timeout(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_redis_spill_max(cmd_parms *cmd, void *dconf, const char *arg);

#endif
