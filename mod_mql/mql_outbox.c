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
 * The webhooks' outbox (mql_webhook.h): one SQLite file in MQLStateDir,
 * written by the server's writer only (mqlctl reads it, and marks failed
 * rows for a retry).  WAL, as the journal: mqlctl's reads never wait on
 * the writer's rounds.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <apr_strings.h>

#include "mql_webhook.h"

struct mql_outbox {
    sqlite3 *db;
    apr_pool_t *p;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS delivery ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"          /* X-MQL-Delivery */
    " receiver TEXT NOT NULL,"           /* its URL */
    " lead TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_try INTEGER NOT NULL DEFAULT 0,"
    " last_try INTEGER NOT NULL DEFAULT 0,"
    " done INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '');"
    /* a receiver's queue in order, a lead's older rows, and the figures
     * (count, oldest) from the index alone: thousands of rows pending
     * for a receiver that is down cost no table reads each second */
    "CREATE INDEX IF NOT EXISTS delivery_queue ON delivery(receiver, state, seq);"
    "CREATE INDEX IF NOT EXISTS delivery_lead ON delivery(receiver, state, lead, seq);"
    "CREATE INDEX IF NOT EXISTS delivery_age ON delivery(receiver, state, created);"
    /* what outlives the rows: the receiver's last success and error */
    "CREATE TABLE IF NOT EXISTS receiver ("
    " url TEXT PRIMARY KEY,"
    " delivered INTEGER NOT NULL DEFAULT 0,"
    " last_ok INTEGER NOT NULL DEFAULT 0,"
    " last_error_time INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '');";

#define OUTBOX_MODE 0640

/* Leads' contacts are in the bodies: the file and SQLite's -wal and -shm
 * (which take the database's mode) for the server's user and group only,
 * whatever the umask; reached without following a link. */
static void keep_private(const char *path, int create)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (create ? O_CREAT : 0),
                  OUTBOX_MODE);

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777 & ~OUTBOX_MODE))
        (void)!fchmod(fd, st.st_mode & OUTBOX_MODE);
    close(fd);
}

static apr_status_t cleanup(void *data)
{
    mql_outbox_t *o = data;

    if (o->db)
        sqlite3_close_v2(o->db);
    o->db = NULL;
    return APR_SUCCESS;
}

void mql_outbox_close(mql_outbox_t *o)
{
    if (o)
        apr_pool_cleanup_run(o->p, o, cleanup);
}

const char *mql_outbox_error(mql_outbox_t *o)
{
    return o && o->db ? sqlite3_errmsg(o->db) : "no outbox";
}

