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
 * MQLStore shm, the default store: the visitors in a table of this
 * server's shared memory (mql_shm.c), with its lock and snapshots.
 *
 * The table outlives configuration generations: it is created once in the
 * process pool of the parent (mql_kept_shm), so `apachectl graceful` keeps
 * every visitor without copying anything, and old-generation children
 * finishing their requests keep using the same memory and the same mutex
 * as the new ones.  A snapshot in MQLStateDir, saved every minute by the
 * background writer and as each generation ends, is what the next start
 * reads.
 *
 * The parent is root and the table is written by every child, so the
 * parent treats it as hostile: it creates and formats segments, compares
 * an existing one's header with the size it keeps itself, and nothing
 * more -- it never takes the table's lock, follows an index in it or
 * walks it.  Filling a new table (from the snapshot, or from the table of
 * another size that MQLMaxVisitors replaced) is done as the server's user
 * (mod_mql_asuser.c), and so is saving the snapshot as a generation ends.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "util_mutex.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_store.h"
#include "mql_shm.h"
#include "mql_store.h"

APLOG_USE_MODULE(mql);

#define TABLE_NAME "table"

/*
 * The segment holds a lock area, then the table, each on its own cache
 * lines (mql_kept_shm hands out the first 64-byte boundary):
 *
 *   +------------------------+  the segment's start
 *   | pthread_mutex_t        |  robust, process-shared (the default lock)
 *   +------------------------+  + LOCK_AREA
 *   | the visitor table      |  mql_shm.c draws it
 *   +------------------------+
 *
 * With the default mechanism of the `Mutex mql-store` directive (pthread)
 * the table is locked by that one mutex.  APR's global mutex would wrap
 * the same kind of mutex in a thread mutex as well, and under 64 threads
 * on two cores the pair cost the server over a third of its throughput
 * (build/bench.sh: 56% against 91% of httpd without the module).  Any
 * other mechanism an admin chooses is used through APR as usual.
 */
#define LOCK_AREA MQL_KEPT_ALIGN
_Static_assert(sizeof(pthread_mutex_t) <= LOCK_AREA, "the lock area is too small");

/* What the parent keeps of the table, in its own memory (mql_kept_t's
 * data): never read back from the segment, which children write. */
typedef struct shm_persist {
    apr_global_mutex_t *mutex;
    pthread_mutex_t *table_lock;    /* in the segment; NULL: use mutex */
    uint32_t max_visitors;          /* the segment's size, as the parent made it */
    pid_t parent;
} shm_persist_t;

/* MQLStore shm takes no settings of its own: MQLMaxVisitors and MQLExpire
 * are the server's. */
typedef struct shm_store {
    shm_persist_t *persist;
    mql_kept_t *kept;
    mql_visitors_t *vs;
} shm_store_t;

/* The table's lock: the robust mutex in the segment, or (m NULL) the
 * mechanism the admin chose with `Mutex mql-store`.  One per segment: a
 * table MQLMaxVisitors replaced keeps its own while it is read. */
typedef struct table_lock {
    pthread_mutex_t *m;
    shm_persist_t *persist;
} table_lock_t;

static void lock_store(void *baton)
{
    table_lock_t *l = baton;

    if (!l->m)
        apr_global_mutex_lock(l->persist->mutex);
    else if (pthread_mutex_lock(l->m) == EOWNERDEAD)
        /* a process died holding it (kill -9): the store finds the section
         * it left open and rebuilds the links before anyone follows them */
        pthread_mutex_consistent(l->m);
}

static void unlock_store(void *baton)
{
    table_lock_t *l = baton;

    if (l->m)
        pthread_mutex_unlock(l->m);
    else
        apr_global_mutex_unlock(l->persist->mutex);
}

static apr_size_t segment_size(uint32_t max_visitors)
{
    return LOCK_AREA + mql_shm_size(max_visitors);
}

static void *table_base(mql_kept_t *kept)
{
    return (char *)kept->base + LOCK_AREA;
}

static mql_shm_t *attach(apr_pool_t *p, shm_persist_t *persist, mql_kept_t *kept,
                         uint32_t n, pthread_mutex_t *m)
{
    table_lock_t *l = apr_palloc(p, sizeof *l);

    l->m = m;
    l->persist = persist;
    return mql_shm_attach(p, table_base(kept), n, lock_store, unlock_store, l);
}

