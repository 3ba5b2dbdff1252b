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
 * mqlctl forget with MQLStore redis://: the Redis the server uses, read
 * from MQLStateDir/store (and the password from store.auth, root's only),
 * and what forget asks of it through the Function library (mql_redis.lua:
 * mql_forget, mql_forget_scan).
 */
#ifndef MQLCTL_REDIS_H
#define MQLCTL_REDIS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "mql_types.h"
#include "mql_redis_proto.h"

typedef struct mqlctl_redis mqlctl_redis_t;

/*
 * The server's Redis, as its parent left it in dir: 1 and *url, 0 when
 * the server uses none (no store file), -1 with why when the files are
 * there but not to be trusted or read.  Called before mqlctl gives root
 * up: as root it reads only files of root's with one name that nobody
 * else may write, as the server's parent makes them; the server's user
 * may delete them, never put its own in their place.
 */
int mqlctl_redis_config(apr_pool_t *p, const char *dir, mql_redis_url_t **url,
                        const char **why);

/* Connected (AUTH, SELECT), or NULL with why. */
mqlctl_redis_t *mqlctl_redis_open(apr_pool_t *p, const mql_redis_url_t *url,
                                  uint32_t timeout_ms, const char **why);
void mqlctl_redis_close(mqlctl_redis_t *r);
/* What the last failed call says. */
const char *mqlctl_redis_error(mqlctl_redis_t *r);

/* The visitor's contact in Redis ("" when none or no record): 0, or -1. */
int mqlctl_redis_contact(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                         const char **contact);

/* The last entry ID of the visitor's shard's stream (pos, 48 bytes): 0, or -1. */
int mqlctl_redis_stream_end(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES], char *pos);

/* Wait until the visitor's forget notice follows pos in its shard's
 * stream (a running server's sync thread applied the forget): 1 seen,
 * 0 not before deadline, -1 failed. */
int mqlctl_redis_await_forget(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                              const char *pos, apr_time_t deadline);

/* mql_forget: the record gone, the notice for the fleet out.  *existed
 * and *contact (the record's, "" when none).  0, or -1. */
int mqlctl_redis_forget(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES], int *existed,
                        const char **contact);

/* mql_forget_scan over the visitor's shard's stream (its ID and the
 * contacts) and, when contacts has any, every other shard's (the
 * contacts).  *deleted counts the entries gone.  0, or -1. */
int mqlctl_redis_scrub(mqlctl_redis_t *r, const uint8_t id[MQL_ID_BYTES],
                       const apr_array_header_t *contacts, unsigned *deleted);

#endif
