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
 * The writer runs in a child of httpd, beside the threads that start the
 * site's programs (CGI, PHP's shell_exec): a descriptor without
 * close-on-exec is theirs too.  APR opens sdbm files close-on-exec and
 * Berkeley DB does so itself, but APR's gdbm driver does not pass
 * GDBM_CLOEXEC and gives no way to reach the descriptor.  So after the
 * open, the process's descriptors that are the file (same device and
 * inode) are marked; a program started in the instant between the two
 * steps still gets it, which only the driver could prevent.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>

#include "mql_dbmopen.h"

#define MAX_NAMES 4

static void mark_cloexec(const char *path, apr_pool_t *p)
{
    const char *names[MAX_NAMES] = { path, apr_pstrcat(p, path, ".db", NULL),
                                     apr_pstrcat(p, path, ".dir", NULL),
                                     apr_pstrcat(p, path, ".pag", NULL) };
    struct stat want[MAX_NAMES], st;
    int nwant = 0, i;
    struct dirent *e;
    DIR *d;

    for (i = 0; i < MAX_NAMES; i++)
        if (stat(names[i], &want[nwant]) == 0 && S_ISREG(want[nwant].st_mode))
            nwant++;
    if (!nwant || !(d = opendir("/proc/self/fd")))
        return;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name), flags;

        if (fd <= 2 || fd == dirfd(d) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        for (i = 0; i < nwant; i++)
            if (st.st_dev == want[i].st_dev && st.st_ino == want[i].st_ino
                && (flags = fcntl(fd, F_GETFD)) >= 0 && !(flags & FD_CLOEXEC))
                fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    closedir(d);
}

apr_status_t mql_dbm_open(apr_dbm_t **db, const char *type, const char *path,
                          apr_int32_t mode, apr_fileperms_t perm, apr_pool_t *p)
{
    apr_status_t rv = apr_dbm_open_ex(db, type, path, mode, perm, p);

    /* sdbm: APR's own files, close-on-exec already */
    if (rv == APR_SUCCESS && strcmp(type, "sdbm") != 0)
        mark_cloexec(path, p);
    return rv;
}
