/*
 * The server-wide runtime of mod_mql: state directory, signing key, the
 * shared visitor table and its mutex.
 *
 * The table outlives configuration generations: it is created once in the
 * process pool of the parent, so `apachectl graceful` keeps every visitor
 * without copying anything, and old-generation children finishing their
 * requests keep using the same memory and the same mutex as the new ones.
 * A snapshot in MQLStateDir, saved every minute by the background writer
 * and as each generation ends, is what the next start reads.
 *
 * The parent is root and the table is written by every child, so the
 * parent treats it as hostile: it creates and formats segments, compares
 * an existing one's header with the size it keeps itself, and nothing
 * more -- it never takes the table's lock, follows an index in it or
 * walks it.  Filling a new table (from the snapshot, or from the table of
 * another size that MQLMaxVisitors replaced) and creating the leads file
 * are done as the server's user (mod_mql_asuser.c), and so is saving the
 * snapshot as a generation ends.  In MQLStateDir,
 * which that user owns, root itself only gives the directory to the user
 * and reads or creates the signing key, through descriptors that follow
 * no link.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "apr_strings.h"
#include "apr_dbm.h"
#include "apr_file_io.h"
#include "apr_general.h"
#include "http_core.h"
#include "http_main.h"
#include "util_mutex.h"
#include "unixd.h"

#include "mod_mql_private.h"
#include "mod_mql_runtime.h"
#include "mod_mql_returns.h"
#include "mql_dbmpub.h"
#include "mql_shm.h"
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
#define CACHE_LINE 64
#define LOCK_AREA CACHE_LINE
_Static_assert(sizeof(pthread_mutex_t) <= LOCK_AREA, "the lock area is too small");

/* What survives generations, allocated from the process pool. */
typedef struct mql_persist {
    apr_shm_t *shm;
    apr_global_mutex_t *mutex;
    pthread_mutex_t *table_lock;    /* in the segment; NULL: use mutex */
    uint32_t max_visitors;          /* the segment's size, as the parent made it */
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

/* A link in place of MQLStateDir is the admin's when the directory that
 * holds it is root's alone: nobody else could have put it there. */
static int link_is_admins(apr_pool_t *p, const char *path)
{
    char *dir = apr_pstrdup(p, path), *slash;
    struct stat st;
    apr_size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';
    slash = strrchr(dir, '/');
    if (!slash)
        dir = ".";
    else if (slash == dir)
        dir = "/";
    else
        *slash = '\0';
    return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0
           && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

#define STATE_DIR_MODE 0750

int mql_prepare_state_dir(apr_pool_t *p, server_rec *s)
{
    const char *dir = mql_g->state_dir;
    struct stat st;
    apr_status_t rv;
    int fd;

    rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE
                                | APR_FPROT_GREAD | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL00011: cannot create MQLStateDir %s", dir);
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP && link_is_admins(p, dir))
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, "MQL00011: cannot open MQLStateDir "
                     "%s (a symbolic link there is followed only when the directory "
                     "holding it belongs to root alone)", dir);
        return -1;
    }
    /* the children write here; given through the descriptor, so a link
     * swapped in meanwhile is not what gets chowned */
    if (geteuid() == 0 && fstat(fd, &st) == 0
        && (st.st_uid != ap_unixd_config.user_id || st.st_gid != ap_unixd_config.group_id)
        && fchown(fd, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                     "MQL00010: cannot give %s to the server's user", dir);
    /* the journal, the snapshot and the leads are about people: a
     * directory made 0755 beforehand (or under another umask) would let
     * every local user list it and read what its files let them */
    if (fstat(fd, &st) == 0 && (geteuid() == 0 || st.st_uid == geteuid())
        && (st.st_mode & 0777) != STATE_DIR_MODE
        && fchmod(fd, (st.st_mode & 07000) | STATE_DIR_MODE) != 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                     "MQL08004: cannot make %s mode 0750", dir);
    return fd;
}

/*
 * The key file's contents become the 128-bit SipHash key (mql_secret.c,
 * shared with the tools that mint cookies).  Only a regular file is read,
 * at most MQL_SECRET_MAX_READ bytes of it, without waiting (a FIFO in its
 * place would block the parent's start forever).  mine: the key in
 * MQLStateDir, which must be a file of root's or of the server's user
 * with one name, and no larger than a key file: the server's user can
 * replace it (and holds the key in memory anyway), but never with a
 * second name of a file it cannot read, nor with a terabyte of zeros.
 * fd is closed.
 */
