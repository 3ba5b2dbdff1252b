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

/* Publishing the leads file: the writer's pace, a copy that keeps every
 * record and the .pag's holes, and a deeper directory that a slow reader
 * cannot meet with the wrong pages. */
#include "tap.h"
#include <sys/stat.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_dbm.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include "mql_dbmpub.h"

#define NRECORDS 2000

static apr_pool_t *pool;

static void test_pace(void)
{
    apr_time_t t0 = apr_time_from_sec(1000000);

    is_int(mql_dbm_next_publish(t0, 0, 0), t0, "a publication that took no time: the next at once");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(2), apr_time_from_msec(2)),
           t0 + apr_time_from_msec(38), "2 ms of CPU: the next 19 x 2 ms after its end");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(500), apr_time_from_msec(600)),
           t0 + apr_time_from_msec(9500),
           "500 ms of CPU: the next 9.5 s after its end (a twentieth of a CPU)");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(50), apr_time_from_msec(1500)),
           t0 + apr_time_from_msec(4500),
           "50 ms of CPU in 1.5 s (a busy machine): 3 x 1.5 s, not 19 x 1.5 s");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(10), apr_time_from_sec(4)),
           t0 + apr_time_from_sec(12), "4 s waiting for the disk: 3 x 4 s (a quarter of the time)");
    is_int(mql_dbm_next_publish(t0, apr_time_from_sec(5), apr_time_from_sec(5)),
           t0 + apr_time_from_sec(30), "5 s of CPU: never more than 30 s of waiting");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(1), apr_time_from_sec(40)),
           t0 + apr_time_from_sec(30), "40 s by the clock: never more than 30 s either");
    is_int(mql_dbm_next_publish(t0, -apr_time_from_sec(3), -apr_time_from_sec(3)), t0,
           "a clock that went back counts as no time");
}

static apr_array_header_t *changes_for(int first, int n, const char *tag)
{
    apr_array_header_t *a = apr_array_make(pool, n, sizeof(mql_dbm_change_t));
    int i;

    for (i = first; i < first + n; i++) {
        mql_dbm_change_t *c = apr_array_push(a);

        c->key = apr_psprintf(pool, "visitor-%06d", i);
        c->value = apr_psprintf(pool, "stage=mql;score=%d;trigger=%s", 100 + i, tag);
    }
    return a;
}

/* Every key of the live file and its value, as a reader sees them. */
static int count_and_check(const char *path, int *bad, const char *skip)
{
    apr_dbm_t *db;
    apr_datum_t k, v;
    int n = 0;

    *bad = 0;
    if (apr_dbm_open_ex(&db, "sdbm", path, APR_DBM_READONLY, APR_OS_DEFAULT, pool)
        != APR_SUCCESS)
        return -1;
    for (apr_dbm_firstkey(db, &k); k.dptr; apr_dbm_nextkey(db, &k)) {
        char *key = apr_pstrmemdup(pool, k.dptr, k.dsize);
        const char *want = apr_psprintf(pool, "stage=mql;score=%d;",
                                        100 + atoi(key + strlen("visitor-")));

        n++;
        if (skip && !strcmp(key, skip))
            (*bad)++;
        if (apr_dbm_fetch(db, k, &v) != APR_SUCCESS || !v.dptr
            || v.dsize < strlen(want) || strncmp(v.dptr, want, strlen(want)))
            (*bad)++;
    }
    apr_dbm_close(db);
    return n;
}

/* A fresh directory under the system's temporary one, or NULL. */
static const char *make_dir(void)
{
    const char *tmp;
    char *dir = NULL;

    if (apr_temp_dir_get(&tmp, pool) == APR_SUCCESS)
        dir = mkdtemp(apr_pstrcat(pool, tmp, "/mql-dbmpub-XXXXXX", NULL));
    ok(dir != NULL, "a temporary directory");
    return dir;
}

static void remove_leads(const char *dir, const char *path)
{
    mql_dbm_cleanup(path, "sdbm", pool);
    apr_file_remove(apr_pstrcat(pool, path, ".dir", NULL), pool);
    apr_file_remove(apr_pstrcat(pool, path, ".pag", NULL), pool);
    apr_file_remove(apr_pstrcat(pool, path, ".mqllock", NULL), pool);
    apr_dir_remove(dir, pool);
}

