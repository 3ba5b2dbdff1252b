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
 * The ring of returning strangers (mod_mql_returns.h), in shared memory
 * kept across restarts (mql_kept_shm): a graceful restart keeps it and
 * every child sees it.  The consumer's position lives beside it, so a
 * writer handed to a new child goes on where the old one stopped.
 */
#include <string.h>

#include "mod_mql_returns.h"
#include "mod_mql_runtime.h"

APLOG_USE_MODULE(mql);

#define RETURNS_KEPT_NAME "returns"

typedef struct returns_shared {
    uint64_t cursor;               /* next entry of ring to take */
    mql_returns_t ring;
} returns_shared_t;

static returns_shared_t *rsh;

int mql_returns_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    mql_kept_t *kept;
    apr_status_t rv;
    int fresh;

    kept = mql_kept_shm(s, RETURNS_KEPT_NAME, sizeof(returns_shared_t), 0, &fresh, &rv);
    if (!kept) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL09060: cannot create the shared memory of returning visitors");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rsh = kept->base;
    return OK;
}

void mql_returns_note(const uint8_t id[MQL_ID_BYTES], int site)
{
    /* a store that brings visitors back itself, as Redis does, has no
     * restore: nobody would look */
    if (rsh && mql_visitors_can_restore(mql_g->store))
        mql_returns_push(&rsh->ring, id, (uint32_t)site);
}

unsigned mql_returns_next(mql_return_t *out, unsigned max, uint64_t *lost)
{
    *lost = 0;
    return rsh ? mql_returns_take(&rsh->ring, &rsh->cursor, out, max, lost) : 0;
}