static apr_status_t read_key_file(apr_pool_t *p, int fd, const char *path, int mine,
                                  server_rec *s)
{
    unsigned char buf[MQL_SECRET_MAX_READ];
    const char *why = NULL;
    struct stat st;
    ssize_t n = 0;

    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (mine && ((st.st_uid != geteuid() && st.st_uid != ap_unixd_config.user_id)
                      || st.st_nlink != 1))
        why = "not a key file of the server's (another owner, or a second name of "
              "another file)";
    else if (mine && st.st_size > MQL_SECRET_MAX_READ)
        why = apr_psprintf(p, "%" APR_OFF_T_FMT " bytes, more than a key file has",
                           (apr_off_t)st.st_size);
    else if ((n = read(fd, buf, sizeof buf)) < MQL_KEY_BYTES)
        why = n < 0 ? strerror(errno) : "fewer than 16 bytes";
    close(fd);
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL00012: signing key %s: %s; refused",
                     path, why);
        return APR_EGENERAL;
    }
    mql_secret_derive(buf, (size_t)n, mql_g->key);
    memset(buf, 0, sizeof buf);
    return APR_SUCCESS;
}

/* Generated once, kept so that cookies stay valid across restarts. */
static apr_status_t load_or_make_secret(apr_pool_t *p, server_rec *s, int dirfd)
{
    const char *path = mql_g->secret_file;
    unsigned char fresh[32];
    apr_status_t rv;
    int fd;

    if (path) {
        /* the admin's own file: a link there is the admin's too */
        if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s,
                         "MQL00012: MQLSecret %s: cannot read 16 or more bytes", path);
            return APR_FROM_OS_ERROR(errno);
        }
        return read_key_file(p, fd, path, 0, s);
    }
    path = mql_state_path(p, SECRET_NAME);
    fd = openat(dirfd, SECRET_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0)
        return read_key_file(p, fd, path, 1, s);
    if (errno != ENOENT) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, "MQL00012: signing key %s: cannot "
                     "open it (a link, or not readable); refused", path);
        return APR_FROM_OS_ERROR(errno);
    }
    rv = apr_generate_random_bytes(fresh, sizeof fresh);
    fd = rv == APR_SUCCESS
         ? openat(dirfd, SECRET_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  S_IRUSR | S_IWUSR)
         : -1;
    if (fd < 0 || write(fd, fresh, sizeof fresh) != (ssize_t)sizeof fresh || close(fd) != 0) {
        rv = rv != APR_SUCCESS ? rv : APR_FROM_OS_ERROR(errno);
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "MQL00013: cannot create the signing key %s", path);
        return rv;
    }
    mql_secret_derive(fresh, sizeof fresh, mql_g->key);
    memset(fresh, 0, sizeof fresh);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "MQL00014: generated a new cookie signing key in %s", path);
    return APR_SUCCESS;
}

typedef struct dbm_job {
    const char *path;
    const char *type;
} dbm_job_t;

static apr_status_t create_dbm(void *baton, apr_pool_t *p)
{
    dbm_job_t *j = baton;
    apr_dbm_t *db;
    apr_status_t rv;

    rv = apr_dbm_open_ex(&db, j->type, j->path, APR_DBM_RWCREATE,
                         APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv == APR_SUCCESS)
        apr_dbm_close(db);
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, NULL, "MQL00043: cannot create the leads "
                     "file %s as the server's user: its directory must be one that user "
                     "can write (the writer replaces the file there)", j->path);
    return rv;
}

/*
 * mod_rewrite refuses to start when a `RewriteMap dbm:` file is missing,
 * so the leads file exists, empty, from the moment the configuration names
 * it.  Mode 0640: it may hold contacts.  Made by the server's user, who
 * writes it from then on: root creates nothing in a directory that user
 * can write (a dangling link there would aim root's create anywhere).
 */
