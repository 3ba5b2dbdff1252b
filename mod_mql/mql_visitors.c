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
 * What every visitor store shares: the handle, and the operations made
 * of the interface's own calls.
 */
#include "mql_visitors.h"

mql_visitors_t *mql_visitors_make(apr_pool_t *p, const mql_visitors_ops_t *ops, void *be)
{
    mql_visitors_t *vs = apr_palloc(p, sizeof *vs);

    vs->ops = ops;
    vs->be = be;
    return vs;
}

int mql_visitors_get_id(mql_visitors_t *vs, const uint8_t id[MQL_ID_BYTES], uint32_t now,
                        mql_visitor_t *out, char *contact)
{
    mql_visitor_ref_t ref;

    mql_visitors_ref(vs, id, &ref);
    return mql_visitors_get(vs, &ref, now, out, contact);
}

typedef struct copy_baton {
    mql_visitors_t *to;
    int leads;
    uint32_t n;
} copy_baton_t;

static int copy_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    copy_baton_t *b = baton;

    /* a lead may push out a plain visitor; a visitor never pushes out
     * anyone copied before it */
    if ((MQL_STAGE_IS_LEAD(v->stage) ? 1 : 0) == b->leads
        && mql_visitors_put(b->to, v, contact, b->leads) == APR_SUCCESS)
        b->n++;
    return 0;
}

uint32_t mql_visitors_copy(mql_visitors_t *from, mql_visitors_t *to)
{
    copy_baton_t b = { to, 1, 0 };

    mql_visitors_walk(from, MQL_WALK_LEADS, copy_one, &b);
    b.leads = 0;
    mql_visitors_walk(from, MQL_WALK_ALL, copy_one, &b);
    return b.n;
}
