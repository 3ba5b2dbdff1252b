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
 * The shared visitor table, on plain heap memory: insert/get/update,
 * chains, eviction, expiry, stages, contacts, the change ring, table
 * walks, concurrency and the consistency check.
 *
 * MQL_TEST_SMALL=1 shrinks the big loops (for valgrind).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_shm.h"
#include "mql_log.h"

static apr_pool_t *pool;
static int small;

#include "shm_fixture.h"

static const char *check(table_t *t)
{
    const char *err = mql_shm_validate(t->s, pool);
    return err ? err : "clean";
}

/* ---- update functions ---- */

typedef struct upd {
    double points;
    int stage;              /* -1: leave alone */
    int ret;
    int calls;
    int last_is_new;
    uint32_t now;
    mql_shm_t *s;
} upd_t;

static int add_points(mql_visitor_t *v, int is_new, void *baton)
{
    upd_t *u = baton;

    u->calls++;
    u->last_is_new = is_new;
    v->score += u->points;
    if (v->counts[MQL_EV_VIEW] < UINT16_MAX)
        v->counts[MQL_EV_VIEW]++;
    if (u->now)
        v->last_seen = u->now;
    if (u->stage >= 0)
        v->stage = (uint8_t)u->stage;
    return u->ret;
}

/* A careless update function: must not break the table's links. */
static int scribble(mql_visitor_t *v, int is_new, void *baton)
{
    memset(v, 0xab, sizeof(*v));
    v->stage = MQL_STAGE_VISITOR;
    return MQL_UPD_NONE;
}

static apr_status_t touch(table_t *t, uint32_t i, uint32_t now, double points, int stage,
                          mql_hit_result_t *res)
{
    uint8_t id[MQL_ID_BYTES];
    upd_t u = { points, stage, MQL_UPD_NONE, 0, 0, now, NULL };

    id_of(i, id);
    return mql_shm_update(t->s, id, now, add_points, &u, res);
}

static int has(table_t *t, uint32_t i, uint32_t now, mql_visitor_t *copy)
{
    uint8_t id[MQL_ID_BYTES];

    id_of(i, id);
    return mql_shm_get(t->s, id, now, copy, NULL);
}

/* ---- tests ---- */

static void test_sizes(void)
{
    size_t n = 1000000, size = mql_shm_size((uint32_t)n);
    table_t t;
    uint8_t zero[4096];

    printf("# record %u bytes, table for 1M visitors %zu bytes = %.2f bytes per visitor\n",
           (unsigned)sizeof(mql_visitor_t), size, (double)size / (double)n);
    /* the record grows with mql_fields.h; the table's share must not */
    ok((double)size / (double)n <= (double)(sizeof(mql_visitor_t) + MQL_SHM_VISITOR_OVERHEAD) + 0.1,
       "the record and %d bytes of the table's per visitor", MQL_SHM_VISITOR_OVERHEAD);
    ok((double)size / (double)n <= (double)MQL_SHM_VISITOR_BUDGET,
       "at most %d bytes of shared memory per visitor", MQL_SHM_VISITOR_BUDGET);
    ok(mql_shm_size(100) / 100 >= sizeof(mql_visitor_t), "size covers the slots");

    memset(zero, 0, sizeof(zero));
    ok(mql_shm_attach(pool, zero, 100, NULL, NULL, NULL) == NULL, "unformatted memory refused");
    table_open(&t, 10, NULL, NULL, NULL);
    ok(t.s != NULL, "formatted memory attaches");
    is_int(mql_shm_capacity(t.s), 10, "capacity");
    ok(mql_shm_attach(pool, t.base, 20, NULL, NULL, NULL) == NULL,
       "a table formatted for 10 does not attach as one of 20 (the caller's size rules)");
    ok(mql_shm_attach(pool, t.base, 9, NULL, NULL, NULL) == NULL, "nor as one of 9");
    is_str(check(&t), "clean", "empty table validates");
    table_close(&t);
}

static void test_insert_get_update(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t copy;
    mql_hit_result_t res;
    mql_visitors_stats_t st;
    upd_t u = { 5, -1, MQL_UPD_NONE, 0, 0, 0, NULL };
    char contact[MQL_CONTACT_LEN];

    table_open(&t, 100, NULL, NULL, NULL);
    u.s = t.s;
    id_of(7, id);
    ok(!mql_shm_get(t.s, id, 1000, &copy, NULL), "unknown visitor not found");

    is_int(mql_shm_update(t.s, id, 1000, add_points, &u, &res), APR_SUCCESS, "first update");
    is_int(u.last_is_new, 1, "is_new on creation");
    is_int(res.found, 0, "found = 0 on creation");
    ok(memcmp(res.after.id, id, MQL_ID_BYTES) == 0, "after carries the id");
    is_int(res.after.first_seen, 1000, "first_seen set");
    is_int(res.after.last_seen, 1000, "last_seen set");
    ok(res.after.score == 5.0, "fn applied");
    ok(mql_shm_marks(t.s, id, NULL) & MQL_SHM_USED, "used mark");
    ok(!(mql_shm_marks(t.s, id, NULL) & MQL_SHM_DIRTY), "MQL_UPD_NONE leaves the record clean");

    u.ret = MQL_UPD_DIRTY;
    is_int(mql_shm_update(t.s, id, 1010, add_points, &u, &res), APR_SUCCESS, "second update");
    is_int(u.last_is_new, 0, "is_new = 0 when present");
    is_int(res.found, 1, "found = 1 when present");
    is_int(res.after.first_seen, 1000, "first_seen kept");
    ok(res.after.score == 10.0, "score accumulated");
    ok(mql_shm_marks(t.s, id, NULL) & MQL_SHM_DIRTY, "MQL_UPD_DIRTY marks the record dirty");
    is_int(res.stage_changed, 0, "no stage change");

    ok(mql_shm_get(t.s, id, 1020, &copy, contact), "get finds it");
    ok(copy.score == 10.0 && copy.counts[MQL_EV_VIEW] == 2, "get returns the figures");
    is_str(contact, "", "no contact: empty string");

    mql_shm_stats(t.s, &st);
    is_int(st.used, 1, "stats: used");
    is_int(st.inserts, 1, "stats: inserts");
    is_int(st.stages[MQL_STAGE_VISITOR], 1, "stats: stage count");
    is_int(st.events[MQL_EV_VIEW], 0, "stats: the table's own update counts no event");

    {
        /* the store interface's hit: the events go to the totals */
        mql_scoring_t sc;
        mql_hit_t hit;
        mql_delta_t d;
        mql_visitor_ref_t ref;

        mql_scoring_defaults(&sc);
        sc.half_life = 0;
        memset(&hit, 0, sizeof hit);
        hit.events = MQL_EV_BIT(MQL_EV_VIEW);
        hit.path = "/";
        mql_visitors_ref(t.vs, id, &ref);
        mql_score_resolve(&sc, &hit, &d);
        mql_visitors_hit(t.vs, &ref, &d, 1020, NULL);
        hit.events = MQL_EV_BIT(MQL_EV_DOWNLOAD) | MQL_EV_BIT(MQL_EV_CAMPAIGN);
        mql_score_resolve(&sc, &hit, &d);
        mql_visitors_hit(t.vs, &ref, &d, 1020, &res);
        mql_shm_stats(t.s, &st);
        ok(st.events[MQL_EV_VIEW] == 1 && st.events[MQL_EV_DOWNLOAD] == 1
           && st.events[MQL_EV_CAMPAIGN] == 1, "stats: a hit's events counted, each once");
        ok(res.after.counts[MQL_EV_DOWNLOAD] == 1 && res.after.score == 10.0 + 1 + 10 + 5,
           "the hit scored under the scoring rules (score %g, downloads %u)",
           res.after.score, res.after.counts[MQL_EV_DOWNLOAD]);
    }

    /* A careless fn cannot break identity or links. */
    is_int(mql_shm_update(t.s, id, 1030, scribble, NULL, &res), APR_SUCCESS, "scribbling fn");
    ok(memcmp(res.after.id, id, MQL_ID_BYTES) == 0, "id restored after a scribbling fn");
    ok(mql_shm_get(t.s, id, 1030, NULL, NULL), "still found");
    is_str(check(&t), "clean", "validates after a scribbling fn");
    table_close(&t);
}