/* The robust process-shared mutex at the start of a new segment, when the
 * configured mechanism is pthread (the default); else NULL. */
static pthread_mutex_t *make_table_lock(shm_persist_t *persist, mql_kept_t *kept)
{
    pthread_mutex_t *m = kept->base;
    pthread_mutexattr_t attr;
    int ok;

    if (strcmp(apr_global_mutex_name(persist->mutex), "pthread"))
        return NULL;
    ok = pthread_mutexattr_init(&attr) == 0
         && pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0
         && pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0
         && pthread_mutex_init(m, &attr) == 0;
    pthread_mutexattr_destroy(&attr);
    return ok ? m : NULL;
}

typedef struct fill_job {
    server_rec *s;
    mql_visitors_t *to;
    mql_visitors_t *from;   /* the table MQLMaxVisitors replaced, or NULL */
} fill_job_t;

/* As the server's user, into a new table no child has seen yet: the
 * visitors of the table it replaces, or the snapshot's. */
static apr_status_t fill_table(void *baton, apr_pool_t *p)
{
    fill_job_t *j = baton;
    const char *path = mql_state_path(p, MQL_SNAPSHOT_NAME), *why = NULL;
    uint32_t count = 0;
    struct stat st;
    apr_status_t rv;

    if (j->from) {
        count = mql_visitors_copy(j->from, j->to);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, j->s, "MQL00032: moved %u visitors into "
                     "the table for MQLMaxVisitors %u", count, (unsigned)mql_g->max_visitors);
        return APR_SUCCESS;
    }
    if (lstat(path, &st) != 0)
        return APR_SUCCESS;
    rv = mql_snapshot_restore(j->to, path, p, &count, &why);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, j->s,
                     "MQL00015: snapshot %s not restored (%s); starting with an "
                     "empty table", path, why ? why : "unreadable");
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, j->s,
                     "MQL00016: restored %u visitors from %s", count, path);
    return APR_SUCCESS;
}

static void fill_new_table(apr_pool_t *p, server_rec *s, mql_visitors_t *to,
                           mql_visitors_t *from)
{
    fill_job_t job = { s, to, from };

    if (mql_as_server_user(s, p, from ? "moving the visitors to the resized table"
                           : "restoring the snapshot", MQL_AS_USER_LIMIT, fill_table, &job)
        == APR_SUCCESS || !from)
        return;
    /* the old table could not be read (a lock held by a child that does
     * not let go?): the last snapshot is the next best thing */
    job.from = NULL;
    mql_as_server_user(s, p, "restoring the snapshot", MQL_AS_USER_LIMIT, fill_table, &job);
}

typedef struct save_job {
    server_rec *s;
    shm_store_t *st;
} save_job_t;

static apr_status_t save_table(void *baton, apr_pool_t *p)
{
    save_job_t *j = baton;
    const char *path = mql_state_path(p, MQL_SNAPSHOT_NAME);
    apr_status_t rv = mql_snapshot_save(j->st->vs, path, p, NULL);

    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, j->s,
                     "MQL00017: cannot write the snapshot %s", path);
    return rv;
}

/* In the parent, when a generation ends (restart or stop): keep a copy,
 * made by the server's user (the children are gone after a stop; after
 * a graceful restart they go on using the table meanwhile).  Registered
 * once the table is ready; a child inherits the cleanup but never runs
 * it as the parent. */
