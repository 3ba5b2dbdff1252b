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
 * The funnel by first touch (mql_jtouch.h).  The writer's counts go
 * through a batch: a transaction's thousands of new visitors are a few
 * rows, one statement each.
 */
#include <string.h>
#include <sqlite3.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "mql_jtouch.h"

sqlite3 *mql_journal_handle(mql_journal_t *j);

const char *const mql_jtouch_dims[] = { "source", "medium", "campaign", NULL };

int mql_jtouch_dim_ok(const char *dim)
{
    int i;

    for (i = 0; dim && mql_jtouch_dims[i]; i++)
        if (!strcmp(dim, mql_jtouch_dims[i]))
            return 1;
    return 0;
}

typedef struct cell {
    uint32_t day;
    const char *dim, *value;
    uint32_t n[MQL_DAY_FIELDS];
} cell_t;

struct mql_jtouch_batch {
    apr_pool_t *p;                  /* the batch's own: cleared by each flush */
    apr_hash_t *cells;
};

mql_jtouch_batch_t *mql_jtouch_batch_make(apr_pool_t *p)
{
    mql_jtouch_batch_t *b = apr_pcalloc(p, sizeof *b);

    apr_pool_create(&b->p, p);
    b->cells = apr_hash_make(b->p);
    return b;
}

static void count_one(mql_jtouch_batch_t *b, uint32_t day, const char *dim, const char *value,
                      mql_day_field_t field)
{
    char *key = apr_psprintf(b->p, "%u|%s|%s", day, dim, value);
    cell_t *c = apr_hash_get(b->cells, key, APR_HASH_KEY_STRING);

    if (!c) {
        c = apr_pcalloc(b->p, sizeof *c);
        c->day = day;
        c->dim = dim;
        c->value = apr_pstrdup(b->p, value);
        apr_hash_set(b->cells, key, APR_HASH_KEY_STRING, c);
    }
    c->n[field]++;
}

void mql_jtouch_count(mql_jtouch_batch_t *b, uint32_t day, const mql_touch_t *t,
                      mql_day_field_t field)
{
    if (!b || field >= MQL_DAY_FIELDS)
        return;
    count_one(b, day, "source", t ? t->source : MQL_TOUCH_OTHER, field);
    count_one(b, day, "medium", t ? t->medium : MQL_TOUCH_OTHER, field);
    count_one(b, day, "campaign", !t ? MQL_TOUCH_OTHER : t->campaign[0] ? t->campaign : "(none)",
              field);
}

apr_status_t mql_jtouch_flush(mql_journal_t *j, mql_jtouch_batch_t *b, uint32_t now)
{
    static const char add_sql[] =
        "INSERT INTO touch_days(day,dim,value,new_visitors,mqls,accepted,rejected) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(day,dim,value) DO UPDATE SET "
        "new_visitors=new_visitors+excluded.new_visitors,mqls=mqls+excluded.mqls,"
        "accepted=accepted+excluded.accepted,rejected=rejected+excluded.rejected";
    sqlite3 *db = mql_journal_handle(j);
    sqlite3_stmt *st = NULL;
    apr_hash_index_t *hi;
    apr_status_t rv = APR_SUCCESS;
    char *sql;

    if (!b || !apr_hash_count(b->cells))
        return APR_SUCCESS;
    if (!db || sqlite3_prepare_v2(db, add_sql, -1, &st, NULL) != SQLITE_OK) {
        rv = APR_EGENERAL;
        goto done;
    }
    for (hi = apr_hash_first(b->p, b->cells); hi; hi = apr_hash_next(hi)) {
        cell_t *c = apr_hash_this_val(hi);

        sqlite3_bind_int64(st, 1, c->day);
        sqlite3_bind_text(st, 2, c->dim, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, c->n[MQL_DAY_NEW]);
        sqlite3_bind_int64(st, 5, c->n[MQL_DAY_MQLS]);
        sqlite3_bind_int64(st, 6, c->n[MQL_DAY_ACCEPTED]);
        sqlite3_bind_int64(st, 7, c->n[MQL_DAY_REJECTED]);
        if (sqlite3_step(st) != SQLITE_DONE)
            rv = APR_EGENERAL;
        sqlite3_reset(st);
    }
    sql = apr_psprintf(b->p, "DELETE FROM touch_days WHERE day < %ld",
                       (long)(now / 86400) - MQL_JOURNAL_DAYS + 1);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        rv = APR_EGENERAL;
done:
    if (st)
        sqlite3_finalize(st);
    apr_pool_clear(b->p);
    b->cells = apr_hash_make(b->p);
    return rv;
}

apr_status_t mql_jtouch_funnel(mql_journal_t *j, apr_pool_t *p, uint32_t now, int ndays,
                               const char *dim, apr_array_header_t **rows)
{
    static const char sql[] =
        "SELECT value, sum(new_visitors), sum(mqls), sum(accepted), sum(rejected) "
        "FROM touch_days WHERE dim=?1 AND day BETWEEN ?2 AND ?3 GROUP BY value "
        "ORDER BY sum(new_visitors) DESC, sum(mqls) DESC, value";
    sqlite3 *db = mql_journal_handle(j);
    sqlite3_stmt *st = NULL;
    int rc;

    *rows = apr_array_make(p, 16, sizeof(mql_jtouch_row_t));
    if (!db || !mql_jtouch_dim_ok(dim))
        return APR_EINVAL;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        /* a journal of a build before attribution: nothing counted yet */
        return strstr(sqlite3_errmsg(db), "no such table") ? APR_SUCCESS : APR_EGENERAL;
    }
    sqlite3_bind_text(st, 1, dim, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)(now / 86400) - ndays + 1);
    sqlite3_bind_int64(st, 3, now / 86400);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mql_jtouch_row_t *r = apr_array_push(*rows);
        const unsigned char *v = sqlite3_column_text(st, 0);

        r->value = apr_pstrdup(p, v ? (const char *)v : "");
        r->new_visitors = (uint64_t)sqlite3_column_int64(st, 1);
        r->mqls = (uint64_t)sqlite3_column_int64(st, 2);
        r->accepted = (uint64_t)sqlite3_column_int64(st, 3);
        r->rejected = (uint64_t)sqlite3_column_int64(st, 4);
        r->acceptance = r->accepted + r->rejected
                        ? (double)r->accepted / (double)(r->accepted + r->rejected) : -1;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}
