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

/* A DBM file opened by the writer is not left to the programs that the
 * child it runs in starts: every descriptor of the file is close-on-exec,
 * whatever the type (APR's gdbm driver opens without it). */
#include "tap.h"
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_dbm.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include "mql_dbmopen.h"

static apr_pool_t *pool;

/* descriptors of this process that are the file: how many, and how many
 * of them lack close-on-exec */
static void count_fds(const char *file, int *open_n, int *inherited)
{
    struct stat want, st;
    struct dirent *e;
    DIR *d = opendir("/proc/self/fd");

    *open_n = *inherited = 0;
    if (!d || stat(file, &want) != 0) {
        if (d)
            closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);

        if (fd > 2 && fd != dirfd(d) && fstat(fd, &st) == 0 && st.st_dev == want.st_dev
            && st.st_ino == want.st_ino) {
            (*open_n)++;
            if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                (*inherited)++;
        }
    }
    closedir(d);
}

static void remove_dir(const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;

    if (apr_dir_open(&d, dir, pool) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS)
            if (strcmp(fi.name, ".") && strcmp(fi.name, ".."))
                apr_file_remove(apr_pstrcat(pool, dir, "/", fi.name, NULL), pool);
        apr_dir_close(d);
    }
    apr_dir_remove(dir, pool);
}

static void test_type(const char *type, const char *suffix)
{
    char dir[] = "/tmp/mql-dbmopen.XXXXXX";
    const char *path, *file;
    apr_dbm_t *db;
    apr_datum_t k = { "k", 1 }, v = { "v", 1 };
    int n, bad;
    apr_int32_t mode;

    if (!mkdtemp(dir)) {
        ok(0, "%s: a temporary directory", type);
        return;
    }
    path = apr_pstrcat(pool, dir, "/leads", NULL);
    file = apr_pstrcat(pool, path, suffix, NULL);
    for (mode = APR_DBM_RWCREATE; ; mode = APR_DBM_READONLY) {
        const char *how = mode == APR_DBM_READONLY ? "read-only" : "created";

        if (!ok(mql_dbm_open(&db, type, path, mode, 0640, pool) == APR_SUCCESS, "%s: %s", type,
                how))
            break;
        if (mode != APR_DBM_READONLY)
            apr_dbm_store(db, k, v);
        count_fds(file, &n, &bad);
        ok(n >= 1, "%s, %s: the file is open (%d descriptors)", type, how, n);
        is_int(bad, 0, "%s, %s: none of them is inherited by a program started", type, how);
        apr_dbm_close(db);
        if (mode == APR_DBM_READONLY)
            break;
    }
    remove_dir(dir);
}

int main(void)
{
    const char *name1, *name2;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_type("sdbm", ".pag");
    if (apr_dbm_get_usednames_ex(pool, "gdbm", "/tmp/x", &name1, &name2) == APR_SUCCESS)
        test_type("gdbm", "");
    if (apr_dbm_get_usednames_ex(pool, "db", "/tmp/x", &name1, &name2) == APR_SUCCESS)
        test_type("db", "");
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
