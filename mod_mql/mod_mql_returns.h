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
 * Returning strangers (mod_mql_returns.c): the ring of signed visitors
 * the store did not know when they came back, in memory every child
 * shares.  It belongs to the store that lets leads go to make room (the
 * one that can restore them): the request path notes into it, the
 * background writer's restore job (mod_mql_restore.c) takes from it.
 */
#ifndef MOD_MQL_RETURNS_H
#define MOD_MQL_RETURNS_H

#include "mod_mql_private.h"
#include "mql_returns.h"

/* Parent, post_config (after the store): the ring, made once and kept
 * across restarts. */
int mql_returns_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);

/* The request path: a visitor with a valid cookie that the store did not
 * know came back to site.  Nothing when the store never lets leads go
 * (it has no restore).  Never waits. */
void mql_returns_note(const uint8_t id[MQL_ID_BYTES], int site);

/* The writer: at most max returns not taken yet, oldest first; *lost gets
 * how many were overwritten before they were taken. */
unsigned mql_returns_next(mql_return_t *out, unsigned max, uint64_t *lost);

#endif
