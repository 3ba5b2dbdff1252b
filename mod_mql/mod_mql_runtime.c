/*
 * The server-wide runtime of mod_mql: state directory, signing key, the
 * shared visitor table and its mutex.
 *
 * The table outlives configuration generations: it is created once in the
 * process pool of the parent, so `apachectl graceful` keeps every visitor
 * without copying anything, and old-generation children finishing their
 * requests keep using the same memory and the same mutex as the new ones.
 * A full stop writes a snapshot to MQLStateDir, which the next start reads.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_dbm.h"
#include "apr_file_io.h"
#include "apr_general.h"
#include "http_core.h"
#include "http_main.h"
#include "util_mutex.h"
#include "unixd.h"

#include "mod_mql_private.h"
#include "mql_log.h"
#include "mql_secret.h"

APLOG_USE_MODULE(mql);

#define PERSIST_KEY "mod_mql-persistent"
#define SECRET_NAME "secret"

/*
 * The segment holds a lock area, then the table, each on its own cache
 * lines (apr_shm keeps its bookkeeping at the start of the mapping, so
 * the address it hands out is only 8-byte aligned):
 *
 *   +------------------------+  the first 64-byte boundary
 *   | pthread_mutex_t        |  robust, process-shared (the default lock)
 *   +------------------------+  + LOCK_AREA
 *   | the visitor table      |  mql_store.c draws it
 *   +------------------------+
 *
 * With the default mechanism of the `Mutex mql-store` directive (pthread)
 * the table is locked by that one mutex.  APR's global mutex would wrap
 * the same kind of mutex in a thread mutex as well, and under 64 threads
 * on two cores the pair cost the server over a third of its throughput
 * (build/bench.sh: 56% against 91% of httpd without the module).  Any
 * other mechanism an admin chooses is used through APR as usual.
 */
#define CACHE_LINE 64
#define LOCK_AREA CACHE_LINE
_Static_assert(sizeof(pthread_mutex_t) <= LOCK_AREA, "the lock area is too small");

/* What survives generations, allocated from the process pool. */
typedef struct mql_persist {
    apr_shm_t *shm;
    apr_global_mutex_t *mutex;
    pthread_mutex_t *table_lock;    /* in the segment; NULL: use mutex */
    uint32_t max_visitors;
    pid_t parent;
} mql_persist_t;

static mql_persist_t *persist;

const char *mql_state_path(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, mql_g->state_dir, "/", name, NULL);
}

/* The core logs through httpd's error log. */
static void log_to_httpd(void *baton, int level, const char *msg)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "%s", msg);
}

/* Files the children (running as User) must write belong to that user. */
static void give_to_server_user(apr_pool_t *p, const char *path)
{
    if (geteuid() == 0 && chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, NULL,
                     "MQL00010: cannot give %s to the server's user", path);
}

static apr_status_t ensure_state_dir(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv = apr_dir_make_recursive(mql_g->state_dir,
                                             APR_FPROT_UREAD | APR_FPROT_UWRITE
                                             | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                             | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL00011: cannot create MQLStateDir %s", mql_g->state_dir);
        return rv;
    }
    give_to_server_user(p, mql_g->state_dir);
    return APR_SUCCESS;
}

/* The key file's contents become the 128-bit SipHash key (mql_secret.c,
 * shared with the tools that mint cookies). */
static apr_status_t read_secret(apr_pool_t *p, const char *path, server_rec *s)
{
    return mql_secret_load(p, path, mql_g->key);
}

