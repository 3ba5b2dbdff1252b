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
                               mql_g->notify != NULL, &ri->stopping);
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

/* The fleet's totals (MQLStore redis://), as this server's sync thread
 * last summed them from Redis: every server's visitors and leads, not
 * only those of this table. */
static void html_fleet(request_rec *r, const mql_rq_stats_t *x, uint32_t now)
{
    const mql_rq_fleet_t *f = &x->fleet;
    apr_pool_t *p = r->pool;

    if (!f->read_at) {
        mql_status_kv(r, "Fleet totals", "fleet",
                      "<span class=\"muted\">not read from Redis yet</span>");
        return;
    }
    mql_status_kv(r, "Fleet servers (heard within 15 s)", "fleet-servers",
                  mql_status_num(p, f->servers));
    mql_status_kv(r, "Fleet visitors seen (records created)", "fleet-visitors",
                  mql_status_num(p, (apr_int64_t)f->visitors));
    mql_status_kv(r, "Fleet hits applied", "fleet-hits", mql_status_num(p, (apr_int64_t)f->hits));
    mql_status_kv(r, "Fleet leads: MQL / SQL / rejected", "fleet-leads",
                  apr_psprintf(p, "%s / %s / %s",
                               mql_status_num(p, (apr_int64_t)f->stages[MQL_STAGE_MQL]),
                               mql_status_num(p, (apr_int64_t)f->stages[MQL_STAGE_SQL]),
                               mql_status_num(p, (apr_int64_t)f->stages[MQL_STAGE_REJECTED])));
    mql_status_kv(r, "Fleet visitors forgotten", "fleet-forgotten",
                  mql_status_num(p, (apr_int64_t)f->forgotten));
    mql_status_kv(r, "Fleet totals read", "fleet-read",
                  mql_status_ago(p, (long)now - (long)f->read_at));
}

static void html_redis(request_rec *r, const mql_rq_stats_t *x, uint32_t queued, uint32_t now)
{
    apr_pool_t *p = r->pool;

    mql_status_kv(r, "Redis", "redis",
                  x->connected ? "<span class=\"ok\">connected</span>"
                               : "<span class=\"warn\">not connected: scoring locally, "
                                 "queued</span>");
    mql_status_kv(r, "Redis queue (lag)", "redis-queue",
                  apr_psprintf(p, "%s <span class=\"muted\">(%u ms)</span>",
                               mql_status_num(p, (apr_int64_t)queued),
                               queued ? x->lag_ms : 0));
    mql_status_kv(r, "Redis batches / retries", "redis-batches",
                  apr_psprintf(p, "%s / %s", mql_status_num(p, (apr_int64_t)x->batches),
                               mql_status_num(p, (apr_int64_t)x->retries)));
    mql_status_kv(r, "Redis changes applied", "redis-applied",
                  mql_status_num(p, (apr_int64_t)x->applied));
    mql_status_kv(r, "Redis queue full (lost)", "redis-queue-full",
                  mql_status_bad_if(p, x->dropped));
    mql_status_kv(r, "Redis spill file (pending)", "redis-spill",
                  apr_psprintf(p, "%s bytes <span class=\"muted\">(%s changes)</span>",
                               mql_status_num(p, (apr_int64_t)x->spill_bytes),
                               mql_status_num(p, (apr_int64_t)x->spill_pending)));
    mql_status_kv(r, "Redis spill full (lost)", "redis-spill-dropped",
                  mql_status_bad_if(p, x->spill_dropped));
    mql_status_kv(r, "Redis last error", "redis-error",
                  x->last_error[0] ? ap_escape_html(p, x->last_error)
                                   : "<span class=\"muted\">none</span>");
    html_fleet(r, x, now);
}

/* The fleet's totals (MQLStore redis://), as the sync thread last summed
 * them; RedisFleetReadAge -1 until it has. */
static void auto_fleet(request_rec *r, const mql_rq_stats_t *x, uint32_t now)
{
    const mql_rq_fleet_t *f = &x->fleet;

    ap_rprintf(r, "RedisFleetServers: %u\n", f->servers);
    ap_rprintf(r, "RedisFleetVisitors: %" APR_UINT64_T_FMT "\n", f->visitors);
    ap_rprintf(r, "RedisFleetHits: %" APR_UINT64_T_FMT "\n", f->hits);
    ap_rprintf(r, "RedisFleetForgotten: %" APR_UINT64_T_FMT "\n", f->forgotten);
    ap_rprintf(r, "RedisFleetStageMQL: %" APR_UINT64_T_FMT "\n", f->stages[MQL_STAGE_MQL]);
    ap_rprintf(r, "RedisFleetStageSQL: %" APR_UINT64_T_FMT "\n", f->stages[MQL_STAGE_SQL]);
    ap_rprintf(r, "RedisFleetStageRejected: %" APR_UINT64_T_FMT "\n",
               f->stages[MQL_STAGE_REJECTED]);
    ap_rprintf(r, "RedisFleetReadAge: %ld\n",
               f->read_at ? (long)now - (long)f->read_at : -1L);
}

