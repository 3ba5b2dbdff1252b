/* Publishing the leads file: the writer's pace, and a copy that keeps
 * every record and the .pag's holes. */
#include "tap.h"
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_dbm.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include "mql_dbmpub.h"

#define NRECORDS 2000

static apr_pool_t *pool;

static void test_pace(void)
{
    apr_time_t t0 = apr_time_from_sec(1000000);

    is_int(mql_dbm_next_publish(t0, 0), t0, "a publication that took no time: the next at once");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(2)), t0 + apr_time_from_msec(40),
           "2 ms: the next 19 x 2 ms after its end");
    is_int(mql_dbm_next_publish(t0, apr_time_from_msec(500)), t0 + apr_time_from_sec(10),
           "500 ms: the next 9.5 s after its end (a twentieth of the time publishing)");
    is_int(mql_dbm_next_publish(t0, apr_time_from_sec(5)), t0 + apr_time_from_sec(35),
           "5 s: never more than 30 s of waiting");
    is_int(mql_dbm_next_publish(t0, -apr_time_from_sec(3)), t0,
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

static void test_publish_round_trip(void)
{
    const char *tmp, *dir, *path;
    char *tmpl;
    apr_array_header_t *more;
    mql_dbm_change_t *c;
    mql_dbm_pub_stats_t st;
    const char *why = NULL;
    struct stat pag;
    apr_finfo_t fi;
    int bad, n;

    if (apr_temp_dir_get(&tmp, pool) != APR_SUCCESS) {
        ok(0, "a temporary directory");
        return;
    }
    tmpl = apr_pstrcat(pool, tmp, "/mql-dbmpub-XXXXXX", NULL);
    dir = mkdtemp(tmpl);
    ok(dir != NULL, "a temporary directory");
    if (!dir)
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

    mql_dbm_cleanup(path, "sdbm", pool);
    apr_file_remove(apr_pstrcat(pool, path, ".dir", NULL), pool);
    apr_file_remove(apr_pstrcat(pool, path, ".pag", NULL), pool);
    apr_file_remove(apr_pstrcat(pool, path, ".mqllock", NULL), pool);
    apr_dir_remove(dir, pool);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_pace();
    test_publish_round_trip();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
