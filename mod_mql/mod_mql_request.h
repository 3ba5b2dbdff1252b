/*
 * The request path's hooks (mod_mql_request.c), for the module record to
 * register.  The request state they keep (mql_req_t, mql_req_state) is in
 * mod_mql_private.h, as the handlers read it too.
 */
#ifndef MOD_MQL_REQUEST_H
#define MOD_MQL_REQUEST_H

#include "apr_pools.h"

void mql_register_request_hooks(apr_pool_t *p);
/* Its step of the module's start (mod_mql.c): whether mod_cache is loaded. */
int mql_request_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);

#endif
