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
 * MQLStore redis://, redis+unix:// and redis-cluster://: the store of a
 * fleet of servers sharing one Redis (mql_redis_store.h), with this
 * server's shared-memory table (the shm provider's) as its cache; here are
 * its directives, its start, the sync thread and its section of the
 * status page (the rounds themselves are in mql_redis_sync.c, the queue
 * in mql_redis_queue.c).
 *
 * The queue lives in its own shared segment, kept across generations
 * like the visitor table (mql_kept_shm), so a graceful restart keeps what
 * is queued and old-generation children finishing requests append to the
 * same queue as the new ones.  The parent formats it and never reads it
 * again: it takes no lock in it and follows nothing in it.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "apr_allocator.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_optional.h"
#include "ap_provider.h"
#include "http_core.h"
#include "http_protocol.h"
#include "mod_watchdog.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_status.h"
#include "mod_mql_store.h"
#include "mql_json.h"
#include "mql_parse.h"
#include "mql_redis_proto.h"
#include "mql_redis_store.h"
#include "mql_redis_sync.h"
#include "mql_status_table.h"

APLOG_USE_MODULE(mql);

#define QUEUE_NAME    "redis-queue"
#define SYNC_NAME     "mql-sync"
#define QUEUE_ENTRIES 32768       /* about 9 MB: minutes of a busy site's events */
#define LEASE_STALE   3
#define IDLE_SLEEP    apr_time_from_msec(2)
#define SPILL_NAME    MQL_REDIS_SPILL_NAME
/* what a stopping child gives Redis before it spills the rest: well
 * inside the three seconds httpd waits for a child before SIGKILL */
#define STOP_FLUSH    apr_time_from_msec(1000)
#define DEFAULT_TIMEOUT_MS 250    /* MQLRedisTimeout */

/* One MQLStore redis... of a configuration; in each child, its thread. */
typedef struct redis_inst {
    mql_redis_url_t *url;
    server_rec *s;
    mql_rq_t *queue;
    volatile int stopping;
    apr_thread_t *thread;
    apr_pool_t *thread_pool;
    apr_allocator_t *thread_alloc;
    /* the watchdog's thread and the child's main thread may both stop the
     * sync thread at once: one joins it, the other waits for that */
    pthread_mutex_t stop_lock;
    /* the cache's provider and instance */
    const mql_store_provider_t *shm;
    void *shm_inst;
} redis_inst_t;

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

/* The segment: its lock on the first cache line, then the queue. */
static apr_status_t make_segment(server_rec *s, mql_kept_t **out)
{
    pthread_mutexattr_t attr;
    uint64_t origin;
    apr_status_t rv;
    mql_kept_t *kept;
    int ok, fresh;

    kept = mql_kept_shm(s, QUEUE_NAME, MQL_KEPT_ALIGN + mql_rq_size(QUEUE_ENTRIES), 0,
                        &fresh, &rv);
    if (!kept) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL07010: cannot create the shared memory of the Redis queue");
        return rv;
    }
    *out = kept;
    if (!fresh && kept->data)
        return APR_SUCCESS;
    ok = pthread_mutexattr_init(&attr) == 0
         && pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0
         && pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0
         && pthread_mutex_init(kept->base, &attr) == 0;
    pthread_mutexattr_destroy(&attr);
    if (!ok) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL07010: cannot make the Redis queue's lock");
        return APR_EGENERAL;
    }
    /* this server's name in Redis' sequence numbers: new with each
     * segment, so numbers never repeat under one name */
    apr_generate_random_bytes((unsigned char *)&origin, sizeof origin);
    mql_rq_format((char *)kept->base + MQL_KEPT_ALIGN, QUEUE_ENTRIES, origin);
    kept->data = kept->base;        /* formatted */
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
 * is.  Every start removed both before (mod_mql_store.c): with MQLStore
 * shm, mqlctl then knows there is no Redis. */
