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

/* The moments: which return is a lead's after a silence, the objects
 * announced, and the journal's MQLs past the SLA handed over once. */
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include <apr_general.h>
#include <apr_strings.h>
#include "mql_journal.h"
#include "mql_moments.h"

typedef struct seen {
    int n;
    char visitor[4][32];
    uint32_t mql_time[4];
} seen_t;

static void collect(const char *visitor, uint32_t mql_time, void *baton)
{
    seen_t *s = baton;

    if (s->n < 4) {
        apr_cpystrn(s->visitor[s->n], visitor, sizeof s->visitor[0]);
        s->mql_time[s->n] = mql_time;
    }
    s->n++;
}

static void count_reason(const char *reason, uint32_t n, void *baton)
{
    collect(reason, n, baton);
}

static mql_hit_result_t hit(int found, uint8_t before, uint8_t after)
{
    mql_hit_result_t r;

    memset(&r, 0, sizeof r);
    r.found = found;
    r.after.stage = after;
    r.stage_changed = before != after;
    r.old_stage = before;
    return r;
}

int main(void)
{
    char path[] = "/tmp/mql-moments-test-XXXXXX";
    const uint32_t now = 1800000000;
    mql_hit_result_t r;
    mql_moment_t m;
    mql_journal_t *j;
    apr_pool_t *pool;
    const char *err = NULL;
    seen_t s;
    char *line;
    int fd;

    apr_initialize();
    apr_pool_create(&pool, NULL);

    /* ---- returns */
    r = hit(1, MQL_STAGE_MQL, MQL_STAGE_MQL);
    ok(mql_moments_is_active(&r, now - 7201, now, 7200), "an MQL idle past the time: active");
    ok(!mql_moments_is_active(&r, now - 7200, now, 7200), "idle exactly the time: not yet");
    ok(!mql_moments_is_active(&r, now - 9000, now, 0), "MQLActiveAfter unset: never");
    ok(!mql_moments_is_active(&r, 0, now, 60), "never seen before: no return");
    ok(!mql_moments_is_active(&r, now + 5, now, 1), "a clock gone back: no return");
    r = hit(1, MQL_STAGE_SQL, MQL_STAGE_SQL);
    ok(mql_moments_is_active(&r, now - 100, now, 60), "an SQL back: active");
    r = hit(1, MQL_STAGE_VISITOR, MQL_STAGE_MQL);
    ok(!mql_moments_is_active(&r, now - 100, now, 60),
       "a visitor qualifying with this request did not come back as a lead");
    r = hit(1, MQL_STAGE_MQL, MQL_STAGE_REJECTED);
    ok(mql_moments_is_active(&r, now - 100, now, 60),
       "an MQL rejected by this very request came back as a lead");
    r = hit(1, MQL_STAGE_REJECTED, MQL_STAGE_REJECTED);
    ok(!mql_moments_is_active(&r, now - 100, now, 60), "a rejected lead: not sales' concern");
    r = hit(1, MQL_STAGE_VISITOR, MQL_STAGE_VISITOR);
    ok(!mql_moments_is_active(&r, now - 100, now, 60), "a plain visitor: no");
    r = hit(0, MQL_STAGE_MQL, MQL_STAGE_MQL);
    ok(!mql_moments_is_active(&r, now - 100, now, 60), "a visitor the store did not know: no");

    /* ---- the objects */
    memset(&m, 0, sizeof m);
    m.visitor = "R10JhCChN3nb_mrONznamg";
    m.time = now;
    m.stage = "mql";
    m.score = 42;
    m.path = "/pricing\"<x>";
    m.contact = "ann@example.com";
    line = mql_moments_active_json(pool, &m);
    is_str(line, "{\"type\":\"active\",\"time\":1800000000,\"visitor\":\"R10JhCChN3nb_mrONznamg\","
           "\"stage\":\"mql\",\"score\":42,\"path\":\"/pricing\\\"<x>\","
           "\"contact\":\"ann@example.com\",\"trigger\":null}\n", "active: the object");
    m.path = NULL;
    m.contact = NULL;
    m.trigger = "form:/contact";
    m.mql_time = now - 200000;
    m.sla = 172800;
    line = mql_moments_sla_json(pool, &m);
    is_str(line, "{\"type\":\"sla\",\"time\":1800000000,\"visitor\":\"R10JhCChN3nb_mrONznamg\","
           "\"stage\":\"mql\",\"score\":42,\"mql_time\":1799800000,\"waiting\":200000,"
           "\"sla\":172800,\"contact\":null,\"trigger\":\"form:/contact\"}\n", "sla: the object");
    ok(strlen(line) && !strchr(line, '\n')[1], "one line each");

    /* ---- the journal's MQLs past the SLA */
    fd = mkstemp(path);
    close(fd);
    unlink(path);
    ok(mql_journal_open(&j, path, 0, pool, &err) == APR_SUCCESS, "journal opened");
    mql_journal_begin(j);
    mql_journal_stage(j, "old-mql", now - 5000, MQL_STAGE_MQL, 30, now - 6000, NULL, NULL);
    mql_journal_stage(j, "older-mql", now - 9000, MQL_STAGE_MQL, 30, now - 9500, NULL, NULL);
    mql_journal_stage(j, "new-mql", now - 10, MQL_STAGE_MQL, 30, now - 20, NULL, NULL);
    mql_journal_stage(j, "decided", now - 9000, MQL_STAGE_MQL, 30, now - 9500, NULL, NULL);
    mql_journal_stage(j, "decided", now - 8000, MQL_STAGE_SQL, 0, now - 9500, NULL, NULL);
    mql_journal_commit(j);
    is_int(mql_journal_sla_count(j, now - 3600), 2, "two MQLs waiting past an hour");

    memset(&s, 0, sizeof s);
    mql_journal_begin(j);
    ok(mql_journal_sla_due(j, now - 3600, now, 64, collect, &s) == APR_SUCCESS, "due read");
    mql_journal_commit(j);
    is_int(s.n, 2, "the two are due");
    is_str(s.visitor[0], "older-mql", "oldest first");
    is_int(s.mql_time[0], now - 9000, "with when it qualified");
    is_str(s.visitor[1], "old-mql", "then the next");

    memset(&s, 0, sizeof s);
    mql_journal_begin(j);
    mql_journal_sla_due(j, now + 100 - 3600, now + 100, 64, collect, &s);
    mql_journal_commit(j);
    is_int(s.n, 0, "each is handed over once");
    is_int(mql_journal_sla_count(j, now + 100 - 3600), 2, "... and still counted as waiting");

    /* reopened after the close: the marks stay */
    mql_journal_close(j);
    ok(mql_journal_open(&j, path, 0, pool, &err) == APR_SUCCESS, "journal opened again");
    memset(&s, 0, sizeof s);
    mql_journal_begin(j);
    mql_journal_sla_due(j, now + 6000, now + 6000, 64, collect, &s);
    mql_journal_commit(j);
    is_int(s.n, 1, "after a restart only the one not handed over yet");
    is_str(s.visitor[0], "new-mql", "... the newest MQL");

    /* a verdict ends the wait; forget erases the mark */
    mql_journal_begin(j);
    mql_journal_stage(j, "old-mql", now + 10, MQL_STAGE_REJECTED, 0, now - 6000, NULL, NULL);
    mql_journal_commit(j);
    is_int(mql_journal_sla_count(j, now + 6000), 2, "a verdict: no longer waiting");
    ok(mql_journal_forget(j, "older-mql") == APR_SUCCESS, "forget");
    is_int(mql_journal_sla_count(j, now + 6000), 1, "forgotten: gone from the count");

    /* with limit: at most max a call */
    mql_journal_begin(j);
    mql_journal_stage(j, "a", now, MQL_STAGE_MQL, 30, now, NULL, NULL);
    mql_journal_stage(j, "b", now, MQL_STAGE_MQL, 30, now, NULL, NULL);
    mql_journal_commit(j);
    memset(&s, 0, sizeof s);
    mql_journal_begin(j);
    mql_journal_sla_due(j, now + 9000, now + 9000, 1, collect, &s);
    mql_journal_commit(j);
    is_int(s.n, 1, "at most max a call");

    /* rejections by reason: only leads still rejected count */
    mql_journal_begin(j);
    mql_journal_stage(j, "a", now + 20, MQL_STAGE_REJECTED, 0, now, NULL, NULL);
    mql_journal_stage(j, "b", now + 20, MQL_STAGE_REJECTED, 0, now, NULL, NULL);
    mql_journal_stage(j, "new-mql", now + 20, MQL_STAGE_REJECTED, 0, now, NULL, NULL);
    mql_journal_reason(j, "a", now + 20, "no budget");
    mql_journal_reason(j, "b", now + 20, "no budget");
    mql_journal_reason(j, "new-mql", now + 20, "student");
    mql_journal_reason(j, "old-mql", now + 20, "competitor");
    mql_journal_stage(j, "old-mql", now + 30, MQL_STAGE_SQL, 0, now, NULL, NULL);
    mql_journal_commit(j);
    memset(&s, 0, sizeof s);
    ok(mql_journal_reasons(j, count_reason, &s) == APR_SUCCESS, "reasons read");
    is_int(s.n, 2, "two reasons of leads still rejected");
    is_str(s.visitor[0], "no budget", "the most frequent first");
    is_int(s.mql_time[0], 2, "... with its count");
    is_str(s.visitor[1], "student", "then the next");

    mql_journal_close(j);
    unlink(path);
    unlink(apr_pstrcat(pool, path, "-wal", NULL));
    unlink(apr_pstrcat(pool, path, "-shm", NULL));
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
