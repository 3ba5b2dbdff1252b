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
 * mod_mql's public interface for other httpd modules.
 *
 *   APR_OPTIONAL_FN_TYPE(mql_visitor_info) *info =
 *       APR_RETRIEVE_OPTIONAL_FN(mql_visitor_info);
 *   long score; const char *stage, *id;
 *   if (info && info(r, &score, &stage, &id) == OK) ...
 *
 * Retrieve the function in post_config (or later); it is NULL when
 * mod_mql is not loaded.
 */
#ifndef MOD_MQL_H
#define MOD_MQL_H

#include "httpd.h"
#include "apr_optional.h"

/*
 * The score (decayed to now) and stage ("visitor", "mql", "sql",
 * "rejected") of the request's visitor.  OK when the request is tracked;
 * DECLINED when it is not (excluded, engine off, subrequest of nothing).
 * id, when not NULL, receives the visitor ID (the cookie without its
 * signature), allocated from r->pool.
 */
APR_DECLARE_OPTIONAL_FN(int, mql_visitor_info,
                        (request_rec *r, long *score, const char **stage,
                         const char **id));

#endif