static void test_collisions(void)
{
    table_t t;
    uint32_t i, found = 0;
    uint8_t id[MQL_ID_BYTES];

    /* 8 buckets for 8 visitors: chains are certain. */
    table_open(&t, 8, NULL, NULL, NULL);
    for (i = 0; i < 8; i++)
        touch(&t, i, 1000, 1, -1, NULL);
    for (i = 0; i < 8; i++)
        found += has(&t, i, 1000, NULL);
    is_int(found, 8, "every visitor of a full small table found");
    is_str(check(&t), "clean", "chains validate");
    for (i = 0; i < 8; i += 2) {
        id_of(i, id);
        mql_shm_forget(t.s, id);
    }
    for (i = 0, found = 0; i < 8; i++)
        found += has(&t, i, 1000, NULL);
    is_int(found, 4, "forgetting from the middle of chains keeps the others");
    is_str(check(&t), "clean", "chains validate after removals");
    table_close(&t);
}

/*
 * Visitors come and go in random order, so that slots are taken from the
 * middle of the free list (a visitor's home slot) as well as its head:
 * after each round the table validates, every live visitor is found by
 * the lock-free read and by the locked update, and no gone one is.
 */
static void test_churn(void)
{
    table_t t;
    uint32_t n = 997, ids = 4 * n, live = 0, i, round;
    uint64_t x = 42;
    char *alive = calloc(ids, 1);
    int bad_get = 0, bad_update = 0, ghosts = 0, clean = 1;
    mql_visitors_stats_t st;

    table_open(&t, n, NULL, NULL, NULL);
    for (round = 0; round < 8; round++) {
        for (i = 0; i < ids; i++) {
            uint8_t id[MQL_ID_BYTES];
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (alive[i] && (x >> 60) < 5) {            /* about a third goes */
                id_of(i, id);
                mql_shm_forget(t.s, id);
                alive[i] = 0;
                live--;
            }
        }
        for (i = 0; i < ids && live < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if (!alive[i] && (x >> 62) == 0) {
                touch(&t, i, 1000, 1, -1, NULL);
                alive[i] = 1;
                live++;
            }
        }
        if (strcmp(check(&t), "clean"))
            clean = 0;
        for (i = 0; i < ids; i++) {
            uint8_t id[MQL_ID_BYTES];
            upd_t u = { 0, -1, MQL_UPD_NONE, 0, 0, 0, NULL };

            if (!alive[i]) {
                ghosts += has(&t, i, 1000, NULL);
                continue;
            }
            bad_get += !has(&t, i, 1000, NULL);
            id_of(i, id);
            mql_shm_update(t.s, id, 1000, add_points, &u, NULL);
            bad_update += u.last_is_new != 0;
        }
    }
    ok(clean, "validates after every round of arrivals and departures");
    is_int(bad_get, 0, "every live visitor found without the lock");
    is_int(bad_update, 0, "every live visitor found under the lock");
    is_int(ghosts, 0, "no departed visitor found");
    mql_shm_stats(t.s, &st);
    is_int(st.used, live, "used count follows");
    /* and once full, arrivals evict from anywhere in the table */
    for (i = 0; i < ids; i++)
        if (!alive[i])
            touch(&t, i, 2000, 1, -1, NULL);
    mql_shm_stats(t.s, &st);
    is_int(st.used, n, "full after the rest arrived");
    is_str(check(&t), "clean", "validates after evictions");
    free(alive);
    table_close(&t);
}