static void write_store_files(apr_pool_t *p, server_rec *s, const mql_redis_url_t *url)
{
    int dirfd = mql_prepare_state_dir(p, s), bad = 0;

    if (dirfd < 0)
        return;
    bad = put_state_file(dirfd, MQL_REDIS_STORE_NAME, mql_redis_store_format(p, url),
                         0644) != 0;
    if (url->password)
        bad |= put_state_file(dirfd, MQL_REDIS_AUTH_NAME,
                              apr_pstrcat(p, url->password, "\n", NULL), 0600) != 0;
    if (bad)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "MQL07250: cannot write %s/"
                     MQL_REDIS_STORE_NAME ": mqlctl forget will not reach Redis while "
                     "the server is stopped", mql_g->state_dir);
    close(dirfd);
}

static void *APR_THREAD_FUNC sync_main(apr_thread_t *t, void *data)
{
    redis_inst_t *ri = data;
    mql_rq_t *queue = ri->queue;
    uint32_t pid = (uint32_t)getpid();
    apr_pool_t *p = apr_thread_pool_get(t);
    mql_redis_sync_t *sync;
    int had_lease = 0;

    sync = mql_redis_sync_make(p, ri->url,
                               (uint32_t)(mql_g->redis_timeout_ms ? mql_g->redis_timeout_ms
                                                                  : DEFAULT_TIMEOUT_MS),
                               (uint32_t)mql_g->expire, queue,
                               mql_redis_store_local(mql_g->store),
                               mql_state_path(p, SPILL_NAME),
                               (apr_off_t)(mql_g->redis_spill_max ? mql_g->redis_spill_max
                                                                  : MQL_REDIS_SPILL_DEFAULT),
                               /* the fleet's stage changes, each to one of
                                * the servers that hand them on */
                               mql_g->notify != NULL || mql_g->webhooks != NULL,
                               &ri->stopping);
    while (!ri->stopping) {
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
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ri->s, "MQL07012: Redis sync thread stopped");
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The thread stopped and joined: from the watchdog when the child stops
 * gracefully, or from the child's pool when it is told to go at once
 * (the watchdog's own thread may not get to say STOPPING then).  The join
 * is bounded whatever Redis does: the flag ends any wait on it within
 * 50 ms (mql_redis_io.h), then the thread gives Redis STOP_FLUSH at most. */
static apr_status_t stop_thread(void *data)
{
    redis_inst_t *ri = data;
    apr_status_t trv;

    pthread_mutex_lock(&ri->stop_lock);
    ri->stopping = 1;
    if (ri->thread)
        apr_thread_join(&trv, ri->thread);
    ri->thread = NULL;
    if (ri->thread_pool)
        apr_pool_destroy(ri->thread_pool);
    ri->thread_pool = NULL;
    pthread_mutex_unlock(&ri->stop_lock);
    return APR_SUCCESS;
}

static apr_status_t sync_callback(int state, void *data, apr_pool_t *pool)
{
    redis_inst_t *ri = data;
    apr_status_t rv;

    if (!mql_g || !mql_g->store_ready)
        return APR_SUCCESS;
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        pthread_mutex_lock(&ri->stop_lock);
        ri->stopping = 0;
        /* a pool of the thread's own, with its own allocator: the
         * watchdog's pool is its thread's, and pools are not shared */
        if (apr_allocator_create(&ri->thread_alloc) != APR_SUCCESS
            || apr_pool_create_ex(&ri->thread_pool, NULL, NULL, ri->thread_alloc)
               != APR_SUCCESS) {
            pthread_mutex_unlock(&ri->stop_lock);
            return APR_ENOMEM;
        }
        apr_allocator_owner_set(ri->thread_alloc, ri->thread_pool);
        rv = apr_thread_create(&ri->thread, NULL, sync_main, ri, ri->thread_pool);
        if (rv != APR_SUCCESS) {
            ri->thread = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, ri->s,
                         "MQL07013: cannot start the Redis sync thread");
        }
        pthread_mutex_unlock(&ri->stop_lock);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        stop_thread(ri);
        break;
    default:
        break;
    }
    return APR_SUCCESS;
}

