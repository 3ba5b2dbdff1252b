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
 * Lock recovery of the visitor table: a process is killed at each step
 * of an insert, an eviction, a forget, a new contact, a lead's contact
 * taking a plain visitor's place and an expiry sweep,
 * holding the table's robust mutex in shared memory as a child of the
 * server would; the next holder then finds the table repaired, and
 * eviction and expiry run over all of it.
 *
 * mql_shm.c is compiled into this file with MQL_SHM_STEP() defined
 * to count the steps of a change and stop the process at a chosen one.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int crash_at;            /* the step at which the process dies; 0 never */
static int steps_taken;

static void crash_point(void)
{
    if (crash_at && ++steps_taken == crash_at)
        _exit(0);
}

#define MQL_SHM_STEP() crash_point()
#include "mql_shm.c"

#include <apr_general.h>
#include "tap.h"

#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static apr_pool_t *pool;

#include "shm_fixture.h"

#define N       128             /* slots (and 64 contacts) */
#define NOW     1000000u
#define DAY     86400u

typedef struct shared_table {
    void *map;
    size_t size;
    pthread_mutex_t *m;
    mql_shm_t *s;
} shared_table_t;

static void lock_robust(void *baton)
{
    if (pthread_mutex_lock(baton) == EOWNERDEAD)
        pthread_mutex_consistent(baton);
}

static void unlock_robust(void *baton)
{
    pthread_mutex_unlock(baton);
}

/* A table in memory shared with the processes forked from here, locked
 * by a robust process-shared mutex (the server's default). */
static void table_make(shared_table_t *t)
{
    pthread_mutexattr_t a;

    t->size = 64 + mql_shm_size(N);
    t->map = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    t->m = t->map;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(t->m, &a);
    pthread_mutexattr_destroy(&a);
    mql_shm_format((char *)t->map + 64, N, test_key);
    t->s = mql_shm_attach(pool, (char *)t->map + 64, N, lock_robust, unlock_robust, t->m);
}

static void table_drop(shared_table_t *t)
{
    munmap(t->map, t->size);
}

typedef struct visit {
    int stage;
    uint32_t when;
} visit_t;

static int set_visit(mql_visitor_t *v, int is_new, void *baton)
{
    const visit_t *w = baton;

    v->score += 1;
    v->last_seen = w->when;
    if (w->stage >= 0)
        v->stage = (uint8_t)w->stage;
    return MQL_UPD_DIRTY;
}

static apr_status_t visit(mql_shm_t *s, uint32_t i, int stage, uint32_t when)
{
    uint8_t id[MQL_ID_BYTES];
    visit_t w = { stage, when };

    id_of(i, id);
    return mql_shm_update(s, id, when, set_visit, &w, NULL);
}

/*
 * The table every scenario starts from: `fill` visitors, every fourth a
 * lead with a contact; visitors 0..7 idle for 10 days (expiry fodder).
 * With all_contacts, the plain visitors have one too: the contact area
 * is full.
 */
static void populate(mql_shm_t *s, uint32_t fill, int all_contacts)
{
    uint32_t i;

    mql_shm_set_expire(s, 0);
    for (i = 0; i < fill; i++) {
        uint8_t id[MQL_ID_BYTES];
        int lead = i % 4 == 3;

        visit(s, i, lead ? MQL_STAGE_MQL : -1, i < 8 ? NOW - 10 * DAY : NOW);
        if (lead || all_contacts) {
            id_of(i, id);
            mql_shm_set_contact(s, id, apr_psprintf(pool, "lead%u@example.com", i),
                                  i < 8 ? NOW - 10 * DAY : NOW);
        }
    }
}

typedef enum {
    OP_INSERT, OP_EVICT, OP_FORGET, OP_CONTACT, OP_RECLAIM, OP_EXPIRE, OP_COUNT
} op_t;

static const char *const op_name[OP_COUNT] = {
    "insert", "insert into a full table (eviction)", "forget a lead with a contact",
    "a new contact", "a lead's contact in a full contact area", "expiry sweep"
};

static uint32_t fill_of(op_t op)
{
    return op == OP_EVICT ? N : N / 2;
}

/* The change the doomed process makes; what it touches is below 8, from
 * 1000 on, or 11 (see survivor()). */
