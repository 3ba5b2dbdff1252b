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
 * Attribution's glue (docs/attribution.md): the dictionary of touches in
 * shared memory, and a page view's touch read into its hit.
 */
#ifndef MOD_MQL_TOUCH_H
#define MOD_MQL_TOUCH_H

#include "httpd.h"
#include "mql_score.h"

/* Entries of the dictionary: about 1 MB of shared memory. */
#define MQL_TOUCH_CAPACITY 4096

/* Parent, post_config (after the runtime, for the key): the dictionary,
 * made once and kept across restarts, used by this process and its
 * children. */
int mql_touch_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);

/* The request path, for a scored hit: a page view's touch into hit (its
 * ID, into the dictionary) when it is one -- it carries utm_ parameters
 * or a referral, or it is a new visitor's first.  Nothing for any other
 * request. */
void mql_touch_note(request_rec *r, mql_hit_t *hit, int is_new);

/* A touch ID of a record (maybe without its NUL) as the status page shows
 * it, "news / email / spring, /pricing.html"; "" when the record has none,
 * "other" when it cannot be resolved here. */
const char *mql_touch_label(apr_pool_t *p, const char *field);

#endif
