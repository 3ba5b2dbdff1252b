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
 * A visitor store as httpd knows it: a provider of the group "mql-store",
 * registered with ap_register_provider() under its name and found by
 * MQLStore, in the shape of httpd's ap_socache_provider_t.  The backends:
 *
 *   shm     mod_mql_store_shm.c: this server's shared memory (the default)
 *   redis   mod_mql_store_redis.c: a fleet's Redis (redis://, redis+unix://,
 *           redis-cluster://), the shared memory as its cache
 *
 * Each owns the parsing of its MQLStore argument, its start in the parent,
 * its part in each child, its section of the status page and what it hears
 * from elsewhere (mql_visitors_ops_t's foreign changes); nothing outside a
 * backend includes its header.  Adding one is a file,
 * mod_mql/mod_mql_store_NAME.c, that fills in the visitor store's table
 * (mql_visitors.h) and this one as `mql_store_NAME`: the build registers
 * it under NAME (mod_mql_store.c).
 *
 * Declared here, without httpd's headers, so that the unit tests hold a
 * store to the same shape (t/unit/test_visitors.c): only pointers to
 * httpd's records pass through it.
 */
#ifndef MQL_STORE_H
#define MQL_STORE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include "mql_visitors.h"

struct server_rec;
struct request_rec;

#define MQL_STORE_PROVIDER_GROUP   "mql-store"
#define MQL_STORE_PROVIDER_VERSION "1"
#define MQL_STORE_DEFAULT          "shm"

/* The status page's formats, for a store's section of it. */
#define MQL_STORE_STATUS_HTML 0      /* rows of the page's "Store health" table */
#define MQL_STORE_STATUS_AUTO 1      /* ?auto and mod_status' short form: Key: value lines */
#define MQL_STORE_STATUS_JSON 2      /* ?json: members of the top object, each after ",\n" */

typedef struct mql_store_provider {
    /* What MQLStore takes for it, in the list of known stores that an
     * unknown name is answered with. */
    const char *usage;
    /* While the configuration is read (configtest too): MQLStore's
     * argument parsed into a new instance from p; NULL, or what is wrong
     * ("expects ...; got '...'", never a password it holds), from tmp. */
    const char *(*create)(void **inst, const char *arg, apr_pool_t *tmp, apr_pool_t *p);
    /* post_config in the parent, on the second pass: the store made (or
     * found again after a graceful restart) into *vs.  APR_SUCCESS, or an
     * error it logged. */
    apr_status_t (*init)(void *inst, mql_visitors_t **vs, struct server_rec *s,
                         apr_pool_t *pconf, apr_pool_t *ptemp);
    /* Optional: in each child.  An error it logged stops the child's
     * scoring, never its requests. */
    apr_status_t (*child_init)(void *inst, struct server_rec *s, apr_pool_t *pchild);
    /* Optional: its own section of the status page, written to r in the
     * format how (MQL_STORE_STATUS_*), as of the page's time now (through
     * the emitters of mql_status_table.h, as the page's other tables). */
    void (*status)(void *inst, struct request_rec *r, int how, uint32_t now);
} mql_store_provider_t;

/*
 * The store's name in an MQLStore argument: its leading letters and
 * digits, lowercased ("shm", "redis" of redis://, redis+unix:// and
 * redis-cluster://), into buf of len bytes.  NULL when there are none or
 * they do not fit.
 */
const char *mql_store_name_of(const char *arg, char *buf, apr_size_t len);

/*
 * The usages of the n stores named in names, the default first, then by
 * name, joined by ", ": what MQLStore expects, for its error message.
 */
const char *mql_store_usages(apr_pool_t *p, const char *const *names,
                             const mql_store_provider_t *const *providers, int n);

#endif