/* The thread runs under mod_watchdog, whose post_config (APR_HOOK_LAST,
 * after mod_mql's) starts the instances that have callbacks. */
static apr_status_t start_watchdog(redis_inst_t *ri, apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd;
    apr_status_t rv;

    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        /* not the URL itself: it may hold a password */
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL07014: MQLStore redis needs "
                     "mod_watchdog, which runs the Redis sync thread");
        return APR_ENOTIMPL;
    }
    rv = get_instance(&wd, SYNC_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS)
        rv = register_callback(wd, apr_time_from_sec(1), ri, sync_callback);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL07013: cannot start the Redis sync thread");
    return rv;
}

/* ---------------------------------------------------------- the provider */

/* MQLRedisPasswordFile may come before MQLStore or after it: either
 * gives the URL the file's password, and only one of them may hold one. */
static const char *redis_create(void **inst, const char *arg, apr_pool_t *tmp, apr_pool_t *p)
{
    redis_inst_t *ri = apr_pcalloc(p, sizeof *ri);
    const char *err;

    ri->url = apr_pcalloc(p, sizeof *ri->url);
    if ((err = mql_redis_url_parse(p, arg, ri->url)))
        return apr_psprintf(tmp, "expects %s; got '%s'", err, arg);
    if (ri->url->password && mql_g->redis_password)
        return "the URL holds a password and MQLRedisPasswordFile gives one too; keep the "
               "file's only";
    if (mql_g->redis_password)
        ri->url->password = mql_g->redis_password;
    *inst = ri;
    return NULL;
}

static apr_status_t redis_init(void *inst, mql_visitors_t **vs, server_rec *s,
                               apr_pool_t *pconf, apr_pool_t *ptemp)
{
    redis_inst_t *ri = inst;
    const mql_store_provider_t *shm;
    mql_visitors_t *local;
    mql_kept_t *kept = NULL;
    void *shm_inst = NULL;
    apr_status_t rv;

    /* the cache: this server's table, as MQLStore shm makes it */
    shm = ap_lookup_provider(MQL_STORE_PROVIDER_GROUP, "shm", MQL_STORE_PROVIDER_VERSION);
    if (!shm || shm->create(&shm_inst, "shm", ptemp, pconf)
        || (rv = shm->init(shm_inst, &local, s, pconf, ptemp)) != APR_SUCCESS)
        return APR_EGENERAL;
    write_store_files(ptemp, s, ri->url);
    if ((rv = make_segment(s, &kept)) != APR_SUCCESS)
        return rv;
    ri->queue = mql_rq_attach(pconf, (char *)kept->base + MQL_KEPT_ALIGN, QUEUE_ENTRIES,
                              lock_queue, unlock_queue, kept->base);
    if (!ri->queue) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "MQL07011: the Redis queue's shared memory is damaged");
        return APR_EGENERAL;
    }
    ri->s = s;
    pthread_mutex_init(&ri->stop_lock, NULL);
    *vs = mql_redis_store_make(pconf, local, ri->queue);
    /* the table's own part in each child (its mutex) is the shm
     * provider's; kept for redis_child_init */
    ri->shm = shm;
    ri->shm_inst = shm_inst;
    return start_watchdog(ri, pconf, s);
}

static apr_status_t redis_child_init(void *inst, server_rec *s, apr_pool_t *pchild)
{
    redis_inst_t *ri = inst;

    apr_pool_cleanup_register(pchild, ri, stop_thread, apr_pool_cleanup_null);
    return ri->shm->child_init ? ri->shm->child_init(ri->shm_inst, s, pchild) : APR_SUCCESS;
}

/* ------------------------------------------------- the status section */

/* The store's rows of the page's health table, ?auto and ?json (as the
 * page's own in mod_mql_status_text.c): their names and order are
 * interfaces, kept as 1.0 shipped them. */
#define AT(type) MQL_STAT_AT(row, base, type)
#define MUTED(text) "<span class=\"muted\">" text "</span>"



