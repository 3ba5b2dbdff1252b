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
 * Contacts from httpd's authentication, and accounts (mod_mql_accounts.c;
 * the logic is the core's, mql_contact.h): the directives, the contact of
 * a request, and the background writer's job that counts the accounts.
 */
#ifndef MOD_MQL_ACCOUNTS_H
#define MOD_MQL_ACCOUNTS_H

#include "mod_mql_private.h"

/* One MQLContactFrom source. */
typedef struct mql_contact_src {
    int kind;                       /* MQL_CONTACT_FROM_* */
    const char *name;               /* env=NAME: the variable */
} mql_contact_src_t;

#define MQL_CONTACT_FROM_USER 1     /* remote-user: r->user, an e-mail address */
#define MQL_CONTACT_FROM_ENV  2     /* env=NAME: subprocess_env, then notes */

const char *mql_set_contact_from(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_freemail(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_account_threshold(cmd_parms *cmd, void *dconf, const char *people,
                                      const char *score);

/* The request's contact from MQLContactFrom's sources (normalised, from
 * r->pool), or NULL: called once authentication has run. */
const char *mql_contact_from_request(request_rec *r, const apr_array_header_t *sources);

/* An application's X-MQL-Contact normalised (from r->pool); NULL when
 * nothing is left. */
const char *mql_contact_normalised(request_rec *r, const char *value);

/* The writer's job, each round: the accounts counted again when due, the
 * newly qualified ones announced, MQLStateDir/accounts rewritten. */
void mql_accounts_round(server_rec *s, apr_pool_t *p, uint32_t now, int final);

/* The accounts the writer last wrote (MQLStateDir/accounts): mql_account_t,
 * and the time it made them and how many did not fit; NULL when none. */
apr_array_header_t *mql_accounts_current(apr_pool_t *p, uint32_t *made, uint32_t *dropped);

#endif
