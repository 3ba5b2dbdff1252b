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