static apr_status_t save_on_exit(void *data)
{
    save_job_t *j = data;
    apr_pool_t *p;

    if (getpid() != j->st->persist->parent || !mql_g)
        return APR_SUCCESS;
    apr_pool_create(&p, NULL);
    mql_as_server_user(j->s, p, "saving the snapshot", MQL_AS_USER_LIMIT, save_table, j);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

/* ---------------------------------------------------------- the provider */

static const char *shm_create(void **inst, const char *arg, apr_pool_t *tmp, apr_pool_t *p)
{
    if (strcasecmp(arg, "shm"))
        return apr_psprintf(tmp, "expects shm; got '%s'", arg);
    *inst = apr_pcalloc(p, sizeof(shm_store_t));
    return NULL;
}

/* The parent's record of the table, made once with its mutex. */
static shm_persist_t *persist_of(mql_kept_t *kept, server_rec *s)
{
    shm_persist_t *persist = kept->data;

    if (persist)
        return persist;
    persist = apr_pcalloc(s->process->pool, sizeof *persist);
    persist->parent = getpid();
    if (ap_global_mutex_create(&persist->mutex, NULL, MQL_MUTEX_TYPE, NULL, s,
                               s->process->pool, 0) != APR_SUCCESS)
        return NULL;
    kept->data = persist;
    return persist;
}

static apr_status_t shm_init(void *inst, mql_visitors_t **vs, server_rec *s, apr_pool_t *pconf,
                             apr_pool_t *ptemp)
{
    shm_store_t *st = inst;
    uint32_t n = (uint32_t)mql_g->max_visitors;
    mql_visitors_t *old = NULL;
    shm_persist_t *persist;
    save_job_t *save;
    mql_kept_t *kept;
    mql_shm_t *shm;
    apr_status_t rv;
    int fresh, renew = 0;
    uint8_t hash_key[MQL_KEY_BYTES];

    /* the record alone first: the parent's own figures decide whether
     * the segment is kept */
    if (!(kept = mql_kept_shm(s, TABLE_NAME, 0, 0, &fresh, &rv))
        || !(persist = persist_of(kept, s)))
        return rv != APR_SUCCESS ? rv : APR_EGENERAL;
    /* The header of a segment the children used is compared with the
     * size the parent made it for; nothing in it is followed here. */
    if (kept->shm && persist->max_visitors != n) {
        /* MQLMaxVisitors changed: the visitors move into a table of the
         * new size.  The old segment stays mapped for old children still
         * finishing requests. */
        if ((shm = attach(pconf, persist, kept, persist->max_visitors, persist->table_lock)))
            old = mql_shm_visitors(pconf, shm);
        renew = 1;
    }
    else if (kept->shm && !mql_shm_attach(pconf, table_base(kept), n, NULL, NULL, NULL)) {
        /* Laid out by an older build (the module was upgraded, then
         * restarted gracefully): a new table takes the visitors back from
         * the snapshot the old writer left. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "MQL00031: the shared table comes "
                     "from another build of mod_mql; starting a new one from the snapshot");
        renew = 1;
    }
    if (!kept->shm || renew) {
        if (!mql_kept_shm(s, TABLE_NAME, segment_size(n), 1, &fresh, &rv)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "MQL00018: cannot create %" APR_SIZE_T_FMT " bytes of shared memory "
                         "for MQLMaxVisitors %u", segment_size(n), n);
            return rv;
        }
        persist->table_lock = make_table_lock(persist, kept);
        apr_generate_random_bytes(hash_key, sizeof hash_key);
        mql_shm_format(table_base(kept), n, hash_key);
        persist->max_visitors = n;
    }
    shm = attach(pconf, persist, kept, n, persist->table_lock);
    if (!shm) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL00019: the shared table is damaged");
        return APR_EGENERAL;
    }
    mql_shm_set_expire(shm, (uint32_t)mql_g->expire);
    st->persist = persist;
    st->kept = kept;
    st->vs = *vs = mql_shm_visitors(pconf, shm);
    if (fresh)
        fill_new_table(ptemp, s, st->vs, old);
    save = apr_palloc(pconf, sizeof *save);
    save->s = s;
    save->st = st;
    apr_pool_cleanup_register(pconf, save, save_on_exit, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

static apr_status_t shm_child_init(void *inst, server_rec *s, apr_pool_t *pchild)
{
    shm_persist_t *persist = ((shm_store_t *)inst)->persist;
    apr_status_t rv;

    if (persist->table_lock)
        return APR_SUCCESS;
    rv = apr_global_mutex_child_init(&persist->mutex,
                                     apr_global_mutex_lockfile(persist->mutex), pchild);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "MQL00020: cannot attach to the mql-store mutex; not scoring");
    return rv;
}

/* The JSON page has a "redis" member whatever the store: null here. */
static void shm_status(void *inst, request_rec *r, int how, uint32_t now)
{
    if (how == MQL_STORE_STATUS_JSON)
        ap_rputs(",\n\"redis\":null", r);
}

const mql_store_provider_t mql_store_shm = {
    .usage = "shm",
    .create = shm_create,
    .init = shm_init,
    .child_init = shm_child_init,
    .status = shm_status,
};