/* Generated once, kept so that cookies stay valid across restarts. */
static apr_status_t load_or_make_secret(apr_pool_t *p, server_rec *s)
{
    const char *path = mql_g->secret_file;
    unsigned char fresh[32];
    apr_file_t *f;
    apr_size_t len = sizeof fresh;
    apr_status_t rv;

    if (path) {
        rv = read_secret(p, path, s);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "MQL00012: MQLSecret %s: cannot read 16 or more bytes", path);
        return rv;
    }
    path = mql_state_path(p, SECRET_NAME);
    if (read_secret(p, path, s) == APR_SUCCESS)
        return APR_SUCCESS;

    if ((rv = apr_generate_random_bytes(fresh, sizeof fresh)) != APR_SUCCESS
        || (rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                               | APR_FOPEN_EXCL, APR_FPROT_UREAD | APR_FPROT_UWRITE,
                               p)) != APR_SUCCESS
        || (rv = apr_file_write_full(f, fresh, len, NULL)) != APR_SUCCESS
        || (rv = apr_file_close(f)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL00013: cannot create the signing key %s", path);
        return rv;
    }
    mql_secret_derive(fresh, len, mql_g->key);
    memset(fresh, 0, sizeof fresh);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "MQL00014: generated a new cookie signing key in %s", path);
    return APR_SUCCESS;
}

/*
 * mod_rewrite refuses to start when a `RewriteMap dbm:` file is missing,
 * so the leads file exists, empty, from the moment the configuration names
 * it.  Mode 0640: it may hold contacts.
 */
apr_status_t mql_ensure_dbm(apr_pool_t *p, const char *path, const char *type)
{
    const char *f1, *f2;
    apr_finfo_t fi;
    apr_dbm_t *db;
    apr_status_t rv;

    if (apr_dbm_get_usednames_ex(p, type, path, &f1, &f2) != APR_SUCCESS)
        return APR_ENOTIMPL;
    if (apr_stat(&fi, f1, APR_FINFO_TYPE, p) == APR_SUCCESS)
        return APR_SUCCESS;
    rv = apr_dbm_open_ex(&db, type, path, APR_DBM_RWCREATE,
                         APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv != APR_SUCCESS)
        return rv;
    apr_dbm_close(db);
    give_to_server_user(p, f1);
    if (f2)
        give_to_server_user(p, f2);
    return APR_SUCCESS;
}

static void lock_store(void *baton)
{
    if (!persist->table_lock)
        apr_global_mutex_lock(persist->mutex);
    else if (pthread_mutex_lock(persist->table_lock) == EOWNERDEAD)
        /* a child died holding it (kill -9): every update of the table
         * leaves it usable at each step, so carry on */
        pthread_mutex_consistent(persist->table_lock);
}

static void unlock_store(void *baton)
{
    if (persist->table_lock)
        pthread_mutex_unlock(persist->table_lock);
    else
        apr_global_mutex_unlock(persist->mutex);
}

static char *segment_start(void)
{
    uintptr_t a = (uintptr_t)apr_shm_baseaddr_get(persist->shm);

    return (char *)((a + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
}

static apr_size_t segment_size(uint32_t max_visitors)
{
    return CACHE_LINE - 1 + LOCK_AREA + mql_store_size(max_visitors);
}

static void *table_base(void)
{
    return segment_start() + LOCK_AREA;
}

/* The robust process-shared mutex at the start of a new segment, when the
 * configured mechanism is pthread (the default); else NULL. */
static pthread_mutex_t *make_table_lock(void)
{
    pthread_mutex_t *m = (pthread_mutex_t *)segment_start();
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

static void restore_snapshot(apr_pool_t *p, server_rec *s)
{
    const char *path = mql_state_path(p, MQL_SNAPSHOT_NAME), *why = NULL;
    apr_finfo_t fi;
    uint32_t count = 0;
    apr_status_t rv;

    if (apr_stat(&fi, path, APR_FINFO_SIZE, p) != APR_SUCCESS)
        return;
    rv = mql_snapshot_restore(mql_g->store, path, p, &count, &why);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "MQL00015: snapshot %s not restored (%s); starting with an "
                     "empty table", path, why ? why : "unreadable");
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "MQL00016: restored %u visitors from %s", count, path);
}

/* In the parent, when a generation ends (restart or stop): keep a copy. */
static apr_status_t save_on_exit(void *data)
{
    server_rec *s = data;
    apr_pool_t *p;
    uint32_t count = 0;
    apr_status_t rv;

    if (!persist || getpid() != persist->parent || !mql_g || !mql_g->store)
        return APR_SUCCESS;
    apr_pool_create(&p, NULL);
    rv = mql_snapshot_save(mql_g->store, mql_state_path(p, MQL_SNAPSHOT_NAME), p, &count);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "MQL00017: cannot write the snapshot %s",
                     mql_state_path(p, MQL_SNAPSHOT_NAME));
    else
        give_to_server_user(p, mql_state_path(p, MQL_SNAPSHOT_NAME));
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static apr_status_t create_table(apr_pool_t *ppool, apr_pool_t *ptemp, server_rec *s)
{
    uint32_t n = (uint32_t)mql_g->max_visitors;
    uint8_t hash_key[MQL_KEY_BYTES];
    apr_status_t rv;

    rv = apr_shm_create(&persist->shm, segment_size(n), NULL, ppool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL00018: cannot create %" APR_SIZE_T_FMT " bytes of shared memory "
                     "for MQLMaxVisitors %u", segment_size(n), n);
        return rv;
    }
    persist->table_lock = make_table_lock();
    apr_generate_random_bytes(hash_key, sizeof hash_key);
    mql_store_format(table_base(), n, hash_key);
    persist->max_visitors = n;
    return APR_SUCCESS;
}

