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

/* The journal in SQLite: stories kept and trimmed, the funnel's figures
 * with known answers, criteria, forget, whatif's rule. */
#include <unistd.h>
#include "tap.h"
#include <apr_general.h>
#include <apr_strings.h>
#include <sqlite3.h>
#include "mql_journal.h"
#include "mql_score.h"

static apr_pool_t *pool;

static void add(mql_journal_t *j, const char *v, uint32_t t, const char *ev, double pts,
                double score)
{
    mql_story_event_t e = { v, t, ev, "/p", "ref.example", pts, NULL, score };
    mql_journal_add_event(j, &e);
}

static long long count_rows(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

static int count_story(const mql_story_event_t *e, void *baton)
{
    (*(int *)baton)++;
    return 0;
}

int main(void)
{
    char path[] = "/tmp/mql-journal-test-XXXXXX";
    const uint32_t day = 20000, now = day * 86400 + 12 * 3600;
    uint16_t counts[MQL_EV_COUNT] = { 3, 1, 1, 0, 0, 0, 0 };
    uint32_t add1[MQL_DAY_FIELDS] = { 5, 5, 0, 0, 0 };
    mql_journal_t *j;
    mql_funnel_t f;
    mql_criteria_t c;
    mql_whatif_t w;
    const char *err = NULL, *json;
    int n, i, fd;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    fd = mkstemp(path);
    close(fd);
    unlink(path);
    ok(mql_journal_open(&j, path, 1, pool, &err) != APR_SUCCESS,
       "read-only open of a missing journal fails (never creates it)");
    ok(mql_journal_open(&j, path, 0, pool, &err) == APR_SUCCESS, "created: %s",
       err ? err : "ok");

    mql_journal_begin(j);
    for (i = 0; i < 60; i++)
        add(j, "A", now - 3600 + (uint32_t)i, "view", 1, i + 1);
    add(j, "B", now - 2 * 86400, "download", 10, 10);
    mql_journal_count_day(j, day, add1);
    mql_journal_count_day(j, day, add1);
    mql_journal_commit(j);
    n = 0;
    mql_journal_story(j, "A", 50, count_story, &n);
    is_int(n, 50, "story: the last 50 of 60");
    json = mql_journal_story_json(j, pool, "B", 10);
    is_str(json, "[{\"time\":1727870400,\"event\":\"download\",\"path\":\"/p\","
           "\"referer_host\":\"ref.example\",\"points\":10,\"rule\":null,\"score\":10}]",
           "story as JSON");

    /* A qualified after 1 h, accepted after 2 h; B after 3 d, rejected
     * after 4 h; C after 5 h, waiting 2 d */
    mql_journal_begin(j);
    mql_journal_stage(j, "A", now - 7200, MQL_STAGE_MQL, 60, now - 10800, "DE", counts);
    mql_journal_stage(j, "A", now, MQL_STAGE_SQL, 0, 0, NULL, NULL);
    mql_journal_stage(j, "B", now - 4 * 3600, MQL_STAGE_MQL, 40, now - 4 * 3600 - 3 * 86400,
                      NULL, NULL);
    mql_journal_stage(j, "B", now, MQL_STAGE_REJECTED, 0, 0, NULL, NULL);
    mql_journal_stage(j, "C", now - 2 * 86400, MQL_STAGE_MQL, 50,
                      now - 2 * 86400 - 5 * 3600, NULL, NULL);
    mql_journal_commit(j);
    /* a verdict taken back and given again */
    mql_journal_begin(j);
    mql_journal_stage(j, "B", now - 3600, MQL_STAGE_SQL, 0, 0, NULL, NULL);
    mql_journal_reopen(j, "B");
    mql_journal_stage(j, "B", now, MQL_STAGE_REJECTED, 0, 0, NULL, NULL);
    mql_journal_commit(j);
    ok(mql_journal_funnel(j, pool, now, 7, &f) == APR_SUCCESS, "funnel");
    is_int(f.ndays, 7, "7 days");
    is_int(f.total[MQL_DAY_NEW], 10, "counters add up");
    is_int((long long)f.median_to_mql, 5 * 3600, "median to MQL of 1 h, 5 h, 3 d: 5 h");
    is_int((long long)f.median_to_decision, 3 * 3600, "median to decision of 2 h and 4 h: 3 h");
    ok(f.waiting[0] == 0 && f.waiting[1] == 1 && f.waiting[2] == 0, "C waits 1-7 days");
    ok(f.acceptance < 0, "no verdict counted in the day counters: acceptance unknown");

    ok(mql_journal_criteria(j, pool, &c) == APR_SUCCESS, "criteria");
    ok(c.accepted == 1 && c.rejected == 1 && c.waiting == 1, "1 accepted, 1 rejected, 1 waiting");
    for (i = 0; i < c.nsignals && strcmp(c.signals[i].signal, "country:DE"); i++)
        ;
    ok(i < c.nsignals && c.signals[i].accepted == 1 && c.signals[i].rejected == 0,
       "signal country:DE: accepted 1, rejected 0");

    is_int(mql_journal_maintain(j, now, 86400, 0, 10) >= 50, 1,
           "maintain: 10 per visitor, none older than a day");
    n = 0;
    mql_journal_story(j, "A", 50, count_story, &n);
    is_int(n, 10, "A keeps 10");
    n = 0;
    mql_journal_story(j, "B", 50, count_story, &n);
    is_int(n, 0, "B's event of 2 days ago is gone");

    ok(mql_journal_forget(j, "A") == APR_SUCCESS, "forget A");
    n = 0;
    mql_journal_story(j, "A", 50, count_story, &n);
    is_int(n, 0, "... no story left");
    {
        const char *stage;
        double s1, s2;
        ok(!mql_journal_lead(j, "A", &stage, &s1, &s2, pool), "... nor its lead row");
        ok(mql_journal_lead(j, "B", &stage, &s1, &s2, pool) && s1 == 40,
           "B's row, decided today, is kept");
        ok(!mql_journal_lead(j, "C", &stage, &s1, &s2, pool),
           "C's, idle longer than the retention, is not");
    }
    /* the size cap: the oldest events go until the file fits */
    {
        char longpath[200];
        int64_t before;

        memset(longpath, 'p', sizeof longpath - 1);
        longpath[0] = '/';
        longpath[sizeof longpath - 1] = '\0';
        mql_journal_begin(j);
        for (i = 0; i < 20000; i++) {
            char v[32];
            mql_story_event_t e = { v, now - 20000 + (uint32_t)i, "view", longpath, NULL, 1,
                                    NULL, 1 };
            snprintf(v, sizeof v, "V%05d", i % 5000);
            mql_journal_add_event(j, &e);
        }
        mql_journal_commit(j);
        mql_journal_maintain(j, now, 0, 0, 50);
        before = mql_journal_bytes(j);
        ok(before > 4 << 20, "20000 events of 200 bytes: %lld bytes", (long long)before);
        mql_journal_maintain(j, now, 0, 1 << 20, 50);
        ok(mql_journal_bytes(j) <= 1 << 20, "max 1 MiB: the oldest events went (%lld bytes)",
           (long long)mql_journal_bytes(j));
        n = 0;
        mql_journal_story(j, "V04999", 50, count_story, &n);
        ok(n >= 1, "the newest event is kept (%d of its visitor's 4)", n);
    }
    /* a burst of leads in one transaction: each gets the rules of its
     * story, whether its events were moved into events or are recent */
    {
        apr_time_t t0;

        mql_journal_begin(j);
        for (i = 0; i < 3000; i++) {
            char v[32];
            mql_story_event_t e = { v, now - 60, "download", "/w.pdf", NULL, 10,
                                    i % 3 ? "burst" : NULL, 10 };
            snprintf(v, sizeof v, "L%05d", i);
            mql_journal_add_event(j, &e);
        }
        mql_journal_commit(j);
        mql_journal_maintain(j, now, 0, 0, 50);      /* the first half into events */
        mql_journal_begin(j);
        for (i = 0; i < 3000; i++) {
            char v[32];
            mql_story_event_t e = { v, now - 30, "form", "/contact", NULL, 5,
                                    i % 3 == 1 ? "late" : NULL, 15 };
            snprintf(v, sizeof v, "L%05d", i);
            if (i >= 1500)
                mql_journal_add_event(j, &e);
        }
        mql_journal_commit(j);
        t0 = apr_time_now();
        mql_journal_begin(j);
        for (i = 0; i < 3000; i++) {
            char v[32];
            snprintf(v, sizeof v, "L%05d", i);
            mql_journal_stage(j, v, now, MQL_STAGE_MQL, 15, now - 60, "FR", counts);
        }
        ok(mql_journal_commit(j) == APR_SUCCESS, "3000 leads in one transaction (%lld ms)",
           (long long)apr_time_as_msec(apr_time_now() - t0));
        is_int(count_rows(path, "SELECT count(*) FROM lead_signals WHERE signal='rule:burst'"),
               2000, "each lead with the rule in its story has its signal");
        is_int(count_rows(path, "SELECT count(*) FROM lead_signals WHERE signal='rule:late'"),
               500, "... its recent events too");
        is_int(count_rows(path, "SELECT count(*) FROM lead_signals WHERE visitor='L00000' "
                          "AND signal LIKE 'rule:%'"), 0, "a lead without a rule has none");
        is_int(count_rows(path, "SELECT count(*) FROM lead_signals WHERE signal='country:FR'"),
               3000, "... and every lead its country");
    }
    mql_journal_close(j);
    unlink(path);

    memset(&w, 0, sizeof w);
    w.threshold = 50;
    ok(mql_whatif_qualifies(&w, 50, 0, 0, ""), "whatif: at the threshold");
    ok(!mql_whatif_qualifies(&w, 49.9, 1, 1, "DE"), "whatif: below");
    w.require = MQL_REQ_DOWNLOAD | MQL_REQ_COUNTRY;
    w.countries = "DEAT";
    ok(mql_whatif_qualifies(&w, 60, 1, 0, "AT"), "whatif: download and country held");
    ok(!mql_whatif_qualifies(&w, 60, 0, 0, "AT"), "whatif: no download");
    ok(!mql_whatif_qualifies(&w, 60, 1, 0, "FR"), "whatif: another country");
    return done_testing();
}
