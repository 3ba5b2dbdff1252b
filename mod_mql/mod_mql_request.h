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
