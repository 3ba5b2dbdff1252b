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
 * The journal in SQLite (see mql_journal.h).  Prepared statements, one
 * transaction per writer batch, WAL so that readers (the status page,
 * mqlctl) never block the writer nor it them, synchronous=NORMAL: a power
 * cut may lose the last batch of a story, never the file.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "mql_journal.h"
#include "mql_json.h"
#include "mql_score.h"
#include "mql_jtouch.h"

enum {
    ST_ADD, ST_DAY, ST_MQL, ST_VERDICT, ST_SIGNAL, ST_DEL_SIGNALS, ST_STORY,
    ST_COUNT,
    /* the writer's own, on its TEMP table */
    ST_NEW_MQL = ST_COUNT, ST_RULE_SIGNALS, ST_CLEAR_NEW_MQLS, ST_ALL
};

static const char *const stmt_sql[ST_ALL] = {
    [ST_ADD] = "INSERT INTO recent_events(visitor,time,event,path,referer_host,points,rule,"
               "score) "
               "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [ST_DAY] = "INSERT INTO days(day,new_visitors,scored,mqls,accepted,rejected) "
               "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(day) DO UPDATE SET "
               "new_visitors=new_visitors+excluded.new_visitors,scored=scored+excluded.scored,"
               "mqls=mqls+excluded.mqls,accepted=accepted+excluded.accepted,"
               "rejected=rejected+excluded.rejected",
    [ST_MQL] = "INSERT OR REPLACE INTO leads(visitor,first_seen,mql_time,mql_score,peak_score,"
               "country,stage,decision_time) VALUES(?1,?2,?3,?4,?4,?5,'mql',NULL)",
    [ST_VERDICT] = "INSERT INTO leads(visitor,first_seen,stage,decision_time,country) "
                   "VALUES(?1,?2,?3,?4,?5) ON CONFLICT(visitor) DO UPDATE SET "
                   "stage=excluded.stage,decision_time=excluded.decision_time",
    [ST_SIGNAL] = "INSERT OR IGNORE INTO lead_signals(visitor,signal) VALUES(?1,?2)",
    [ST_DEL_SIGNALS] = "DELETE FROM lead_signals WHERE visitor=?1",
    [ST_STORY] = "SELECT time,event,path,referer_host,points,rule,score FROM "
                 "(SELECT 0 AS k, rowid AS r, * FROM events WHERE visitor=?1 UNION ALL "
                 "SELECT 1, rowid, * FROM recent_events WHERE visitor=?1 "
                 "ORDER BY time DESC, k DESC, r DESC LIMIT ?2) ORDER BY time, k, r",
    [ST_NEW_MQL] = "INSERT OR IGNORE INTO temp.new_mqls(visitor) VALUES(?1)",
    /* recent_events has no index: one pass for a transaction's leads,
     * where a query per lead made a burst of n leads cost n passes */
    [ST_RULE_SIGNALS] = "INSERT OR IGNORE INTO lead_signals(visitor,signal) "
                        "SELECT visitor, 'rule:'||rule FROM events WHERE rule IS NOT NULL "
                        "AND visitor IN (SELECT visitor FROM temp.new_mqls) UNION "
                        "SELECT visitor, 'rule:'||rule FROM recent_events WHERE rule IS NOT NULL "
                        "AND visitor IN (SELECT visitor FROM temp.new_mqls)",
    [ST_CLEAR_NEW_MQLS] = "DELETE FROM temp.new_mqls",
};

