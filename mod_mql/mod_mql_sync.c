/*
 * The Redis sync thread of MQLStore redis:// (the rounds themselves are
 * in mql_redis_sync.c, the queue in mql_redis_queue.c).
 *
 * The queue lives in its own shared segment, made once by the parent in
 * its process pool like the visitor table, so a graceful restart keeps
 * what is queued and old-generation children finishing requests append
 * to the same queue as the new ones.  The parent formats it and never
 * reads it again: it takes no lock in it and follows nothing in it.
 *
 * Exactly one thread per server talks to Redis: it runs in the child that
 * holds mod_watchdog's singleton "mql-sync", and since that singleton
 * belongs to a configuration generation (an old and a new child may both
 * hold it during a graceful restart), a lease in the segment lets one
 * thread work at a time; a holder that has been silent for LEASE_STALE
 * seconds (killed) loses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "apr_allocator.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_optional.h"
#include "http_core.h"
#include "mod_watchdog.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_sync.h"
#include "mql_redis_proto.h"
#include "mql_redis_store.h"
#include "mql_redis_sync.h"

APLOG_USE_MODULE(mql);

#define PERSIST_KEY   "mod_mql-redis-queue"
#define SYNC_NAME     "mql-sync"
#define QUEUE_ENTRIES 32768       /* about 9 MB: minutes of a busy site's events */
#define LEASE_STALE   3
#define IDLE_SLEEP    apr_time_from_msec(2)
#define CACHE_LINE    64
#define SPILL_NAME    MQL_REDIS_SPILL_NAME
/* what a stopping child gives Redis before it spills the rest: well
 * inside the three seconds httpd waits for a child before SIGKILL */
#define STOP_FLUSH    apr_time_from_msec(1000)

typedef struct sync_persist {
    apr_shm_t *shm;
    pthread_mutex_t *lock;
} sync_persist_t;

static sync_persist_t *persist;
static mql_rq_t *queue;
static volatile int stopping;
static apr_thread_t *thread;
static apr_pool_t *thread_pool;
static apr_allocator_t *thread_alloc;
/* the watchdog's thread and the child's main thread may both stop the
 * sync thread at once: one joins it, the other waits for that */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

static void lock_queue(void *baton)
{
    if (pthread_mutex_lock(baton) == EOWNERDEAD)
        /* a process died holding it: the queue's positions are checked
         * on every use, so what it left is safe to go on with */
        pthread_mutex_consistent(baton);
}

static void unlock_queue(void *baton)
{
    pthread_mutex_unlock(baton);
}

static char *segment_start(apr_shm_t *shm)
{
    uintptr_t a = (uintptr_t)apr_shm_baseaddr_get(shm);

    return (char *)((a + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
}

static apr_status_t make_segment(server_rec *s)
{
    apr_pool_t *ppool = s->process->pool;
    pthread_mutexattr_t attr;
    uint64_t origin;
    apr_status_t rv;
    char *base;
    int ok;

    apr_pool_userdata_get((void **)&persist, PERSIST_KEY, ppool);
    if (persist)
        return APR_SUCCESS;
    persist = apr_pcalloc(ppool, sizeof *persist);
    rv = apr_shm_create(&persist->shm, 2 * CACHE_LINE + mql_rq_size(QUEUE_ENTRIES), NULL,
                        ppool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL07010: cannot create the shared memory of the Redis queue");
        persist = NULL;
        return rv;
    }
    base = segment_start(persist->shm);
    persist->lock = (pthread_mutex_t *)base;
    ok = pthread_mutexattr_init(&attr) == 0
         && pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0
         && pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0
         && pthread_mutex_init(persist->lock, &attr) == 0;
    pthread_mutexattr_destroy(&attr);
    if (!ok) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL07010: cannot make the Redis queue's lock");
        persist = NULL;
        return APR_EGENERAL;
    }
    /* this server's name in Redis' sequence numbers: new with each
     * segment, so numbers never repeat under one name */
    apr_generate_random_bytes((unsigned char *)&origin, sizeof origin);
    mql_rq_format(base + CACHE_LINE, QUEUE_ENTRIES, origin);
    apr_pool_userdata_set(persist, PERSIST_KEY, apr_pool_cleanup_null, ppool);
    return APR_SUCCESS;
}

/* One file of MQLStateDir made anew by root: whatever the server's user
 * put under either name is unlinked (never followed), the temporary one
 * is created with O_EXCL and renamed into place.  0 when done. */
static int put_state_file(int dirfd, const char *name, const char *text, mode_t mode)
{
    char tmp[64];
    size_t len = strlen(text);
    int fd, ok;

    apr_snprintf(tmp, sizeof tmp, ".%s.tmp", name);
    unlinkat(dirfd, tmp, 0);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, name) != 0) {
        unlinkat(dirfd, tmp, 0);
        return -1;
    }
    return 0;
}

/* MQLStateDir/store and store.auth (mql_redis_proto.h): which Redis, and
 * its password, for mqlctl forget on a stopped server.  Written by root,
 * so that a root mqlctl can tell them from anything the server's user
 * wrote: the password file is root's alone, as MQLRedisPasswordFile's
 * is.  With MQLStore shm both go: mqlctl then knows there is no Redis. */
