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
 * The server-wide runtime of mod_mql: the state directory and the paths
 * in it, the signing key, the leads files' creation, and shared memory
 * kept across restarts (mql_kept_shm) for every part that needs some.
 * The visitor store itself is a provider (mod_mql_store*.c).
 *
 * The parent is root: in MQLStateDir, which the server's user owns, root
 * itself only gives the directory to the user and reads or creates the
 * signing key, through descriptors that follow no link; the leads file is
 * created by the server's user (mod_mql_asuser.c).
 */
#include <errno.h>
#include <fcntl.h>
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
#include "mql_dbmpub.h"
#include "mql_log.h"
#include "mql_secret.h"

APLOG_USE_MODULE(mql);

#define KEPT_PREFIX "mod_mql-kept:"
#define SECRET_NAME "secret"

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


/*
 * Shared memory outliving configuration generations, the way
 * mod_socache_shmcb and mod_slotmem_shm keep theirs: made once from the
 * process pool and found again by name in its userdata at each
 * post_config, so a graceful restart keeps it and old-generation children
 * go on using it.  The record itself is the parent's memory: what the
 * parent keeps about a segment goes in data, never in the segment, which
 * every child writes.
 */
mql_kept_t *mql_kept_shm(server_rec *s, const char *name, apr_size_t size, int renew,
                         int *fresh, apr_status_t *rv)
{
    apr_pool_t *ppool = s->process->pool;
    const char *key = apr_pstrcat(ppool, KEPT_PREFIX, name, NULL);
    mql_kept_t *kept = NULL;
    apr_shm_t *shm;
    uintptr_t a;

    *fresh = 0;
    *rv = APR_SUCCESS;
    apr_pool_userdata_get((void **)&kept, key, ppool);
    if (!kept) {
        kept = apr_pcalloc(ppool, sizeof *kept);
        apr_pool_userdata_set(kept, key, apr_pool_cleanup_null, ppool);
    }
    if (!size || (kept->shm && !renew))
        return kept;
    /* a segment replaced stays mapped: old children may still use it */
    *rv = apr_shm_create(&shm, size + MQL_KEPT_ALIGN - 1, NULL, ppool);
    if (*rv != APR_SUCCESS)
        return NULL;
    a = (uintptr_t)apr_shm_baseaddr_get(shm);
    kept->shm = shm;
    kept->base = (void *)((a + MQL_KEPT_ALIGN - 1) & ~(uintptr_t)(MQL_KEPT_ALIGN - 1));
    kept->size = size;
    /* zero-filled already, as anonymous memory comes (a MAP_ANONYMOUS
     * mapping or a new SysV segment): a table of millions of visitors is
     * not touched twice */
    *fresh = 1;
    return kept;
}

int mql_runtime_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    apr_status_t rv;
    int dirfd;

    mql_log_set(log_to_httpd, s, APLOG_DEBUG);
    if ((dirfd = mql_prepare_state_dir(pconf, s)) < 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    rv = load_or_make_secret(pconf, s, dirfd);
    close(dirfd);
    return rv == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}