apr_status_t mql_ensure_dbm(apr_pool_t *p, const char *path, const char *type)
{
    dbm_job_t job = { path, type };
    const char *f1, *f2;
    struct stat st;

    if (apr_dbm_get_usednames_ex(p, type, path, &f1, &f2) != APR_SUCCESS)
        return APR_ENOTIMPL;
    if (lstat(f1, &st) == 0)
        return APR_SUCCESS;
    return mql_as_server_user(NULL, p, apr_psprintf(p, "creating the leads file %s", path),
                              MQL_AS_USER_LIMIT, create_dbm, &job);
}

static apr_status_t adopt_sdbm(void *baton, apr_pool_t *p)
{
    dbm_job_t *j = baton;
    apr_status_t rv;
    unsigned n;
    const char *why;

    rv = mql_dbm_import_sdbm(j->path, j->type, &n, &why, p);
    if (rv == APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, NULL, "MQL08050: copied %u leads of the "
                     "sdbm file %s.dir/.pag into the %s file %s; the sdbm files are no "
                     "longer written (remove them, and use dbm=%s: in RewriteMap)",
                     n, j->path, j->type, j->path, j->type);
    else if (rv != APR_ENOENT)
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, NULL, "MQL08051: cannot copy the leads "
                     "of the sdbm file %s.dir/.pag into the %s file: %s", j->path, j->type,
                     why ? why : "error");
    return APR_SUCCESS;
}

/*
 * The default type was sdbm before: a server that now writes an empty
 * file of a single-file type beside an sdbm pair at the same path takes
 * its leads over, once the configuration is final (a read in progress
 * may still change the type).  Root only looks whether a .pag is there.
 */
void mql_adopt_old_sdbm(apr_pool_t *p, const char *path, const char *type)
{
    dbm_job_t job = { path, type };
    const char *f1, *f2 = NULL;
    struct stat st;

    if (apr_dbm_get_usednames_ex(p, type, path, &f1, &f2) != APR_SUCCESS || f2
        || lstat(apr_pstrcat(p, path, ".pag", NULL), &st) != 0 || !S_ISREG(st.st_mode))
        return;
    mql_as_server_user(NULL, p, apr_psprintf(p, "taking over the sdbm leads file %s", path),
                       MQL_AS_USER_LIMIT, adopt_sdbm, &job);
}

/* The table's lock: baton is the robust mutex in the segment, or NULL
 * for the mechanism the admin chose with `Mutex mql-store`. */
static void lock_store(void *baton)
{
    pthread_mutex_t *m = baton;

    if (!m)
        apr_global_mutex_lock(persist->mutex);
    else if (pthread_mutex_lock(m) == EOWNERDEAD)
        /* a process died holding it (kill -9): the store finds the section
         * it left open and rebuilds the links before anyone follows them */
        pthread_mutex_consistent(m);
}

static void unlock_store(void *baton)
{
    pthread_mutex_t *m = baton;

    if (m)
        pthread_mutex_unlock(m);
    else
        apr_global_mutex_unlock(persist->mutex);
}

static char *segment_start(apr_shm_t *shm)
{
    uintptr_t a = (uintptr_t)apr_shm_baseaddr_get(shm);

    return (char *)((a + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1));
}

static apr_size_t segment_size(uint32_t max_visitors)
{
    return CACHE_LINE - 1 + LOCK_AREA + mql_shm_size(max_visitors);
}

static void *table_base(apr_shm_t *shm)
{
    return segment_start(shm) + LOCK_AREA;
}

/* The robust process-shared mutex at the start of a new segment, when the
 * configured mechanism is pthread (the default); else NULL. */
static pthread_mutex_t *make_table_lock(apr_shm_t *shm)
{
    pthread_mutex_t *m = (pthread_mutex_t *)segment_start(shm);
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
        count = mql_visitors_copy(j->from, mql_g->store);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, j->s, "MQL00032: moved %u visitors into "
                     "the table for MQLMaxVisitors %u", count, (unsigned)mql_g->max_visitors);
        return APR_SUCCESS;
    }
    if (lstat(path, &st) != 0)
        return APR_SUCCESS;
    rv = mql_snapshot_restore(mql_g->store, path, p, &count, &why);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, j->s,
                     "MQL00015: snapshot %s not restored (%s); starting with an "
                     "empty table", path, why ? why : "unreadable");
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, j->s,
                     "MQL00016: restored %u visitors from %s", count, path);
    return APR_SUCCESS;
}

