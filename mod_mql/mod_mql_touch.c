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
 * The dictionary of touches (mql_touch.h) in shared memory kept across
 * restarts (mql_kept_shm): every child adds to it on the request path,
 * the writer reads it when it publishes a lead.
 */
#include <string.h>

#include "apr_strings.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_touch.h"
#include "mql_touch.h"

APLOG_USE_MODULE(mql);

#define TOUCH_KEPT_NAME "touches"

int mql_touch_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    size_t bytes = mql_touch_dict_size(MQL_TOUCH_CAPACITY);
    mql_kept_t *kept;
    apr_status_t rv;
    int fresh;

    if (!(kept = mql_kept_shm(s, TOUCH_KEPT_NAME, bytes, 0, &fresh, &rv))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL09600: cannot create the shared memory of touches (%lu bytes)",
                     (unsigned long)bytes);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mql_touch_dict_use(mql_touch_dict_attach(kept->base, MQL_TOUCH_CAPACITY, fresh));
    return OK;
}

void mql_touch_note(request_rec *r, mql_hit_t *hit, int is_new)
{
    uint32_t now, idle;
    mql_touch_t t;
    char *id;
    int own;

    /* a page view, or whatever brought a new visitor (a download linked
     * from elsewhere) */
    if (!is_new && !(hit->events & (MQL_EV_BIT(MQL_EV_VIEW) | MQL_EV_BIT(MQL_EV_CAMPAIGN))))
        return;
    /* a returning visitor's plain page view is the common case: two
     * searches, nothing kept */
    if (!is_new && !(r->args && strstr(r->args, "utm_")) && !apr_table_get(r->headers_in, "Referer"))
        return;
    own = mql_touch_read(r->uri, r->args, apr_table_get(r->headers_in, "Referer"),
                         r->hostname, &t);
    if (!own && !is_new)
        return;             /* browsing the site: no touch */
    id = apr_palloc(r->pool, MQL_TOUCH_ID_LEN);
    mql_touch_id(mql_g->key, &t, id);
    now = (uint32_t)apr_time_sec(r->request_time);
    /* an entry unused for as long as a visitor is kept serves nobody
     * that the store still knows, unless a lead holds it */
    idle = mql_g->expire > 0 && mql_g->expire < UINT32_MAX ? (uint32_t)mql_g->expire : 86400;
    if (!mql_touch_dict_put(mql_touch_dict_current(), id, &t, now, idle))
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "MQL09601: touch %s not kept: the dictionary of touches is full "
                      "(its leads read \"" MQL_TOUCH_OTHER "\")", id);
    hit->touch_id = id;
    hit->touch_replaces = own;
}

const char *mql_touch_label(apr_pool_t *p, const char *field)
{
    char id[MQL_TOUCH_ID_LEN];
    mql_touch_t t;

    memcpy(id, field, MQL_TOUCH_ID_LEN - 1);
    id[MQL_TOUCH_ID_LEN - 1] = '\0';
    if (!id[0])
        return "";
    if (!mql_touch_dict_get(mql_touch_dict_current(), id, &t))
        return MQL_TOUCH_OTHER;
    return apr_pstrcat(p, t.source, " / ", t.medium, t.campaign[0] ? " / " : "", t.campaign,
                       t.landing[0] ? ", " : "", t.landing, NULL);
}
