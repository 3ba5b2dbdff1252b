/*
 * The visitor store as the rest of the module sees it (mod_mql_store.c):
 * MQLStore picks a provider of the group "mql-store" (mql_store.h) by
 * name, and the store's start, its part in each child and its section of
 * the status page go through that provider.  The backends register
 * themselves here; nothing else names them.
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
 * (MQL_STORE_STATUS_*); nothing when it has none. */
void mql_store_status(request_rec *r, int how);

/* Every backend built in, registered as a provider. */
void mql_register_stores(apr_pool_t *p);

/* The backends (mod_mql_store_shm.c, mod_mql_store_redis.c): each
 * registers its provider; the Redis one has directives of its own. */
void mql_store_shm_register(apr_pool_t *p);
void mql_store_redis_register(apr_pool_t *p);
const char *mql_set_redis_password_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_redis_timeout(cmd_parms *cmd, void *dconf, const char *arg);
const char *mql_set_redis_spill_max(cmd_parms *cmd, void *dconf, const char *arg);

#endif