static void fill_new_table(apr_pool_t *p, server_rec *s, mql_visitors_t *from)
{
    fill_job_t job = { s, from };

    if (mql_as_server_user(s, p, from ? "moving the visitors to the resized table"
                           : "restoring the snapshot", MQL_AS_USER_LIMIT, fill_table, &job)
        == APR_SUCCESS || !from)
        return;
    /* the old table could not be read (a lock held by a child that does
     * not let go?): the last snapshot is the next best thing */
    job.from = NULL;
    mql_as_server_user(s, p, "restoring the snapshot", MQL_AS_USER_LIMIT, fill_table, &job);
}

static apr_status_t save_table(void *baton, apr_pool_t *p)
{
    const char *path = mql_state_path(p, MQL_SNAPSHOT_NAME);
    apr_status_t rv = mql_snapshot_save(mql_g->store, path, p, NULL);

    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, (server_rec *)baton,
                     "MQL00017: cannot write the snapshot %s", path);
    return rv;
}

/* In the parent, when a generation ends (restart or stop): keep a copy,
 * made by the server's user (the children are gone after a stop; after
 * a graceful restart they go on using the table meanwhile). */
static apr_status_t save_on_exit(void *data)
{
    server_rec *s = data;
    apr_pool_t *p;

    if (!persist || getpid() != persist->parent || !mql_g || !mql_g->store_ready)
        return APR_SUCCESS;
    apr_pool_create(&p, NULL);
    mql_as_server_user(s, p, "saving the snapshot", MQL_AS_USER_LIMIT, save_table, s);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static apr_status_t create_table(apr_pool_t *ppool, server_rec *s)
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
    persist->table_lock = make_table_lock(persist->shm);
    apr_generate_random_bytes(hash_key, sizeof hash_key);
    mql_shm_format(table_base(persist->shm), n, hash_key);
    persist->max_visitors = n;
    return APR_SUCCESS;
}

int mql_runtime_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    apr_pool_t *ppool = s->process->pool;
    uint32_t n = (uint32_t)mql_g->max_visitors;
    mql_visitors_t *old = NULL;
    mql_shm_t *shm;
    apr_status_t rv;
    int fresh = 0, dirfd;

    mql_log_set(log_to_httpd, s, APLOG_DEBUG);
    if ((dirfd = mql_prepare_state_dir(pconf, s)) < 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    rv = load_or_make_secret(pconf, s, dirfd);
    close(dirfd);
    if (rv != APR_SUCCESS)
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
    /* The header of a segment the children used is compared with the
     * size the parent made it for; nothing in it is followed here. */
    if (persist->shm && persist->max_visitors != n) {
        /* MQLMaxVisitors changed: the visitors move into a table of the
         * new size.  The old segment stays mapped for old children still
         * finishing requests. */
        if ((shm = mql_shm_attach(pconf, table_base(persist->shm), persist->max_visitors,
                                  lock_store, unlock_store, persist->table_lock)))
            old = mql_shm_visitors(pconf, shm);
        persist->shm = NULL;
    }
    else if (persist->shm && !mql_shm_attach(pconf, table_base(persist->shm), n,
                                               NULL, NULL, NULL)) {
        /* Laid out by an older build (the module was upgraded, then
         * restarted gracefully): a new table takes the visitors back from
         * the snapshot the old writer left. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "MQL00031: the shared table comes "
                     "from another build of mod_mql; starting a new one from the snapshot");
        persist->shm = NULL;
    }
    if (!persist->shm) {
        if ((rv = create_table(ppool, s)) != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        fresh = 1;
    }
    mql_g->mutex = persist->mutex;
    shm = mql_shm_attach(pconf, table_base(persist->shm), n, lock_store, unlock_store,
                         persist->table_lock);
    if (!shm) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "MQL00019: the shared table is damaged");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mql_shm_set_expire(shm, (uint32_t)mql_g->expire);
    mql_g->store = mql_shm_visitors(pconf, shm);
    if (fresh)
        fill_new_table(ptemp, s, old);
    apr_pool_cleanup_register(pconf, s, save_on_exit, apr_pool_cleanup_null);
    /* the table lets leads go to make room: the ring of their returns */
    if (mql_returns_setup(s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
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