static void write_store_files(apr_pool_t *p, server_rec *s)
{
    int dirfd = mql_prepare_state_dir(p, s), bad = 0;

    if (dirfd < 0)
        return;
    if (!mql_g->redis) {
        unlinkat(dirfd, MQL_REDIS_STORE_NAME, 0);
        unlinkat(dirfd, MQL_REDIS_AUTH_NAME, 0);
    }
    else {
        bad = put_state_file(dirfd, MQL_REDIS_STORE_NAME,
                             mql_redis_store_format(p, mql_g->redis), 0644) != 0;
        if (mql_g->redis->password)
            bad |= put_state_file(dirfd, MQL_REDIS_AUTH_NAME,
                                  apr_pstrcat(p, mql_g->redis->password, "\n", NULL),
                                  0600) != 0;
        else
            unlinkat(dirfd, MQL_REDIS_AUTH_NAME, 0);
    }
    if (bad)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "MQL07250: cannot write %s/"
                     MQL_REDIS_STORE_NAME ": mqlctl forget will not reach Redis while "
                     "the server is stopped", mql_g->state_dir);
    close(dirfd);
}

int mql_sync_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    queue = NULL;
    write_store_files(ptemp, s);
    if (!mql_g->redis)
        return OK;
    if (make_segment(s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    queue = mql_rq_attach(pconf, segment_start(persist->shm) + CACHE_LINE, QUEUE_ENTRIES,
                          lock_queue, unlock_queue, persist->lock);
    if (!queue) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL07011: the Redis queue's shared memory is damaged");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mql_g->store = mql_redis_store_make(pconf, mql_g->store, queue);
    return OK;
}

int mql_sync_stats(mql_rq_stats_t *out, uint32_t *queued)
{
    if (!queue)
        return 0;
    mql_rq_stats_copy(queue, out);
    if (queued)
        *queued = mql_rq_length(queue);
    return 1;
}

static void *APR_THREAD_FUNC sync_main(apr_thread_t *t, void *data)
{
    server_rec *s = data;
    uint32_t pid = (uint32_t)getpid();
    apr_pool_t *p = apr_thread_pool_get(t);
    mql_redis_sync_t *sync;
    int had_lease = 0;

    sync = mql_redis_sync_make(p, mql_g->redis, (uint32_t)mql_g->redis_timeout_ms,
                               (uint32_t)mql_g->expire, queue,
                               mql_redis_store_local(mql_g->store),
                               mql_state_path(p, SPILL_NAME),
                               (apr_off_t)mql_g->redis_spill_max, mql_g->notify != NULL,
                               &stopping);
    while (!stopping) {
        uint32_t now = (uint32_t)apr_time_sec(apr_time_now());

        if (!mql_rq_lease(queue, pid, now, LEASE_STALE)) {
            /* another generation's thread works: wait for it to stop */
            if (had_lease)
                mql_redis_sync_close(sync);
            had_lease = 0;
            apr_sleep(apr_time_from_msec(100));
            continue;
        }
        had_lease = 1;
        if (!mql_redis_sync_round(sync))
            apr_sleep(IDLE_SLEEP);
    }
    /* the child stops: what is queued goes to Redis, or to the spill
     * file when Redis does not take it in time (a full stop loses the
     * shared memory; a graceful restart keeps it, and the file too) */
    if (had_lease)
        mql_redis_sync_stop(sync, STOP_FLUSH);
    else
        mql_redis_sync_close(sync);
    mql_rq_release(queue, pid);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "MQL07012: Redis sync thread stopped");
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The thread stopped and joined: from the watchdog when the child stops
 * gracefully, or from the child's pool when it is told to go at once
 * (the watchdog's own thread may not get to say STOPPING then).  The join
 * is bounded whatever Redis does: the flag ends any wait on it within
 * 50 ms (mql_redis_io.h), then the thread gives Redis STOP_FLUSH at most. */
static apr_status_t stop_thread(void *unused)
{
    apr_status_t trv;

    pthread_mutex_lock(&stop_lock);
    stopping = 1;
    if (thread)
        apr_thread_join(&trv, thread);
    thread = NULL;
    if (thread_pool)
        apr_pool_destroy(thread_pool);
    thread_pool = NULL;
    pthread_mutex_unlock(&stop_lock);
    return APR_SUCCESS;
}

static void sync_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (queue)
        apr_pool_cleanup_register(pchild, NULL, stop_thread, apr_pool_cleanup_null);
}

static apr_status_t sync_callback(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;
    apr_status_t rv;

    if (!queue || !mql_g || !mql_g->store_ready)
        return APR_SUCCESS;
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        pthread_mutex_lock(&stop_lock);
        stopping = 0;
        /* a pool of the thread's own, with its own allocator: the
         * watchdog's pool is its thread's, and pools are not shared */
        if (apr_allocator_create(&thread_alloc) != APR_SUCCESS
            || apr_pool_create_ex(&thread_pool, NULL, NULL, thread_alloc) != APR_SUCCESS) {
            pthread_mutex_unlock(&stop_lock);
            return APR_ENOMEM;
        }
        apr_allocator_owner_set(thread_alloc, thread_pool);
        rv = apr_thread_create(&thread, NULL, sync_main, s, thread_pool);
        if (rv != APR_SUCCESS) {
            thread = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         "MQL07013: cannot start the Redis sync thread");
        }
        pthread_mutex_unlock(&stop_lock);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        stop_thread(NULL);
        break;
    default:
        break;
    }
    return APR_SUCCESS;
}

static int sync_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd;
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG || !mql_g
        || !mql_g->store_ready || !queue)
        return OK;
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        /* not the URL itself: it may hold a password */
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL07014: MQLStore redis needs "
                     "mod_watchdog, which runs the Redis sync thread");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = get_instance(&wd, SYNC_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS)
        rv = register_callback(wd, apr_time_from_sec(1), s, sync_callback);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL07013: cannot start the Redis sync thread");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void mql_register_sync(apr_pool_t *p)
{
    static const char *const succ[] = { "mod_watchdog.c", NULL };

    ap_hook_post_config(sync_post_config, NULL, succ, APR_HOOK_LAST);
    ap_hook_child_init(sync_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
