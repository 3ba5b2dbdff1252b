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
 * A C program reading the leads file through apr_dbm, as other modules do.
 *   dbm_reader get TYPE PATH KEY        value of KEY (exit 1 when absent)
 *   dbm_reader dump TYPE PATH           "KEY<TAB>VALUE" lines
 *   dbm_reader loop TYPE PATH SECONDS [STOP]   open, walk, fetch and decode
 *        every record again and again, for SECONDS at most or until the
 *        file STOP exists; prints "opens=N records=N errors=N torn=N
 *        vanished=N": errors = failed opens or fetches, torn = values that
 *        do not decode, vanished = keys seen before and missing now.
 *   dbm_reader stall-loop TYPE PATH SECONDS [STOP]   the same, as a reader that a
 *        busy machine deschedules right after it opened the file's first
 *        name (PATH.dir for sdbm, PATH itself for a single-file type):
 *        held until a publication replaced that name (at most 1.5 s, longer
 *        than the writer's grace before an sdbm directory deepens), and
 *        20 ms more, before it goes on (opening PATH.pag for sdbm).  Also
 *        prints "stalls=N": the opens held across a publication, as a line
 *        of its own at each one, for a caller waiting for them.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_dbm.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mql_record.h"

static const char *stall_name;      /* the first name apr_dbm opens, in stall-loop */
static unsigned long stalls;

/* Held on the inode it opened until the name leads elsewhere. */
static void hold(int fd, const char *path)
{
    struct stat opened, now;
    apr_time_t end = apr_time_now() + apr_time_from_msec(1500);

    if (fstat(fd, &opened) != 0)
        return;
    while (apr_time_now() < end) {
        if (stat(path, &now) == 0 && (now.st_ino != opened.st_ino || now.st_dev != opened.st_dev)) {
            printf("stalls=%lu\n", ++stalls);
            fflush(stdout);
            apr_sleep(apr_time_from_msec(20));
            return;
        }
        apr_sleep(apr_time_from_msec(1));
    }
}

/*
 * apr_dbm's drivers (APR's sdbm, libgdbm, libdb) open files with open(2)
 * through the dynamic linker, which finds this definition first (the
 * program is linked with -rdynamic).
 */
int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    mode_t mode = 0;
    int fd;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;

        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "open");
    fd = real(path, flags, mode);
    if (fd >= 0 && stall_name && !strcmp(path, stall_name))
        hold(fd, path);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;

        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return open(path, flags, mode);
}

static int usage(void)
{
    fprintf(stderr, "usage: dbm_reader get|dump|loop|stall-loop TYPE PATH [KEY|SECONDS [STOP]]\n");
    return 2;
}

static int loop(apr_pool_t *pool, const char *type, const char *path, double secs,
                const char *stop)
{
    apr_time_t end = apr_time_now() + (apr_time_t)(secs * APR_USEC_PER_SEC);
    apr_hash_t *seen = apr_hash_make(pool);
    unsigned long opens = 0, records = 0, errors = 0, torn = 0, vanished = 0;

    while (apr_time_now() < end && !(stop && access(stop, F_OK) == 0)) {
        apr_pool_t *p;
        apr_dbm_t *db;
        apr_datum_t key, val;
        apr_hash_t *now_seen;
        apr_hash_index_t *hi;
        apr_status_t rv;

        apr_pool_create(&p, pool);
        now_seen = apr_hash_make(p);
        rv = apr_dbm_open_ex(&db, type, path, APR_DBM_READONLY, 0, p);
        if (rv != APR_SUCCESS) {
            char err[128];
            fprintf(stderr, "open: %s\n", apr_strerror(rv, err, sizeof err));
            errors++;
            apr_pool_destroy(p);
            continue;
        }
        opens++;
        for (rv = apr_dbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
             rv = apr_dbm_nextkey(db, &key)) {
            mql_lead_t l;
            apr_hash_set(now_seen, apr_pstrmemdup(p, key.dptr, key.dsize), key.dsize, "");
            if (apr_dbm_fetch(db, key, &val) != APR_SUCCESS || !val.dptr) {
                fprintf(stderr, "fetch failed for %.*s\n", (int)key.dsize, key.dptr);
                errors++;
                continue;
            }
            records++;
            if (key.dsize != 22 || !mql_record_decode(p, val.dptr, val.dsize, &l)) {
                fprintf(stderr, "torn: %.*s => %.*s\n", (int)key.dsize, key.dptr,
                        (int)val.dsize, val.dptr);
                torn++;
            }
        }
        /* a lead once written is never removed in these tests: a key
         * missing from a walk or a lookup is a reader seeing a bad file */
        for (hi = apr_hash_first(p, seen); hi; hi = apr_hash_next(hi)) {
            const void *k;
            apr_ssize_t klen;
            apr_hash_this(hi, &k, &klen, NULL);
            if (!apr_hash_get(now_seen, k, klen)) {
                apr_datum_t d;
                d.dptr = (char *)k;
                d.dsize = (apr_size_t)klen;
                if (!apr_dbm_exists(db, d)) {
                    fprintf(stderr, "vanished: %.*s\n", (int)klen, (const char *)k);
                    vanished++;
                }
            }
        }
        apr_dbm_close(db);
        for (hi = apr_hash_first(p, now_seen); hi; hi = apr_hash_next(hi)) {
            const void *k;
            apr_ssize_t klen;
            apr_hash_this(hi, &k, &klen, NULL);
            if (!apr_hash_get(seen, k, klen))
                apr_hash_set(seen, apr_pstrmemdup(pool, k, (apr_size_t)klen), klen, "");
        }
        apr_pool_destroy(p);
    }
    printf("opens=%lu records=%lu errors=%lu torn=%lu vanished=%lu keys=%u stalls=%lu\n", opens,
           records, errors, torn, vanished, apr_hash_count(seen), stalls);
    return 0;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;
    apr_dbm_t *db;
    apr_datum_t key, val;
    apr_status_t rv;
    char err[128];

    if (argc < 4)
        return usage();
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&pool, NULL);
    if (!strcmp(argv[1], "loop") && (argc == 5 || argc == 6))
        return loop(pool, argv[2], argv[3], atof(argv[4]), argv[5]);
    if (!strcmp(argv[1], "stall-loop") && (argc == 5 || argc == 6)) {
        const char *second;

        if (apr_dbm_get_usednames_ex(pool, argv[2], argv[3], &stall_name, &second)
            != APR_SUCCESS)
            return usage();
        return loop(pool, argv[2], argv[3], atof(argv[4]), argv[5]);
    }
    rv = apr_dbm_open_ex(&db, argv[2], argv[3], APR_DBM_READONLY, 0, pool);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "dbm_reader: %s: %s\n", argv[3], apr_strerror(rv, err, sizeof err));
        return 3;
    }
    if (!strcmp(argv[1], "get") && argc == 5) {
        key.dptr = (char *)argv[4];
        key.dsize = strlen(argv[4]);
        if (apr_dbm_fetch(db, key, &val) != APR_SUCCESS || !val.dptr)
            return 1;
        printf("%.*s\n", (int)val.dsize, val.dptr);
        return 0;
    }
    if (!strcmp(argv[1], "dump")) {
        for (rv = apr_dbm_firstkey(db, &key); rv == APR_SUCCESS && key.dptr;
             rv = apr_dbm_nextkey(db, &key))
            if (apr_dbm_fetch(db, key, &val) == APR_SUCCESS && val.dptr)
                printf("%.*s\t%.*s\n", (int)key.dsize, key.dptr, (int)val.dsize, val.dptr);
        return 0;
    }
    return usage();
}
