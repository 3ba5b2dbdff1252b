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