/* What the sync thread reports, copied once. */
typedef struct redis_status {
    mql_rq_stats_t x;               /* the sync thread's counters */
    uint32_t queue;                 /* entries waiting for Redis */
    uint32_t lag_ms;                /* the oldest's age, 0 with none waiting */
    long read_age;                  /* the fleet's totals' age, -1: not read yet */
} redis_status_t;

#define R redis_status_t

static const char *html_redis(const mql_stat_env_t *env, const mql_stat_row_t *row,
                              const void *base)
{
    return *AT(uint32_t) ? "<span class=\"ok\">connected</span>"
                         : "<span class=\"warn\">not connected: scoring locally, queued</span>";
}

static const char *html_redis_queue(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                    const void *base)
{
    const R *s = base;

    return apr_psprintf(env->p, "%s " MUTED("(%u ms)"), mql_stat_num(env->p, s->queue),
                        s->lag_ms);
}

static const char *html_redis_batches(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                      const void *base)
{
    const R *s = base;

    return apr_psprintf(env->p, "%s / %s", mql_stat_num(env->p, (int64_t)s->x.batches),
                        mql_stat_num(env->p, (int64_t)s->x.retries));
}

static const char *html_redis_spill(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                    const void *base)
{
    const R *s = base;

    return apr_psprintf(env->p, "%s bytes " MUTED("(%s changes)"),
                        mql_stat_num(env->p, (int64_t)s->x.spill_bytes),
                        mql_stat_num(env->p, (int64_t)s->x.spill_pending));
}

static const char *html_redis_error(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                    const void *base)
{
    const char *e = AT(char);

    return *e ? env->esc_html(env->p, e) : MUTED("none");
}

/* The fleet's totals as this server's sync thread last summed them from
 * Redis: every server's visitors and leads, not only this table's.  Until
 * they are read, the page has one row saying so. */
static const char *fleet_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                               const void *base)
{
    return ((const R *)base)->x.fleet.read_at ? row->label : NULL;
}

static const char *fleet_unread_label(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                      const void *base)
{
    return ((const R *)base)->x.fleet.read_at ? NULL : row->label;
}

static const char *html_fleet_unread(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                     const void *base)
{
    return MUTED("not read from Redis yet");
}

static const char *html_fleet_leads(const mql_stat_env_t *env, const mql_stat_row_t *row,
                                    const void *base)
{
    const uint64_t *n = ((const R *)base)->x.fleet.stages;

    return apr_psprintf(env->p, "%s / %s / %s", mql_stat_num(env->p, (int64_t)n[MQL_STAGE_MQL]),
                        mql_stat_num(env->p, (int64_t)n[MQL_STAGE_SQL]),
                        mql_stat_num(env->p, (int64_t)n[MQL_STAGE_REJECTED]));
}