static void test_eviction(void)
{
    table_t t;
    uint32_t n = 1000, i, leads = 0, leads_kept = 0;
    mql_visitors_stats_t st;
    mql_visitor_t v;
    int failures = 0;

    table_open(&t, n, NULL, NULL, NULL);
    for (i = 0; i < 3 * n; i++) {
        int lead = (i % 10 == 3);
        leads += lead;
        if (touch(&t, i, 1000 + i, (double)(i % 7), lead ? MQL_STAGE_MQL : -1, NULL)
            != APR_SUCCESS)
            failures++;
    }
    is_int(failures, 0, "3N visitors into N slots: every insert succeeds");
    for (i = 0; i < 3 * n; i++)
        if (i % 10 == 3 && has(&t, i, 1000 + 3 * n, &v) && v.stage == MQL_STAGE_MQL)
            leads_kept++;
    is_int(leads_kept, leads, "every lead kept");
    mql_shm_stats(t.s, &st);
    is_int(st.used, n, "table full");
    is_int(st.inserts, 3 * n, "inserts counted");
    is_int(st.evictions, 2 * n, "evictions counted");
    is_int(st.stages[MQL_STAGE_MQL], leads, "lead count");
    is_int(st.full, 0, "nothing refused");
    is_str(check(&t), "clean", "validates after eviction");
    table_close(&t);

    /* The least valuable goes: low score, or long idle. */
    table_open(&t, 16, NULL, NULL, NULL);
    for (i = 0; i < 16; i++)
        touch(&t, i, 100000, i == 5 ? 1 : 10, -1, NULL);
    touch(&t, 100, 100000, 10, -1, NULL);
    ok(!has(&t, 5, 100000, NULL), "lowest score evicted");
    ok(has(&t, 4, 100000, NULL) && has(&t, 6, 100000, NULL), "others kept");
    touch(&t, 200, 100000 + 10 * 86400, 1, -1, NULL);     /* fresh, score 1 */
    touch(&t, 8, 100000 + 10 * 86400, 0, -1, NULL);       /* fresh, score 10 */
    touch(&t, 300, 100000 + 10 * 86400, 1, -1, NULL);
    ok(has(&t, 200, 100000 + 10 * 86400, NULL), "fresh low score kept");
    ok(has(&t, 8, 100000 + 10 * 86400, NULL), "fresh high score kept");
    is_str(check(&t), "clean", "validates");
    table_close(&t);

    /* Every slot a lead: refused, counted, nothing lost. */
    table_open(&t, 16, NULL, NULL, NULL);
    for (i = 0; i < 16; i++)
        touch(&t, i, 1000, 1, MQL_STAGE_SQL, NULL);
    is_int(touch(&t, 99, 1000, 1, -1, NULL), APR_ENOSPC, "table of leads: APR_ENOSPC");
    mql_shm_stats(t.s, &st);
    is_int(st.full, 1, "refusal counted in full");
    is_int(st.used, 16, "no lead evicted");
    ok(!has(&t, 99, 1000, NULL), "refused visitor absent");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

static void test_expiry(void)
{
    table_t t;
    mql_visitors_stats_t st;
    mql_hit_result_t res;
    uint32_t i;

    table_open(&t, 100, NULL, NULL, NULL);
    mql_shm_set_expire(t.s, 100);
    touch(&t, 1, 1000, 1, -1, NULL);
    ok(has(&t, 1, 1100, NULL), "idle exactly max_idle: still there");
    ok(!has(&t, 1, 1101, NULL), "idle longer: gone (lazy)");
    mql_shm_stats(t.s, &st);
    is_int(st.expired, 0, "a lookup reads only: nothing reclaimed yet");
    touch(&t, 1, 1200, 1, -1, &res);
    is_int(res.found, 0, "comes back as a new visitor");
    ok(res.after.score == 1.0, "with a fresh score");
    mql_shm_stats(t.s, &st);
    is_int(st.expired, 1, "the update reclaimed the expired record (counted)");
    is_int(st.used, 1, "in its place, the new one");

    /* A lead with unwritten figures waits for the DBM writer. */
    touch(&t, 2, 1000, 1, MQL_STAGE_MQL, NULL);
    ok(has(&t, 2, 5000, NULL), "dirty lead outlives the expiry");
    table_close(&t);

    table_open(&t, 100, NULL, NULL, NULL);
    mql_shm_set_expire(t.s, 100);
    for (i = 0; i < 50; i++)
        touch(&t, i, i < 20 ? 1000 : 2000, 1, -1, NULL);
    is_int(mql_shm_expire_sweep(t.s, 1150), 20, "sweep reclaims the idle ones");
    mql_shm_stats(t.s, &st);
    is_int(st.used, 30, "the rest stay");
    is_int(st.expired, 20, "sweep counted");
    is_int(mql_shm_expire_sweep(t.s, 1150), 0, "second sweep: nothing");
    mql_shm_set_expire(t.s, 0);
    is_int(mql_shm_expire_sweep(t.s, 99999), 0, "expiry 0: never");
    ok(has(&t, 30, 99999, NULL), "expiry 0: lookups never expire");
    is_str(check(&t), "clean", "validates after sweep");
    table_close(&t);
}

static int count_fn(const mql_visitor_t *v, const char *contact, void *baton)
{
    (*(int *)baton)++;
    return 0;
}

static void test_expiry_dirty_lead(void)
{
    table_t t;
    int n = 0;

    table_open(&t, 100, NULL, NULL, NULL);
    mql_shm_set_expire(t.s, 100);
    touch(&t, 2, 1000, 1, MQL_STAGE_MQL, NULL);
    is_int(mql_shm_expire_sweep(t.s, 5000), 0, "sweep keeps a dirty lead");
    mql_shm_collect_dirty(t.s, 5000, 0, count_fn, &n);
    is_int(n, 1, "the writer takes it");
    is_int(mql_shm_expire_sweep(t.s, 5000), 1, "then it expires");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

/* Every lead taken by the lead-change feed at `at` and confirmed in its
 * DBM file: such leads may make room (mql_shm_published). */
static void publish_all(table_t *t, uint32_t at)
{
    int n = 0;

    mql_shm_collect_dirty(t->s, at, 0, count_fn, &n);
    mql_shm_published(t->s, at + 1);
}

static int count_present(table_t *t, uint32_t from, uint32_t to, uint32_t now, int stage)
{
    mql_visitor_t v;
    uint32_t i;
    int n = 0;

    for (i = from; i < to; i++)
        n += has(t, i, now, &v) && (stage < 0 || v.stage == stage);
    return n;
}

/*
 * A lead already in its DBM file leaves the table only when the table is
 * (nearly) all leads: plain visitors go first, however recently they came
 * and however long the leads have been idle.  A stream of one-view
 * visitors must not push a lead out, or the lead's next request would
 * see a stranger.
 */
static void test_leads_stay(void)
{
    table_t t;
    mql_visitors_stats_t st;
    uint32_t n = 64, i;
    int failures = 0;

    table_open(&t, n, NULL, NULL, NULL);
    for (i = 0; i < 5; i++)
        touch(&t, i, 1000, 4, MQL_STAGE_MQL, NULL);
    publish_all(&t, 1001);
    for (i = 5; i < n; i++)
        touch(&t, i, 2000 + i, 1, -1, NULL);
    /* three times the table in new visitors, each seen after the leads */
    for (i = 0; i < 3 * n; i++)
        failures += touch(&t, 1000 + i, 3000 + i, 1, -1, NULL) != APR_SUCCESS;
    is_int(failures, 0, "%u newcomers tracked", 3 * n);
    is_int(count_present(&t, 0, 5, 3000 + 3 * n, MQL_STAGE_MQL), 5,
           "every published lead stays while plain visitors can go");
    mql_shm_stats(t.s, &st);
    is_int(st.lead_evictions, 0, "no lead eviction");
    is_int(st.evictions, 3 * n, "each newcomer evicted a plain visitor");
    is_str(check(&t), "clean", "validates");
    table_close(&t);

    /* A table of published leads keeps a small share for plain visitors
     * (1/16): leads make room until that share is there, no further. */
    n = 256;
    table_open(&t, n, NULL, NULL, NULL);
    for (i = 0; i < n; i++)
        touch(&t, i, 1000, 4, MQL_STAGE_MQL, NULL);
    publish_all(&t, 1001);
    for (i = 0; i < 4 * n; i++)
        failures += touch(&t, 1000 + i, 3000 + i, 1, -1, NULL) != APR_SUCCESS;
    is_int(failures, 0, "%u arrivals tracked", 4 * n);
    mql_shm_stats(t.s, &st);
    is_int(st.lead_evictions, n / 16, "leads made room for 1/16 of the table, no more");
    is_int(st.stages[MQL_STAGE_MQL], n - n / 16, "the other leads stay");
    is_int(st.used, n, "table full");
    is_int(count_present(&t, 1000 + 4 * n - n / 16, 1000 + 4 * n, 3000 + 4 * n, -1), n / 16,
           "the latest arrivals are tracked");
    is_str(check(&t), "clean", "validates");
    table_close(&t);

    /* Plain visitors at the floor but far from the clock hand are still
     * found: no lead goes while one exists. */
    n = 4096;
    table_open(&t, n, NULL, NULL, NULL);
    for (i = 0; i < n; i++)
        touch(&t, i, 1000, 4, i % 16 == 7 ? -1 : MQL_STAGE_MQL, NULL);
    publish_all(&t, 1001);
    for (i = 0; i < n; i++)
        touch(&t, 100000 + i, 3000 + i, 1, -1, NULL);
    mql_shm_stats(t.s, &st);
    is_int(st.lead_evictions, 0, "leads at 15/16 of the table: none goes");
    is_int(st.stages[MQL_STAGE_MQL], n - n / 16, "every lead stays");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

/* The contact area: leads first. */
static apr_status_t contact(table_t *t, uint32_t i, const char *text, uint32_t now)
{
    uint8_t id[MQL_ID_BYTES];

    id_of(i, id);
    return mql_shm_set_contact(t->s, id, text, now);
}

static const char *contact_text(table_t *t, uint32_t i, uint32_t now)
{
    uint8_t id[MQL_ID_BYTES];
    char buf[MQL_CONTACT_LEN];

    id_of(i, id);
    if (!mql_shm_get(t->s, id, now, NULL, buf))
        return "(absent)";
    return apr_pstrdup(pool, buf);
}

static void test_contact_room(void)
{
    table_t t;
    mql_visitors_stats_t st;
    mql_visitor_t rec;
    uint8_t id[MQL_ID_BYTES];
    uint32_t i, kept = 0, plain_kept = 0;
    int ok_all = 1;

    /* 2048 visitors: 64 contacts, all taken by plain visitors' junk */
    table_open(&t, 2048, NULL, NULL, NULL);
    for (i = 0; i < 100; i++) {
        touch(&t, i, 1000, 1, -1, NULL);
        ok_all &= contact(&t, i, apr_psprintf(pool, "junk%u@example.com", i), 1000)
                  == APR_SUCCESS;
    }
    ok(ok_all, "plain visitors' contacts take turns in a full area");
    mql_shm_stats(t.s, &st);
    is_int(st.contacts_used, 64, "area full");

    /* leads' contacts push the plain visitors' out */
    for (i = 1000; i < 1064; i++) {
        touch(&t, i, 1100, 30, MQL_STAGE_MQL, NULL);
        kept += contact(&t, i, apr_psprintf(pool, "lead%u@example.com", i), 1100)
                == APR_SUCCESS;
    }
    is_int(kept, 64, "64 leads' contacts kept in an area full of plain visitors' ones");
    for (i = 1000, kept = 0; i < 1064; i++)
        kept += !strcmp(contact_text(&t, i, 1100), apr_psprintf(pool, "lead%u@example.com", i));
    is_int(kept, 64, "each reads back");
    for (i = 0; i < 100; i++)
        plain_kept += *contact_text(&t, i, 1100) != '\0';
    is_int(plain_kept, 0, "the plain visitors gave theirs up");
    ok(has(&t, 5, 1100, NULL), "and stay tracked");

    /* an area full of leads' contacts not yet in their files: refused */
    touch(&t, 1064, 1100, 30, MQL_STAGE_MQL, NULL);
    is_int(contact(&t, 1064, "late@example.com", 1100), APR_ENOSPC,
           "area full of unpublished leads' contacts: refused");
    is_int(contact(&t, 7, "plain@example.com", 1100), APR_ENOSPC,
           "a plain visitor takes no lead's contact");

    /* once in their files, their contacts make room for a new lead's */
    publish_all(&t, 1101);
    is_int(contact(&t, 1064, "late@example.com", 1102), APR_SUCCESS,
           "published leads' contacts make room");
    is_str(contact_text(&t, 1064, 1102), "late@example.com", "the new lead's contact");
    for (i = 1000, kept = 0; i < 1064; i++)
        kept += *contact_text(&t, i, 1102) != '\0';
    is_int(kept, 63, "one published lead gave its contact up (its file keeps it)");
    for (i = 1000; i < 1064 && *contact_text(&t, i, 1102); i++)
        ;
    id_of(i, id);
    is_int(mql_shm_marks(t.s, id, NULL), MQL_SHM_USED, "and is not due for its file again");
    is_int(contact(&t, 9, "plain@example.com", 1102), APR_ENOSPC,
           "a plain visitor still takes none of them");
    is_str(check(&t), "clean", "validates");
    table_close(&t);

    /* A lead restored from its file into an area full of plain visitors'
     * contacts keeps its contact. */
    table_open(&t, 2048, NULL, NULL, NULL);
    for (i = 0; i < 64; i++) {
        touch(&t, i, 1000, 1, -1, NULL);
        contact(&t, i, "junk@example.com", 1000);
    }
    memset(&rec, 0, sizeof rec);
    id_of(500, rec.id);
    rec.stage = MQL_STAGE_MQL;
    rec.score = 40;
    rec.first_seen = rec.stage_since = rec.last_seen = 900;
    is_int(mql_shm_restore(t.s, &rec, "back@example.com", 0, 1000), APR_SUCCESS,
           "a lead back from its file");
    is_str(contact_text(&t, 500, 1000), "back@example.com", "keeps its contact");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

static void test_stage_forget(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v;
    mql_visitors_stats_t st;
    mql_change_t ch[4];
    uint64_t seq = 0, lost = 99;
    mql_hit_result_t res;

    table_open(&t, 100, NULL, NULL, NULL);
    id_of(1, id);
    is_int(mql_shm_set_stage(t.s, id, MQL_STAGE_SQL, 1000), APR_ENOENT, "set_stage unknown");
    touch(&t, 1, 1000, 42, -1, NULL);
    is_int(mql_shm_set_stage(t.s, id, MQL_STAGE_SQL, 1010), APR_SUCCESS, "set_stage");
    is_int(mql_shm_set_stage(t.s, id, (mql_stage_t)9, 1010), APR_EINVAL, "bad stage");
    has(&t, 1, 1010, &v);
    is_int(v.stage, MQL_STAGE_SQL, "stage set");
    is_int(v.stage_since, 1010, "stage_since set");
    ok((mql_shm_marks(t.s, id, NULL) & (MQL_SHM_URGENT | MQL_SHM_DIRTY))
       == (MQL_SHM_URGENT | MQL_SHM_DIRTY), "stage change marks URGENT|DIRTY");
    mql_shm_stats(t.s, &st);
    is_int(st.stages[MQL_STAGE_SQL], 1, "stage count up");
    is_int(st.stages[MQL_STAGE_VISITOR], 0, "stage count down");
    is_int(mql_shm_changes(t.s, &seq, ch, 4, &lost), 1, "one change on the ring");
    is_int(lost, 0, "nothing lost");
    is_int(seq, 1, "seq advanced");
    ok(ch[0].old_stage == MQL_STAGE_VISITOR && ch[0].new_stage == MQL_STAGE_SQL
       && ch[0].time == 1010 && ch[0].score == 42.0 && memcmp(ch[0].id, id, 16) == 0,
       "change carries id, time, stages and score");
    mql_shm_set_stage(t.s, id, MQL_STAGE_SQL, 1020);
    is_int(mql_shm_changes(t.s, &seq, ch, 4, &lost), 0, "same stage: no change");

    /* Stage changed by an update function */
    touch(&t, 1, 1030, 1, MQL_STAGE_REJECTED, &res);
    ok(res.stage_changed && res.old_stage == MQL_STAGE_SQL
       && res.after.stage == MQL_STAGE_REJECTED, "update reports the stage change");
    is_int(res.after.stage_since, 1030, "stage_since set by the store");
    is_int(mql_shm_changes(t.s, &seq, ch, 4, &lost), 1, "update's change on the ring");

    is_int(mql_shm_forget(t.s, id), APR_SUCCESS, "forget");
    is_int(mql_shm_forget(t.s, id), APR_ENOENT, "forget again: unknown");
    ok(!has(&t, 1, 1040, NULL), "forgotten");
    mql_shm_stats(t.s, &st);
    is_int(st.used, 0, "slot freed");
    is_int(st.stages[MQL_STAGE_REJECTED], 0, "stage count freed");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

static void test_contacts(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    char buf[MQL_CONTACT_LEN], lng[300];
    mql_visitor_t v;
    mql_visitors_stats_t st;
    uint32_t i, kept;
    int refused = 0;

    table_open(&t, 100, NULL, NULL, NULL);
    id_of(1, id);
    is_int(mql_shm_set_contact(t.s, id, "a@b.c", 1000), APR_ENOENT, "contact for unknown");
    touch(&t, 1, 1000, 1, -1, NULL);
    is_int(mql_shm_set_contact(t.s, id, "a@b.c", 1000), APR_SUCCESS, "set contact");
    mql_shm_get(t.s, id, 1000, &v, buf);
    is_str(buf, "a@b.c", "contact read back");
    ok((mql_shm_marks(t.s, id, NULL) & (MQL_SHM_URGENT | MQL_SHM_DIRTY))
       == (MQL_SHM_URGENT | MQL_SHM_DIRTY), "contact marks URGENT|DIRTY");
    memset(lng, 'x', sizeof(lng));
    lng[sizeof(lng) - 1] = '\0';
    mql_shm_set_contact(t.s, id, lng, 1000);
    mql_shm_get(t.s, id, 1000, NULL, buf);
    is_int(strlen(buf), MQL_CONTACT_LEN - 1, "long contact truncated");
    mql_shm_stats(t.s, &st);
    is_int(st.contacts_used, 1, "replacing a contact reuses its slot");
    is_int(st.contacts_capacity, 64, "contact area: at least 64");

    for (i = 2; i <= 100; i++) {
        touch(&t, i, 1000, 1, -1, NULL);
        id_of(i, id);
        if (mql_shm_set_contact(t.s, id, "x", 1000) == APR_ENOSPC)
            refused++;
    }
    is_int(refused, 0, "full contact area: plain visitors' contacts take turns");
    mql_shm_stats(t.s, &st);
    is_int(st.contacts_dropped, 0, "none refused");
    is_int(st.contacts_used, 64, "area full");
    for (i = 2, kept = 0; i <= 100; i++) {
        id_of(i, id);
        mql_shm_get(t.s, id, 1000, NULL, buf);
        kept += !strcmp(buf, "x");
    }
    is_int(kept, 64, "as many kept as the area holds");
    id_of(1, id);
    mql_shm_forget(t.s, id);
    id_of(100, id);
    is_int(mql_shm_set_contact(t.s, id, "y", 1000), APR_SUCCESS,
           "forget frees the contact for another");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

static void test_ring(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    mql_change_t *ch = malloc(2000 * sizeof(*ch));
    uint64_t seq = 0, lost = 0;
    unsigned i, n;

    table_open(&t, 10, NULL, NULL, NULL);
    touch(&t, 1, 1000, 1, -1, NULL);
    id_of(1, id);
    for (i = 0; i < 1500; i++)
        mql_shm_set_stage(t.s, id, (i & 1) ? MQL_STAGE_VISITOR : MQL_STAGE_MQL, 2000 + i);
    n = mql_shm_changes(t.s, &seq, ch, 2000, &lost);
    is_int(n, MQL_CHANGES_KEPT, "a full ring's worth returned");
    is_int(lost, 1500 - MQL_CHANGES_KEPT, "overwritten changes reported lost");
    is_int(seq, 1500, "seq at the head");
    is_int(ch[0].time, 2000 + 1500 - MQL_CHANGES_KEPT, "oldest kept comes first");
    is_int(ch[n - 1].time, 2000 + 1499, "newest last");
    is_int(mql_shm_changes(t.s, &seq, ch, 2000, &lost), 0, "nothing new");
    mql_shm_set_stage(t.s, id, MQL_STAGE_SQL, 5000);
    mql_shm_set_stage(t.s, id, MQL_STAGE_REJECTED, 5001);
    mql_shm_set_stage(t.s, id, MQL_STAGE_MQL, 5002);
    n = mql_shm_changes(t.s, &seq, ch, 2, &lost);
    ok(n == 2 && ch[0].time == 5000 && ch[1].time == 5001 && lost == 0, "read in pieces");
    n = mql_shm_changes(t.s, &seq, ch, 2, &lost);
    ok(n == 1 && ch[0].time == 5002 && ch[0].new_stage == MQL_STAGE_MQL, "the rest");
    seq = 999999;
    is_int(mql_shm_changes(t.s, &seq, ch, 2, NULL), 0, "sequence from the future: none");
    is_int(seq, 1503, "and it is brought back to the head");
    free(ch);
    table_close(&t);
}

typedef struct walk {
    int seen;
    int contacts;
    int stop_after;
    uint32_t flags_urgent;
    table_t *t;             /* to look at the table's marks, when set */
} walk_t;

static int walk_fn(const mql_visitor_t *v, const char *contact, void *baton)
{
    walk_t *w = baton;

    w->seen++;
    if (contact && strcmp(contact, "c") == 0)
        w->contacts++;
    if (w->t && (mql_shm_marks(w->t->s, v->id, NULL) & MQL_SHM_URGENT))
        w->flags_urgent++;      /* still marked: the feed did not take it */
    return w->stop_after && w->seen >= w->stop_after;
}

static void test_walks(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    walk_t w;
    uint32_t i;
    upd_t u = { 1, -1, MQL_UPD_DIRTY, 0, 0, 0, NULL };

    table_open(&t, 5000, NULL, NULL, NULL);
    for (i = 0; i < 3000; i++) {
        id_of(i, id);
        mql_shm_update(t.s, id, 1000, add_points, &u, NULL);   /* dirty */
        if (i % 100 == 0)
            mql_shm_set_contact(t.s, id, "c", 1000);              /* urgent */
    }
    memset(&w, 0, sizeof(w));
    mql_shm_iterate(t.s, walk_fn, &w);
    is_int(w.seen, 3000, "iterate sees every visitor");
    is_int(w.contacts, 30, "iterate passes contacts");
    memset(&w, 0, sizeof(w));
    w.stop_after = 1500;
    mql_shm_iterate(t.s, walk_fn, &w);
    is_int(w.seen, 1500, "iterate stops when fn says so");

    memset(&w, 0, sizeof(w));
    mql_shm_collect_dirty(t.s, 1000, 60, walk_fn, &w);
    is_int(w.seen, 3000, "never written: every dirty record is due");
    for (i = 0; i < 3000; i++) {
        id_of(i, id);
        mql_shm_update(t.s, id, 1005, add_points, &u, NULL);
        if (i % 100 == 0)
            mql_shm_set_contact(t.s, id, "c", 1005);
    }
    memset(&w, 0, sizeof(w));
    w.t = &t;
    mql_shm_collect_dirty(t.s, 1010, 60, walk_fn, &w);
    is_int(w.seen, 30, "within min_interval: only URGENT records");
    is_int(w.flags_urgent, 0, "and took the URGENT marks off");
    memset(&w, 0, sizeof(w));
    mql_shm_collect_dirty(t.s, 1010, 60, walk_fn, &w);
    is_int(w.seen, 0, "marks cleared");

    memset(&w, 0, sizeof(w));
    mql_shm_collect_dirty(t.s, 1100, 60, walk_fn, &w);
    is_int(w.seen, 3000 - 30, "after min_interval: the DIRTY ones");
    {
        uint32_t flushed = 0;
        id_of(5, id);
        ok(!(mql_shm_marks(t.s, id, &flushed) & (MQL_SHM_DIRTY | MQL_SHM_URGENT))
           && flushed == 1100, "record clean, flushed = now");
    }
    memset(&w, 0, sizeof(w));
    mql_shm_collect_dirty(t.s, 9999, 0, walk_fn, &w);
    is_int(w.seen, 0, "clean records are not collected");

    /* a writer that stops: what it did not take stays dirty */
    for (i = 0; i < 3000; i++) {
        id_of(i, id);
        mql_shm_update(t.s, id, 2000, add_points, &u, NULL);
    }
    memset(&w, 0, sizeof(w));
    w.stop_after = 100;
    mql_shm_collect_dirty(t.s, 3000, 0, walk_fn, &w);
    is_int(w.seen, 100, "collect stops when fn says so");
    memset(&w, 0, sizeof(w));
    mql_shm_collect_dirty(t.s, 3001, 0, walk_fn, &w);
    is_int(w.seen, 3000 - 99, "the rest (and the one refused) are still dirty");
    is_str(check(&t), "clean", "validates");
    table_close(&t);
}

/* ---- concurrency ---- */

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static void mlock(void *b) { pthread_mutex_lock(b); }
static void munlock(void *b) { pthread_mutex_unlock(b); }

typedef struct worker {
    table_t *t;
    int n;
    int random_ids;
    unsigned seed;
    int failures;
} worker_t;

/* A view worth one point, and no threshold to cross. */
static mql_delta_t view_delta;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    uint8_t id[MQL_ID_BYTES];
    int i;

    for (i = 0; i < w->n; i++) {
        mql_visitor_ref_t ref;

        id_of(w->random_ids ? (uint32_t)(rand_r(&w->seed) % 20000) : 4242, id);
        mql_visitors_ref(w->t->vs, id, &ref);
        if (mql_visitors_hit(w->t->vs, &ref, &view_delta, 1000, NULL)
            != APR_SUCCESS)
            w->failures++;
    }
    return NULL;
}

static double total_score;
static int sum_scores(const mql_visitor_t *v, const char *contact, void *baton)
{
    total_score += v->score;
    return 0;
}

static void test_threads(int random_ids)
{
    table_t t;
    pthread_t th[8];
    worker_t w[8];
    int i, per = small ? 2000 : 50000, failures = 0;
    mql_visitors_stats_t st;
    mql_visitor_t v;

    {
        mql_scoring_t sc;
        mql_hit_t h;

        mql_scoring_defaults(&sc);
        sc.threshold = 1e15;
        sc.half_life = 0;
        memset(&h, 0, sizeof h);
        h.events = MQL_EV_BIT(MQL_EV_VIEW);
        h.path = "/";
        mql_score_resolve(&sc, &h, &view_delta);
    }
    table_open(&t, 30000, mlock, munlock, &mtx);
    for (i = 0; i < 8; i++) {
        w[i].t = &t;
        w[i].n = per;
        w[i].random_ids = random_ids;
        w[i].seed = (unsigned)i + 1;
        w[i].failures = 0;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    is_int(failures, 0, random_ids ? "threads, random ids: no failure"
                                   : "threads, one id: no failure");
    mql_shm_stats(t.s, &st);
    is_int(st.events[MQL_EV_VIEW], 8 * per, "every event counted");
    total_score = 0;
    mql_shm_iterate(t.s, sum_scores, NULL);
    is_int((long long)total_score, 8 * per, "no update lost");
    if (!random_ids) {
        has(&t, 4242, 1000, &v);
        is_int((long long)v.score, 8 * per, "one visitor has every point");
        is_int(st.used, 1, "one visitor");
    }
    is_str(check(&t), "clean", "validates after concurrent updates");
    table_close(&t);
}

/*
 * Lock-free reads against writers that keep moving records around: a
 * small table, inserts that evict, forgets.  Every record a writer leaves
 * behind satisfies score == views and first_seen == its number, so a copy
 * that mixes two moments or two visitors shows.
 */
typedef struct race {
    table_t *t;
    int n;
    unsigned seed;
    volatile int *stop;
    long reads, found, torn;
} race_t;

static int consistent_point(mql_visitor_t *v, int is_new, void *baton)
{
    volatile int spin;

    v->counts[MQL_EV_VIEW]++;
    for (spin = 0; spin < 50; spin++)       /* widen the window a reader can hit */
        ;
    v->score = v->counts[MQL_EV_VIEW];
    return MQL_UPD_NONE;
}

static void *race_writer(void *arg)
{
    race_t *w = arg;
    uint8_t id[MQL_ID_BYTES];
    int i;

    for (i = 0; i < w->n; i++) {
        uint32_t k = (uint32_t)(rand_r(&w->seed) % 2000) + 1;

        id_of(k, id);
        if (rand_r(&w->seed) % 8 == 0)
            mql_shm_forget(w->t->s, id);
        else
            mql_shm_update(w->t->s, id, k, consistent_point, NULL, NULL);
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    race_t *r = arg;
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v;

    while (!*r->stop) {
        uint32_t k = (uint32_t)(rand_r(&r->seed) % 2000) + 1;

        id_of(k, id);
        r->reads++;
        if (!mql_shm_get(r->t->s, id, k, &v, NULL))
            continue;
        r->found++;
        if (memcmp(v.id, id, MQL_ID_BYTES) != 0 || v.first_seen != k
            || v.score != (double)v.counts[MQL_EV_VIEW])
            r->torn++;
    }
    return NULL;
}

static void test_optimistic_reads(void)
{
    table_t t;
    pthread_t wt[2], rt[2];
    race_t w[2], r[2];
    volatile int stop = 0;
    long reads = 0, found = 0, torn = 0;
    int i;

    table_open(&t, 256, mlock, munlock, &mtx);
    for (i = 0; i < 2; i++) {
        w[i] = (race_t){ .t = &t, .n = small ? 20000 : 300000, .seed = 7u + (unsigned)i };
        r[i] = (race_t){ .t = &t, .seed = 99u + (unsigned)i, .stop = &stop };
        pthread_create(&rt[i], NULL, race_reader, &r[i]);
    }
    for (i = 0; i < 2; i++)
        pthread_create(&wt[i], NULL, race_writer, &w[i]);
    for (i = 0; i < 2; i++)
        pthread_join(wt[i], NULL);
    stop = 1;
    for (i = 0; i < 2; i++) {
        pthread_join(rt[i], NULL);
        reads += r[i].reads;
        found += r[i].found;
        torn += r[i].torn;
    }
    ok(found > 0 && found < reads, "readers raced writers: %ld reads, %ld found", reads, found);
    is_int(torn, 0, "no read returned a record mixed from two moments or two visitors");
    is_str(check(&t), "clean", "validates after the race");
    table_close(&t);
}

/* A holder that dies inside its section (here: leaves it by longjmp)
 * leaves the sequence odd; the next holder must keep it odd while it
 * works, or readers would trust a table that is changing. */
static jmp_buf died;
static uint64_t seq_inside;

static int die_inside(mql_visitor_t *v, int is_new, void *baton)
{
    v->score = 1;
    longjmp(died, 1);
}

static int note_seq(mql_visitor_t *v, int is_new, void *baton)
{
    seq_inside = mql_shm_seq(baton);
    return MQL_UPD_NONE;
}

static void test_dead_holder(void)
{
    table_t t;
    mql_visitor_t v;
    uint8_t id[MQL_ID_BYTES];

    table_open(&t, 64, NULL, NULL, NULL);
    touch(&t, 1, 0, 1, -1, NULL);
    ok(mql_shm_seq(t.s) % 2 == 0, "sequence even between sections");
    id_of(1, id);
    if (!setjmp(died))
        mql_shm_update(t.s, id, 1, die_inside, NULL, NULL);
    ok(mql_shm_seq(t.s) % 2 == 1, "a holder that died leaves the sequence odd");
    ok(has(&t, 1, 1, &v), "a reader meeting an odd sequence still finds the visitor (locked)");
    mql_shm_update(t.s, id, 2, note_seq, t.s, NULL);
    ok(seq_inside % 2 == 1, "the next holder's section runs with the sequence odd");
    ok(mql_shm_seq(t.s) % 2 == 0, "and ends it even");
    table_close(&t);
}

/* A ref carries the hashing from one call to the next; the calls that
 * take one behave like the plain ones, and a ref whose bucket does not
 * fit the table is not trusted. */
static void test_refs(void)
{
    table_t t;
    mql_visitor_ref_t ref, bad;
    mql_visitor_t v;
    uint8_t id[MQL_ID_BYTES];
    upd_t u = { 5, -1, MQL_UPD_NONE, 0, 0, 100, NULL };

    table_open(&t, 100, NULL, NULL, NULL);
    id_of(7, id);
    mql_shm_ref(t.s, id, &ref);
    ok(memcmp(ref.id, id, MQL_ID_BYTES) == 0 && ref.hint < 100, "ref: the ID and a bucket");
    ok(!mql_shm_get_ref(t.s, &ref, 100, &v), "get_ref: absent before any update");
    mql_shm_prefetch(t.s, &ref);
    is_int(mql_shm_update_ref(t.s, &ref, 100, add_points, &u, NULL), APR_SUCCESS,
           "update_ref creates the visitor");
    ok(has(&t, 7, 100, &v) && v.score == 5.0, "the plain lookup finds what update_ref made");
    touch(&t, 7, 101, 2, -1, NULL);
    ok(mql_shm_get_ref(t.s, &ref, 101, &v) && v.score == 7.0,
       "get_ref sees what the plain update did");
    bad = ref;
    bad.hint = 0xffffffffu;
    ok(mql_shm_get_ref(t.s, &bad, 101, &v) && v.score == 7.0,
       "a bucket outside the table is recomputed, not used");
    mql_shm_prefetch(t.s, &bad);
    is_str(check(&t), "clean", "validates after ref calls");
    table_close(&t);
}

/* ---- the check itself ---- */

static void test_validate_detects(void)
{
    table_t t;
    uint8_t id[MQL_ID_BYTES];
    uint8_t *p;
    size_t off;
    const char *err;

    table_open(&t, 100, NULL, NULL, NULL);
    touch(&t, 1, 1000, 1, -1, NULL);
    touch(&t, 2, 1000, 1, -1, NULL);
    id_of(2, id);
    /* find the record in raw memory and damage its id */
    for (off = 0, p = NULL; off + MQL_ID_BYTES <= t.size; off += 8) {
        if (memcmp((uint8_t *)t.base + off, id, MQL_ID_BYTES) == 0) {
            p = (uint8_t *)t.base + off;
            break;
        }
    }
    ok(p != NULL, "record found in the segment");
    if (p)
        p[15] ^= 0x55;
    err = mql_shm_validate(t.s, pool);
    ok(err != NULL, "damaged id detected");
    printf("# validate: %s\n", err ? err : "(none)");
    if (p)
        p[15] ^= 0x55;
    is_str(check(&t), "clean", "repaired");
    if (p)
        p[offsetof(mql_visitor_t, stage)] = 7;
    err = mql_shm_validate(t.s, pool);
    ok(err != NULL, "bad stage detected");
    printf("# validate: %s\n", err ? err : "(none)");
    table_close(&t);
}

/* MQLMaxVisitors changed: every visitor moves into the new table, leads
 * first when it is smaller, contacts with them. */
static void test_copy(void)
{
    table_t from, big, small_t;
    mql_visitors_stats_t st;
    mql_visitor_t v;
    uint8_t id[MQL_ID_BYTES];
    char contact[MQL_CONTACT_LEN];
    uint32_t i, leads = 0, with_contact = 0;

    table_open(&from, 64, NULL, NULL, NULL);
    for (i = 0; i < 40; i++) {
        touch(&from, i, 100 + i, i, i % 4 == 3 ? MQL_STAGE_MQL : -1, NULL);
        if (i % 4 == 3) {
            id_of(i, id);
            mql_shm_set_contact(from.s, id, apr_psprintf(pool, "c%u@example.com", i), 100);
        }
    }
    table_open(&big, 128, NULL, NULL, NULL);
    is_int(mql_visitors_copy(from.vs, big.vs), 40, "copy into a larger table: every visitor");
    for (i = 0; i < 40; i++) {
        id_of(i, id);
        if (mql_shm_get(big.s, id, 200, &v, contact) && v.score == i
            && (i % 4 != 3 || !strcmp(contact, apr_psprintf(pool, "c%u@example.com", i))))
            with_contact++;
    }
    is_int(with_contact, 40, "each with its figures and contact");
    mql_shm_stats(big.s, &st);
    is_int(st.restored, 40, "counted as restored");
    is_str(check(&big), "clean", "the new table validates");

    table_open(&small_t, 16, NULL, NULL, NULL);
    is_int(mql_visitors_copy(from.vs, small_t.vs), 16, "into a smaller one: as many as fit");
    for (i = 3; i < 40; i += 4) {
        id_of(i, id);
        leads += mql_shm_get(small_t.s, id, 200, &v, NULL) && v.stage == MQL_STAGE_MQL;
    }
    is_int(leads, 10, "every lead among them");
    is_str(check(&small_t), "clean", "the smaller table validates");
    is_str(check(&from), "clean", "the old table is untouched");
    table_close(&from);
    table_close(&big);
    table_close(&small_t);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    small = getenv("MQL_TEST_SMALL") != NULL;
    mql_log_set(log_to_stderr, NULL, MQL_LOG_DEBUG);

    test_sizes();
    test_insert_get_update();
    test_collisions();
    test_churn();
    test_eviction();
    test_expiry();
    test_expiry_dirty_lead();
    test_leads_stay();
    test_contact_room();
    test_stage_forget();
    test_contacts();
    test_ring();
    test_walks();
    test_threads(0);
    test_threads(1);
    test_optimistic_reads();
    test_dead_holder();
    test_refs();
    test_validate_detects();
    test_copy();

    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
