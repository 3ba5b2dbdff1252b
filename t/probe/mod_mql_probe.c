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
 * A tiny module that uses mod_mql's public optional function, as another
 * module would: `SetHandler mql-probe` prints the visitor's score and stage.
 * Built and loaded by t/optional_fn.t.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "apr_optional.h"

#include "mod_mql.h"

static APR_OPTIONAL_FN_TYPE(mql_visitor_info) *visitor_info;

static void retrieve(void)
{
    visitor_info = APR_RETRIEVE_OPTIONAL_FN(mql_visitor_info);
}

static int probe_handler(request_rec *r)
{
    long score;
    const char *stage, *id;

    if (!r->handler || strcmp(r->handler, "mql-probe"))
        return DECLINED;
    ap_set_content_type(r, "text/plain");
    if (!visitor_info)
        ap_rputs("no mod_mql\n", r);
    else if (visitor_info(r, &score, &stage, &id) != OK)
        ap_rputs("not tracked\n", r);
    else
        ap_rprintf(r, "id=%s score=%ld stage=%s\n", id, score, stage);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_optional_fn_retrieve(retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(probe_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(mql_probe) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks,
    AP_MODULE_FLAG_NONE
};