static const mql_stat_row_t redis_rows[] = {
    { MQL_STAT_ROW("redis", "RedisConnected", "connected", "Redis", MQL_STAT_U32, R,
                   x.connected), .html = html_redis },
    { MQL_STAT_ROW("redis-queue", "RedisQueue", "queue", "Redis queue (lag)", MQL_STAT_U32, R,
                   queue), .html = html_redis_queue },
    { MQL_STAT_ROW(NULL, "RedisLagMs", "lag_ms", NULL, MQL_STAT_U32, R, lag_ms) },
    { MQL_STAT_ROW("redis-applied", "RedisApplied", "applied", "Redis changes applied",
                   MQL_STAT_U64, R, x.applied) },
    { MQL_STAT_ROW("redis-batches", "RedisBatches", "batches", "Redis batches / retries",
                   MQL_STAT_U64, R, x.batches), .html = html_redis_batches },
    { MQL_STAT_ROW(NULL, "RedisRetries", "retries", NULL, MQL_STAT_U64, R, x.retries) },
    { MQL_STAT_ROW(NULL, "RedisDuplicates", "duplicates", NULL, MQL_STAT_U64, R,
                   x.duplicates) },
    { MQL_STAT_ROW(NULL, "RedisRefused", "refused", NULL, MQL_STAT_U64, R, x.errors) },
    { MQL_STAT_ROW("redis-queue-full", "RedisQueueFull", "queue_full", "Redis queue full (lost)",
                   MQL_STAT_U64, R, x.dropped), .flags = MQL_STAT_WARN },
    /* ?json lists it here, ?auto after the spill's */
    { MQL_STAT_ROW(NULL, NULL, "fleet_records", NULL, MQL_STAT_U64, R, x.fleet_records) },
    { MQL_STAT_ROW(NULL, "RedisSpilled", "spilled", NULL, MQL_STAT_U64, R, x.spilled) },
    { MQL_STAT_ROW("redis-spill", "RedisSpillPending", "spill_pending",
                   "Redis spill file (pending)", MQL_STAT_U64, R, x.spill_pending),
      .html = html_redis_spill },
    { MQL_STAT_ROW(NULL, "RedisSpillBytes", "spill_bytes", NULL, MQL_STAT_U64, R,
                   x.spill_bytes) },
    { MQL_STAT_ROW("redis-spill-dropped", "RedisSpillDropped", "spill_dropped",
                   "Redis spill full (lost)", MQL_STAT_U64, R, x.spill_dropped),
      .flags = MQL_STAT_WARN },
    { MQL_STAT_ROW(NULL, "RedisFleetRecords", NULL, NULL, MQL_STAT_U64, R, x.fleet_records) },
    { MQL_STAT_ROW(NULL, "RedisOutages", "outages", NULL, MQL_STAT_U32, R, x.outages) },
    { MQL_STAT_ROW("redis-error", "RedisLastError", "last_error", "Redis last error",
                   MQL_STAT_TEXT, R, x.last_error), .html = html_redis_error },
    { MQL_STAT_ROW(NULL, NULL, "last_error_time", NULL, MQL_STAT_U32, R, x.last_error_time) },
    { .json_name = "fleet", .type = MQL_STAT_OPEN },
    { MQL_STAT_ROW("fleet", NULL, NULL, "Fleet totals", MQL_STAT_U32, R, x.fleet.read_at),
      .label_fn = fleet_unread_label, .html = html_fleet_unread },
    { MQL_STAT_ROW("fleet-servers", "RedisFleetServers", "servers",
                   "Fleet servers (heard within 15 s)", MQL_STAT_U32, R, x.fleet.servers),
      .label_fn = fleet_label },
    { MQL_STAT_ROW("fleet-visitors", "RedisFleetVisitors", "visitors",
                   "Fleet visitors seen (records created)", MQL_STAT_U64, R, x.fleet.visitors),
      .label_fn = fleet_label },
    { MQL_STAT_ROW("fleet-hits", "RedisFleetHits", "hits", "Fleet hits applied", MQL_STAT_U64,
                   R, x.fleet.hits), .label_fn = fleet_label },
    { MQL_STAT_ROW("fleet-forgotten", "RedisFleetForgotten", "forgotten",
                   "Fleet visitors forgotten", MQL_STAT_U64, R, x.fleet.forgotten),
      .label_fn = fleet_label },
    { MQL_STAT_ROW("fleet-leads", "RedisFleetStage", "stages",
                   "Fleet leads: MQL / SQL / rejected", MQL_STAT_U64, R, x.fleet.stages),
      .from = MQL_STAGE_MQL, .count = MQL_STAGE_COUNT, .auto_suffix = mql_stat_stage_keys,
      .elem_name = mql_stat_stage_elem, .label_fn = fleet_label, .html = html_fleet_leads },
    { MQL_STAT_ROW("fleet-read", NULL, "read_at", "Fleet totals read", MQL_STAT_U32, R,
                   x.fleet.read_at), .label_fn = fleet_label, .html = mql_stat_html_when },
    { MQL_STAT_ROW(NULL, "RedisFleetReadAge", "read_age", NULL, MQL_STAT_LONG, R, read_age),
      .flags = MQL_STAT_NULL_NEG },
    { .type = MQL_STAT_CLOSE },
    { 0 }
};

/* The sync thread's counters, copied out of the queue's segment first;
 * nothing before there is a queue. */
