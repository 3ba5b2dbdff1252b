/*
 * The ring of returning strangers (mod_mql_returns.h), in an anonymous
 * shared segment made once by the parent: it survives graceful restarts
 * and every child sees it.  The consumer's position lives beside it, so a
 * writer handed to a new child goes on where the old one stopped.
 */
#include <string.h>

#include "apr_shm.h"

#include "mod_mql_returns.h"

APLOG_USE_MODULE(mql);

#define PERSIST_KEY "mod_mql-returns"

typedef struct returns_shared {
    uint64_t cursor;               /* next entry of ring to take */
    mql_returns_t ring;
} returns_shared_t;

static returns_shared_t *rsh;

apr_status_t mql_returns_setup(server_rec *s)
{
    apr_pool_t *ppool = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&rsh, PERSIST_KEY, ppool);
    if (rsh)
        return APR_SUCCESS;
    rv = apr_shm_create(&shm, sizeof(returns_shared_t), NULL, ppool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL09060: cannot create the shared memory of returning visitors");
        return rv;
    }
    rsh = apr_shm_baseaddr_get(shm);
    memset(rsh, 0, sizeof *rsh);
    apr_pool_userdata_set(rsh, PERSIST_KEY, apr_pool_cleanup_null, ppool);
    return APR_SUCCESS;
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