static void test_publish_round_trip(void)
{
    const char *dir, *path;
    apr_array_header_t *more;
    mql_dbm_change_t *c;
    mql_dbm_pub_stats_t st;
    const char *why = NULL;
    struct stat pag;
    apr_finfo_t fi;
    int bad, n;

    if (!(dir = make_dir()))
        return;
    path = apr_pstrcat(pool, dir, "/leads", NULL);

    is_int(mql_dbm_publish(path, "sdbm", changes_for(0, NRECORDS, "a"), 0, -1, -1, &st, &why,
                           pool), APR_SUCCESS, "a new file is published");
    is_int(st.written, NRECORDS, "with every record");
    n = count_and_check(path, &bad, NULL);
    is_int(n, NRECORDS, "a reader finds every record");
    is_int(bad, 0, "each with its own value");

    /* the second publication copies the first: an update, a delete, a new key */
    more = changes_for(5, 1, "b");
    c = apr_array_push(more);
    c->key = "visitor-000007";
    c->value = NULL;
    apr_array_cat(more, changes_for(NRECORDS, 1, "c"));
    is_int(mql_dbm_publish(path, "sdbm", more, 0, -1, -1, &st, &why, pool), APR_SUCCESS,
           "a batch is applied to a copy of the live file");
    is_int(st.written, 2, "two records written");
    is_int(st.deleted, 1, "one deleted");
    n = count_and_check(path, &bad, "visitor-000007");
    is_int(n, NRECORDS, "the copy holds the old records, less one, plus one");
    is_int(bad, 0, "every value intact, the deleted key gone");

    ok(stat(apr_pstrcat(pool, path, ".pag", NULL), &pag) == 0, "the .pag is there");
    ok((long long)pag.st_blocks * 512 < (long long)pag.st_size,
       "its holes survive the copy (%lld bytes allocated of %lld)",
       (long long)pag.st_blocks * 512, (long long)pag.st_size);
    ok(apr_stat(&fi, apr_pstrcat(pool, path, ".mqlnew.pag", NULL), APR_FINFO_TYPE, pool)
       != APR_SUCCESS, "no copy is left behind");

    remove_leads(dir, path);
}

/*
 * A reader that opens the .pag, is descheduled, and opens the .dir
 * STALL_MS later (Perl's sdbm opens them in that order): it takes hard
 * links to the live files with that pause in between, then looks up every
 * key that had been published before it started.
 */
#define STALL_MS 20
#define SMALL 500                   /* small records published first */
#define BIG_BATCH 100               /* then batches of large ones */

typedef struct slow_reader {
    const char *path, *copy;
    int stop, batches;              /* batches: large batches published */
    int opens, misses;
} slow_reader_t;

#define GET(field) __atomic_load_n(&(field), __ATOMIC_ACQUIRE)
#define PUT(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELEASE)

static int lookup_misses(apr_dbm_t *db, int batches, apr_pool_t *p)
{
    int i, misses = 0;

    for (i = 0; i < SMALL + batches * BIG_BATCH; i++) {
        apr_datum_t k, v;

        k.dptr = apr_psprintf(p, "visitor-%06d", i < SMALL ? i : 1000 + i - SMALL);
        k.dsize = strlen(k.dptr);
        if (apr_dbm_fetch(db, k, &v) != APR_SUCCESS || !v.dptr)
            misses++;
    }
    return misses;
}