int mql_runtime_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    apr_pool_t *ppool = s->process->pool;
    mql_store_t *old = NULL;
    apr_status_t rv;
    int fresh = 0;

    mql_log_set(log_to_httpd, s, APLOG_DEBUG);
    if (ensure_state_dir(pconf, s) != APR_SUCCESS || load_or_make_secret(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;

    apr_pool_userdata_get((void **)&persist, PERSIST_KEY, ppool);
    if (!persist) {
        persist = apr_pcalloc(ppool, sizeof *persist);
        persist->parent = getpid();
        apr_pool_userdata_set(persist, PERSIST_KEY, apr_pool_cleanup_null, ppool);
        rv = ap_global_mutex_create(&persist->mutex, NULL, MQL_MUTEX_TYPE, NULL, s, ppool, 0);
        if (rv != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (persist->shm && persist->max_visitors != (uint32_t)mql_g->max_visitors) {
        /* MQLMaxVisitors changed: move the visitors into a table of the new
         * size through a snapshot.  The old segment stays mapped for old
         * children still finishing requests. */
        old = mql_store_attach(pconf, table_base(), lock_store, unlock_store, NULL);
        if (old)
            mql_snapshot_save(old, mql_state_path(ptemp, MQL_SNAPSHOT_NAME), ptemp, NULL);
        persist->shm = NULL;
    }
    else if (persist->shm && !mql_store_attach(pconf, table_base(), NULL, NULL, NULL)) {
        /* Laid out by an older build (the module was upgraded, then
         * restarted gracefully): a new table takes the visitors back from
         * the snapshot the parent wrote as the old configuration went. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "MQL00031: the shared table comes "
                     "from another build of mod_mql; starting a new one from the snapshot");
        persist->shm = NULL;
    }
    if (!persist->shm) {
        if ((rv = create_table(ppool, ptemp, s)) != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        fresh = 1;
    }
    mql_g->mutex = persist->mutex;
    mql_g->shm = persist->shm;
    mql_g->store = mql_store_attach(pconf, table_base(), lock_store, unlock_store, NULL);
    if (!mql_g->store) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL00019: the shared table is damaged");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mql_store_set_expire(mql_g->store, (uint32_t)mql_g->expire);
    if (fresh)
        restore_snapshot(ptemp, s);
    apr_pool_cleanup_register(pconf, s, save_on_exit, apr_pool_cleanup_null);
    mql_g->store_ready = 1;
    return OK;
}

void mql_runtime_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!mql_g || !mql_g->store_ready || persist->table_lock)
        return;
    rv = apr_global_mutex_child_init(&persist->mutex,
                                     apr_global_mutex_lockfile(persist->mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "MQL00020: cannot attach to the mql-store mutex; not scoring");
        mql_g->store_ready = 0;
    }
    mql_g->mutex = persist->mutex;
}
