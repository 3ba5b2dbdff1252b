/*
 * The country of the client address from MQLGeoIPDatabase
 * (mod_mql_geoip.c): opened by the module record at start, asked by the
 * request path; nothing else needs it.
 */
#ifndef MOD_MQL_GEOIP_H
#define MOD_MQL_GEOIP_H

#include "httpd.h"

apr_status_t mql_geoip_open(apr_pool_t *pconf, server_rec *s);
/* country of the client address, or NULL */
const char *mql_geoip_country(request_rec *r);

#endif