static void run_op(mql_shm_t *s, op_t op)
{
    uint8_t id[MQL_ID_BYTES];
    uint32_t i;

    switch (op) {
    case OP_INSERT:
        for (i = 1000; i < 1004; i++)
            visit(s, i, -1, NOW);
        break;
    case OP_EVICT:
        for (i = 1000; i < 1003; i++)
            visit(s, i, -1, NOW + 1);
        break;
    case OP_FORGET:
        id_of(11, id);
        mql_shm_forget(s, id);
        break;
    case OP_CONTACT:
        id_of(9, id);
        mql_shm_set_contact(s, id, "new@example.com", NOW);
        break;
    case OP_RECLAIM:
        visit(s, 1000, MQL_STAGE_MQL, NOW);
        id_of(1000, id);
        mql_shm_set_contact(s, id, "lead@example.com", NOW);
        break;
    case OP_EXPIRE:
        mql_shm_set_expire(s, 5 * DAY);
        mql_shm_expire_sweep(s, NOW);
        break;
    default:
        break;
    }
}

/* Visitors no scenario touches: they must all be there afterwards
 * (eviction takes plain visitors, so only the leads are sure to stay
 * in a full table). */
static int survivor(op_t op, uint32_t i)
{
    if (i < 8 || i == 11 || i >= fill_of(op))
        return 0;
    return op != OP_EVICT || i % 4 == 3;
}

/* 1: the process died at step k; 0: the change ran to its end first. */
static int kill_at_step(shared_table_t *t, op_t op, int k)
{
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        steps_taken = 0;
        crash_at = k;
        run_op(t->s, op);
        _exit(3);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* After the death: the next holder repairs; everything works on it. */
static int check_after(shared_table_t *t, op_t op, int k)
{
    mql_visitors_stats_t st;
    const char *err;
    uint32_t i, missing = 0;
    uint8_t id[MQL_ID_BYTES];
    mql_visitor_t v;
    int bad = 0;

    if ((err = mql_shm_validate(t->s, pool)) != NULL) {
        diag("%s, step %d: after the repair: %s", op_name[op], k, err);
        bad = 1;
    }
    for (i = 0; i < fill_of(op); i++) {
        id_of(i, id);
        if (survivor(op, i) && !mql_shm_get(t->s, id, NOW, &v, NULL))
            missing++;
    }
    if (missing) {
        diag("%s, step %d: %u visitors lost", op_name[op], k, missing);
        bad = 1;
    }
    /* eviction over the whole table, then expiry of everyone plain */
    for (i = 2000; i < 2000 + 2 * N; i++)
        if (visit(t->s, i, -1, NOW + 2) != APR_SUCCESS) {
            diag("%s, step %d: insert %u refused after the repair", op_name[op], k, i);
            bad = 1;
            break;
        }
    if (!bad && (err = mql_shm_validate(t->s, pool)) != NULL) {
        diag("%s, step %d: after eviction: %s", op_name[op], k, err);
        bad = 1;
    }
    mql_shm_set_expire(t->s, DAY);
    mql_shm_expire_sweep(t->s, NOW + 30 * DAY);
    if (!bad && (err = mql_shm_validate(t->s, pool)) != NULL) {
        diag("%s, step %d: after expiry: %s", op_name[op], k, err);
        bad = 1;
    }
    mql_shm_stats(t->s, &st);
    if (st.repairs != 1) {
        diag("%s, step %d: %llu repairs counted", op_name[op], k,
             (unsigned long long)st.repairs);
        bad = 1;
    }
    return !bad;
}

static void test_op(op_t op)
{
    int k, deaths = 0, sound = 0;

    for (k = 1; k < 1000; k++) {
        shared_table_t t;
        int died;

        table_make(&t);
        populate(t.s, fill_of(op), op == OP_RECLAIM);
        died = kill_at_step(&t, op, k);
        if (died) {
            deaths++;
            sound += check_after(&t, op, k);
        }
        table_drop(&t);
        if (!died)
            break;
    }
    ok(deaths >= 1, "%s: a process killed at each of its %d steps", op_name[op], deaths);
    ok(sound == deaths, "%s: after each death (%d of %d) the table is repaired, no "
       "bystander is lost, and eviction and expiry run clean over it", op_name[op], sound,
       deaths);
}

/* A death outside any change (after the section's end) needs no repair. */
static void test_no_false_repair(void)
{
    shared_table_t t;
    mql_visitors_stats_t st;
    pid_t pid;

    table_make(&t);
    populate(t.s, N / 2, 0);
    pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(t.m);      /* holds the lock, changes nothing */
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    is_str(mql_shm_validate(t.s, pool) ? "damaged" : "clean", "clean",
           "a holder that died outside a change leaves the table as it was");
    mql_shm_stats(t.s, &st);
    is_int((int)st.repairs, 0, "and it is not counted as a repair");
    table_drop(&t);
}

int main(void)
{
    op_t op;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    for (op = 0; op < OP_COUNT; op++)
        test_op(op);
    test_no_false_repair();
    apr_terminate();
    return done_testing();
}
