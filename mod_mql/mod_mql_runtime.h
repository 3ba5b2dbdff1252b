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
 * The process-wide runtime (mod_mql_runtime.c): the secret, MQLStateDir
 * and the paths in it, shared memory kept across restarts; and
 * running work as the server's user (mod_mql_asuser.c), which the runtime
 * and the background writer both need for what they put on disk.  Kept out
 * of mod_mql_private.h because only the files that touch the disk or the
 * table's lifecycle use it.
 */
#ifndef MOD_MQL_RUNTIME_H
#define MOD_MQL_RUNTIME_H

#include "httpd.h"
#include "apr_shm.h"
#include "apr_time.h"
#include "mql_control.h"     /* the names in MQLStateDir */

#define MQL_DEFAULT_STATE_DIR "/var/lib/apache2/mql"
#define MQL_MUTEX_TYPE "mql-store"

/* mod_mql_runtime.c: MQLStateDir and the secret */
int mql_runtime_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s);
const char *mql_state_path(apr_pool_t *p, const char *name);
apr_status_t mql_ensure_dbm(apr_pool_t *p, const char *path, const char *type);
void mql_adopt_old_sdbm(apr_pool_t *p, const char *path, const char *type);
/* MQLStateDir made and given to the server's user, without following a
 * link that user could have planted; an open descriptor on it, or -1. */
int mql_prepare_state_dir(apr_pool_t *p, server_rec *s);

/* Shared memory kept across restarts, by name (mod_mql_runtime.c). */
#define MQL_KEPT_ALIGN 64           /* base is on a cache line */
typedef struct mql_kept {
    apr_shm_t *shm;                 /* NULL until made */
    void *base;
    apr_size_t size;
    void *data;                     /* the caller's record of it, in the parent's memory */
} mql_kept_t;
/* The record of segment name, made on first use; with size, the segment
 * of size bytes (zero-filled, *fresh 1) when there is none yet or renew
 * asks for a new one.  NULL and *rv when it cannot be made. */
mql_kept_t *mql_kept_shm(server_rec *s, const char *name, apr_size_t size, int renew,
                         int *fresh, apr_status_t *rv);

/* mod_mql_asuser.c: run fn in a process of the server's user (User and
 * Group) and wait for it at most limit; in place when not root.  fn's
 * status, or APR_TIMEUP / APR_EGENERAL when it could not finish. */
typedef apr_status_t mql_as_user_fn(void *baton, apr_pool_t *p);
apr_status_t mql_as_server_user(server_rec *s, apr_pool_t *p, const char *what,
                                apr_interval_time_t limit, mql_as_user_fn *fn, void *baton);
#define MQL_AS_USER_LIMIT apr_time_from_sec(10)

#endif