struct mql_journal {
    sqlite3 *db;
    apr_pool_t *p;
    sqlite3_stmt *st[ST_ALL];
    int readonly;
    int new_mqls;                   /* leads waiting for their rule signals */
    int64_t trimmed_to;             /* events up to this rowid were trimmed */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS events(visitor TEXT NOT NULL, time INTEGER NOT NULL, "
    "  event TEXT NOT NULL, path TEXT, referer_host TEXT, points REAL, rule TEXT, score REAL);"
    "CREATE INDEX IF NOT EXISTS events_visitor ON events(visitor, time);"
    /* The writer appends to recent_events, which has no index, and moves
     * them into events once a minute sorted by visitor: an index insert
     * per event at random places would dirty a page of the index per
     * event, and each commit would write them all again. */
    "CREATE TABLE IF NOT EXISTS recent_events(visitor TEXT NOT NULL, time INTEGER NOT NULL, "
    "  event TEXT NOT NULL, path TEXT, referer_host TEXT, points REAL, rule TEXT, score REAL);"
    "CREATE VIEW IF NOT EXISTS story AS SELECT visitor, time, event, path, referer_host, "
    "  points, rule, score FROM events UNION ALL SELECT visitor, time, event, path, "
    "  referer_host, points, rule, score FROM recent_events;"
    "CREATE TABLE IF NOT EXISTS days(day INTEGER PRIMARY KEY, new_visitors INTEGER DEFAULT 0, "
    "  scored INTEGER DEFAULT 0, mqls INTEGER DEFAULT 0, accepted INTEGER DEFAULT 0, "
    "  rejected INTEGER DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS leads(visitor TEXT PRIMARY KEY, first_seen INTEGER, "
    "  mql_time INTEGER, mql_score REAL, peak_score REAL, country TEXT, stage TEXT, "
    "  decision_time INTEGER);"
    "CREATE TABLE IF NOT EXISTS lead_signals(visitor TEXT NOT NULL, signal TEXT NOT NULL, "
    "  PRIMARY KEY(visitor, signal)) WITHOUT ROWID;"
    /* the reason of a lead's verdict, when one was given (a knock-out) */
    "CREATE TABLE IF NOT EXISTS lead_reasons(visitor TEXT PRIMARY KEY, time INTEGER NOT NULL, "
    "  reason TEXT NOT NULL);"
    /* the funnel by first touch (mql_jtouch.c) */
    MQL_JTOUCH_SCHEMA
    /* the MQLs whose wait past MQLDecisionSLA was announced: once each,
     * across restarts */
    "CREATE TABLE IF NOT EXISTS lead_sla(visitor TEXT PRIMARY KEY, time INTEGER NOT NULL);"
    /* this connection's leads of the open transaction (mql_journal_commit) */
    "CREATE TEMP TABLE IF NOT EXISTS new_mqls(visitor TEXT PRIMARY KEY) WITHOUT ROWID;";

sqlite3 *mql_journal_handle(mql_journal_t *j)
{
    return j ? j->db : NULL;
}

const char *mql_journal_error(mql_journal_t *j)
{
    return j && j->db ? sqlite3_errmsg(j->db) : "no journal";
}

static apr_status_t cleanup(void *data)
{
    mql_journal_t *j = data;
    int i;

    for (i = 0; i < ST_ALL; i++)
        if (j->st[i])
            sqlite3_finalize(j->st[i]);
    memset(j->st, 0, sizeof j->st);
    if (j->db)
        sqlite3_close(j->db);
    j->db = NULL;
    return APR_SUCCESS;
}

void mql_journal_close(mql_journal_t *j)
{
    if (j)
        apr_pool_cleanup_run(j->p, j, cleanup);
}

/* Stories are about people: the file and SQLite's -wal and -shm beside it
 * are for the server's user and group only, whatever the umask (SQLite
 * makes its files 0644 less the umask).  SQLite gives -wal and -shm the
 * database's own mode when it makes them, so the database is made here
 * first, with that mode; files an older version left open to others are
 * closed to them.  Reached without following a link nor waiting on a
 * FIFO, changed through the descriptor. */
#define JOURNAL_MODE 0640

static void keep_private(const char *path, int create)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (create ? O_CREAT : 0),
                  JOURNAL_MODE);

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777 & ~JOURNAL_MODE))
        (void)!fchmod(fd, st.st_mode & JOURNAL_MODE);
    close(fd);
}

apr_status_t mql_journal_open(mql_journal_t **out, const char *path, int readonly,
                              apr_pool_t *p, const char **err)
{
    mql_journal_t *j = apr_pcalloc(p, sizeof *j);
    /* NOFOLLOW: the file is in a directory its writer's user owns */
    int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
    char *msg = NULL;
    int i;

    *out = NULL;
    j->p = p;
    j->readonly = readonly;
    apr_pool_cleanup_register(p, j, cleanup, apr_pool_cleanup_null);
    if (!readonly) {
        keep_private(path, 1);
        keep_private(apr_pstrcat(p, path, "-wal", NULL), 0);
        keep_private(apr_pstrcat(p, path, "-shm", NULL), 0);
    }
    if (sqlite3_open_v2(path, &j->db, flags, NULL) != SQLITE_OK) {
        *err = apr_pstrdup(p, j->db ? sqlite3_errmsg(j->db) : "out of memory");
        mql_journal_close(j);
        return APR_EGENERAL;
    }
    /* the writer and a reader meet rarely and briefly */
    sqlite3_busy_timeout(j->db, readonly ? 2000 : 200);
    if (!readonly
        && (sqlite3_exec(j->db, schema, NULL, NULL, &msg) != SQLITE_OK
            /* a forgotten visitor's bytes are zeroed, not left in free
             * pages: no VACUUM of the whole file on each forget */
            /* fewer, larger checkpoints (each one syncs) and the index's
             * hot pages in memory: the writer's cost per event */
            || sqlite3_exec(j->db, "PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; "
                            "PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=4000", NULL,
                            NULL, &msg) != SQLITE_OK)) {
        int code = sqlite3_errcode(j->db) & 0xff;

        *err = apr_pstrdup(p, msg ? msg : sqlite3_errmsg(j->db));
        sqlite3_free(msg);
        mql_journal_close(j);
        return code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? APR_EMISMATCH : APR_EGENERAL;
    }
    for (i = 0; i < (readonly ? ST_COUNT : ST_ALL); i++)
        if (sqlite3_prepare_v3(j->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i],
                               NULL) != SQLITE_OK) {
            *err = apr_pstrdup(p, sqlite3_errmsg(j->db));
            mql_journal_close(j);
            return APR_EGENERAL;
        }
    *out = j;
    return APR_SUCCESS;
}