static int redis_gather(void *data, const void *inst, apr_pool_t *p, uint32_t now)
{
    const redis_inst_t *ri = inst;
    R *s = data;

    if (!ri || !ri->queue)
        return 0;
    mql_rq_stats_copy(ri->queue, &s->x);
    s->queue = mql_rq_length(ri->queue);
    s->lag_ms = s->queue ? s->x.lag_ms : 0;
    s->read_age = s->x.fleet.read_at ? (long)now - (long)s->x.fleet.read_at : -1;
    return 1;
}

static const mql_status_section_t redis_section = {
    .name = "redis",
    .rows = redis_rows,
    .size = sizeof(redis_status_t),
    .gather = redis_gather,
};

static void redis_status(void *inst, request_rec *r, int how, uint32_t now)
{
    mql_status_section(r, how, now, &redis_section, inst);
}

#undef R

const mql_store_provider_t mql_store_redis = {
    .usage = "redis://[USER:PASSWORD@]HOST:PORT[/DB], redis+unix:///PATH or "
             "redis-cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]",
    .create = redis_create,
    .init = redis_init,
    .child_init = redis_child_init,
    .status = redis_status,
};

/* ---------------------------------------------------------- directives */

static const char *bad(cmd_parms *cmd, const char *expects, const char *got)
{
    return apr_psprintf(cmd->pool, "%s: %s; got '%s'", cmd->cmd->name, expects, got);
}

/* MQLRedisPasswordFile: the Redis password from a file only root reads,
 * not from the URL in a configuration that every local user may read.
 * Read here, while root reads the configuration (configtest too), before
 * any child gives root up; the admin's path, so a link is followed, but
 * only to a regular file, without waiting on a FIFO. */
const char *mql_set_redis_password_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *pw;
    redis_inst_t *ri = mql_g->store_provider == &mql_store_redis ? mql_g->store_inst : NULL;
    char buf[MQL_REDIS_AUTH_MAX + 1];
    struct stat st;
    ssize_t n;
    int fd;

    if (err)
        return err;
    if ((fd = open(arg, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: cannot read %s: %s", arg,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: %s is not a regular file", arg);
    }
    n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: cannot read %s: %s", arg,
                            strerror(errno));
    if (n > MQL_REDIS_AUTH_MAX)
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: %s is larger than %d bytes; "
                            "it should hold the password alone", arg, MQL_REDIS_AUTH_MAX);
    pw = mql_redis_password_text(cmd->pool, buf, (size_t)n);
    memset(buf, 0, sizeof buf);
    if (!pw)
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: %s holds no password (it is "
                            "empty or has a NUL byte)", arg);
    if (ri && ri->url->password)
        return apr_psprintf(cmd->pool, "MQLRedisPasswordFile: the MQLStore URL holds a "
                            "password too; keep the file's only");
    mql_g->redis_password = pw;
    if (ri)
        ri->url->password = pw;
    return NULL;
}

/* MQLRedisTimeout: how long the sync thread waits for Redis to accept a
 * connection or answer a command; never a request's wait. */
const char *mql_set_redis_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_interval_time_t t;

    if (err)
        return err;
    /* httpd's time units (ms, s, min, h), a number alone being seconds */
    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS
        || t < apr_time_from_msec(1) || t > apr_time_from_sec(60))
        return bad(cmd, "expects a time from 1ms to 60s, e.g. 250ms or 2s", arg);
    mql_g->redis_timeout_ms = apr_time_as_msec(t);
    return NULL;
}

/* MQLRedisSpillMax: the spill file's size at most.  Without a bound, an
 * outage at full load writes gigabytes an hour to the state directory's
 * disk, and a full disk stops more than mod_mql. */
const char *mql_set_redis_spill_max(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    int64_t n;

    if (err)
        return err;
    if ((err = mql_parse_size(cmd->pool, arg, (int64_t)64 << 10, (int64_t)64 << 30, &n)))
        return bad(cmd, err, arg);
    mql_g->redis_spill_max = n;
    return NULL;
}