static void auto_redis(request_rec *r, const mql_rq_stats_t *x, uint32_t queued, uint32_t now)
{
    ap_rprintf(r, "RedisConnected: %u\n", x->connected);
    ap_rprintf(r, "RedisQueue: %u\n", queued);
    ap_rprintf(r, "RedisLagMs: %u\n", queued ? x->lag_ms : 0);
    ap_rprintf(r, "RedisApplied: %" APR_UINT64_T_FMT "\n", x->applied);
    ap_rprintf(r, "RedisBatches: %" APR_UINT64_T_FMT "\n", x->batches);
    ap_rprintf(r, "RedisRetries: %" APR_UINT64_T_FMT "\n", x->retries);
    ap_rprintf(r, "RedisDuplicates: %" APR_UINT64_T_FMT "\n", x->duplicates);
    ap_rprintf(r, "RedisRefused: %" APR_UINT64_T_FMT "\n", x->errors);
    ap_rprintf(r, "RedisQueueFull: %" APR_UINT64_T_FMT "\n", x->dropped);
    ap_rprintf(r, "RedisSpilled: %" APR_UINT64_T_FMT "\n", x->spilled);
    ap_rprintf(r, "RedisSpillPending: %" APR_UINT64_T_FMT "\n", x->spill_pending);
    ap_rprintf(r, "RedisSpillBytes: %" APR_UINT64_T_FMT "\n", x->spill_bytes);
    ap_rprintf(r, "RedisSpillDropped: %" APR_UINT64_T_FMT "\n", x->spill_dropped);
    ap_rprintf(r, "RedisFleetRecords: %" APR_UINT64_T_FMT "\n", x->fleet_records);
    ap_rprintf(r, "RedisOutages: %u\n", x->outages);
    ap_rprintf(r, "RedisLastError: %s\n", ap_escape_logitem(r->pool, x->last_error));
    auto_fleet(r, x, now);
}

/* "fleet": the fleet's totals (MQLStore redis://); read_at 0 and
 * read_age null until the sync thread has read them. */
static void json_fleet(request_rec *r, const mql_rq_stats_t *x, uint32_t now)
{
    const mql_rq_fleet_t *f = &x->fleet;
    int i;

    ap_rprintf(r, "\"fleet\":{\"servers\":%u,\"visitors\":%" APR_UINT64_T_FMT
               ",\"hits\":%" APR_UINT64_T_FMT ",\"forgotten\":%" APR_UINT64_T_FMT
               ",\"stages\":{", f->servers, f->visitors, f->hits, f->forgotten);
    for (i = MQL_STAGE_MQL; i < MQL_STAGE_COUNT; i++)
        ap_rprintf(r, "%s\"%s\":%" APR_UINT64_T_FMT, i > MQL_STAGE_MQL ? "," : "",
                   mql_stage_name((mql_stage_t)i), f->stages[i]);
    ap_rprintf(r, "},\"read_at\":%u,\"read_age\":", f->read_at);
    if (f->read_at)
        ap_rprintf(r, "%ld}", (long)now - (long)f->read_at);
    else
        ap_rputs("null}", r);
}

static void json_redis(request_rec *r, const mql_rq_stats_t *x, uint32_t queued, uint32_t now)
{
    ap_rprintf(r, "\"redis\":{\"connected\":%u,\"queue\":%u,\"lag_ms\":%u,\"applied\":%"
               APR_UINT64_T_FMT ",\"batches\":%" APR_UINT64_T_FMT ",\"retries\":%"
               APR_UINT64_T_FMT ",\"duplicates\":%" APR_UINT64_T_FMT ",\"refused\":%"
               APR_UINT64_T_FMT ",\"queue_full\":%" APR_UINT64_T_FMT
               ",\"fleet_records\":%" APR_UINT64_T_FMT ",\"spilled\":%" APR_UINT64_T_FMT
               ",\"spill_pending\":%" APR_UINT64_T_FMT ",\"spill_bytes\":%"
               APR_UINT64_T_FMT ",\"spill_dropped\":%" APR_UINT64_T_FMT ",\"outages\":%u,"
               "\"last_error\":%s,\"last_error_time\":%u,",
               x->connected, queued, queued ? x->lag_ms : 0, x->applied,
               x->batches, x->retries, x->duplicates, x->errors, x->dropped,
               x->fleet_records, x->spilled, x->spill_pending, x->spill_bytes,
               x->spill_dropped, x->outages,
               mql_json_str(r->pool, x->last_error, MQL_JSON_HTML_SAFE), x->last_error_time);
    json_fleet(r, x, now);
    ap_rputs("},\n", r);
}

/* The sync thread's counters, copied out of the queue's segment first. */
static void redis_status(void *inst, request_rec *r, int how)
{
    redis_inst_t *ri = inst;
    uint32_t now = (uint32_t)apr_time_sec(apr_time_now());
    mql_rq_stats_t x;
    uint32_t queued;

    mql_rq_stats_copy(ri->queue, &x);
    queued = mql_rq_length(ri->queue);
    switch (how) {
    case MQL_STORE_STATUS_HTML:
        html_redis(r, &x, queued, now);
        break;
    case MQL_STORE_STATUS_AUTO:
        auto_redis(r, &x, queued, now);
        break;
    case MQL_STORE_STATUS_JSON:
        json_redis(r, &x, queued, now);
        break;
    default:
        break;
    }
}

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
    char *end;
    double n;

    if (err)
        return err;
    n = strtod(arg, &end);
    if (end == arg)
        n = -1;
    else if (!strcasecmp(end, "ms"))
        ;
    else if (!strcasecmp(end, "s") || !*end)
        n *= 1000;
    else
        n = -1;
    if (n < 1 || n > 60000)
        return bad(cmd, "expects a time from 1ms to 60s, e.g. 250ms or 2s", arg);
    mql_g->redis_timeout_ms = (apr_int64_t)n;
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