static apr_status_t exec(mql_journal_t *j, const char *sql)
{
    return sqlite3_exec(j->db, sql, NULL, NULL, NULL) == SQLITE_OK ? APR_SUCCESS
                                                                     : APR_EGENERAL;
}

apr_status_t mql_journal_begin(mql_journal_t *j)
{
    return exec(j, "BEGIN IMMEDIATE");
}

static apr_status_t run(sqlite3_stmt *st);

/* The rules the transaction's new leads matched, from their stories. */
static void add_rule_signals(mql_journal_t *j)
{
    if (!j->new_mqls)
        return;
    run(j->st[ST_RULE_SIGNALS]);
    run(j->st[ST_CLEAR_NEW_MQLS]);
    j->new_mqls = 0;
}

apr_status_t mql_journal_commit(mql_journal_t *j)
{
    add_rule_signals(j);
    if (exec(j, "COMMIT") == APR_SUCCESS)
        return APR_SUCCESS;
    exec(j, "ROLLBACK");
    return APR_EGENERAL;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_static(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Run a write statement to its end and make it ready again. */
static apr_status_t run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t mql_journal_add_event(mql_journal_t *j, const mql_story_event_t *e)
{
    sqlite3_stmt *st = j->st[ST_ADD];
    apr_status_t rv;

    /* the strings live until the step: no copies (every field is bound
     * each time, so no clear either) */
    bind_static(st, 1, e->visitor);
    sqlite3_bind_int64(st, 2, e->time);
    sqlite3_bind_text(st, 3, e->event ? e->event : "", -1, SQLITE_STATIC);
    bind_static(st, 4, e->path);
    bind_static(st, 5, e->referer_host);
    sqlite3_bind_double(st, 6, e->points);
    bind_static(st, 7, e->rule);
    sqlite3_bind_double(st, 8, e->score);
    rv = sqlite3_step(st) == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
    sqlite3_reset(st);
    /* (a lead's highest score is brought up to date by the trim, from its
     * events, not by a second statement per event) */
    return rv;
}

const char *mql_day_field_name(mql_day_field_t f)
{
    static const char *const names[MQL_DAY_FIELDS] = {
        "new_visitors", "scored", "mqls", "accepted", "rejected"
    };
    return f < MQL_DAY_FIELDS ? names[f] : "";
}

apr_status_t mql_journal_count_day(mql_journal_t *j, uint32_t day,
                                   const uint32_t add[MQL_DAY_FIELDS])
{
    sqlite3_stmt *st = j->st[ST_DAY];
    int f;

    sqlite3_bind_int64(st, 1, day);
    for (f = 0; f < MQL_DAY_FIELDS; f++)
        sqlite3_bind_int64(st, 2 + f, add[f]);
    return run(st);
}

static apr_status_t add_signal(mql_journal_t *j, const char *visitor, const char *signal)
{
    sqlite3_stmt *st = j->st[ST_SIGNAL];

    bind_text(st, 1, visitor);
    bind_text(st, 2, signal);
    return run(st);
}

apr_status_t mql_journal_stage(mql_journal_t *j, const char *visitor, uint32_t time,
                               int new_stage, double score, uint32_t first_seen,
                               const char *country, const uint16_t counts[MQL_EV_COUNT])
{
    char cc[3] = "";
    sqlite3_stmt *st;
    apr_status_t rv;
    int ev;

    if (country && country[0] && country[0] != '-' && country[1]) {
        cc[0] = country[0];
        cc[1] = country[1];
    }
    if (new_stage == MQL_STAGE_MQL) {
        st = j->st[ST_MQL];
        bind_text(st, 1, visitor);
        sqlite3_bind_int64(st, 2, first_seen);
        sqlite3_bind_int64(st, 3, time);
        sqlite3_bind_double(st, 4, score);
        bind_text(st, 5, cc);
        if ((rv = run(st)) != APR_SUCCESS)
            return rv;
        /* what it had when it qualified: its events, its country, and
         * (at the commit) the rules its journaled requests matched */
        sqlite3_exec(j->db, "SAVEPOINT sig", NULL, NULL, NULL);
        bind_text(j->st[ST_DEL_SIGNALS], 1, visitor);
        run(j->st[ST_DEL_SIGNALS]);
        for (ev = 0; counts && ev < MQL_EV_COUNT; ev++)
            if (counts[ev]) {
                char sig[32];
                strcpy(sig, "event:");
                strcat(sig, mql_event_name((mql_event_t)ev));
                add_signal(j, visitor, sig);
            }
        if (cc[0]) {
            char sig[16] = "country:";
            strcat(sig, cc);
            add_signal(j, visitor, sig);
        }
        if (j->st[ST_NEW_MQL]) {
            bind_text(j->st[ST_NEW_MQL], 1, visitor);
            if (run(j->st[ST_NEW_MQL]) == APR_SUCCESS)
                j->new_mqls = 1;
        }
        sqlite3_exec(j->db, "RELEASE sig", NULL, NULL, NULL);
        return APR_SUCCESS;
    }
    if (new_stage == MQL_STAGE_SQL || new_stage == MQL_STAGE_REJECTED) {
        st = j->st[ST_VERDICT];
        bind_text(st, 1, visitor);
        sqlite3_bind_int64(st, 2, first_seen);
        bind_text(st, 3, mql_stage_name((mql_stage_t)new_stage));
        sqlite3_bind_int64(st, 4, time);
        bind_text(st, 5, cc);
        return run(st);
    }
    return APR_SUCCESS;
}

static apr_status_t exec_bind1(mql_journal_t *j, const char *sql, const char *text,
                               int64_t num, int *changes);

apr_status_t mql_journal_reopen(mql_journal_t *j, const char *visitor)
{
    return exec_bind1(j, "UPDATE leads SET stage='mql', decision_time=NULL WHERE visitor=?1",
                      visitor, 0, NULL);
}

static apr_status_t exec_bind1(mql_journal_t *j, const char *sql, const char *text,
                               int64_t num, int *changes)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(st, 1, num);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changes)
        *changes += sqlite3_changes(j->db);
    return rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t mql_journal_forget(mql_journal_t *j, const char *visitor)
{
    apr_status_t rv = APR_SUCCESS;

    if (mql_journal_begin(j) != APR_SUCCESS)
        return APR_EGENERAL;
    if (exec_bind1(j, "DELETE FROM events WHERE visitor=?1", visitor, 0, NULL)
        || exec_bind1(j, "DELETE FROM recent_events WHERE visitor=?1", visitor, 0, NULL)
        || exec_bind1(j, "DELETE FROM leads WHERE visitor=?1", visitor, 0, NULL)
        || exec_bind1(j, "DELETE FROM lead_signals WHERE visitor=?1", visitor, 0, NULL)
        || exec_bind1(j, "DELETE FROM lead_reasons WHERE visitor=?1", visitor, 0, NULL)
        || exec_bind1(j, "DELETE FROM lead_sla WHERE visitor=?1", visitor, 0, NULL))
        rv = APR_EGENERAL;
    if (rv != APR_SUCCESS) {
        exec(j, "ROLLBACK");
        return rv;
    }
    rv = mql_journal_commit(j);
    /* secure_delete zeroed the rows in the database's pages; the old
     * pages still in the WAL go with it */
    if (rv == APR_SUCCESS)
        exec(j, "PRAGMA wal_checkpoint(TRUNCATE)");
    return rv;
}

apr_status_t mql_journal_reason(mql_journal_t *j, const char *visitor, uint32_t time,
                                const char *reason)
{
    sqlite3_stmt *st;
    int rc;

    if (!reason)
        return exec_bind1(j, "DELETE FROM lead_reasons WHERE visitor=?1", visitor, 0, NULL);
    if (sqlite3_prepare_v2(j->db, "INSERT OR REPLACE INTO lead_reasons(visitor,time,reason) "
                           "VALUES(?1,?2,?3)", -1, &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    sqlite3_bind_text(st, 1, visitor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, time);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}

const char *mql_journal_lead_reason(mql_journal_t *j, const char *visitor, apr_pool_t *p)
{
    sqlite3_stmt *st;
    const char *reason = NULL;

    /* a journal older than the table has no reason */
    if (!j || sqlite3_prepare_v2(j->db, "SELECT reason FROM lead_reasons WHERE visitor=?1",
                                 -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, visitor, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        reason = apr_pstrdup(p, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return reason;
}

apr_status_t mql_journal_sla_due(mql_journal_t *j, uint32_t before, uint32_t now, int max,
                                 mql_sla_fn *fn, void *baton)
{
    sqlite3_stmt *st, *mark;
    apr_status_t rv = APR_SUCCESS;
    int rc;

    if (sqlite3_prepare_v2(j->db, "SELECT visitor, mql_time FROM leads WHERE stage='mql' "
                           "AND mql_time <= ?1 AND visitor NOT IN (SELECT visitor FROM "
                           "lead_sla) ORDER BY mql_time LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    if (sqlite3_prepare_v2(j->db, "INSERT OR IGNORE INTO lead_sla(visitor,time) VALUES(?1,?2)",
                           -1, &mark, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return APR_EGENERAL;
    }
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *visitor = (const char *)sqlite3_column_text(st, 0);

        if (!visitor)
            continue;
        fn(visitor, (uint32_t)sqlite3_column_int64(st, 1), baton);
        sqlite3_reset(mark);
        sqlite3_bind_text(mark, 1, visitor, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(mark, 2, now);
        if (sqlite3_step(mark) != SQLITE_DONE)
            rv = APR_EGENERAL;
    }
    if (rc != SQLITE_DONE)
        rv = APR_EGENERAL;
    sqlite3_finalize(mark);
    sqlite3_finalize(st);
    return rv;
}

apr_status_t mql_journal_reasons(mql_journal_t *j, mql_reason_fn *fn, void *baton)
{
    sqlite3_stmt *st;
    int rc;

    /* a journal older than lead_reasons has none to count */
    if (sqlite3_prepare_v2(j->db, "SELECT r.reason, count(*) FROM lead_reasons r JOIN leads l "
                           "ON l.visitor = r.visitor WHERE l.stage = 'rejected' "
                           "GROUP BY r.reason ORDER BY 2 DESC, 1", -1, &st, NULL) != SQLITE_OK)
        return APR_SUCCESS;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_text(st, 0))
            fn((const char *)sqlite3_column_text(st, 0),
               (uint32_t)sqlite3_column_int64(st, 1), baton);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}

int64_t mql_journal_sla_count(mql_journal_t *j, uint32_t before)
{
    sqlite3_stmt *st;
    int64_t n = -1;

    if (!j || sqlite3_prepare_v2(j->db, "SELECT count(*) FROM leads WHERE stage='mql' "
                                 "AND mql_time <= ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, before);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int64_t pragma_int(mql_journal_t *j, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = 0;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t mql_journal_bytes(mql_journal_t *j)
{
    return (pragma_int(j, "PRAGMA page_count") - pragma_int(j, "PRAGMA freelist_count"))
           * pragma_int(j, "PRAGMA page_size");
}

long mql_journal_maintain(mql_journal_t *j, uint32_t now, uint32_t retention,
                          int64_t max_bytes, int per_visitor)
{
    int changes = 0, rounds = 0;
    int64_t bytes;

    if (mql_journal_begin(j) != APR_SUCCESS)
        return -1;
    /* the last minute's events into the indexed table, in index order */
    if (exec(j, "INSERT INTO events(visitor,time,event,path,referer_host,points,rule,score) "
             "SELECT visitor,time,event,path,referer_host,points,rule,score FROM "
             "recent_events ORDER BY visitor, time, rowid") != APR_SUCCESS
        || exec(j, "DELETE FROM recent_events") != APR_SUCCESS) {
        exec(j, "ROLLBACK");
        return -1;
    }
    /* each lead's highest score, before its events are trimmed away */
    exec(j, "UPDATE leads SET peak_score=max(coalesce(peak_score,mql_score,0),"
         "coalesce((SELECT max(score) FROM events e WHERE e.visitor=leads.visitor),0))");
    /* the last per_visitor of each visitor's events: only visitors with
     * events since the last trim can have too many */
    {
        sqlite3_stmt *st;
        int64_t top = pragma_int(j, "SELECT coalesce(max(rowid),0) FROM events");

        if (sqlite3_prepare_v2(j->db, "DELETE FROM events WHERE rowid IN (SELECT r FROM "
                               "(SELECT rowid AS r, row_number() OVER (PARTITION BY visitor "
                               "ORDER BY time DESC, rowid DESC) AS n FROM events WHERE visitor "
                               "IN (SELECT DISTINCT visitor FROM events WHERE rowid > ?2)) "
                               "WHERE n > ?1)", -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int(st, 1, per_visitor);
            sqlite3_bind_int64(st, 2, j->trimmed_to);
            if (sqlite3_step(st) == SQLITE_DONE) {
                changes += sqlite3_changes(j->db);
                j->trimmed_to = top;
            }
            sqlite3_finalize(st);
        }
    }
    if (retention && now > retention) {
        int64_t before = (int64_t)now - retention;
        exec_bind1(j, "DELETE FROM events WHERE time < ?1", NULL, before, &changes);
        /* leads gone from the visitor table (MQLExpire) leave the journal too */
        exec_bind1(j, "DELETE FROM lead_signals WHERE visitor IN (SELECT visitor FROM leads "
                   "WHERE max(coalesce(mql_time,0),coalesce(decision_time,0),"
                   "coalesce(first_seen,0)) < ?1 AND visitor NOT IN (SELECT visitor FROM events))",
                   NULL, before, &changes);
        exec_bind1(j, "DELETE FROM leads WHERE max(coalesce(mql_time,0),"
                   "coalesce(decision_time,0),coalesce(first_seen,0)) < ?1 AND visitor NOT IN "
                   "(SELECT visitor FROM events)", NULL, before, &changes);
        exec_bind1(j, "DELETE FROM lead_reasons WHERE time < ?1 AND visitor NOT IN "
                   "(SELECT visitor FROM leads)", NULL, before, &changes);
        exec_bind1(j, "DELETE FROM lead_sla WHERE visitor NOT IN (SELECT visitor FROM leads)",
                   NULL, 0, &changes);
    }
    exec_bind1(j, "DELETE FROM days WHERE day < ?1", NULL,
               (int64_t)(now / 86400) - MQL_JOURNAL_DAYS + 1, &changes);
    if (mql_journal_commit(j) != APR_SUCCESS)
        return -1;
    /* over the cap: the oldest events, as many as the excess takes and
     * a twentieth more, so that the next minutes do not trim again */
    while (max_bytes > 0 && (bytes = mql_journal_bytes(j)) > max_bytes && rounds++ < 10) {
        int64_t count = pragma_int(j, "SELECT count(*) FROM events");
        int64_t n = (int64_t)((double)count * (double)(bytes - max_bytes) / (double)bytes)
                    + count / 20 + 1;
        int before = changes;

        /* rowids grow with time: the oldest first, without an index */
        exec_bind1(j, "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY "
                   "rowid LIMIT ?1)", NULL, n, &changes);
        if (changes == before)
            break;
        /* rows went from the whole index: rebuilt, its pages are full again */
        if (mql_journal_bytes(j) > max_bytes)
            exec(j, "REINDEX events_visitor");
    }
    /* give freed pages back to the file system now and then */
    if (max_bytes > 0 && pragma_int(j, "PRAGMA freelist_count") * pragma_int(j, "PRAGMA page_size")
                         > max_bytes / 4)
        exec(j, "VACUUM");
    exec(j, "PRAGMA wal_checkpoint(PASSIVE)");
    return changes;
}

static const char *col_text(sqlite3_stmt *st, int i, apr_pool_t *p)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? apr_pstrdup(p, (const char *)s) : NULL;
}

apr_status_t mql_journal_story(mql_journal_t *j, const char *visitor, int max,
                               mql_story_fn *fn, void *baton)
{
    sqlite3_stmt *st = j->st[ST_STORY];
    apr_pool_t *p;
    int rc;

    apr_pool_create(&p, j->p);
    bind_text(st, 1, visitor);
    sqlite3_bind_int(st, 2, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mql_story_event_t e;

        apr_pool_clear(p);
        e.visitor = visitor;
        e.time = (uint32_t)sqlite3_column_int64(st, 0);
        e.event = col_text(st, 1, p);
        e.path = col_text(st, 2, p);
        e.referer_host = col_text(st, 3, p);
        e.points = sqlite3_column_double(st, 4);
        e.rule = col_text(st, 5, p);
        e.score = sqlite3_column_double(st, 6);
        if (fn(&e, baton))
            break;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    apr_pool_destroy(p);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? APR_SUCCESS : APR_EGENERAL;
}

typedef struct json_baton {
    apr_pool_t *p;
    apr_array_header_t *parts;
} json_baton_t;

static const char *num(apr_pool_t *p, double d)
{
    /* points and scores are whole unless decay made them fractional */
    return apr_psprintf(p, "%.10g", (double)((long long)(d * 100 + (d < 0 ? -0.5 : 0.5))) / 100);
}

static int json_one(const mql_story_event_t *e, void *baton)
{
    json_baton_t *b = baton;

    *(const char **)apr_array_push(b->parts) = apr_psprintf(
        b->p, "{\"time\":%u,\"event\":%s,\"path\":%s,\"referer_host\":%s,\"points\":%s,"
        "\"rule\":%s,\"score\":%s}", e->time, mql_json_str(b->p, e->event, 0),
        mql_json_str(b->p, e->path, 0), mql_json_str(b->p, e->referer_host, 0),
        num(b->p, e->points), mql_json_str(b->p, e->rule, 0), num(b->p, e->score));
    return 0;
}

const char *mql_journal_story_json(mql_journal_t *j, apr_pool_t *p, const char *visitor,
                                   int max)
{
    json_baton_t b = { p, apr_array_make(p, 16, sizeof(const char *)) };

    if (!j)
        return "[]";
    mql_journal_story(j, visitor, max, json_one, &b);
    return apr_pstrcat(p, "[", apr_array_pstrcat(p, b.parts, ','), "]", NULL);
}

/* ---- the funnel ------------------------------------------------------ */

const char *mql_day_text(apr_pool_t *p, uint32_t day)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    char buf[16];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return apr_pstrdup(p, buf);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of the query's single column, -1 when it has no rows. */
static double median(mql_journal_t *j, apr_pool_t *p, const char *sql, int64_t a, int64_t b)
{
    apr_array_header_t *v = apr_array_make(p, 64, sizeof(double));
    sqlite3_stmt *st;
    double *d;
    int n;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    while (sqlite3_step(st) == SQLITE_ROW)
        *(double *)apr_array_push(v) = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    n = v->nelts;
    if (!n)
        return -1;
    d = (double *)v->elts;
    qsort(d, (size_t)n, sizeof *d, cmp_double);
    return n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
}

apr_status_t mql_journal_funnel(mql_journal_t *j, apr_pool_t *p, uint32_t now, int ndays,
                                mql_funnel_t *out)
{
    sqlite3_stmt *st;
    int64_t from_t, to_t;
    int f;

    memset(out, 0, sizeof *out);
    if (ndays < 1)
        ndays = 1;
    if (ndays > MQL_JOURNAL_DAYS)
        ndays = MQL_JOURNAL_DAYS;
    out->to_day = now / 86400;
    out->from_day = out->to_day - (uint32_t)ndays + 1;
    out->ndays = ndays;
    out->days = apr_pcalloc(p, sizeof *out->days * (apr_size_t)ndays);
    for (f = 0; f < ndays; f++)
        out->days[f].day = out->from_day + (uint32_t)f;
    if (sqlite3_prepare_v2(j->db, "SELECT day,new_visitors,scored,mqls,accepted,rejected "
                           "FROM days WHERE day BETWEEN ?1 AND ?2", -1, &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    sqlite3_bind_int64(st, 1, out->from_day);
    sqlite3_bind_int64(st, 2, out->to_day);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint32_t day = (uint32_t)sqlite3_column_int64(st, 0);
        mql_funnel_day_t *d = &out->days[day - out->from_day];

        for (f = 0; f < MQL_DAY_FIELDS; f++) {
            d->n[f] = (uint32_t)sqlite3_column_int64(st, 1 + f);
            out->total[f] += d->n[f];
        }
    }
    sqlite3_finalize(st);
    out->visitor_to_mql = out->total[MQL_DAY_NEW]
        ? (double)out->total[MQL_DAY_MQLS] / (double)out->total[MQL_DAY_NEW] : -1;
    out->acceptance = out->total[MQL_DAY_ACCEPTED] + out->total[MQL_DAY_REJECTED]
        ? (double)out->total[MQL_DAY_ACCEPTED]
          / (double)(out->total[MQL_DAY_ACCEPTED] + out->total[MQL_DAY_REJECTED]) : -1;
    from_t = (int64_t)out->from_day * 86400;
    to_t = ((int64_t)out->to_day + 1) * 86400;
    out->median_to_mql = median(j, p, "SELECT mql_time-first_seen FROM leads WHERE mql_time "
                                "IS NOT NULL AND first_seen > 0 AND mql_time >= ?1 AND "
                                "mql_time < ?2", from_t, to_t);
    out->median_to_decision = median(j, p, "SELECT decision_time-mql_time FROM leads WHERE "
                                     "decision_time IS NOT NULL AND mql_time IS NOT NULL AND "
                                     "decision_time >= ?1 AND decision_time < ?2",
                                     from_t, to_t);
    /* waiting now, whatever the period */
    if (sqlite3_prepare_v2(j->db, "SELECT sum(?1-mql_time < 86400), sum(?1-mql_time >= 86400 "
                           "AND ?1-mql_time < 7*86400), sum(?1-mql_time >= 7*86400) FROM leads "
                           "WHERE stage='mql' AND mql_time IS NOT NULL", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) == SQLITE_ROW)
            for (f = 0; f < 3; f++)
                out->waiting[f] = (uint32_t)sqlite3_column_int64(st, f);
        sqlite3_finalize(st);
    }
    return APR_SUCCESS;
}

/* ---- criteria -------------------------------------------------------- */

apr_status_t mql_journal_criteria(mql_journal_t *j, apr_pool_t *p, mql_criteria_t *out)
{
    apr_array_header_t *rows = apr_array_make(p, 16, sizeof(mql_signal_row_t));
    sqlite3_stmt *st;
    double lo = 0, hi = 0;
    int b;

    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(j->db, "SELECT sum(stage='sql'), sum(stage='rejected'), "
                           "sum(stage='mql'), min(mql_score), max(mql_score) FROM leads", -1,
                           &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->accepted = (uint32_t)sqlite3_column_int64(st, 0);
        out->rejected = (uint32_t)sqlite3_column_int64(st, 1);
        out->waiting = (uint32_t)sqlite3_column_int64(st, 2);
        lo = sqlite3_column_double(st, 3);
        hi = sqlite3_column_double(st, 4);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(j->db, "SELECT s.signal, sum(l.stage='sql'), sum(l.stage='rejected') "
                           "FROM lead_signals s JOIN leads l ON l.visitor=s.visitor WHERE "
                           "l.stage IN ('sql','rejected') GROUP BY s.signal ORDER BY "
                           "count(*) DESC, s.signal", -1, &st, NULL) != SQLITE_OK)
        return APR_EGENERAL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        mql_signal_row_t *r = apr_array_push(rows);
        r->signal = col_text(st, 0, p);
        r->accepted = (uint32_t)sqlite3_column_int64(st, 1);
        r->rejected = (uint32_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    out->nsignals = rows->nelts;
    out->signals = (mql_signal_row_t *)rows->elts;
    /* score bins of a round width from the lowest score down to a ten */
    out->bin_from = lo > 0 ? (double)((long)lo / 10 * 10) : 0;
    out->bin_width = 10;
    while (out->bin_from + out->bin_width * MQL_SCORE_BINS <= hi)
        out->bin_width *= 2;
    if (sqlite3_prepare_v2(j->db, "SELECT mql_score, stage FROM leads WHERE stage IN "
                           "('sql','rejected') AND mql_score IS NOT NULL", -1, &st, NULL)
        != SQLITE_OK)
        return APR_EGENERAL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double s = sqlite3_column_double(st, 0);
        const char *stage = (const char *)sqlite3_column_text(st, 1);

        b = (int)((s - out->bin_from) / out->bin_width);
        if (b < 0)
            b = 0;
        if (b >= MQL_SCORE_BINS)
            b = MQL_SCORE_BINS - 1;
        if (stage && !strcmp(stage, "sql"))
            out->acc_bins[b]++;
        else
            out->rej_bins[b]++;
    }
    sqlite3_finalize(st);
    return APR_SUCCESS;
}

int mql_journal_lead(mql_journal_t *j, const char *visitor, const char **stage,
                     double *mql_score, double *peak_score, apr_pool_t *p)
{
    sqlite3_stmt *st;
    int found = 0;

    if (sqlite3_prepare_v2(j->db, "SELECT stage, mql_score, peak_score FROM leads WHERE "
                           "visitor=?1", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, visitor, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        *stage = col_text(st, 0, p);
        *mql_score = sqlite3_column_double(st, 1);
        *peak_score = sqlite3_column_type(st, 2) == SQLITE_NULL ? *mql_score
                                                                  : sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    return found;
}

apr_status_t mql_journal_leads(mql_journal_t *j, mql_jlead_fn *fn, void *baton)
{
    sqlite3_stmt *st;
    apr_pool_t *p;
    int rc;

    /* the highest score: as of the last trim, or since in its events */
    if (sqlite3_prepare_v2(j->db, "SELECT l.visitor, l.stage, l.mql_score, "
                           "max(coalesce(l.peak_score,l.mql_score,0),coalesce((SELECT "
                           "max(score) FROM story s WHERE s.visitor=l.visitor),0)), "
                           "l.country, EXISTS(SELECT 1 FROM lead_signals s WHERE "
                           "s.visitor=l.visitor AND s.signal='event:download'), EXISTS(SELECT 1 "
                           "FROM lead_signals s WHERE s.visitor=l.visitor AND "
                           "s.signal='event:form') FROM leads l ORDER BY l.visitor", -1, &st,
                           NULL) != SQLITE_OK)
        return APR_EGENERAL;
    apr_pool_create(&p, j->p);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mql_jlead_t l;
        const char *cc;

        apr_pool_clear(p);
        memset(&l, 0, sizeof l);
        l.visitor = col_text(st, 0, p);
        l.stage = col_text(st, 1, p);
        l.mql_score = sqlite3_column_double(st, 2);
        l.peak_score = sqlite3_column_type(st, 3) == SQLITE_NULL ? l.mql_score
                                                                   : sqlite3_column_double(st, 3);
        cc = col_text(st, 4, p);
        if (cc && strlen(cc) == 2)
            memcpy(l.country, cc, 3);
        l.had_download = sqlite3_column_int(st, 5);
        l.had_form = sqlite3_column_int(st, 6);
        if (!l.visitor || fn(&l, baton))
            break;
    }
    sqlite3_finalize(st);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

int mql_whatif_qualifies(const mql_whatif_t *w, double peak, int had_download, int had_form,
                         const char *country)
{
    if (peak < w->threshold)
        return 0;
    if ((w->require & MQL_REQ_DOWNLOAD) && !had_download)
        return 0;
    if ((w->require & MQL_REQ_FORM) && !had_form)
        return 0;
    if ((w->require & MQL_REQ_COUNTRY) && !mql_country_in(w->countries, country))
        return 0;
    return 1;
}