static void *APR_THREAD_FUNC slow_reader(apr_thread_t *thd, void *data)
{
    slow_reader_t *r = data;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    while (!GET(r->stop)) {
        const char *dir = apr_pstrcat(p, r->copy, ".dir", NULL);
        const char *pag = apr_pstrcat(p, r->copy, ".pag", NULL);
        int batches = GET(r->batches);
        apr_dbm_t *db;

        if (link(apr_pstrcat(p, r->path, ".pag", NULL), pag) == 0) {
            apr_sleep(apr_time_from_msec(STALL_MS));
            if (link(apr_pstrcat(p, r->path, ".dir", NULL), dir) == 0
                && apr_dbm_open_ex(&db, "sdbm", r->copy, APR_DBM_READONLY, APR_OS_DEFAULT, p)
                   == APR_SUCCESS) {
                r->misses += lookup_misses(db, batches, p);
                PUT(r->opens, r->opens + 1);
                apr_dbm_close(db);
            }
        }
        unlink(dir);
        unlink(pag);
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* Records whose values fill most of a 1 KiB sdbm page: two hashed to the
 * same page overflow it, and the directory must deepen. */
static apr_array_header_t *big_changes(int first, int n)
{
    apr_array_header_t *a = changes_for(first, n, "big");
    char *pad = apr_palloc(pool, 601);
    int i;

    memset(pad, 'x', 600);
    pad[600] = '\0';
    for (i = 0; i < n; i++) {
        mql_dbm_change_t *c = &APR_ARRAY_IDX(a, i, mql_dbm_change_t);

        c->value = apr_pstrcat(pool, c->value, pad, NULL);
    }
    return a;
}

/* The directory's bitmap: it only changes when the file deepens. */
static char *read_dir(const char *path, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, pool) != APR_SUCCESS)
        return NULL;
    if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS
        || apr_file_read_full(f, buf = apr_palloc(pool, (apr_size_t)fi.size + 1),
                              (apr_size_t)fi.size, len) != APR_SUCCESS)
        buf = NULL;
    apr_file_close(f);
    return buf;
}

/* Until the reader has opened n more pairs (at most 5 s); 1 if it did. */
static int reader_opens(slow_reader_t *r, int n)
{
    int want = GET(r->opens) + n, tries;

    for (tries = 0; tries < 1000 && GET(r->opens) < want; tries++)
        apr_sleep(apr_time_from_msec(5));
    return GET(r->opens) >= want;
}

static void test_deeper_directory_and_slow_reader(void)
{
    const char *dir, *path, *dirfile;
    slow_reader_t r;
    apr_thread_t *thd;
    apr_status_t trv;
    mql_dbm_pub_stats_t st;
    const char *why = NULL;
    char *before, *after;
    apr_size_t before_len = 0, after_len = 0;
    int batch, deeper = 0;

    if (!(dir = make_dir()))
        return;
    path = apr_pstrcat(pool, dir, "/leads", NULL);
    dirfile = apr_pstrcat(pool, path, ".dir", NULL);
    is_int(mql_dbm_publish(path, "sdbm", changes_for(0, SMALL, "a"), 0, -1, -1, &st, &why,
                           pool), APR_SUCCESS, "small records published");
    before = read_dir(dirfile, &before_len);

    memset(&r, 0, sizeof r);
    r.path = path;
    r.copy = apr_pstrcat(pool, dir, "/reader", NULL);
    ok(apr_thread_create(&thd, NULL, slow_reader, &r, pool) == APR_SUCCESS,
       "a reader stalls %d ms between the .pag and the .dir", STALL_MS);
    ok(reader_opens(&r, 3), "it reads the shallow file");
    for (batch = 0; batch < 20 && !deeper; batch++) {
        if (mql_dbm_publish(path, "sdbm", big_changes(1000 + batch * BIG_BATCH, BIG_BATCH), 0,
                            -1, -1, &st, &why, pool) != APR_SUCCESS)
            break;
        PUT(r.batches, batch + 1);
        after = read_dir(dirfile, &after_len);
        deeper = before && after
                 && (before_len != after_len || memcmp(before, after, after_len) != 0);
    }
    ok(deeper, "large records deepen the directory (after %d batches of %d)", batch,
       BIG_BATCH);
    ok(reader_opens(&r, 3), "it reads the deeper file");
    PUT(r.stop, 1);
    apr_thread_join(&trv, thd);
    ok(r.opens > 6, "the reader opened %d pairs", r.opens);
    is_int(r.misses, 0, "every lookup found its key, through the deepening too");

    remove_leads(dir, path);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_pace();
    test_publish_round_trip();
    test_deeper_directory_and_slow_reader();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
