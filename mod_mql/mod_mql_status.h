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
 * The status page (`SetHandler mql-status`) and its section in
 * mod_status's /server-status: what the rest of the module knows of it.
 * What the status page's files share is in mod_mql_status_int.h.
 */
#ifndef MOD_MQL_STATUS_H
#define MOD_MQL_STATUS_H

#include "httpd.h"
#include "http_config.h"

/* MQLStatusSites (mql_dir_conf_t's status_sites): whose visitors a status
 * page shows and acts on */
#define MQL_SITES_OWN 0         /* its virtual host's site only (default) */
#define MQL_SITES_CHOOSE 1      /* its own; ?site=all or ?site=NAME for others */
#define MQL_SITES_ALL 2         /* every site */

const char *mql_set_status_sites(cmd_parms *cmd, void *dconf, const char *arg);
void mql_register_status(apr_pool_t *p);

/* Its step of the module's start (mod_mql.c's subsystems, after the
 * signing key it is mixed with): the key of the page's form tokens
 * (mod_mql_status_post.c). */
int mql_status_form_key(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s);

/* A store's section of the page (mql_store_provider_t's status): sec
 * gathered from inst and written in the format how (MQL_STORE_STATUS_*)
 * by the core's emitters (mql_status_table.h), as the page's own tables. */
struct mql_status_section;
void mql_status_section(request_rec *r, int how, uint32_t now,
                        const struct mql_status_section *sec, const void *inst);

#endif