apr_status_t mql_outbox_open(mql_outbox_t **out, const char *path, int readonly,
                             apr_pool_t *p, const char **err)
{
    mql_outbox_t *o = apr_pcalloc(p, sizeof *o);
    int flags = (readonly ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
    char *msg = NULL;

    *out = NULL;
    o->p = p;
    apr_pool_cleanup_register(p, o, cleanup, apr_pool_cleanup_null);
    if (!readonly) {
        keep_private(path, 1);
        keep_private(apr_pstrcat(p, path, "-wal", NULL), 0);
        keep_private(apr_pstrcat(p, path, "-shm", NULL), 0);
    }
    /* "readonly" opens an existing file read-write all the same: mqlctl's
     * --retry writes, and a WAL database needs its -shm either way */
    if (sqlite3_open_v2(path, &o->db, flags, NULL) != SQLITE_OK) {
        *err = apr_pstrdup(p, o->db ? sqlite3_errmsg(o->db) : "out of memory");
        mql_outbox_close(o);
        return APR_EGENERAL;
    }
    sqlite3_busy_timeout(o->db, readonly ? 2000 : 200);
    if (!readonly
        && (sqlite3_exec(o->db, schema, NULL, NULL, &msg) != SQLITE_OK
            || sqlite3_exec(o->db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192",
                            NULL, NULL, &msg) != SQLITE_OK)) {
        *err = apr_pstrdup(p, msg ? msg : sqlite3_errmsg(o->db));
        sqlite3_free(msg);
        mql_outbox_close(o);
        return APR_EGENERAL;
    }
    *out = o;
    return APR_SUCCESS;
}

static sqlite3_stmt *prep(mql_outbox_t *o, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(o->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

static int exec(mql_outbox_t *o, const char *sql)
{
    return sqlite3_exec(o->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int mql_outbox_begin(mql_outbox_t *o)
{
    return exec(o, "BEGIN IMMEDIATE");
}

int mql_outbox_commit(mql_outbox_t *o)
{
    if (exec(o, "COMMIT") == 0)
        return 0;
    exec(o, "ROLLBACK");
    return -1;
}

static void text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

int mql_outbox_add(mql_outbox_t *o, const char *url, const char *id, const char *lead,
                   const char *event, const char *body, uint32_t now)
{
    sqlite3_stmt *st = prep(o, "INSERT OR IGNORE INTO delivery"
                               "(id, receiver, lead, event, body, created, next_try)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    int rc;

    if (!st)
        return -1;
    text(st, 1, id);
    text(st, 2, url);
    text(st, 3, lead);
    text(st, 4, event);
    sqlite3_bind_blob(st, 5, body, (int)strlen(body), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(o->db) > 0;
}

#define COLS "seq, id, receiver, lead, event, state, created, attempts, next_try, " \
             "last_try, done, last_error"

static const char *col(apr_pool_t *p, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return apr_pstrdup(p, s ? (const char *)s : "");
}

static void row(apr_pool_t *p, sqlite3_stmt *st, mql_delivery_t *d)
{
    memset(d, 0, sizeof *d);
    d->seq = sqlite3_column_int64(st, 0);
    d->id = col(p, st, 1);
    d->receiver = col(p, st, 2);
    d->lead = col(p, st, 3);
    d->event = col(p, st, 4);
    d->state = (mql_delivery_state_t)sqlite3_column_int(st, 5);
    d->created = (uint32_t)sqlite3_column_int64(st, 6);
    d->attempts = (unsigned)sqlite3_column_int(st, 7);
    d->next_try = (uint32_t)sqlite3_column_int64(st, 8);
    d->last_try = (uint32_t)sqlite3_column_int64(st, 9);
    d->done = (uint32_t)sqlite3_column_int64(st, 10);
    d->last_error = col(p, st, 11);
}

int mql_outbox_next(mql_outbox_t *o, apr_pool_t *p, const char *url, uint32_t now,
                    mql_delivery_t *d)
{
    /* the oldest due row whose lead has no older pending row: a lead's
     * events arrive in order, and one lead's failing row does not hold
     * up the others' */
    sqlite3_stmt *st = prep(o, "SELECT " COLS ", body FROM delivery AS d"
                               " WHERE receiver = ?1 AND state = 0 AND next_try <= ?2"
                               " AND NOT EXISTS (SELECT 1 FROM delivery AS e"
                               "  WHERE e.receiver = d.receiver AND e.state = 0"
                               "  AND e.lead = d.lead AND e.seq < d.seq)"
                               " ORDER BY seq LIMIT 1");
    int found = 0;

    if (!st)
        return -1;
    text(st, 1, url);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) == SQLITE_ROW) {
        row(p, st, d);
        d->len = (apr_size_t)sqlite3_column_bytes(st, 12);
        d->body = apr_pstrmemdup(p, sqlite3_column_blob(st, 12), d->len);
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

uint32_t mql_outbox_next_due(mql_outbox_t *o, const char *url)
{
    /* a row behind an older one of its lead is not what is due next */
    sqlite3_stmt *st = prep(o, "SELECT min(next_try) FROM delivery AS d"
                               " WHERE receiver = ?1 AND state = 0"
                               " AND NOT EXISTS (SELECT 1 FROM delivery AS e"
                               "  WHERE e.receiver = d.receiver AND e.state = 0"
                               "  AND e.lead = d.lead AND e.seq < d.seq)");
    uint32_t t = 0;

    if (!st)
        return 0;
    text(st, 1, url);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        t = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return t;
}

int mql_outbox_result(mql_outbox_t *o, int64_t seq, int ok, const char *error, uint32_t now)
{
    sqlite3_stmt *st = prep(o, "SELECT receiver, created, attempts FROM delivery"
                               " WHERE seq = ?1 AND state = 0");
    const char *url = NULL;
    uint32_t created = 0, next = 0;
    unsigned attempts = 0;
    mql_delivery_state_t state;
    int rc = -1;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        url = col(o->p, st, 0);
        created = (uint32_t)sqlite3_column_int64(st, 1);
        attempts = (unsigned)sqlite3_column_int(st, 2) + 1;
    }
    sqlite3_finalize(st);
    if (!url)           /* forgotten, or retried by hand meanwhile */
        return MQL_DELIVERY_PENDING;
    state = mql_outbox_after(ok, created, attempts, now, &next);
    if (mql_outbox_begin(o) != 0)
        return -1;
    st = prep(o, "UPDATE delivery SET state = ?2, attempts = ?3, next_try = ?4, last_try = ?5,"
                 " done = CASE WHEN ?2 = 0 THEN 0 ELSE ?5 END, last_error = ?6"
                 " WHERE seq = ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int(st, 2, state);
        sqlite3_bind_int(st, 3, (int)attempts);
        sqlite3_bind_int64(st, 4, next);
        sqlite3_bind_int64(st, 5, now);
        text(st, 6, ok ? "" : error);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    if (rc == 0) {
        st = prep(o, ok ? "INSERT INTO receiver(url, delivered, last_ok) VALUES (?1, 1, ?2)"
                          " ON CONFLICT(url) DO UPDATE SET delivered = delivered + 1,"
                          " last_ok = ?2"
                        : "INSERT INTO receiver(url, last_error_time, last_error)"
                          " VALUES (?1, ?2, ?3) ON CONFLICT(url) DO UPDATE SET"
                          " last_error_time = ?2, last_error = ?3");
        rc = -1;
        if (st) {
            text(st, 1, url);
            sqlite3_bind_int64(st, 2, now);
            if (!ok)
                text(st, 3, error);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
            sqlite3_finalize(st);
        }
    }
    if (rc != 0) {
        exec(o, "ROLLBACK");
        return -1;
    }
    return mql_outbox_commit(o) == 0 ? (int)state : -1;
}

int mql_outbox_stats(mql_outbox_t *o, apr_pool_t *p, const char *url, mql_outbox_stats_t *s)
{
    sqlite3_stmt *st;

    memset(s, 0, sizeof *s);
    s->last_error = "";
    st = prep(o, url ? "SELECT state, count(*), min(created) FROM delivery"
                       " WHERE receiver = ?1 GROUP BY state"
                     : "SELECT state, count(*), min(created) FROM delivery GROUP BY state");
    if (!st)
        return -1;
    if (url)
        text(st, 1, url);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);

        switch (sqlite3_column_int(st, 0)) {
        case MQL_DELIVERY_PENDING:
            s->pending = n;
            s->oldest_pending = (uint32_t)sqlite3_column_int64(st, 2);
            break;
        case MQL_DELIVERY_FAILED:
            s->failed = n;
            break;
        default:
            break;
        }
    }
    sqlite3_finalize(st);
    /* delivered: counted in the receiver's row, as delivered rows go */
    st = prep(o, "SELECT sum(delivered), max(last_ok), max(last_error_time) FROM receiver"
                 " WHERE ?1 IS NULL OR url = ?1");
    if (!st)
        return -1;
    if (url)
        text(st, 1, url);
    if (sqlite3_step(st) == SQLITE_ROW) {
        s->delivered = (uint64_t)sqlite3_column_int64(st, 0);
        s->last_ok = (uint32_t)sqlite3_column_int64(st, 1);
        s->last_error_time = (uint32_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    st = prep(o, "SELECT last_error FROM receiver WHERE (?1 IS NULL OR url = ?1)"
                 " AND last_error_time > 0 ORDER BY last_error_time DESC LIMIT 1");
    if (!st)
        return -1;
    if (url)
        text(st, 1, url);
    if (sqlite3_step(st) == SQLITE_ROW)
        s->last_error = col(p, st, 0);
    sqlite3_finalize(st);
    return 0;
}

apr_array_header_t *mql_outbox_list(mql_outbox_t *o, apr_pool_t *p, int failed_only, int max)
{
    apr_array_header_t *a = apr_array_make(p, 16, sizeof(mql_delivery_t));
    sqlite3_stmt *st = prep(o, failed_only
                               ? "SELECT " COLS " FROM delivery WHERE state = 2"
                                 " ORDER BY seq LIMIT ?1"
                               : "SELECT " COLS " FROM delivery ORDER BY seq LIMIT ?1");

    if (!st)
        return NULL;
    sqlite3_bind_int(st, 1, max);
    while (sqlite3_step(st) == SQLITE_ROW)
        row(p, st, apr_array_push(a));
    sqlite3_finalize(st);
    return a;
}

int mql_outbox_retry(mql_outbox_t *o, const char *id, uint32_t now)
{
    sqlite3_stmt *st = prep(o, id ? "UPDATE delivery SET state = 0, attempts = 0,"
                                    " created = ?2, next_try = 0, done = 0"
                                    " WHERE id = ?1 AND state <> 1"
                                  : "UPDATE delivery SET state = 0, attempts = 0,"
                                    " created = ?2, next_try = 0, done = 0"
                                    " WHERE state = 2");
    int rc;

    if (!st)
        return -1;
    if (id)
        text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(o->db) : -1;
}

int mql_outbox_prune(mql_outbox_t *o, uint32_t now)
{
    sqlite3_stmt *st = prep(o, "DELETE FROM delivery WHERE state = 1 AND done < ?1");
    int rc;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, now > MQL_OUTBOX_KEEP_DONE ? now - MQL_OUTBOX_KEEP_DONE : 0);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(o->db) : -1;
}

int mql_outbox_forget(mql_outbox_t *o, const char *lead)
{
    sqlite3_stmt *st = prep(o, "DELETE FROM delivery WHERE lead = ?1");
    int rc;

    if (!st)
        return -1;
    text(st, 1, lead);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(o->db) : -1;
}
