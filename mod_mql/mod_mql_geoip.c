/*
 * GeoIP country lookup.  (Being written.)
 */
#include "mod_mql_private.h"

apr_status_t mql_geoip_open(apr_pool_t *pconf, server_rec *s)
{
    return APR_SUCCESS;
}

const char *mql_geoip_country(request_rec *r)
{
    return NULL;
}
